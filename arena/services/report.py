"""Rendering leaderboards and matrices as Markdown, CSV and JSON (the CLI draws tables)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from arena.domain import RatingRow

FIELDS = ["rank", "model", "rating", "ci_low", "ci_high", "battles", "wins", "ties", "losses"]


def render_rows(rows: list[RatingRow], fmt: str, caption: str | None = None) -> str:
    """Rows as ``json`` (a list of objects), ``csv`` or ``md`` (with the caption below)."""
    fields = FIELDS + (["rating_raw"] if any(r.rating_raw is not None for r in rows) else [])
    if fmt == "json":
        return json.dumps([r.as_dict() for r in rows], indent=2) + "\n"
    dicts = [r.as_dict() for r in rows]
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
