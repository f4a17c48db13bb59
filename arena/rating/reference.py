"""A deliberately plain Bradley-Terry reference: the yardstick for tests and benchmarks.

It does what Chatbot Arena's code does, without our shortcuts: one logistic term per battle
(a tie or both-bad vote is y = ½, i.e. the two half-weight rows merged), minimised with
scipy's L-BFGS-B from all-zero strengths, then the same gauge as ``fit_bt`` (centred on
``init_rating`` or the anchor pinned). The bootstrap resamples battles with replacement and
refits each round from scratch. It rates every model it sees (no component or degeneracy
handling), so feed it connected, well-posed data. scipy is imported lazily: only tests and
``bench/rating_speed.py`` need it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from arena.rating.bt import BTParams

_Y = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}


def _loss_grad(
    r: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, ln_base: float
) -> tuple[float, np.ndarray]:
    z = ln_base * (r[a] - r[b])
    loss = np.sum(y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z)) / y.size
    dz = (1.0 / (1.0 + np.exp(-z)) - y) * (ln_base / y.size)
    grad = np.bincount(a, dz, r.size) - np.bincount(b, dz, r.size)
    return float(loss), grad


def _gauge(r: np.ndarray, models: list[str], params: BTParams) -> np.ndarray:
    ratings = params.scale * r + params.init_rating
    if params.anchor_model is None:
        return ratings - ratings.mean() + params.init_rating
    k = models.index(params.anchor_model)
    return ratings - ratings[k] + params.anchor_rating


def _fit_codes(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, n_models: int, params: BTParams, polish: bool
) -> np.ndarray:
    from scipy.optimize import minimize

    result = minimize(
        _loss_grad,
        np.zeros(n_models),
        args=(a, b, y, math.log(params.base)),
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 1e-16, "gtol": 1e-13, "maxiter": 20000, "maxcor": 30},
    )
    r = np.asarray(result.x)
    return _polish(r, a, b, y, math.log(params.base)) if polish else r


def _polish(
    r: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, ln_base: float, steps: int = 2
) -> np.ndarray:
    """A couple of plain Newton steps (per-battle Hessian, pseudo-inverse for the gauge).

    L-BFGS stops where the loss stops changing in float64, which leaves ~1e-7 rating points
    of error; two Newton steps from there reach round-off.
    """
    n = r.size
    for _ in range(steps):
        z = ln_base * (r[a] - r[b])
        p = 1.0 / (1.0 + np.exp(-z))
        g = np.bincount(a, y - p, n) - np.bincount(b, y - p, n)
        h = p * (1.0 - p)
        hess = np.zeros((n, n))
        np.add.at(hess, (a, b), -h)
        np.add.at(hess, (b, a), -h)
        hess[np.diag_indices(n)] = np.bincount(a, h, n) + np.bincount(b, h, n)
        r = r + np.linalg.pinv(hess, hermitian=True) @ g / ln_base
    return r


def _encode(
    model_a: Sequence[str], model_b: Sequence[str], outcome: Sequence[str]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    names, codes = np.unique(
        np.concatenate([np.asarray(model_a), np.asarray(model_b)]), return_inverse=True
    )
    half = len(model_a)
    y = np.array([_Y[o] for o in outcome], dtype=np.float64)
    return [str(n) for n in names], codes[:half], codes[half:], y


def reference_bt(
    model_a: Sequence[str],
    model_b: Sequence[str],
    outcome: Sequence[str],
    params: BTParams = BTParams(),
    *,
    polish: bool = True,
) -> dict[str, float]:
    """Model -> rating by L-BFGS on the unaggregated per-battle loss.

    ``polish`` adds two Newton steps after L-BFGS (needed for 1e-6 agreement in tests; the
    benchmark baseline turns it off to time L-BFGS alone, as Chatbot Arena runs it).

    Raises KeyError for an unknown outcome and ValueError (from ``list.index``) when the
    anchor model never played.
    """
    models, a, b, y = _encode(model_a, model_b, outcome)
    r = _fit_codes(a, b, y, len(models), params, polish)
    return dict(zip(models, _gauge(r, models, params).tolist(), strict=True))


def reference_bootstrap(
    model_a: Sequence[str],
    model_b: Sequence[str],
    outcome: Sequence[str],
    params: BTParams = BTParams(),
    *,
    rounds: int = 100,
    seed: int = 0,
    polish: bool = False,
) -> tuple[list[str], np.ndarray]:
    """(models, ratings[rounds, models]): resample battles with replacement, refit each round.

    The naive baseline for the benchmark. A model absent from a resample keeps the
    all-zero start (Chatbot Arena's behaviour). Raises as ``reference_bt``.
    """
    models, a, b, y = _encode(model_a, model_b, outcome)
    rng = np.random.Generator(np.random.PCG64(seed))
    out = np.empty((rounds, len(models)))
    for k in range(rounds):
        idx = rng.integers(0, y.size, y.size)
        r = _fit_codes(a[idx], b[idx], y[idx], len(models), params, polish)
        out[k] = _gauge(r, models, params)
    return models, out
