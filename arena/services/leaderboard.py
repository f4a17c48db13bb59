"""The leaderboard as a pure function of the vote log: which votes count, then ratings."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict

from arena.domain import RatingRow
from arena.rating.elo import EloParams, online_elo
from db.repositories import Store


def leaderboard(store: Store, *, judges: list[str] | None = None, set_name: str | None = None,
                params: EloParams = EloParams()) -> list[RatingRow]:
    """Online Elo over every counted vote (each judge game is one battle), best first."""
    records = store.vote_records(judges, set_name)
    ratings = online_elo(((r.model_a, r.model_b, r.outcome) for r in records), params)
    tally: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for r in records:
        for model, side in ((r.model_a, "a"), (r.model_b, "b")):
            t = tally[model]
            t[0] += 1
            if r.outcome in ("tie", "both_bad"):
                t[2] += 1
            elif r.outcome == side:
                t[1] += 1
            else:
                t[3] += 1
    ordered = sorted(ratings, key=lambda m: (-ratings[m], m))
    return [RatingRow(model=m, rating=round(ratings[m], 2), ci_low=None, ci_high=None,
                      battles=int(tally[m][0]), wins=tally[m][1], ties=tally[m][2],
                      losses=tally[m][3], rank=i + 1)
            for i, m in enumerate(ordered)]


def render(rows: list[RatingRow], fmt: str) -> str:
    """Rows as JSON, CSV or Markdown text (the table format is drawn by the CLI)."""
    if fmt == "json":
        return json.dumps([r.as_dict() for r in rows], indent=2) + "\n"
    fields = ["rank", "model", "rating", "ci_low", "ci_high", "battles", "wins", "ties", "losses"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(fields)
        for r in rows:
            d = r.as_dict()
            writer.writerow(["" if d[f] is None else d[f] for f in fields])
        return buf.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
        for r in rows:
            d = r.as_dict()
            lines.append("| " + " | ".join(_md_cell(d[f]) for f in fields) + " |")
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}")


def _md_cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.2f}"
    return str(value).replace("|", "\\|")
