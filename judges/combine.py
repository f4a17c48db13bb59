"""Combining verdicts: one rater's games on a battle, several judges into one.

* :func:`combine` sums a rater's games (+strength for A, -strength for B); the sign decides.
* :class:`CascadeJudge` asks its members in order and takes the first decisive verdict
  (A or B); e.g. execution first, an LLM judge when both answers pass or both fail.
* :class:`MajorityJudge` asks every member and takes the most common verdict; a tie for
  the most is a tie. Members that fail are left out; fewer than two verdicts is a failure.
* :class:`ScoredPairJudge` lets an answer judge (execution, rubric, reference) sit in a
  cascade or a majority: it scores both answers and compares the scores. Its scores ride
  on the judgment (``answer_scores``) and the battle runner stores them as the member's
  per-answer ratings, as the member alone would have.

Each member plays all its games on the battle (a pairwise member both orders), so a
combined judge plays one game and stores one vote whose ``raw`` lists what each member said.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from arena.domain import Outcome, Prompt, Usage
from judges.base import (
    AnswerJudge,
    AnswerScore,
    Judge,
    JudgeFailure,
    Judgment,
    outcome_of_scores,
)


def signed(outcome: Outcome, strength: int) -> int:
    """A game's contribution to a battle's sum: +strength for A, -strength for B (at least
    1), 0 for a tie or both-bad game (the leaderboard's rule)."""
    if outcome is Outcome.A:
        return max(strength, 1)
    if outcome is Outcome.B:
        return -max(strength, 1)
    return 0


def combine(games: Iterable[tuple[Outcome, int]]) -> tuple[Outcome, int, int]:
    """(outcome, score, games) of one rater's games on one battle: the sign of the summed
    signed verdicts decides; a zero sum is a tie, unless every game said both_bad.

    Raises ValueError on no games.
    """
    items = list(games)
    if not items:
        raise ValueError("combine needs at least one game")
    score = sum(signed(o, s) for o, s in items)
    if score > 0:
        outcome = Outcome.A
    elif score < 0:
        outcome = Outcome.B
    elif all(o is Outcome.BOTH_BAD for o, _ in items):
        outcome = Outcome.BOTH_BAD
    else:
        outcome = Outcome.TIE
    return outcome, score, len(items)


def agreement_label(outcome: Outcome) -> Outcome:
    """a, b or tie: both_bad prefers neither answer, so it counts as a tie."""
    return Outcome.TIE if outcome is Outcome.BOTH_BAD else outcome


def majority(outcomes: Iterable[Outcome]) -> Outcome:
    """The most common label (a / b / tie, both_bad as tie); a tie for the most is a tie.

    Raises ValueError on no outcomes.
    """
    counts = Counter(agreement_label(o) for o in outcomes)
    if not counts:
        raise ValueError("majority needs at least one outcome")
    (top, k), *rest = counts.most_common()
    if rest and rest[0][1] == k:
        return Outcome.TIE
    return top


class ScoredPairJudge:
    """An answer judge seen as a one-game pairwise judge (for cascades and majorities).
    Scores are cached by answer text, so an answer in several battles is scored once."""

    games = 1

    def __init__(self, inner: AnswerJudge) -> None:
        self.inner = inner
        self.name = inner.name
        self.kind = inner.kind
        # one task per distinct answer: battles judged at once share a score in flight
        self._cache: dict[tuple[str, str, str], asyncio.Task[tuple[float, str | None, Usage]]] = {}

    def applies(self, prompt: Prompt) -> str | None:
        return self.inner.applies(prompt)

    async def _score(self, prompt: Prompt, answer: str) -> tuple[float, str | None, Usage]:
        key = (prompt.set_name, prompt.external_id, answer)
        first = key not in self._cache
        if first:
            async def run() -> tuple[float, str | None, Usage]:
                got = await self.inner.score(prompt, [answer])
                return got.scores[0], got.rationales[0], got.usage
            self._cache[key] = asyncio.ensure_future(run())
        task = self._cache[key]
        try:
            score, why, usage = await asyncio.shield(task)
        except JudgeFailure:
            if self._cache.get(key) is task:
                del self._cache[key]  # a failure is not remembered: the next battle retries
            raise
        return score, why, usage if first else Usage()

    async def judge(self, prompt: Prompt, answer_a: str, answer_b: str, game: int) -> Judgment:
        why_not = self.inner.applies(prompt)
        if why_not is not None:
            return Judgment(outcome=Outcome.TIE, strength=0, rationale=f"abstains: {why_not}")
        sa, why_a, ua = await self._score(prompt, answer_a)
        sb, why_b, ub = await self._score(prompt, answer_b)
        outcome, strength = outcome_of_scores(sa, sb, self.inner.scale_min, self.inner.scale_max)
        scale = f"/{self.inner.scale_max}"
        inner = self.inner
        pick = getattr(inner, "preference_for", None)
        preference = pick(prompt) if pick is not None else inner.preference
        scores = tuple(AnswerScore(side, inner.name, inner.kind, score, inner.scale_max,
                                   preference, why)
                       for side, score, why in (("a", sa, why_a), ("b", sb, why_b)))
        return Judgment(outcome=outcome, strength=strength, usage=ua + ub, answer_scores=scores,
                        raw=json.dumps({"a": sa, "b": sb, "scale_max": self.inner.scale_max}),
                        rationale=f"A {sa:g}{scale}: {why_a or ''}\nB {sb:g}{scale}: {why_b or ''}")

    async def aclose(self) -> None:
        await close_judge(self.inner)


async def member_verdict(member: Judge, prompt: Prompt, answer_a: str,
                         answer_b: str) -> tuple[Outcome, int, list[Judgment]]:
    """A member's combined verdict over all its games: (outcome, summed score, games)."""
    games: list[Judgment] = []
    for g in range(member.games):
        try:
            games.append(await member.judge(prompt, answer_a, answer_b, g))
        except JudgeFailure as exc:
            exc.usage = _usage(games) + exc.usage  # what the earlier games spent counts too
            raise
    outcome, score, _ = combine((j.outcome, j.strength) for j in games)
    return outcome, score, games


def _scores(games: Iterable[Judgment]) -> tuple[AnswerScore, ...]:
    return tuple(s for j in games for s in j.answer_scores)


def _usage(games: list[Judgment]) -> Usage:
    total = Usage()
    for j in games:
        total = total + j.usage
    return total


class CascadeJudge:
    """The first member with a decisive verdict decides; a failing member fails the game."""

    kind = "cascade"
    games = 1

    def __init__(self, name: str, members: list[Judge]) -> None:
        self.name = name
        self.members = members

    async def judge(self, prompt: Prompt, answer_a: str, answer_b: str, game: int) -> Judgment:
        trail: list[dict[str, Any]] = []
        spent = Usage()
        scored: list[AnswerScore] = []
        outcome, strength = Outcome.TIE, 0
        for member in self.members:
            try:
                outcome, score, games = await member_verdict(member, prompt, answer_a, answer_b)
            except JudgeFailure as exc:
                exc.usage = spent + exc.usage
                exc.raw = json.dumps({"members": trail, "failed": member.name, "error": str(exc),
                                      "reply": exc.raw})
                raise
            spent = spent + _usage(games)
            scored += _scores(games)
            trail.append({"judge": member.name, "outcome": outcome.value, "score": score,
                          "why": (games[-1].rationale or "")[:300]})
            if outcome in (Outcome.A, Outcome.B):
                strength = 2 if all(j.strength >= 2 for j in games) else 1
                break
        decided = trail[-1]["judge"] if outcome in (Outcome.A, Outcome.B) else None
        lines = [f"{t['judge']}: {t['outcome']} — {t['why']}" for t in trail]
        return Judgment(outcome=outcome, strength=strength, usage=spent,
                        answer_scores=tuple(scored),
                        raw=json.dumps({"members": trail, "decided_by": decided}),
                        rationale="\n".join(lines))

    async def aclose(self) -> None:
        for m in self.members:
            await close_judge(m)


class MajorityJudge:
    """Every member votes (all its games combined); the most common verdict wins."""

    kind = "majority"
    games = 1

    def __init__(self, name: str, members: list[Judge]) -> None:
        self.name = name
        self.members = members

    async def judge(self, prompt: Prompt, answer_a: str, answer_b: str, game: int) -> Judgment:
        results = await asyncio.gather(
            *(member_verdict(m, prompt, answer_a, answer_b) for m in self.members),
            return_exceptions=True)
        trail: list[dict[str, Any]] = []
        spent = Usage()
        scored: list[AnswerScore] = []
        outcomes: list[Outcome] = []
        for member, got in zip(self.members, results, strict=True):
            if isinstance(got, JudgeFailure):
                spent = spent + got.usage
                trail.append({"judge": member.name, "failed": str(got)})
                continue
            if isinstance(got, BaseException):
                raise got
            outcome, score, games = got
            spent = spent + _usage(games)
            scored += _scores(games)
            outcomes.append(outcome)
            trail.append({"judge": member.name, "outcome": outcome.value, "score": score})
        raw = json.dumps({"members": trail})
        if len(outcomes) < 2:
            raise JudgeFailure(f"only {len(outcomes)} of {len(self.members)} member judges "
                               "reached a verdict", raw=raw, usage=spent)
        outcome = majority(outcomes)
        counts = Counter(agreement_label(o).value for o in outcomes)
        return Judgment(outcome=outcome, strength=0 if outcome is Outcome.TIE else 1, raw=raw,
                        usage=spent, answer_scores=tuple(scored), rationale="votes: " + ", ".join(
                            f"{k} {v}" for k, v in counts.most_common()))

    async def aclose(self) -> None:
        for m in self.members:
            await close_judge(m)


async def close_judge(judge: object) -> None:
    """Release what a judge holds (its model's HTTP connections)."""
    closer = getattr(judge, "aclose", None)
    if closer is not None:
        await closer()
        return
    provider = getattr(judge, "provider", None)
    if provider is not None:
        await provider.aclose()
