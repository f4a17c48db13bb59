"""Making untrusted model text safe to show in a terminal.

Model output never reaches the terminal raw: ANSI escape sequences and other control
characters are made visible instead of being interpreted, and callers print the result
as plain text (never as Rich markup).
"""

from __future__ import annotations

import re

_ESC = re.compile(r"\x1b")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with escapes shown as ``\\x1b`` and other control characters as ``\\xNN``;
    newlines and tabs are kept, bidirectional overrides are shown too."""

    def show(m: re.Match[str]) -> str:
        ch = m.group(0)
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(show, _ESC.sub("\\\\x1b", text))
