"""Leaderboards as pure functions of the vote log and explicit parameters.

The database aggregates the counted votes to (model A, model B, outcome) rows in SQL; the
rating engine (:mod:`arena.rating`) fits Bradley-Terry with confidence intervals, or
replays online Elo. Every parameter that changes a number (method, rounds, seed, level,
anchor, which votes count, how games combine) is carried in the result's caption, so any
table can be reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from arena.domain import ArenaError, RatingRow
from db.repositories import Store
from db.repositories.stats import CountRow, VoteFilter

Method = Literal["bootstrap", "sandwich", "none"]
Algorithm = Literal["bt", "elo"]


@dataclass(frozen=True)
class RatingOptions:
    algorithm: Algorithm = "bt"
    method: Method = "bootstrap"
    rounds: int = 100
    seed: int = 0
    level: float = 0.95
    anchor_model: str | None = None
    anchor_rating: float = 1000.0
    style: bool = False


@dataclass
class Leaderboard:
    rows: list[RatingRow]
    options: RatingOptions
    vote_filter: VoteFilter
    comparisons: float = 0.0
    disconnected: list[str] = field(default_factory=list)
    coefficients: dict[str, float] | None = None

    def caption(self) -> str:
        o, f = self.options, self.vote_filter
        if o.algorithm == "elo":
            what = "online Elo (K=4, base 10, scale 400, initial 1000; no intervals)"
        else:
            what = "Bradley-Terry (base 10, scale 400, " + (
                f"{o.anchor_model} pinned at {o.anchor_rating:g}" if o.anchor_model else "mean 1000") + ")"
            if o.method == "bootstrap":
                what += f", {o.level:.0%} bootstrap CI, {o.rounds} rounds, seed {o.seed}"
            elif o.method == "sandwich":
                what += f", {o.level:.0%} sandwich (robust) CI"
            if o.style:
                what += ", style-controlled"
        judges = ", ".join(f.judges) if f.judges else "all judges"
        combine = ("each game counted" if o.algorithm == "elo"
                   else "games of a judge combined per battle" if f.combine == "battle"
                   else f"each game counted (strong verdicts ×{f.strong_weight:g})")
        text = f"{what}; votes: {judges}, {combine}; {self.comparisons:g} comparisons"
        if self.disconnected:
            text += f"; not rated (no comparison with the others): {', '.join(self.disconnected)}"
        return text


def _tally(rows: list[CountRow]) -> dict[str, list[float]]:
    """battles, wins, ties (both-bad included), losses per model."""
    t: dict[str, list[float]] = {}
    for r in rows:
        for model, side in ((r.model_a, "a"), (r.model_b, "b")):
            row = t.setdefault(model, [0.0, 0.0, 0.0, 0.0])
            row[0] += r.weight
            if r.outcome in ("tie", "both_bad"):
                row[2] += r.weight
            elif r.outcome == side:
                row[1] += r.weight
            else:
                row[3] += r.weight
    return t


def compute(store: Store, vote_filter: VoteFilter, options: RatingOptions = RatingOptions()) -> Leaderboard:
    """The leaderboard for the selected votes. Raises ArenaError for an unknown or unrated
    anchor, and for votes the rating engine cannot fit (RatingInputError)."""
    if options.algorithm == "elo":
        return elo_leaderboard(store, vote_filter)
    rows = store.comparison_counts(vote_filter, style=options.style)
    return from_counts(rows, vote_filter, options)


def from_counts(rows: list[CountRow], vote_filter: VoteFilter, options: RatingOptions) -> Leaderboard:
    board = Leaderboard([], options, vote_filter, comparisons=sum(r.weight for r in rows))
    if not rows:
        return board
    tally = _tally(rows)
    from arena.rating.data import Comparisons

    comp = Comparisons.from_battles([r.model_a for r in rows], [r.model_b for r in rows],
                                    [r.outcome for r in rows], [r.weight for r in rows])
    if options.anchor_model and options.anchor_model not in comp.models:
        raise ArenaError(f"--anchor: {options.anchor_model!r} has no counted battles "
                         f"(rated models: {', '.join(comp.models)})")
    from arena.rating.bt import main_component
    from arena.rating.data import RatingInputError

    unrated = main_component(comp)[1]
    if options.anchor_model in unrated:
        raise ArenaError(f"--anchor: {options.anchor_model!r} is not rated: it has no comparison "
                         f"with the other models (not rated: {', '.join(unrated)})")
    try:
        ratings, low, high, models, disconnected = _fit(comp, rows, options, board)
    except RatingInputError as exc:  # e.g. style features that cannot be fitted on these votes
        raise ArenaError(f"cannot rate the selected votes: {exc}") from None
    board.disconnected = list(disconnected)
    order = sorted(range(len(models)), key=lambda i: (-ratings[i], models[i]))
    from arena.rating.intervals import ranks

    rank = ranks(ratings, low, high) if low is not None else np.argsort(np.argsort(-ratings)) + 1
    raw = None
    if options.style:
        from arena.rating.bt import fit_bt

        plain = fit_bt(comp, _bt_params(options))
        raw = dict(zip(plain.models, plain.ratings, strict=True))
    for i in order:
        m = models[i]
        t = tally[m]
        board.rows.append(RatingRow(
            model=m, rating=round(float(ratings[i]), 2),
            ci_low=None if low is None else round(float(low[i]), 2),
            ci_high=None if high is None else round(float(high[i]), 2),
            battles=int(round(t[0])), wins=t[1], ties=t[2], losses=t[3], rank=int(rank[i]),
            rating_raw=None if raw is None else round(float(raw.get(m, float("nan"))), 2)))
    return board


def _bt_params(options: RatingOptions):  # type: ignore[no-untyped-def]
    from arena.rating.bt import BTParams

    return BTParams(anchor_model=options.anchor_model, anchor_rating=options.anchor_rating)


def _fit(comp, rows: list[CountRow], options: RatingOptions, board: Leaderboard):  # type: ignore[no-untyped-def]
    from arena.rating.bt import fit_bt
    from arena.rating.intervals import bootstrap_ci, sandwich_ci

    params = _bt_params(options)
    if options.style:
        fit, low, high, board.coefficients = _style_fit(comp, rows, options, params)
        return fit.ratings, low, high, fit.models, fit.disconnected
    if options.method == "bootstrap":
        fit, iv = bootstrap_ci(comp, params, rounds=options.rounds, seed=options.seed, level=options.level)
        return fit.ratings, iv.low, iv.high, fit.models, fit.disconnected
    if options.method == "sandwich":
        fit, iv = sandwich_ci(comp, params, level=options.level)
        return fit.ratings, iv.low, iv.high, fit.models, fit.disconnected
    fit = fit_bt(comp, params)
    return fit.ratings, None, None, fit.models, fit.disconnected


SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}


def _style_fit(comp, rows: list[CountRow], options: RatingOptions, params):  # type: ignore[no-untyped-def]
    """Ratings fitted jointly with the style features; bootstrap intervals resample the
    aggregated rows' counts (multinomial, seeded) and refit, like the plain fit's."""
    from arena.rating.style import fit_style_controlled, style_features

    index = {m: i for i, m in enumerate(comp.models)}
    a_idx = np.array([index[r.model_a] for r in rows])
    b_idx = np.array([index[r.model_b] for r in rows])
    y = np.array([SCORE[r.outcome] for r in rows])
    w = np.array([r.weight for r in rows])
    styles = np.array([r.style for r in rows], dtype=float)
    x = style_features(styles[:, :4], styles[:, 4:])
    fit = fit_style_controlled(a_idx, b_idx, y, w, x, comp.models, params)
    coefficients = {k: round(float(v), 4) for k, v in fit.coefficients.items()}
    if options.method == "none":
        return fit.bt, None, None, coefficients
    if options.method == "sandwich":
        raise ArenaError("--style: intervals come from the bootstrap; use --method bootstrap or none")
    rng = np.random.Generator(np.random.PCG64(options.seed))
    total = int(round(w.sum()))
    draws = np.empty((options.rounds, len(fit.bt.models)))
    for k in range(options.rounds):
        wk = rng.multinomial(total, w / w.sum()).astype(float)
        keep = wk > 0
        sub = fit_style_controlled(a_idx[keep], b_idx[keep], y[keep], wk[keep], x[keep],
                                   comp.models, params)
        pos = {m: i for i, m in enumerate(sub.bt.models)}
        draws[k] = [sub.bt.ratings[pos[m]] if m in pos else np.nan for m in fit.bt.models]
    alpha = (1 - options.level) / 2
    low = np.nanquantile(draws, alpha, axis=0)
    high = np.nanquantile(draws, 1 - alpha, axis=0)
    return fit.bt, low, high, coefficients


def elo_leaderboard(store: Store, vote_filter: VoteFilter) -> Leaderboard:
    """Online Elo over every counted vote in time order (each judge game is one battle)."""
    from arena.rating.elo import online_elo

    records = store.vote_records(vote_filter=vote_filter)
    ratings = online_elo((r.model_a, r.model_b, r.outcome) for r in records)
    tally = _tally([CountRow(r.model_a, r.model_b, r.outcome, 1.0) for r in records])
    board = Leaderboard([], RatingOptions(algorithm="elo", method="none"), vote_filter,
                        comparisons=float(len(records)))
    for i, m in enumerate(sorted(ratings, key=lambda m: (-ratings[m], m))):
        t = tally[m]
        board.rows.append(RatingRow(model=m, rating=round(ratings[m], 2), ci_low=None, ci_high=None,
                                    battles=int(t[0]), wins=t[1], ties=t[2], losses=t[3], rank=i + 1))
    return board
