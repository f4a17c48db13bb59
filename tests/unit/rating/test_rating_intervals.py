"""Confidence intervals (bootstrap and sandwich) and the rank rule."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.bt import BTParams, fit_bt
from arena.rating.data import Comparisons
from arena.rating.intervals import bootstrap_ci, multinomial_rows, ranks, sandwich_ci


def tournament(seed: int, m: int, n: int, tie: float) -> tuple[Comparisons, np.ndarray]:
    """Battles from known strengths, and the ratings the tie-as-half fit targets.

    Ties that happen at a constant rate pull every score toward ½, so with ties the target is
    the fit to the expected outcomes of the same pairings (the pseudo-true value); without
    ties it is the true ratings, centred.
    """
    rng = np.random.default_rng(seed)
    true = rng.normal(1000.0, 150.0, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
    code = np.where(rng.random(n) < tie, 2, np.where(rng.random(n) < p, 0, 1))
    names = [f"m{k}" for k in range(m)]
    comp = Comparisons.from_indices(a, b, code, names)
    expected = Comparisons.from_counts(
        names,
        np.tile(a, 3),
        np.tile(b, 3),
        np.repeat([0, 1, 2], n),
        np.concatenate([(1 - tie) * p, (1 - tie) * (1 - p), np.full(n, tie)]),
    )
    target = fit_bt(expected).ratings
    if tie == 0:
        np.testing.assert_allclose(target, true - true.mean() + 1000.0, atol=1e-6)
    return comp, target


@pytest.mark.parametrize("tie", [0.0, 0.12])
def test_intervals_cover_the_truth_at_about_the_nominal_rate(tie: float) -> None:
    covered = {"bootstrap": 0, "sandwich": 0}
    total = 0
    for seed in range(40):
        comp, truth = tournament(seed, 6, 1200, tie)
        _, boot = bootstrap_ci(comp, rounds=50, seed=seed)
        _, sand = sandwich_ci(comp)
        for iv in (boot, sand):
            covered[iv.method] += int(np.sum((iv.low <= truth) & (truth <= iv.high)))
        total += truth.size
    for method, hits in covered.items():
        assert 0.85 <= hits / total <= 0.99, (method, hits / total)


def test_bootstrap_is_byte_identical_for_the_same_seed() -> None:
    comp, _ = tournament(1, 8, 3000, 0.1)
    fit1, iv1 = bootstrap_ci(comp, rounds=30, seed=7)
    fit2, iv2 = bootstrap_ci(comp, rounds=30, seed=7)
    assert fit1.ratings.tobytes() == fit2.ratings.tobytes()
    assert iv1.low.tobytes() == iv2.low.tobytes() and iv1.high.tobytes() == iv2.high.tobytes()
    _, iv3 = bootstrap_ci(comp, rounds=30, seed=8)
    assert iv3.low.tobytes() != iv1.low.tobytes()
    assert (iv1.method, iv1.rounds, iv1.seed, iv1.level) == ("bootstrap", 30, 7, 0.95)
    _, s1 = sandwich_ci(comp)
    _, s2 = sandwich_ci(comp)
    assert s1.low.tobytes() == s2.low.tobytes() and s1.rounds is None


def test_intervals_bracket_the_fit_and_agree_on_plenty_of_data() -> None:
    comp, _ = tournament(2, 8, 20000, 0.1)
    fit, boot = bootstrap_ci(comp, rounds=200, seed=0)
    _, sand = sandwich_ci(comp)
    for iv in (boot, sand):
        assert np.all(iv.low < fit.ratings) and np.all(fit.ratings < iv.high)
    ratio = (boot.high - boot.low) / (sand.high - sand.low)
    assert np.all((ratio > 0.75) & (ratio < 1.3)), ratio


def test_anchored_intervals_pin_the_anchor() -> None:
    comp, _ = tournament(3, 6, 2000, 0.1)
    params = BTParams(anchor_model="m2", anchor_rating=1100.0)
    fit, boot = bootstrap_ci(comp, params, rounds=40)
    _, sand = sandwich_ci(comp, params)
    k = fit.models.index("m2")
    assert boot.low[k] == boot.high[k] == 1100.0 == sand.low[k] == sand.high[k]
    # pinning widens everyone else's intervals compared with the centred gauge
    _, centred = sandwich_ci(comp)
    others = np.arange(len(fit.models)) != k
    assert np.mean((sand.high - sand.low)[others] > (centred.high - centred.low)[others]) > 0.5


def test_bootstrap_survives_sparse_and_degenerate_resamples() -> None:
    comp, _ = tournament(4, 5, 600, 0.1)
    sparse = Comparisons.from_counts(
        comp.models + ("rare",),
        np.concatenate([comp.a, [5, 0]]),
        np.concatenate([comp.b, [0, 5]]),
        np.concatenate([comp.outcome, [0, 0]]),
        np.concatenate([comp.count, [1.0, 1.0]]),
    )
    fit, iv = bootstrap_ci(sparse, rounds=60, seed=1)
    assert fit.degenerate == () and np.all(np.isfinite(iv.low)) and np.all(iv.low <= iv.high)
    # the rare model is absent from many resamples and degenerate in others: widest interval
    assert fit.models[int(np.argmax(iv.high - iv.low))] == "rare"


def test_weighted_counts_keep_their_total_in_resamples() -> None:
    comp = Comparisons.from_battles(
        ["x", "y", "x"], ["y", "x", "y"], ["a", "a", "tie"], weight=[0.25, 0.5, 1.0]
    )
    fit, iv = bootstrap_ci(comp, rounds=20)
    assert np.all(np.isfinite(iv.low)) and np.all(iv.low <= iv.high)


def test_interval_arguments_are_checked() -> None:
    comp, _ = tournament(5, 4, 300, 0.0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(comp, level=1.0)
    with pytest.raises(ValueError, match="rounds"):
        bootstrap_ci(comp, rounds=0)
    with pytest.raises(ValueError, match="level"):
        sandwich_ci(comp, level=0.0)


def test_poissonised_multinomial_is_a_multinomial() -> None:
    rng = np.random.Generator(np.random.PCG64(3))
    p = np.array([0.1, 0.2, 0.3, 0.4])
    for draws in (7, 500):
        x = multinomial_rows(rng, draws, p, 10000)
        cov = draws * (np.diag(p) - np.outer(p, p))
        assert np.all(x.sum(axis=1) == draws) and x.min() >= 0
        se = np.sqrt(np.diag(cov) / len(x))
        assert np.all(np.abs(x.mean(axis=0) - draws * p) < 5 * se)
        np.testing.assert_allclose(np.cov(x.T), cov, rtol=0.1, atol=0.01 * draws)


def test_rank_is_one_plus_models_clearly_above() -> None:
    ratings = np.array([1100.0, 1090.0, 1000.0, 995.0, 900.0])
    low = np.array([1080.0, 1070.0, 980.0, 990.0, 880.0])
    high = np.array([1120.0, 1110.0, 1020.0, 1000.0, 920.0])
    assert ranks(ratings, low, high).tolist() == [1, 1, 3, 3, 5]
    # touching bounds do not count as "above"
    assert ranks([1, 2], [0.0, 10.0], [10.0, 20.0]).tolist() == [1, 1]
    with pytest.raises(ValueError):
        ranks(ratings, low[:2], high)
