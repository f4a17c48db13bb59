"""PNG plots of leaderboards and matrices (matplotlib, an optional extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from arena.domain import ArenaError


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArenaError("--plot needs matplotlib: `EXTRAS=dev,plot bash scripts/setup.sh` "
                         "or `pip install 'arena-code[plot]'`") from None
    return plt


def plot_ratings(board: Any, path: Path) -> None:
    """Ratings as points with interval whiskers, best at the top."""
    plt = _pyplot()
    rows = board.rows
    n = len(rows)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.45 * n + 1.2)))
    y = np.arange(n)[::-1]
    ratings = np.array([r.rating for r in rows])
    if rows and rows[0].ci_low is not None:
        lo = ratings - np.array([r.ci_low for r in rows])
        hi = np.array([r.ci_high for r in rows]) - ratings
        ax.errorbar(ratings, y, xerr=[lo, hi], fmt="o", color="#1f5fa8", ecolor="#7aa6d6",
                    elinewidth=2, capsize=4)
    else:
        ax.plot(ratings, y, "o", color="#1f5fa8")
    ax.set_yticks(y, [f"{r.rank}. {r.model}" for r in rows])
    ax.set_xlabel("rating")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Arena leaderboard", loc="left")
    fig.text(0.01, 0.01, board.caption(), fontsize=6, wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _save(fig, plt, path)


def plot_matrix(models: tuple[str, ...], frac: np.ndarray, counts: np.ndarray, path: Path) -> None:
    """A heatmap of win fractions, each cell labelled with its fraction and battle count."""
    plt = _pyplot()
    n = len(models)
    fig, ax = plt.subplots(figsize=(1.1 * n + 2.5, 0.9 * n + 2))
    im = ax.imshow(np.ma.masked_invalid(frac), cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(n), models, rotation=40, ha="right")
    ax.set_yticks(range(n), models)
    for i in range(n):
        for j in range(n):
            if counts[i, j] > 0:
                ax.text(j, i, f"{frac[i, j]:.2f}\n({int(counts[i, j])})", ha="center", va="center",
                        fontsize=8, color="black")
    fig.colorbar(im, ax=ax, label="row beats column (ties half)")
    ax.set_title("Pairwise win fraction", loc="left")
    fig.tight_layout()
    _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
