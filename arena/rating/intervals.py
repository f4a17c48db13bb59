"""Confidence intervals for Bradley-Terry ratings, and the ranks the leaderboard prints.

Two methods, both pure functions of the battles and explicit parameters:

* ``bootstrap_ci`` — Chatbot Arena's method: multinomial resampling of the counts (total =
  the number of battles), refit, percentile interval. Two shortcuts keep 100 rounds cheap:
  (1) we draw the multinomial over the pair-collapsed categories (pair, i won / j won / half)
  instead of over the unique (a, b, outcome) rows. Merging categories of a multinomial gives
  the multinomial of the merged probabilities, and the likelihood depends on the rows only
  through those sums, so every round has exactly the distribution of row resampling (not the
  same random stream as Chatbot Arena's code). (2) All rounds are solved together by batched
  Newton, warm-started at the full-data fit.
* ``sandwich_ci`` — a normal interval from the robust covariance H⁻¹ J H⁻¹ (H the observed
  information, J the sum of squared per-battle score contributions). One linear solve; it is
  what the bootstrap approximates when every model has many games.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from arena.rating.bt import BTFit, BTParams, fit_pairs, round_l2, to_ratings
from arena.rating.data import Comparisons
from arena.rating.solver import Pairs, grad_hessian, newton

_CHUNK_ELEMENTS = 1 << 22  # (rounds × m × m) Hessian entries per batched solve


@dataclass(frozen=True, eq=False)
class Intervals:
    """Per-model interval [low, high] in rating points, aligned with ``BTFit.models``."""

    method: Literal["bootstrap", "sandwich"]
    low: np.ndarray
    high: np.ndarray
    level: float
    rounds: int | None
    seed: int | None


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1) (got {level})")


def multinomial_rows(
    rng: np.random.Generator, draws: int, p: np.ndarray, rounds: int
) -> np.ndarray:
    """(rounds, len(p)) exact Multinomial(draws, p) samples, faster than ``rng.multinomial``.

    Poissonisation: X_k ~ Poisson(λ·p_k) independently is, given its sum s, Multinomial(s, p);
    adding Multinomial(draws − s, p) (categorical draws by inverse CDF) makes it
    Multinomial(draws, p) for every s ≤ draws. λ = draws − 4·√draws keeps s ≤ draws except
    with probability ~3e-5 per round; such a round is redrawn with ``rng.multinomial``.
    """
    lam = draws - 4.0 * np.sqrt(draws)
    if lam > 0:
        out = rng.poisson(lam * p, size=(rounds, p.size))
    else:
        out = np.zeros((rounds, p.size), dtype=np.int64)
    short = draws - out.sum(axis=1)
    for r in np.flatnonzero(short < 0):
        out[r] = rng.multinomial(draws, p)
        short[r] = 0
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    picks = np.searchsorted(cdf, rng.random(int(short.sum())), side="right")
    owner = np.repeat(np.arange(rounds) * p.size, short)
    flat = owner + np.minimum(picks, p.size - 1)
    out += np.bincount(flat, minlength=rounds * p.size).reshape(rounds, p.size)
    return out


def resample_counts(pairs: Pairs, rounds: int, seed: int) -> tuple[np.ndarray, ...]:
    """(wins_i, wins_j, half), each (rounds, P): multinomial resamples of the pair categories.

    The number of draws is the total count rounded to an integer (at least 1); weighted
    (fractional) counts are rescaled so that each resample keeps the original total.
    """
    cats = np.concatenate([pairs.wins_i, pairs.wins_j, pairs.half])
    total = float(cats.sum())
    draws = max(1, int(round(total)))
    keep = np.flatnonzero(cats > 0)
    rng = np.random.Generator(np.random.PCG64(seed))
    sampled = np.zeros((rounds, cats.size))
    sampled[:, keep] = multinomial_rows(rng, draws, cats[keep] / cats[keep].sum(), rounds)
    sampled *= total / draws
    return tuple(np.split(sampled, 3, axis=1))


def bootstrap_ratings(
    pairs: Pairs, theta: np.ndarray, fit: BTFit, params: BTParams, rounds: int, seed: int
) -> np.ndarray:
    """Ratings (rounds, m) of each resample, in the same gauge as ``fit``.

    Each round starts from the full-data θ. A model with no game in a resample keeps its
    full-data strength relative to the mean of the models that did play (nothing moves it;
    Chatbot Arena's code leaves it at its all-zero start instead, i.e. at the mean). A
    resample with no finite MLE (a model that only won, a split graph) gets the
    ``degenerate_l2`` ridge for that round.
    """
    wins_i, wins_j, half = resample_counts(pairs, rounds, seed)
    chunk = max(1, _CHUNK_ELEMENTS // (pairs.m * pairs.m))
    out = np.empty((rounds, pairs.m))
    for lo in range(0, rounds, chunk):
        part = slice(lo, min(rounds, lo + chunk))
        wi, wj, hf = wins_i[part], wins_j[part], half[part]
        l2 = round_l2(pairs, wi, wj, hf, params)
        start = np.broadcast_to(theta, (wi.shape[0], pairs.m))
        n, w = wi + wj + hf, wi + 0.5 * hf
        solved, _, _ = newton(start, pairs.i, pairs.j, n, w, l2, params.tol, params.max_iter)
        out[part] = to_ratings(solved, fit.models, params)
    return out


def bootstrap_ci(
    comp: Comparisons,
    params: BTParams = BTParams(),
    *,
    rounds: int = 100,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[BTFit, Intervals]:
    """Full-data fit and percentile bootstrap intervals (numpy's linear quantiles).

    Seeded with ``np.random.Generator(PCG64(seed))``: same input and seed give byte-identical
    intervals. Models absent from a resample and degenerate resamples are handled as
    ``bootstrap_ratings`` says. Raises ValueError for ``rounds < 1`` or a level outside (0, 1), and whatever
    ``fit_bt`` raises (DegenerateDataError also when a resample needs the ridge and
    ``degenerate_l2`` is 0).
    """
    _check_level(level)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1 (got {rounds})")
    fit, pairs, theta = fit_pairs(comp, params)
    samples = bootstrap_ratings(pairs, theta, fit, params, rounds, seed)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
    return fit, Intervals("bootstrap", low, high, level, rounds, seed)


def _pseudo_inverse(hess: np.ndarray) -> np.ndarray:
    """H⁺ for a Laplacian-like H whose null space is the all-ones vector."""
    m = hess.shape[0]
    alpha = max(float(np.trace(hess)) / m, 1e-300)
    ones = np.full((m, m), 1.0 / m)
    return np.linalg.inv(hess + alpha * ones) - ones / alpha


def sandwich_covariance(pairs: Pairs, theta: np.ndarray, l2: float) -> np.ndarray:
    """Robust covariance H⁺ J H⁺ of the natural-log strengths in the centred gauge.

    Each battle's score is g·(e_a − e_b) with g = 1 − p (A won), −p (B won) or ½ − p
    (tie/both bad), p the fitted P(A wins): the derivative of that battle's log-likelihood
    term, so J = Σ count·g²·(e_a − e_b)(e_a − e_b)ᵀ collapses to pairs.
    """
    present = np.ones((1, pairs.m), dtype=bool)
    _, hess = grad_hessian(
        theta[None], pairs.i, pairs.j, pairs.n[None], pairs.w[None], np.array([l2]), present
    )
    p = 1.0 / (1.0 + np.exp(theta[pairs.j] - theta[pairs.i]))
    v = pairs.wins_i * (1.0 - p) ** 2 + pairs.wins_j * p**2 + pairs.half * (0.5 - p) ** 2
    score = np.zeros((pairs.m, pairs.m))
    score[pairs.i, pairs.j] = -v
    score[pairs.j, pairs.i] = -v
    score[np.diag_indices(pairs.m)] = -score.sum(axis=1)
    inv = _pseudo_inverse(hess[0])
    return inv @ score @ inv


def sandwich_ci(
    comp: Comparisons, params: BTParams = BTParams(), *, level: float = 0.95
) -> tuple[BTFit, Intervals]:
    """Full-data fit and rating ± z·SE intervals from the sandwich covariance.

    In the centred gauge the covariance is that of the projected strengths; with an anchor,
    of the differences to the anchor (whose own interval is then zero-width). Raises
    ValueError for a level outside (0, 1), and whatever ``fit_bt`` raises.
    """
    _check_level(level)
    fit, pairs, theta = fit_pairs(comp, params)
    cov = sandwich_covariance(pairs, theta, fit.l2)
    var = np.diag(cov).copy()
    if params.anchor_model is not None:
        k = fit.models.index(params.anchor_model)
        var = var - 2.0 * cov[:, k] + cov[k, k]
        var[k] = 0.0
    se = np.sqrt(np.maximum(var, 0.0)) * params.factor
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    return fit, Intervals("sandwich", fit.ratings - z * se, fit.ratings + z * se, level, None, None)


def ranks(ratings: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Rank = 1 + the number of models whose lower bound is above this model's upper bound.

    ``ratings`` only fixes the length (ties share a rank; ranks need not be consecutive).
    Raises ValueError when the three arrays differ in length.
    """
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if not (len(ratings) == lo.size == hi.size):
        raise ValueError("ratings, low and high must have the same length")
    above = lo.size - np.searchsorted(np.sort(lo), hi, side="right")
    return (1 + above).astype(np.int64)
