"""The two judge contracts and what their results look like.

A pairwise :class:`Judge` looks at one prompt and the two answers of a battle and returns
a :class:`Judgment` in the battle's own frame (side A is the battle's A, whatever order
the judge was shown). Judges that play several games per battle (the pairwise LLM judge
and the preference model play two, with positions swapped) are asked once per game.

An :class:`AnswerJudge` scores answers on their own (the rubric judge rates up to four
answers of one prompt in one call; the reference and execution judges grade one at a
time). Its scores are stored per answer, and a battle's vote is derived from the two
scores: the higher wins, equal is a tie.

A judge that cannot reach a verdict raises :class:`JudgeFailure`, which is recorded and
never counted as a vote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from arena.domain import Outcome, Prompt, Usage
from arena.providers.base import ChatRequest, Provider, ProviderError, complete


@dataclass(frozen=True)
class AnswerScore:
    """A score that an answer judge inside a cascade or majority gave one side's answer;
    the battle runner stores it as that answer's rating under the member's name, as if the
    member had run alone (so a later run of the member alone reuses it)."""

    side: str  # "a" or "b": the battle's sides, as the judge was called
    judge_name: str
    judge_kind: str
    score: float
    scale_max: int
    preference: str | None = None
    rationale: str | None = None


@dataclass(frozen=True)
class Judgment:
    outcome: Outcome
    strength: int = 1
    raw: str | None = None
    rationale: str | None = None
    usage: Usage = field(default_factory=Usage)
    probability: float | None = None  # P(side A is better), for preference models
    answer_scores: tuple[AnswerScore, ...] = ()  # what answer-judge members scored


@dataclass(frozen=True)
class Scores:
    """An answer judge's scores for the answers it was given, in the order given."""

    scores: list[float]
    rationales: list[str | None]
    raw: str | None = None
    usage: Usage = field(default_factory=Usage)
    preference: str | None = None  # what was judged, when it depends on the prompt


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


@runtime_checkable
class AnswerJudge(Protocol):
    name: str
    kind: str
    scale_min: int
    scale_max: int
    group_size: int  # answers scored in one call
    preference: str | None

    def applies(self, prompt: Prompt) -> str | None:
        """None when this judge can score answers to ``prompt``, else why not."""
        ...

    async def score(self, prompt: Prompt, answers: list[str]) -> Scores:
        """Score up to ``group_size`` answers; raises JudgeFailure."""
        ...


def outcome_of_scores(score_a: float, score_b: float, scale_min: int,
                      scale_max: int) -> tuple[Outcome, int]:
    """A battle's verdict from its two answers' scores: the higher wins, equal is a tie;
    strength 2 ("much better") when the gap is at least 40 % of the scale."""
    if score_a == score_b:
        return Outcome.TIE, 0
    gap = abs(score_a - score_b) / max(scale_max - scale_min, 1)
    strength = 2 if gap >= 0.4 else 1
    return (Outcome.A if score_a > score_b else Outcome.B), strength


T = TypeVar("T")


async def ask(provider: Provider, request: ChatRequest, parse: Callable[[str], T | None], *,
              max_attempts: int, what: str, logprobs_parse: Callable[..., T | None] | None = None,
              ) -> tuple[T, str, Usage]:
    """Call the judge model until ``parse`` accepts its reply, at most ``max_attempts`` times.

    Returns (parsed value, reply text, usage of every attempt). A reply ``parse`` rejects
    (returns None for) is retried; when every attempt is rejected, JudgeFailure carries the
    last reply and ``what`` ("no rating for every answer") as its message. A provider error
    (already retried inside the provider) ends it at once. ``logprobs_parse``, when given,
    receives the completion instead of its text.
    """
    spent = Usage()
    last_text: str | None = None
    for _ in range(max_attempts):
        try:
            done = await complete(provider, request)
        except ProviderError as exc:
            raise JudgeFailure(str(exc), raw=last_text, usage=spent + exc.usage) from None
        spent = spent + done.usage
        last_text = done.text
        value = logprobs_parse(done) if logprobs_parse is not None else parse(done.text)
        if value is not None:
            return value, done.text, spent
    raise JudgeFailure(f"{what} (after {max_attempts} attempts)", raw=last_text, usage=spent)
