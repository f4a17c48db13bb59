"""The Judge contract and what a judgment looks like.

A judge looks at one prompt and the two answers of a battle and returns a
:class:`Judgment` in the battle's own frame (side A is the battle's A, whatever order the
judge was shown). Judges that play several games per battle (the pairwise LLM judge plays
two, with positions swapped) are asked once per game. A judge that cannot reach a verdict
raises :class:`JudgeFailure`, which is recorded and never counted as a vote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from arena.domain import Outcome, Prompt, Usage


@dataclass(frozen=True)
class Judgment:
    outcome: Outcome
    strength: int = 1
    raw: str | None = None
    rationale: str | None = None
    usage: Usage = field(default_factory=Usage)


class JudgeFailure(Exception):
    """No usable verdict. ``raw`` keeps what the judge said, for the record."""

    def __init__(self, message: str, *, raw: str | None = None, usage: Usage | None = None,
                 retryable: bool = True) -> None:
        super().__init__(message)
        self.raw = raw
        self.usage = usage or Usage()
        self.retryable = retryable


@runtime_checkable
class Judge(Protocol):
    name: str
    kind: str
    games: int

    async def judge(self, prompt: Prompt, answer_a: str, answer_b: str, game: int) -> Judgment:
        """Judge one game; raises JudgeFailure when no verdict can be had."""
        ...
