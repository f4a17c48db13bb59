"""JSON Lines, read strictly: every reader of a user's JSONL file (prompt sets, replay
answers, evalplus datasets, labelled judge pairs, training data) parses its lines here, so
a bad line gets the same message everywhere: where it is, and what is wrong with it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from arena.domain import ArenaError


def json_lines(lines: Iterable[str], where: Callable[[int], str], *,
               error: type[Exception] = ArenaError, objects: bool = True,
               hint: str = "") -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line. A line that is not JSON raises
    ``error("<where(n)>: not valid JSON (<reason> at column <c>)<hint>")``; with ``objects``
    a value that is not a JSON object raises ``"<where(n)>: expected a JSON object, got
    <type>"``."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where(n)}: not valid JSON ({exc.msg} at column {exc.colno}){hint}"
                        ) from None
        if objects and not isinstance(value, dict):
            raise error(f"{where(n)}: expected a JSON object, got {type(value).__name__}")
        yield n, value
