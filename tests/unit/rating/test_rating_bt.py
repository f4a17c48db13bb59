"""Bradley-Terry fit: agreement with the plain reference, known answers, and the house rules
(ties count half, gauge, disconnected and degenerate models, determinism)."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.bt import BTParams, DegenerateDataError, fit_bt
from arena.rating.data import Comparisons, RatingInputError
from arena.rating.reference import reference_bt

OUTCOMES = np.array(["a", "b", "tie", "both_bad"])


def simulate(seed: int, m: int, n: int) -> tuple[list[str], list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.normal(1000.0, 150.0, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p_a = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
    u = rng.random(n)
    code = np.where(u < 0.10, 2, np.where(u < 0.12, 3, np.where(rng.random(n) < p_a, 0, 1)))
    names = [f"model-{k}" for k in range(m)]
    return [names[k] for k in a], [names[k] for k in b], OUTCOMES[code].tolist(), true


@pytest.mark.parametrize("seed,m,n", [(0, 6, 2000), (1, 8, 3000), (2, 10, 4000), (3, 7, 2500)])
def test_matches_reference_per_battle_lbfgs(seed: int, m: int, n: int) -> None:
    a, b, o, _ = simulate(seed, m, n)
    fit = fit_bt(Comparisons.from_battles(a, b, o))
    ref = reference_bt(a, b, o)
    assert fit.converged and fit.disconnected == () and fit.degenerate == ()
    assert max(abs(fit.as_dict()[k] - ref[k]) for k in ref) < 1e-6
    assert fit.ratings.mean() == pytest.approx(1000.0, abs=1e-9)


def test_matches_reference_when_anchored_and_rescaled() -> None:
    a, b, o, _ = simulate(4, 6, 2000)
    params = BTParams(scale=173.7, base=np.e, anchor_model="model-2", anchor_rating=1500.0)
    fit = fit_bt(Comparisons.from_battles(a, b, o), params)
    ref = reference_bt(a, b, o, params)
    assert max(abs(fit.as_dict()[k] - ref[k]) for k in ref) < 1e-6


def _exact_counts(ratings: list[float], games: float = 1e6, tie_share: float = 0.0) -> Comparisons:
    """Counts exactly proportional to BT probabilities: their MLE is the truth."""
    a, b, o, c = [], [], [], []
    for i in range(len(ratings)):
        for j in range(i + 1, len(ratings)):
            p = 1.0 / (1.0 + 10.0 ** ((ratings[j] - ratings[i]) / 400.0))
            ties = games * tie_share
            for code, count in (
                (0, games * p - ties / 2),
                (1, games * (1 - p) - ties / 2),
                (2, ties),
            ):
                a.append(i), b.append(j), o.append(code), c.append(count)
    return Comparisons.from_counts([f"p{k}" for k in range(len(ratings))], a, b, o, c)


@pytest.mark.parametrize("tie_share", [0.0, 0.2])
def test_textbook_four_players_recovered(tie_share: float) -> None:
    fit = fit_bt(_exact_counts([1200.0, 1100.0, 1000.0, 900.0], tie_share=tie_share))
    np.testing.assert_allclose(fit.ratings, [1150.0, 1050.0, 950.0, 850.0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(fit.log_strengths, (fit.ratings - 1000.0) / 400.0)


def test_ties_and_both_bad_count_half_a_win_each() -> None:
    base = Comparisons.from_battles(["x", "x", "y"], ["y", "y", "z"], ["a", "b", "a"])
    with_tie = Comparisons.from_battles(
        ["x", "x", "y", "z"], ["y", "y", "z", "x"], ["a", "b", "a", "tie"]
    )
    with_bad = Comparisons.from_battles(
        ["x", "x", "y", "x"], ["y", "y", "z", "z"], ["a", "b", "a", "both_bad"]
    )
    halves = Comparisons.from_counts(
        ["x", "y", "z"], [0, 0, 1, 2, 0], [1, 1, 2, 0, 2], [0, 1, 0, 0, 0], [1, 1, 1, 0.5, 0.5]
    )
    tie_fit, bad_fit, half_fit = fit_bt(with_tie), fit_bt(with_bad), fit_bt(halves)
    np.testing.assert_allclose(tie_fit.ratings, half_fit.ratings, atol=1e-9)
    np.testing.assert_allclose(bad_fit.ratings, half_fit.ratings, atol=1e-9)
    assert fit_bt(base).degenerate  # z never won: without the tie there is no finite MLE
    # one tie between equals leaves them equal
    even = fit_bt(Comparisons.from_battles(["p", "q"], ["q", "p"], ["tie", "both_bad"]))
    np.testing.assert_allclose(even.ratings, [1000.0, 1000.0], atol=1e-9)


def test_anchor_pins_exactly_and_shifts_others_by_a_constant() -> None:
    a, b, o, _ = simulate(5, 7, 1500)
    comp = Comparisons.from_battles(a, b, o)
    centred = fit_bt(comp)
    pinned = fit_bt(comp, BTParams(anchor_model="model-3", anchor_rating=1234.5))
    assert pinned.as_dict()["model-3"] == 1234.5
    shift = pinned.ratings - centred.ratings
    np.testing.assert_allclose(shift, shift[0], atol=1e-9)
    np.testing.assert_allclose(pinned.log_strengths, (pinned.ratings - 1000.0) / 400.0)
    with pytest.raises(RatingInputError, match="anchor_model 'nobody'"):
        fit_bt(comp, BTParams(anchor_model="nobody"))


def test_disconnected_models_are_reported_not_rated() -> None:
    a, b, o, _ = simulate(6, 5, 800)
    comp = Comparisons.from_battles(
        a + ["lone-1", "lone-2"], b + ["lone-2", "lone-1"], o + ["a", "b"]
    )
    fit = fit_bt(comp)
    assert fit.disconnected == ("lone-1", "lone-2")
    assert set(fit.models) == {f"model-{k}" for k in range(5)}
    assert comp.components()[0] == sorted(fit.models)
    assert comp.components()[1] == ["lone-1", "lone-2"]
    alone = fit_bt(Comparisons.from_battles(a, b, o))
    np.testing.assert_allclose(fit.ratings, alone.ratings, atol=1e-9)


def test_model_that_won_everything_is_flagged_and_rated_with_the_fallback_ridge() -> None:
    a, b, o, _ = simulate(7, 5, 1000)
    comp = Comparisons.from_battles(
        a + ["champ"] * 6, b + ["model-0", "model-1"] * 3, o + ["a"] * 6
    )
    fit = fit_bt(comp)
    assert fit.degenerate == ("champ",) and fit.l2 == 0.01 and fit.converged
    assert np.all(np.isfinite(fit.ratings))
    assert fit.models[int(np.argmax(fit.ratings))] == "champ"
    with pytest.raises(DegenerateDataError, match="degenerate_l2"):
        fit_bt(comp, BTParams(degenerate_l2=0.0))
    # an explicit ridge is used as given and flags nothing
    ridge = fit_bt(comp, BTParams(l2=0.5))
    assert ridge.degenerate == () and ridge.l2 == 0.5


def test_same_input_same_bytes() -> None:
    a, b, o, _ = simulate(8, 9, 3000)
    one = fit_bt(Comparisons.from_battles(a, b, o))
    two = fit_bt(Comparisons.from_battles(a, b, o))
    assert one.ratings.tobytes() == two.ratings.tobytes()
    assert one.log_strengths.tobytes() == two.log_strengths.tobytes()


def test_bad_parameters_and_empty_input_raise() -> None:
    comp = Comparisons.from_battles(["x"], ["y"], ["tie"])
    for bad in (BTParams(scale=0), BTParams(base=1), BTParams(tol=0), BTParams(l2=-1)):
        with pytest.raises(ValueError):
            fit_bt(comp, bad)
    with pytest.raises(RatingInputError, match="no battles"):
        fit_bt(Comparisons.from_battles([], [], []))


def test_newton_converges_to_a_tiny_gradient() -> None:
    a, b, o, _ = simulate(9, 10, 5000)
    comp = Comparisons.from_battles(a, b, o)
    fit = fit_bt(comp)
    r = fit.log_strengths * np.log(10.0)
    idx = {name: k for k, name in enumerate(fit.models)}
    ia, ib = comp.a, comp.b
    assert [comp.models[k] for k in range(len(comp.models))] == list(fit.models)
    score = np.where(comp.outcome == 0, 1.0, np.where(comp.outcome == 1, 0.0, 0.5))
    p = 1.0 / (1.0 + np.exp(r[ib] - r[ia]))
    grad = np.bincount(ia, comp.count * (score - p), len(idx))
    grad -= np.bincount(ib, comp.count * (score - p), len(idx))
    assert np.abs(grad).max() < 1e-8
    assert fit.iterations < 15
