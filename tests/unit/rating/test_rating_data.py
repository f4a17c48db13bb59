"""Aggregation into Comparisons, its validation, components, and the pairwise matrices."""

from __future__ import annotations

import numpy as np
import pytest

from arena.domain import Outcome
from arena.rating.data import Comparisons, RatingInputError
from arena.rating.matrix import pairwise_matrices


def test_from_battles_aggregates_sorted_unique_rows() -> None:
    comp = Comparisons.from_battles(
        ["b", "a", "b", "a", "c"],
        ["a", "b", "a", "c", "a"],
        ["a", "tie", "a", "both_bad", "b"],
        weight=[1.0, 2.0, 0.5, 1.0, 1.0],
    )
    assert comp.models == ("a", "b", "c")
    rows = list(
        zip(
            comp.a.tolist(),
            comp.b.tolist(),
            comp.outcome.tolist(),
            comp.count.tolist(),
            strict=True,
        )
    )
    assert rows == [(0, 1, 2, 2.0), (0, 2, 3, 1.0), (1, 0, 0, 1.5), (2, 0, 1, 1.0)]
    assert comp.a.dtype == np.int32 and comp.outcome.dtype == np.int8
    assert comp.count.dtype == np.float64 and comp.total == 5.5
    with pytest.raises(ValueError):
        comp.count[0] = 3.0  # read-only


def test_domain_outcomes_and_index_fast_path_agree() -> None:
    by_name = Comparisons.from_battles(["x", "y"], ["y", "x"], [Outcome.A, Outcome.BOTH_BAD])
    by_index = Comparisons.from_indices(
        np.array([0, 1]), np.array([1, 0]), np.array([0, 3]), ["x", "y"]
    )
    for field in ("a", "b", "outcome", "count"):
        assert getattr(by_name, field).tobytes() == getattr(by_index, field).tobytes()


def test_from_counts_merges_duplicates_drops_zeros_and_resorts_models() -> None:
    comp = Comparisons.from_counts(
        ["z", "a"], [0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 2, 1], [2.0, 3.0, 0.0, 4.0]
    )
    assert comp.models == ("a", "z")
    assert comp.a.tolist() == [0, 1] and comp.b.tolist() == [1, 0]
    assert comp.outcome.tolist() == [1, 0] and comp.count.tolist() == [4.0, 5.0]


def test_large_model_space_uses_the_unique_path() -> None:
    names = [f"m{k}" for k in range(1200)]  # 4·n² bins is past the bincount limit
    comp = Comparisons.from_indices([5, 1100, 5], [1100, 5, 1100], [0, 1, 0], names)
    assert comp.count.tolist() == [1.0, 2.0] and comp.components()[0] == ["m1100", "m5"]


@pytest.mark.parametrize(
    "args,match",
    [
        ((["a"], ["a"], ["a"]), "cannot battle itself"),
        ((["a"], ["b"], ["win"]), "outcome 'win'"),
        ((["a", "b"], ["b"], ["a"]), "differ in length"),
    ],
)
def test_from_battles_rejects_bad_rows(args: tuple, match: str) -> None:
    with pytest.raises(RatingInputError, match=match):
        Comparisons.from_battles(*args)


def test_from_counts_rejects_bad_values() -> None:
    with pytest.raises(RatingInputError, match="appears more than once"):
        Comparisons.from_counts(["a", "a"], [0], [1], [0], [1.0])
    with pytest.raises(RatingInputError, match="outcome"):
        Comparisons.from_counts(["a", "b"], [0], [1], [4], [1.0])
    with pytest.raises(RatingInputError, match="b: values"):
        Comparisons.from_counts(["a", "b"], [0], [2], [0], [1.0])
    with pytest.raises(RatingInputError, match="count"):
        Comparisons.from_counts(["a", "b"], [0], [1], [0], [-1.0])
    with pytest.raises(RatingInputError, match="count"):
        Comparisons.from_battles(["a"], ["b"], ["a"], weight=[float("nan")])


def test_components_largest_first_with_idle_models() -> None:
    comp = Comparisons.from_counts(
        ["a", "b", "c", "d", "e", "f", "idle"],
        [0, 1, 3, 5],
        [1, 2, 4, 4],
        [0, 0, 2, 1],
        [1, 1, 1, 1],
    )
    assert comp.components() == [["a", "b", "c"], ["d", "e", "f"], ["idle"]]


def test_pairwise_matrices() -> None:
    comp = Comparisons.from_battles(
        ["a", "b", "a", "a", "c"], ["b", "a", "b", "c", "a"], ["a", "a", "tie", "both_bad", "b"]
    )
    models, frac, counts = pairwise_matrices(comp)
    assert models == ("a", "b", "c")
    np.testing.assert_array_equal(counts, [[0, 3, 2], [3, 0, 0], [2, 0, 0]])
    assert frac[0, 1] == pytest.approx(1.5 / 3) and frac[1, 0] == pytest.approx(1.5 / 3)
    assert frac[0, 2] == pytest.approx(1.5 / 2) and frac[2, 0] == pytest.approx(0.5 / 2)
    assert np.isnan(frac[1, 2]) and np.isnan(frac[0, 0])
    np.testing.assert_allclose(frac + frac.T, np.where(counts > 0, 1.0, np.nan))
