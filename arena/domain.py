"""Domain types shared by every package: prompts, generations, battles, votes.

These are plain frozen dataclasses and enums with no dependency beyond the standard
library, so that the storage layer, the judges, the rating code and both front ends can
agree on one vocabulary without importing each other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ArenaError(Exception):
    """An error the user can act on; its message is shown as is, without a traceback."""


#: CodeUltraFeedback's five coding preferences, by the names the config and CLI use.
PREFERENCES: dict[str, str] = {
    "instruction-following": "instruction following",
    "explanation": "code explanation",
    "complexity": "code complexity and efficiency",
    "readability": "code readability",
    "style": "coding style",
}

#: CodeFavor's four criteria for a pairwise preference model.
CRITERIA: dict[str, str] = {
    "correctness": "correctness",
    "efficiency": "efficiency",
    "security": "security",
    "developer-preference": "developer preference",
}


class Outcome(str, enum.Enum):
    """The result of one battle from the point of view of its side A."""

    A = "a"
    B = "b"
    TIE = "tie"
    BOTH_BAD = "both_bad"

    def flipped(self) -> Outcome:
        """The same result seen with sides A and B swapped."""
        if self is Outcome.A:
            return Outcome.B
        if self is Outcome.B:
            return Outcome.A
        return self


class Verdict(str, enum.Enum):
    """The five labels a pairwise judge may end with, from A's point of view."""

    A_MUCH_BETTER = "A>>B"
    A_BETTER = "A>B"
    TIE = "A=B"
    B_BETTER = "B>A"
    B_MUCH_BETTER = "B>>A"

    @property
    def outcome(self) -> Outcome:
        if self in (Verdict.A_MUCH_BETTER, Verdict.A_BETTER):
            return Outcome.A
        if self in (Verdict.B_MUCH_BETTER, Verdict.B_BETTER):
            return Outcome.B
        return Outcome.TIE

    @property
    def strength(self) -> int:
        """2 for a "much better" verdict, 1 for "better", 0 for a tie."""
        if self in (Verdict.A_MUCH_BETTER, Verdict.B_MUCH_BETTER):
            return 2
        if self is Verdict.TIE:
            return 0
        return 1

    @property
    def label(self) -> str:
        return f"[[{self.value}]]"

    def flipped(self) -> Verdict:
        swap = {
            Verdict.A_MUCH_BETTER: Verdict.B_MUCH_BETTER,
            Verdict.A_BETTER: Verdict.B_BETTER,
            Verdict.TIE: Verdict.TIE,
            Verdict.B_BETTER: Verdict.A_BETTER,
            Verdict.B_MUCH_BETTER: Verdict.A_MUCH_BETTER,
        }
        return swap[self]


@dataclass(frozen=True)
class Prompt:
    """One coding question. ``messages`` holds a multi-turn conversation when given."""

    id: int | None
    external_id: str
    set_name: str
    text: str
    messages: list[dict[str, str]] | None = None
    category: str | None = None
    language: str | None = None
    difficulty: str | None = None
    reference: str | None = None
    tests: str | None = None
    entry_point: str | None = None

    def as_messages(self) -> list[dict[str, str]]:
        """The conversation to send to a chat model."""
        if self.messages:
            return [dict(m) for m in self.messages]
        return [{"role": "user", "content": self.text}]


@dataclass(frozen=True)
class Usage:
    """Token counts, timing and cost of one model call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    latency_s: float | None = None
    cost_usd: float | None = None

    def __add__(self, other: Usage) -> Usage:
        cost = None
        if self.cost_usd is not None or other.cost_usd is not None:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            ttft_s=None,
            latency_s=(self.latency_s or 0.0) + (other.latency_s or 0.0),
            cost_usd=cost,
        )


@dataclass(frozen=True)
class Generation:
    """One model's answer to one prompt, or the error that stopped it."""

    id: int | None
    prompt_id: int
    model: str
    text: str
    usage: Usage = field(default_factory=Usage)
    sampling: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    finish_reason: str | None = None
    created_at: datetime | None = None
    messages: list[dict[str, str]] | None = None  # the conversation answered, if multi-turn

    @property
    def ok(self) -> bool:
        return self.error is None

    def transcript(self, prompt_messages: int = 1) -> str:
        """The answer as a judge should see it: the text alone for a first turn; for a
        follow-up turn, every turn after the prompt's own ``prompt_messages`` messages
        (earlier answers and follow-ups), then this answer."""
        if not self.messages or len(self.messages) <= prompt_messages:
            return self.text
        parts = [f"[{m['role']}]\n{m['content']}" for m in self.messages[prompt_messages:]]
        return "\n\n".join([*parts, f"[assistant]\n{self.text}"])


@dataclass(frozen=True)
class Battle:
    """Two generations for one prompt; ``model_a`` sits on the left."""

    id: int
    prompt_id: int
    model_a: str
    model_b: str
    generation_a_id: int | None
    generation_b_id: int | None
    status: str = "pending"  # pending | ready | void
    created_at: datetime | None = None


@dataclass(frozen=True)
class Vote:
    """One judgment of a battle, always expressed from the battle's side A."""

    battle_id: int
    judge_kind: str
    judge_name: str
    outcome: Outcome
    strength: int = 1
    game: int = 0
    raw: str | None = None
    rationale: str | None = None
    usage: Usage = field(default_factory=Usage)
    voter: str | None = None
    id: int | None = None
    created_at: datetime | None = None
    # a preference model's probability that side A is the better one (battle frame)
    probability: float | None = None


@dataclass(frozen=True)
class AnswerRating:
    """A single-answer judge's score of one generation (rubric 1–5, reference 1–10,
    execution 0/1). ``score`` is None when the judge failed; ``error`` then says why."""

    generation_id: int
    judge_name: str
    judge_kind: str
    score: float | None
    scale_max: int
    preference: str | None = None
    rationale: str | None = None
    raw: str | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    id: int | None = None
    created_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class RatingRow:
    """One line of a leaderboard."""

    model: str
    rating: float
    ci_low: float | None
    ci_high: float | None
    battles: int
    wins: float
    ties: float
    losses: float
    rank: int
    rating_raw: float | None = None  # without style control, when the rating is style-controlled

    def as_dict(self) -> dict[str, Any]:
        out = {
            "model": self.model,
            "rating": self.rating,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "battles": self.battles,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "rank": self.rank,
        }
        if self.rating_raw is not None:
            out["rating_raw"] = self.rating_raw
        return out
