"""Bradley-Terry ratings by maximum likelihood, as Chatbot Arena defines them.

Model: P(A beats B) = 1 / (1 + base^((R_B − R_A) / scale)); a tie or a both-bad vote counts as
half a win for each side. No regularisation by default, so on well-posed data the ratings are
exactly the maximum-likelihood estimate that Chatbot Arena's L-BFGS code approximates; we get
there with Newton's method on pair-collapsed counts (``arena.rating.solver``), to a Newton step
below ``tol``.

Rules this module decides, because the likelihood alone does not:

* Only the largest connected component of the comparison graph is rated; the other models are
  listed in ``BTFit.disconnected`` and get no rating (they share no scale with the rest).
* Gauge: by default ratings are centred so that their mean is ``init_rating``; with
  ``anchor_model`` that model is pinned to exactly ``anchor_rating`` instead (others shift by a
  constant; the fitted differences are identical).
* No finite MLE: when the beat graph is not strongly connected (e.g. a model won or lost every
  game), the likelihood keeps growing as ratings drift apart. Then, unless ``l2`` is already
  positive, the fit adds the ridge ``degenerate_l2`` (½·λ·Σ(θ−θ̄)², θ in natural-log units,
  λ in games) and lists the models outside the largest strongly connected component in
  ``BTFit.degenerate``; their ratings are finite but mean only "far above/below". With
  ``degenerate_l2 = 0`` such data raise DegenerateDataError instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from arena.rating.data import Comparisons, RatingInputError
from arena.rating.graph import beat_adjacency, strong_components, strongly_connected
from arena.rating.solver import Pairs, collapse_pairs, newton


class DegenerateDataError(RatingInputError):
    """The battles have no finite maximum-likelihood rating and no regularisation was allowed."""


@dataclass(frozen=True)
class BTParams:
    """Explicit parameters of a Bradley-Terry fit (every one changes the numbers shown).

    ``l2``: ridge strength always applied (0 = pure maximum likelihood, the default).
    ``degenerate_l2``: ridge used only when the data have no finite MLE and ``l2 == 0``;
    0 makes such data an error.
    """

    scale: float = 400.0
    base: float = 10.0
    init_rating: float = 1000.0
    anchor_model: str | None = None
    anchor_rating: float = 1000.0
    tol: float = 1e-10
    max_iter: int = 100
    l2: float = 0.0
    degenerate_l2: float = 0.01

    @property
    def factor(self) -> float:
        """Rating points per natural-log unit of strength: scale / ln(base)."""
        return self.scale / math.log(self.base)


@dataclass(frozen=True, eq=False)
class BTFit:
    """Ratings of the largest connected component.

    ``ratings[k]`` belongs to ``models[k]`` (sorted). ``log_strengths`` are the same numbers in
    base-``base`` units after the gauge shift, ``(ratings − init_rating) / scale``, i.e. the r
    of Chatbot Arena's "rating = scale·r + init_rating" (mean 0 by default; with an anchor,
    the anchored model has ``(anchor_rating − init_rating) / scale``). P(i beats j) =
    1 / (1 + base^(r_j − r_i)). ``degenerate`` names models
    whose rating is not a finite MLE (see the module docstring); ``regularised`` says whether a
    ridge was in force.
    """

    models: tuple[str, ...]
    ratings: np.ndarray
    log_strengths: np.ndarray
    disconnected: tuple[str, ...]
    iterations: int
    converged: bool
    degenerate: tuple[str, ...] = ()
    l2: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Model name -> rating."""
        return dict(zip(self.models, self.ratings.tolist(), strict=True))


def check_params(params: BTParams) -> None:
    """Raise ValueError naming the first parameter that makes no sense."""
    if not params.scale > 0:
        raise ValueError(f"scale must be > 0 (got {params.scale})")
    if not params.base > 1:
        raise ValueError(f"base must be > 1 (got {params.base})")
    if not params.tol > 0 or params.max_iter < 1:
        raise ValueError(f"tol must be > 0 and max_iter >= 1 (got {params.tol}, {params.max_iter})")
    if params.l2 < 0 or params.degenerate_l2 < 0:
        raise ValueError("l2 and degenerate_l2 must be >= 0")


def main_component(comp: Comparisons) -> tuple[np.ndarray, tuple[str, ...]]:
    """Sorted global indices of the rated component, and the names left out.

    Raises RatingInputError when there is no battle at all.
    """
    if comp.count.size == 0:
        raise RatingInputError("no battles to rate")
    labels = comp.component_labels()
    roots, sizes = np.unique(labels, return_counts=True)
    root = roots[np.argmax(sizes)]  # first maximum = component holding the smallest index
    inside = labels == root
    return np.flatnonzero(inside), tuple(comp.models[k] for k in np.flatnonzero(~inside))


