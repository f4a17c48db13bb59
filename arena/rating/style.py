"""Style control: ratings with the pull of long, heavily formatted answers taken out.

Voters (human or LLM) favour longer answers with more headers, lists and bold text. Chatbot
Arena's answer is to fit that preference jointly with the ratings: per battle, the feature is
the difference of each style count between the two answers normalised by their sum, then
standardised over battles, and

    logit P(A wins) = ln(base)/scale · (R_A − R_B) + θ · x.

The reported "style-controlled" ratings are the R of that joint fit; θ says how much each
style feature sways a vote. Markdown is counted outside fenced code blocks and inline code,
because code is content, not formatting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from arena.rating.bt import (
    BTFit,
    BTParams,
    check_params,
    degenerate_models,
    main_component,
    round_l2,
    to_ratings,
)
from arena.rating.data import A_WINS, B_WINS, Comparisons, RatingInputError
from arena.rating.solver import collapse_pairs

STYLE_FEATURES = ("tokens", "headers", "lists", "bold")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.*?[^`])\1(?!`)")
_HEADER = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)[^\n]+?(?<=\S)\*\*|__(?=\S)[^\n]+?(?<=\S)__")


def _without_fences(text: str) -> str:
    """Drop fenced code blocks (``` or ~~~, closed by a fence of the same char, at least as
    long; an unclosed fence runs to the end, as in CommonMark)."""
    kept: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                fence = match.group(1)
            else:
                kept.append(line)
        elif (
            match
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not match.group(2).strip()
        ):
            fence = None
    return "\n".join(kept)


def markdown_counts(text: str) -> tuple[int, int, int]:
    """(headers, list items, bold spans) outside fenced code blocks and inline code.

    Headers are ATX (``#`` … ``######``); list items are ``-``/``*``/``+`` or ``1.``/``1)``
    bullets with content (thematic breaks like ``* * *`` are not items); bold is ``**x**`` or
    ``__x__`` within one line. Raises nothing.
    """
    prose = _INLINE_CODE.sub("code", _without_fences(text))  # keeps "- `x`" a list item
    lists = len(_LIST_ITEM.findall(_RULE.sub("", prose)))
    return len(_HEADER.findall(prose)), lists, len(_BOLD.findall(prose))


def style_features(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-battle style features from raw per-side counts ``a``, ``b`` of shape (n, k).

    (a − b) / (a + b), 0 where a + b = 0, then each column z-scored over battles (population
    std); a constant column stays 0. Raises ValueError on mismatched shapes or negative counts.
    """
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if xa.shape != xb.shape or xa.ndim != 2:
        raise ValueError(f"a and b must be 2-D arrays of one shape (got {xa.shape}, {xb.shape})")
    if np.any(xa < 0) or np.any(xb < 0):
        raise ValueError("style counts must be >= 0")
    total = xa + xb
    diff = np.divide(xa - xb, total, out=np.zeros_like(total), where=total > 0)
    std = diff.std(axis=0)
    centred = diff - diff.mean(axis=0)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 1e-12)


@dataclass(frozen=True, eq=False)
class StyleFit:
    """Style-controlled ratings and the style coefficients.

    ``coefficients[name]`` is θ in natural-log-odds units per one standard deviation of the
    (standardised) feature: e^θ is the odds multiplier for A winning per unit of x.
    """

    bt: BTFit
    coefficients: dict[str, float]


@dataclass(frozen=True, eq=False)
class _Battles:
    la: np.ndarray
    lb: np.ndarray
    x: np.ndarray
    score: np.ndarray
    weight: np.ndarray
    m: int


def _loglik(beta: np.ndarray, theta: np.ndarray, data: _Battles, l2: float) -> float:
    """Log-likelihood of the joint model, minus the ridge ½·l2·Σ(β − β̄)²."""
    z = beta[data.la] - beta[data.lb] + data.x @ theta
    ll = -np.sum(
        data.weight
        * (data.score * np.logaddexp(0.0, -z) + (1.0 - data.score) * np.logaddexp(0.0, z))
    )
    return float(ll) - 0.5 * l2 * float(np.sum((beta - beta.mean()) ** 2))


def _grad_hessian(
    beta: np.ndarray, theta: np.ndarray, data: _Battles, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and negative Hessian of ``_loglik`` in (β, θ)."""
    m = data.m
    p = 1.0 / (1.0 + np.exp(beta[data.lb] - beta[data.la] - data.x @ theta))
    resid = data.weight * (data.score - p)
    h = data.weight * p * (1.0 - p)
    g_beta = np.bincount(data.la, resid, m) - np.bincount(data.lb, resid, m)
    g_beta -= l2 * (beta - beta.mean())
    pair = np.bincount(data.la * m + data.lb, h, m * m).reshape(m, m)
    pair += pair.T
    h_bb = np.diag(pair.sum(axis=1)) - pair + l2 * (np.eye(m) - 1.0 / m)
    hx = h[:, None] * data.x
    h_bt = np.empty((m, data.x.shape[1]))
    for t in range(data.x.shape[1]):
        h_bt[:, t] = np.bincount(data.la, hx[:, t], m) - np.bincount(data.lb, hx[:, t], m)
    hess = np.block([[h_bb, h_bt], [h_bt.T, data.x.T @ hx]])
    return np.concatenate([g_beta, data.x.T @ resid]), hess


def _newton_joint(data: _Battles, l2: float, params: BTParams) -> tuple[np.ndarray, int, bool]:
    """Newton with step halving on (β, θ); the β gauge is pinned by α·11ᵀ/m."""
    m = data.m
    vec = np.zeros(m + data.x.shape[1])
    ll = _loglik(vec[:m], vec[m:], data, l2)
    for it in range(1, params.max_iter + 1):
        grad, hess = _grad_hessian(vec[:m], vec[m:], data, l2)
        hess[:m, :m] += max(float(np.trace(hess[:m, :m])) / m, 1e-300) / m
        step = np.linalg.solve(hess, grad)
        if np.abs(step).max() <= params.tol:
            return vec + step, it, True
        t = 1.0
        while True:
            trial = vec + t * step
            trial_ll = _loglik(trial[:m], trial[m:], data, l2)
            if trial_ll >= ll - 1e-12 * (1.0 + abs(ll)):
                break
            t *= 0.5
            if t < 1e-18:
                return vec, it, False
        vec, ll = trial, trial_ll
    return vec, params.max_iter, False


def _prepare(
    model_a_idx: np.ndarray,
    model_b_idx: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    features: np.ndarray,
    models: Sequence[str],
) -> tuple[Comparisons, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated (comparisons, a, b as indices into comp.models, score, weight, features)."""
    a, b = np.asarray(model_a_idx, dtype=np.int64), np.asarray(model_b_idx, dtype=np.int64)
    score = np.asarray(y, dtype=np.float64)
    wt = np.ones(a.size) if weight is None else np.asarray(weight, dtype=np.float64)
    x = np.asarray(features, dtype=np.float64)
    if score.shape != a.shape or wt.shape != a.shape:
        raise RatingInputError(f"y and weight must have one entry per battle ({a.size})")
    if not np.all((score >= 0) & (score <= 1)):
        raise RatingInputError("y: scores must lie in [0, 1] (1 A won, 0 B won, 0.5 tie)")
    if x.ndim != 2 or x.shape[0] != a.size or not np.all(np.isfinite(x)):
        raise RatingInputError(f"features must be a finite ({a.size}, k) array (got {x.shape})")
    # each battle as an A-win of weight w·y and a B-win of weight w·(1 − y): for the graph
    # checks a tie is then a win both ways, as in fit_bt
    comp = Comparisons.from_indices(
        np.concatenate([a, a]),
        np.concatenate([b, b]),
        np.repeat(np.array([A_WINS, B_WINS], dtype=np.int8), a.size),
        models,
        np.concatenate([wt * score, wt * (1.0 - score)]),
    )
    position = {name: k for k, name in enumerate(comp.models)}
    remap = np.array([position[str(name)] for name in models], dtype=np.int64)
    return comp, remap[a], remap[b], score, wt, x


def _solve(data: _Battles, l2: float, params: BTParams, k: int) -> tuple[np.ndarray, int, bool]:
    """(β, θ with all-zero feature columns at 0), iterations, converged."""
    used = np.flatnonzero(np.any(data.x != 0, axis=0))
    reduced = _Battles(data.la, data.lb, data.x[:, used], data.score, data.weight, data.m)
    try:
        found, iters, converged = _newton_joint(reduced, l2, params)
    except np.linalg.LinAlgError:
        raise RatingInputError("style features are collinear; drop a redundant column") from None
    solution = np.zeros(data.m + k)
    solution[: data.m] = found[: data.m]
    solution[data.m + used] = found[data.m :]
    return solution, iters, converged


def fit_style_controlled(
    model_a_idx: np.ndarray,
    model_b_idx: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    features: np.ndarray,
    models: Sequence[str],
    params: BTParams = BTParams(),
    feature_names: Sequence[str] = STYLE_FEATURES,
) -> StyleFit:
    """Joint maximum-likelihood fit of ratings and style coefficients, one row per battle.

    ``model_a_idx``/``model_b_idx`` index ``models``; ``y`` is A's score: 1 A won, 0 B won,
    ½ a tie or both bad — or pass a tie as two rows (y = 1 and y = 0) at half ``weight``,
    which is the same likelihood. ``weight`` defaults to 1 per row. ``features`` is (n, k),
    normally ``style_features`` output (an all-zero column gets θ = 0). Only battles inside
    the largest connected component are used; gauge and degenerate-data rules are those of
    ``fit_bt``. Raises RatingInputError on malformed battles, scores outside [0, 1],
    non-finite or collinear features, or an anchor outside the rated component;
    DegenerateDataError as ``fit_bt``; ValueError for bad parameters or when
    ``feature_names`` does not match the number of feature columns.
    """
    check_params(params)
    comp, ga, gb, score, wt, x = _prepare(model_a_idx, model_b_idx, y, weight, features, models)
    if len(feature_names) != x.shape[1]:
        raise ValueError(f"{len(feature_names)} feature names for {x.shape[1]} feature columns")
    members, disconnected = main_component(comp)
    pairs = collapse_pairs(comp, members)
    l2 = float(round_l2(pairs, pairs.wins_i[None], pairs.wins_j[None], pairs.half[None], params)[0])
    local = np.full(len(comp.models), -1, dtype=np.int64)
    local[members] = np.arange(members.size)
    la, lb = local[ga], local[gb]
    keep = (la >= 0) & (lb >= 0) & (wt > 0)
    data = _Battles(la[keep], lb[keep], x[keep], score[keep], wt[keep], members.size)
    solution, iters, converged = _solve(data, l2, params, x.shape[1])
    names = tuple(comp.models[k] for k in members)
    ratings = to_ratings(solution[None, : data.m], names, params)[0]
    log_strengths = (ratings - params.init_rating) / params.scale
    degenerate = degenerate_models(pairs, names) if l2 > params.l2 else ()
    fit = BTFit(names, ratings, log_strengths, disconnected, iters, converged, degenerate, l2)
    coefficients = dict(zip(feature_names, solution[data.m :].tolist(), strict=True))
    return StyleFit(fit, coefficients)
