"""Leaderboard breakdowns: per category or language, against a baseline, pairwise matrices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from arena.domain import ArenaError
from arena.services.leaderboard import Leaderboard, RatingOptions, from_counts
from db.repositories import Store
from db.repositories.stats import CountRow, VoteFilter

GroupBy = Literal["category", "language"]


def _group(row: CountRow, by: GroupBy) -> str:
    return (row.category if by == "category" else row.language) or "(none)"


def by_group(store: Store, vote_filter: VoteFilter, options: RatingOptions,
             by: GroupBy) -> dict[str, Leaderboard]:
    """One leaderboard per category (or language), fitted on that group's votes alone."""
    rows = store.comparison_counts(vote_filter, by=by, style=options.style)
    groups: dict[str, list[CountRow]] = {}
    for r in rows:
        groups.setdefault(_group(r, by), []).append(r)
    return {g: from_counts(rs, vote_filter, options) for g, rs in sorted(groups.items())}


@dataclass(frozen=True)
class BaselineRow:
    model: str
    group: str
    battles: float
    wins: float
    ties: float
    losses: float
    win_rate: float
    tie_rate: float
    score: float
    score_low: float
    score_high: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def versus_baseline(store: Store, vote_filter: VoteFilter, baseline: str, *,
                    by: GroupBy | None = None, rounds: int = 1000, seed: int = 0,
                    level: float = 0.95) -> list[BaselineRow]:
    """Each model's record against ``baseline``: win and tie rates and CodeArena's score
    ((wins + ½ ties) / N) with a seeded bootstrap interval, overall or per group.

    Raises ArenaError when the baseline has no counted battles.
    """
    rows = store.comparison_counts(vote_filter, by=by)
    tallies: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if baseline not in (r.model_a, r.model_b) or r.model_a == r.model_b:
            continue
        other, side = (r.model_b, "b") if r.model_a == baseline else (r.model_a, "a")
        key = (other, _group(r, by) if by else "all")
        t = tallies.setdefault(key, [0.0, 0.0, 0.0])
        if r.outcome in ("tie", "both_bad"):
            t[1] += r.weight
        elif r.outcome == side:
            t[0] += r.weight
        else:
            t[2] += r.weight
    if not tallies:
        raise ArenaError(f"--baseline: no counted battles against {baseline!r}")
    rng = np.random.Generator(np.random.PCG64(seed))
    alpha = (1 - level) / 2
    out = []
    for (model, group), (w, ti, lo) in sorted(tallies.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        n = w + ti + lo
        draws = rng.multinomial(int(round(n)), [w / n, ti / n, lo / n], size=rounds)
        scores = (draws[:, 0] + 0.5 * draws[:, 1]) / max(1, int(round(n)))
        out.append(BaselineRow(
            model=model, group=group, battles=n, wins=w, ties=ti, losses=lo,
            win_rate=round(w / n, 4), tie_rate=round(ti / n, 4), score=round((w + 0.5 * ti) / n, 4),
            score_low=round(float(np.quantile(scores, alpha)), 4),
            score_high=round(float(np.quantile(scores, 1 - alpha)), 4)))
    groups = {r.group for r in out}
    return sorted(out, key=lambda r: (r.group if len(groups) > 1 else "", -r.score, r.model))


def matrices(store: Store, vote_filter: VoteFilter) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(models, win fraction of row over column with ties as half, battle counts)."""
    from arena.rating.data import Comparisons
    from arena.rating.matrix import pairwise_matrices

    rows = store.comparison_counts(vote_filter)
    if not rows:
        return (), np.zeros((0, 0)), np.zeros((0, 0))
    comp = Comparisons.from_battles([r.model_a for r in rows], [r.model_b for r in rows],
                                    [r.outcome for r in rows], [r.weight for r in rows])
    return pairwise_matrices(comp)
