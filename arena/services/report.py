"""Rendering leaderboards and matrices as Markdown, CSV and JSON (the CLI draws tables)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from arena.domain import RatingRow

FIELDS = ["rank", "model", "rating", "ci_low", "ci_high", "battles", "wins", "ties", "losses"]
PASS_AT_1 = "humaneval_plus_pass_at_1"  # the column `arena eval humaneval` results add


def render_rows(rows: list[RatingRow], fmt: str, caption: str | None = None,
                pass_at_1: dict[str, float] | None = None) -> str:
    """Rows as ``json`` (a list of objects), ``csv`` or ``md`` (with the caption below).
    ``pass_at_1`` (HumanEval+ pass@1 by model, a fraction) adds a column when not empty."""
    fields = FIELDS + (["rating_raw"] if any(r.rating_raw is not None for r in rows) else [])
    dicts = [r.as_dict() for r in rows]
    if pass_at_1:
        fields.append(PASS_AT_1)
        for d in dicts:
            value = pass_at_1.get(d["model"])
            d[PASS_AT_1] = None if value is None else round(value, 4)
    if fmt == "json":
        return json.dumps(dicts, indent=2) + "\n"
    if fmt == "csv":
        return to_csv(fields, [[d.get(f) for f in fields] for d in dicts])
    if fmt == "md":
        text = to_markdown(fields, [[d.get(f) for f in fields] for d in dicts])
        return text + (f"\n{caption}\n" if caption else "")
    raise ValueError(f"unknown format {fmt!r}")


def to_csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def to_markdown(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def cell(value: object) -> str:
    """A value for a table cell: – for missing, floats without noise, pipes escaped."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.2f}"
    return str(value).replace("|", "\\|")
