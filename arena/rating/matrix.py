"""Pairwise win-fraction and battle-count matrices: the leaderboard's "who beat whom" view.

Ratings compress the battles into one number per model; these matrices show the raw head to
head record behind them, so a reader can check a surprising rating against the games.
"""

from __future__ import annotations

import numpy as np

from arena.rating.data import A_WINS, B_WINS, Comparisons


def pairwise_matrices(comp: Comparisons) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(models, win_fraction[n, n], battle_counts[n, n]) over all models of ``comp``.

    ``win_fraction[i, j]`` is the share of the (weighted) games between i and j that i won, a
    tie or both-bad game counting half; NaN where they never met (and on the diagonal).
    ``battle_counts`` is symmetric: games between i and j in either seat order. Raises nothing.
    """
    n = len(comp.models)
    score_a = np.where(comp.outcome == A_WINS, 1.0, np.where(comp.outcome == B_WINS, 0.0, 0.5))
    key = comp.a.astype(np.int64) * n + comp.b
    games = np.bincount(key, comp.count, n * n).reshape(n, n)
    won_by_a = np.bincount(key, comp.count * score_a, n * n).reshape(n, n)
    won_by_b = np.bincount(key, comp.count * (1.0 - score_a), n * n).reshape(n, n)
    counts = games + games.T
    wins = won_by_a + won_by_b.T
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(counts > 0, wins / counts, np.nan)
    return comp.models, fraction, counts