def round_l2(
    pairs: Pairs, wins_i: np.ndarray, wins_j: np.ndarray, half: np.ndarray, params: BTParams
) -> np.ndarray:
    """Ridge per stacked (R, P) count vector: ``l2``, or ``degenerate_l2`` where no finite MLE.

    Raises DegenerateDataError when some vector needs the fallback and it is 0.
    """
    if params.l2 > 0:
        return np.full(wins_i.shape[0], params.l2)
    adj = beat_adjacency(pairs.m, pairs.i, pairs.j, (wins_i + half) > 0, (wins_j + half) > 0)
    present = _present(pairs, wins_i + wins_j + half)
    ok = strongly_connected(adj, present)
    if not ok.all() and params.degenerate_l2 == 0:
        raise DegenerateDataError(
            "no finite Bradley-Terry rating: some model won or lost all its games against the "
            "rest; set degenerate_l2 > 0 to rate it with a small ridge"
        )
    return np.where(ok, 0.0, params.degenerate_l2)


def _present(pairs: Pairs, n: np.ndarray) -> np.ndarray:
    rounds = n.shape[0]
    off = (np.arange(rounds) * pairs.m)[:, None]
    games = np.bincount((pairs.i + off).ravel(), n.ravel(), rounds * pairs.m)
    games += np.bincount((pairs.j + off).ravel(), n.ravel(), rounds * pairs.m)
    return games.reshape(rounds, pairs.m) > 0


def to_ratings(theta: np.ndarray, models: tuple[str, ...], params: BTParams) -> np.ndarray:
    """Natural-log strengths (R, m) -> ratings in the chosen gauge (centred or anchored).

    Raises RatingInputError when ``anchor_model`` is not among the rated ``models``.
    """
    ratings = theta * params.factor
    if params.anchor_model is None:
        return ratings + (params.init_rating - ratings.mean(axis=1, keepdims=True))
    try:
        k = models.index(params.anchor_model)
    except ValueError:
        raise RatingInputError(
            f"anchor_model {params.anchor_model!r} is not in the rated component"
        ) from None
    shifted = ratings + (params.anchor_rating - ratings[:, k : k + 1])
    shifted[:, k] = params.anchor_rating
    return shifted


def degenerate_models(pairs: Pairs, models: tuple[str, ...]) -> tuple[str, ...]:
    """Names outside the largest strongly connected component of the full beat graph."""
    i_beat_j, j_beat_i = (pairs.wins_i + pairs.half) > 0, (pairs.wins_j + pairs.half) > 0
    adj = beat_adjacency(pairs.m, pairs.i, pairs.j, i_beat_j[None], j_beat_i[None])
    core = set(strong_components(adj[0])[0].tolist())
    return tuple(name for k, name in enumerate(models) if k not in core)


def fit_pairs(comp: Comparisons, params: BTParams) -> tuple[BTFit, Pairs, np.ndarray]:
    """``fit_bt`` that also returns the collapsed pairs and natural-log strengths θ."""
    check_params(params)
    members, disconnected = main_component(comp)
    models = tuple(comp.models[k] for k in members)
    pairs = collapse_pairs(comp, members)
    n, w = pairs.n[None], pairs.w[None]
    l2 = round_l2(pairs, pairs.wins_i[None], pairs.wins_j[None], pairs.half[None], params)
    theta, iters, conv = newton(
        np.zeros((1, pairs.m)), pairs.i, pairs.j, n, w, l2, params.tol, params.max_iter
    )
    ratings = to_ratings(theta, models, params)[0]
    fit = BTFit(
        models=models,
        ratings=ratings,
        log_strengths=(ratings - params.init_rating) / params.scale,
        disconnected=disconnected,
        iterations=int(iters[0]),
        converged=bool(conv[0]),
        degenerate=degenerate_models(pairs, models) if l2[0] > params.l2 else (),
        l2=float(l2[0]),
    )
    return fit, pairs, theta[0]


def fit_bt(comp: Comparisons, params: BTParams = BTParams()) -> BTFit:
    """Maximum-likelihood Bradley-Terry ratings of the largest connected component.

    Raises RatingInputError when there are no battles or the anchor model is not rated,
    DegenerateDataError when the data have no finite MLE and ``degenerate_l2`` is 0, and
    ValueError for nonsensical parameters. Not converging within ``max_iter`` is reported by
    ``converged=False``, not raised.
    """
    return fit_pairs(comp, params)[0]
