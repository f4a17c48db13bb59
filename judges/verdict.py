"""Reading the five-way verdict label out of a judge's free text.

Rules (each has a test in tests/judges/test_verdict.py):

* A label is ``[[X op Y]]`` with X, Y the letters A and B (either case, spaces allowed)
  and op one of ``>>``, ``>``, ``=``, ``<``, ``<<``; ``[[B<A]]`` means the same as ``[[A>B]]``.
  ``[[A>A]]`` and other malformed labels are not labels.
* Labels inside fenced code blocks or inline code are ignored: they are quotes (often from
  an answer that tries to steer the judge), not the judge's verdict.
* When several labels remain, the last one is the verdict (the judge's final word).
* No label at all is a failure: :func:`parse_verdict` returns ``None``.
"""

from __future__ import annotations

import re

from arena.domain import Verdict

_LABEL = re.compile(r"\[\[\s*([AaBb])\s*(>>|>|=|<<|<)\s*([AaBb])\s*\]\]")
# The body may be empty ("```\n```"): no newline is required between the fence lines.
_FENCE = re.compile(r"(^|\n)[ \t]*(```|~~~)[^\n]*.*?(\n[ \t]*\2[ \t]*(?=\n|$)|$)", re.S)
_INLINE = re.compile(r"`[^`\n]*`")


def strip_code(text: str) -> str:
    """The text with fenced blocks (closed or running to the end) and inline code removed."""
    return _INLINE.sub(" ", _FENCE.sub("\n", text))


def _to_verdict(left: str, op: str, right: str) -> Verdict | None:
    left, right = left.upper(), right.upper()
    if left == right:
        return None
    if op == "=":
        return Verdict.TIE
    # Normalise to "A op B"
    if left == "B":
        op = {">>": "<<", ">": "<", "<": ">", "<<": ">>"}[op]
    return {
        ">>": Verdict.A_MUCH_BETTER,
        ">": Verdict.A_BETTER,
        "<": Verdict.B_BETTER,
        "<<": Verdict.B_MUCH_BETTER,
    }[op]


def find_verdicts(text: str) -> list[Verdict]:
    """Every valid label outside code, in order of appearance."""
    out = []
    for m in _LABEL.finditer(strip_code(text)):
        v = _to_verdict(m.group(1), m.group(2), m.group(3))
        if v is not None:
            out.append(v)
    return out


def parse_verdict(text: str) -> Verdict | None:
    """The judge's verdict: the last label outside code, or None when there is none."""
    found = find_verdicts(text)
    return found[-1] if found else None


def rationale(text: str, limit: int = 2000) -> str:
    """The judge's reasoning, without the verdict label, trimmed for display."""
    cleaned = _LABEL.sub("", text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
