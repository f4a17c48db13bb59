"""Battles aggregated into count rows: the one input every batch rating engine reads.

A million battles among a hundred models collapse to at most 4·n·(n−1) distinct
(model_a, model_b, outcome) rows, so every fit, resample and matrix works on those counts
instead of on the battles. Aggregation packs each battle into one integer key and counts keys
with numpy (``bincount`` when the key space is small, ``np.unique`` otherwise); no per-battle
Python loop runs except the C-level name lookup when names come as strings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from arena.rating.graph import connected_labels

OUTCOME_CODES: dict[str, int] = {"a": 0, "b": 1, "tie": 2, "both_bad": 3}
"""Outcome string (``arena.domain.Outcome`` values) -> code stored in ``Comparisons.outcome``."""
A_WINS, B_WINS, TIE, BOTH_BAD = 0, 1, 2, 3
_BINCOUNT_MAX_BINS = 1 << 22


class RatingInputError(ValueError):
    """Battles or counts that cannot be rated as given; the message says which field and why."""


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Comparisons:
    """Aggregated battles: unique (model_a, model_b, outcome) rows with counts.

    Rows are sorted by (a, b, outcome), have positive counts and never pair a model with
    itself. ``models`` is sorted; a model may appear in ``models`` without any row (then it
    is its own component and is never rated). Arrays are read-only; instances compare by
    identity.
    """

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    count: np.ndarray

    @classmethod
    def from_battles(
        cls,
        model_a: Sequence[str],
        model_b: Sequence[str],
        outcome: Sequence[str],
        weight: Sequence[float] | None = None,
    ) -> Comparisons:
        """Aggregate one row per battle; outcomes are "a", "b", "tie" or "both_bad".

        Raises RatingInputError when the sequences differ in length, an outcome is unknown,
        a battle pairs a model with itself, or a weight is negative or not finite.
        """
        size = len(model_a)
        if len(model_b) != size or len(outcome) != size:
            raise RatingInputError(
                f"model_a, model_b and outcome differ in length ({size}, {len(model_b)}, {len(outcome)})"
            )
        models = tuple(sorted(set(model_a) | set(model_b)))
        index = {name: k for k, name in enumerate(models)}
        a = np.fromiter(map(index.__getitem__, model_a), dtype=np.int64, count=size)
        b = np.fromiter(map(index.__getitem__, model_b), dtype=np.int64, count=size)
        try:
            codes = np.fromiter(map(OUTCOME_CODES.__getitem__, outcome), dtype=np.int8, count=size)
        except KeyError as exc:
            raise RatingInputError(
                f"outcome {exc.args[0]!r} is not one of {sorted(OUTCOME_CODES)}"
            ) from None
        return cls.from_indices(a, b, codes, models, weight)

    @classmethod
    def from_indices(
        cls,
        a: np.ndarray | Sequence[int],
        b: np.ndarray | Sequence[int],
        outcome: np.ndarray | Sequence[int],
        models: Sequence[str],
        weight: np.ndarray | Sequence[float] | None = None,
    ) -> Comparisons:
        """Aggregate one row per battle given as model indices into ``models`` and outcome codes.

        The fast path for callers that already hold integer codes (0 A wins, 1 B wins, 2 tie,
        3 both bad). ``models`` need not be sorted; it must not repeat a name.
        Raises RatingInputError on mismatched lengths, indices out of range, a self-battle,
        an unknown outcome code, duplicate model names or a negative/non-finite weight.
        """
        count = np.ones(len(a), dtype=np.float64) if weight is None else weight
        return cls.from_counts(models, a, b, outcome, count)

    @classmethod
    def from_counts(
        cls,
        models: Sequence[str],
        a: np.ndarray | Sequence[int],
        b: np.ndarray | Sequence[int],
        outcome: np.ndarray | Sequence[int],
        count: np.ndarray | Sequence[float],
    ) -> Comparisons:
        """Build from rows already aggregated (e.g. a SQL GROUP BY); merges duplicate rows.

        Rows with a zero count are dropped. ``models`` is re-sorted and indices remapped.
        Raises RatingInputError on mismatched lengths, indices out of range, a self-battle,
        an outcome code outside 0..3, duplicate model names or a negative/non-finite count.
        """
        names, remap = _sorted_models(models)
        arrays = _validated_rows(len(names), a, b, outcome, count)
        ia, ib, code, cnt = (remap[arrays[0]], remap[arrays[1]], arrays[2], arrays[3])
        ra, rb, ro, rc = _merge_rows(len(names), ia, ib, code, cnt)
        return cls(
            names,
            _readonly(ra.astype(np.int32)),
            _readonly(rb.astype(np.int32)),
            _readonly(ro.astype(np.int8)),
            _readonly(rc),
        )

    @property
    def total(self) -> float:
        """Sum of all counts (the number of battles when unweighted)."""
        return float(self.count.sum())

    def component_labels(self) -> np.ndarray:
        """Per-model component label (the smallest model index in its component)."""
        return connected_labels(len(self.models), self.a, self.b)

    def components(self) -> list[list[str]]:
        """Connected components of the comparison graph as name lists, largest first.

        Equal sizes are ordered by their first (alphabetically smallest) name; names inside a
        component are sorted. Models without any battle are singleton components.
        """
        labels = self.component_labels()
        roots, sizes = np.unique(labels, return_counts=True)
        order = sorted(range(len(roots)), key=lambda k: (-int(sizes[k]), int(roots[k])))
        return [[self.models[m] for m in np.flatnonzero(labels == roots[k])] for k in order]


def _sorted_models(models: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    names = tuple(str(m) for m in models)
    if len(set(names)) != len(names):
        dup = next(name for name, k in Counter(names).items() if k > 1)
        raise RatingInputError(f"models: {dup!r} appears more than once")
    order = sorted(range(len(names)), key=names.__getitem__)
    remap = np.empty(len(names), dtype=np.int64)
    remap[np.asarray(order, dtype=np.int64)] = np.arange(len(names), dtype=np.int64)
    return tuple(names[k] for k in order), remap


def _validated_rows(
    n_models: int,
    a: np.ndarray | Sequence[int],
    b: np.ndarray | Sequence[int],
    outcome: np.ndarray | Sequence[int],
    count: np.ndarray | Sequence[float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ia = np.asarray(a)
    ib = np.asarray(b)
    code = np.asarray(outcome)
    cnt = np.asarray(count, dtype=np.float64)
    shapes = {x.shape for x in (ia, ib, code, cnt)}
    if len(shapes) != 1 or ia.ndim != 1:
        raise RatingInputError(
            "a, b, outcome and count must be 1-D and of equal length "
            f"(got shapes {ia.shape}, {ib.shape}, {code.shape}, {cnt.shape})"
        )
    for field, arr, high in (("a", ia, n_models), ("b", ib, n_models), ("outcome", code, 4)):
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() >= high):
            raise RatingInputError(f"{field}: values must be integers in [0, {high})")
    if np.any(ia == ib):
        row = int(np.flatnonzero(ia == ib)[0])
        raise RatingInputError(f"row {row}: a model cannot battle itself (index {int(ia[row])})")
    if not np.all(np.isfinite(cnt)) or np.any(cnt < 0):
        raise RatingInputError("count/weight: values must be finite and >= 0")
    return ia.astype(np.int64), ib.astype(np.int64), code.astype(np.int64), cnt


def _merge_rows(
    n_models: int, a: np.ndarray, b: np.ndarray, outcome: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sum counts of equal (a, b, outcome) keys; keys come back sorted, zero counts dropped."""
    key = (a * n_models + b) * 4 + outcome
    bins = 4 * n_models * n_models
    if bins <= max(_BINCOUNT_MAX_BINS, 4 * key.size):
        totals = np.bincount(key, weights=count, minlength=bins)
        keys = np.flatnonzero(totals > 0)
        totals = totals[keys]
    else:
        keys, inverse = np.unique(key, return_inverse=True)
        totals = np.bincount(inverse, weights=count, minlength=keys.size)
        keep = totals > 0
        keys, totals = keys[keep], totals[keep]
    pair, code = np.divmod(keys, 4)
    ra, rb = np.divmod(pair, n_models)
    return ra, rb, code, totals.astype(np.float64)
