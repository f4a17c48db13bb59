"""Combining verdicts: combine/majority, cascades, majorities, answer judges as pairwise."""

from __future__ import annotations

import json

import pytest

from arena.domain import Outcome, Prompt, Usage
from judges.base import Judge, JudgeFailure, Judgment, Scores
from judges.combine import (
    CascadeJudge,
    MajorityJudge,
    ScoredPairJudge,
    agreement_label,
    combine,
    majority,
    signed,
)

PROMPT = Prompt(id=1, external_id="p1", set_name="s", text="Sum a list.", reference="sum(xs)")
A, B, TIE, BAD = Outcome.A, Outcome.B, Outcome.TIE, Outcome.BOTH_BAD


def u(n: int) -> Usage:
    return Usage(prompt_tokens=n, completion_tokens=n // 10)


class FakeJudge:
    """A pairwise judge whose games are scripted: a (outcome, strength) or a JudgeFailure."""

    kind = "fake"

    def __init__(self, name: str, games: list[tuple[Outcome, int] | JudgeFailure],
                 usage: int = 100) -> None:
        self.name = name
        self.games = len(games)
        self.script = games
        self.usage = usage
        self.calls: list[tuple[str, str, int]] = []
        self.closed = False

    async def judge(self, prompt: Prompt, answer_a: str, answer_b: str, game: int) -> Judgment:
        self.calls.append((answer_a, answer_b, game))
        step = self.script[game]
        if isinstance(step, JudgeFailure):
            raise step
        outcome, strength = step
        return Judgment(outcome=outcome, strength=strength, usage=u(self.usage),
                        rationale=f"{self.name} game {game}")

    async def aclose(self) -> None:
        self.closed = True


class FakeAnswerJudge:
    """Scores answers by a table; counts its calls."""

    name = "scorer"
    kind = "reference"
    scale_min = 1
    scale_max = 10
    group_size = 1
    preference: str | None = None

    def __init__(self, table: dict[str, float], needs_reference: bool = False) -> None:
        self.table = table
        self.needs_reference = needs_reference
        self.calls: list[str] = []

    def applies(self, prompt: Prompt) -> str | None:
        if self.needs_reference and not prompt.reference:
            return "the prompt has no reference answer"
        return None

    async def score(self, prompt: Prompt, answers: list[str]) -> Scores:
        self.calls += answers
        return Scores(scores=[self.table[a] for a in answers],
                      rationales=[f"graded {a}" for a in answers], usage=u(40))


def failure(msg: str = "no verdict label", usage: int = 7) -> JudgeFailure:
    return JudgeFailure(msg, raw="garbled", usage=u(usage))


# -- signed / combine / majority --------------------------------------------------------------

def test_fakes_are_judges() -> None:
    assert isinstance(FakeJudge("f", [(A, 1)]), Judge)
    assert isinstance(CascadeJudge("c", []), Judge)
    assert isinstance(MajorityJudge("m", []), Judge)
    assert isinstance(ScoredPairJudge(FakeAnswerJudge({})), Judge)


@pytest.mark.parametrize(("outcome", "strength", "value"), [
    (A, 1, 1), (A, 2, 2), (A, 0, 1), (B, 1, -1), (B, 2, -2), (B, 0, -1), (TIE, 0, 0),
    (TIE, 2, 0), (BAD, 1, 0)])
def test_signed(outcome: Outcome, strength: int, value: int) -> None:
    assert signed(outcome, strength) == value


@pytest.mark.parametrize(("games", "expected"), [
    ([(A, 1), (A, 2)], (A, 3, 2)),
    ([(A, 2), (B, 1)], (A, 1, 2)),
    ([(A, 1), (B, 2)], (B, -1, 2)),
    ([(A, 1), (B, 1)], (TIE, 0, 2)),
    ([(TIE, 0), (TIE, 0)], (TIE, 0, 2)),
    ([(BAD, 0), (BAD, 0)], (BAD, 0, 2)),
    ([(BAD, 0), (TIE, 0)], (TIE, 0, 2)),
    ([(A, 1), (BAD, 0)], (A, 1, 2)),
    ([(B, 0)], (B, -1, 1)),
])
def test_combine(games: list[tuple[Outcome, int]], expected: tuple[Outcome, int, int]) -> None:
    assert combine(games) == expected
    assert combine(iter(games)) == expected  # any iterable


def test_combine_and_majority_need_input() -> None:
    with pytest.raises(ValueError):
        combine([])
    with pytest.raises(ValueError):
        majority([])


@pytest.mark.parametrize(("outcomes", "expected"), [
    ([A, A, B], A),
    ([B, A, B], B),
    ([A, B, TIE], TIE),  # a tie for the most
    ([A, A, B, B], TIE),
    ([A, BAD, TIE], TIE),  # both_bad counts as tie: tie 2, a 1
    ([BAD, BAD, A], TIE),
    ([A], A),
    ([B, B, A, TIE, TIE], TIE),
])
def test_majority(outcomes: list[Outcome], expected: Outcome) -> None:
    assert majority(outcomes) is expected


def test_agreement_label() -> None:
    assert [agreement_label(o) for o in (A, B, TIE, BAD)] == [A, B, TIE, TIE]


# -- CascadeJudge -----------------------------------------------------------------------

async def test_cascade_first_decisive_member_decides() -> None:
    first = FakeJudge("exec", [(TIE, 0)], usage=10)
    second = FakeJudge("llm", [(B, 2), (B, 2)], usage=100)
    third = FakeJudge("never", [(A, 1)])
    cascade = CascadeJudge("casc", [first, second, third])
    got = await cascade.judge(PROMPT, "x", "y", 0)
    assert (got.outcome, got.strength) == (B, 2)
    assert third.calls == []  # never asked
    assert second.calls == [("x", "y", 0), ("x", "y", 1)]  # every game of the member
    assert got.usage.prompt_tokens == 10 + 2 * 100
    raw = json.loads(got.raw or "")
    assert raw["decided_by"] == "llm"
    assert [(m["judge"], m["outcome"], m["score"]) for m in raw["members"]] == [
        ("exec", "tie", 0), ("llm", "b", -4)]
    assert got.rationale == "exec: tie — exec game 0\nllm: b — llm game 1"


async def test_cascade_strength_is_2_only_when_every_game_says_much_better() -> None:
    got = await CascadeJudge("c", [FakeJudge("m", [(A, 2), (A, 1)])]).judge(PROMPT, "x", "y", 0)
    assert (got.outcome, got.strength) == (A, 1)
    got = await CascadeJudge("c", [FakeJudge("m", [(A, 2), (TIE, 0)])]).judge(PROMPT, "x", "y", 0)
    assert (got.outcome, got.strength) == (A, 1)


async def test_cascade_all_ties_is_a_tie() -> None:
    members = [FakeJudge("one", [(TIE, 0)], 5), FakeJudge("two", [(A, 1), (B, 1)], 6)]
    got = await CascadeJudge("c", members).judge(PROMPT, "x", "y", 0)
    assert (got.outcome, got.strength) == (TIE, 0)
    raw = json.loads(got.raw or "")
    assert raw["decided_by"] is None and [m["judge"] for m in raw["members"]] == ["one", "two"]
    assert got.usage.prompt_tokens == 5 + 12


async def test_cascade_failing_member_raises_with_the_trail() -> None:
    first = FakeJudge("exec", [(TIE, 0)], usage=10)
    second = FakeJudge("llm", [failure("no verdict label (after 3 attempts)", usage=70)])
    third = FakeJudge("never", [(A, 1)])
    with pytest.raises(JudgeFailure) as info:
        await CascadeJudge("casc", [first, second, third]).judge(PROMPT, "x", "y", 0)
    exc = info.value
    assert str(exc) == "no verdict label (after 3 attempts)"
    assert exc.usage.prompt_tokens == 10 + 70
    raw = json.loads(exc.raw or "")
    assert raw["failed"] == "llm" and raw["error"] == "no verdict label (after 3 attempts)"
    assert [m["judge"] for m in raw["members"]] == ["exec"]
    assert third.calls == []


async def test_cascade_failure_counts_the_failing_members_earlier_games() -> None:
    first = FakeJudge("exec", [(TIE, 0)], usage=10)
    second = FakeJudge("llm", [(A, 1), failure(usage=70)], usage=100)
    with pytest.raises(JudgeFailure) as info:
        await CascadeJudge("casc", [first, second]).judge(PROMPT, "x", "y", 0)
    assert info.value.usage.prompt_tokens == 10 + 100 + 70


async def test_majority_failure_counts_the_failing_members_earlier_games() -> None:
    members = [FakeJudge("j1", [(A, 1)], 10), FakeJudge("j2", [(A, 1), failure(usage=5)], 100),
               FakeJudge("j3", [(A, 1)], 30)]
    got = await MajorityJudge("maj", members).judge(PROMPT, "x", "y", 0)
    assert got.usage.prompt_tokens == 10 + 100 + 5 + 30


async def test_cascade_closes_its_members() -> None:
    members = [FakeJudge("a", [(A, 1)]), FakeJudge("b", [(A, 1)])]
    await CascadeJudge("c", members).aclose()  # type: ignore[arg-type]
    assert all(m.closed for m in members)


# -- MajorityJudge ---------------------------------------------------------------------------

async def test_majority_two_of_three() -> None:
    members = [FakeJudge("j1", [(A, 1), (A, 2)], 1), FakeJudge("j2", [(B, 1)], 20),
               FakeJudge("j3", [(A, 1), (TIE, 0)], 300)]
    got = await MajorityJudge("maj", members).judge(PROMPT, "x", "y", 0)
    assert (got.outcome, got.strength) == (A, 1)
    assert got.rationale == "votes: a 2, b 1"
    assert got.usage.prompt_tokens == 2 * 1 + 20 + 2 * 300
    assert json.loads(got.raw or "") == {"members": [
        {"judge": "j1", "outcome": "a", "score": 3}, {"judge": "j2", "outcome": "b", "score": -1},
        {"judge": "j3", "outcome": "a", "score": 1}]}


async def test_majority_tie_for_the_most_is_a_tie() -> None:
    members = [FakeJudge("j1", [(A, 1)]), FakeJudge("j2", [(B, 1)]), FakeJudge("j3", [(BAD, 0)])]
    got = await MajorityJudge("maj", members).judge(PROMPT, "x", "y", 0)
    assert (got.outcome, got.strength) == (TIE, 0)


async def test_majority_leaves_failures_out() -> None:
    members = [FakeJudge("j1", [(B, 1)], 10), FakeJudge("j2", [failure(usage=5)]),
               FakeJudge("j3", [(B, 2)], 30)]
    got = await MajorityJudge("maj", members).judge(PROMPT, "x", "y", 0)
    assert (got.outcome, got.strength) == (B, 1)
    assert got.usage.prompt_tokens == 10 + 5 + 30
    trail = json.loads(got.raw or "")["members"]
    assert trail[1] == {"judge": "j2", "failed": "no verdict label"}
    assert got.rationale == "votes: b 2"


async def test_majority_with_one_failure_and_a_split_is_a_tie() -> None:
    members = [FakeJudge("j1", [(A, 1)]), FakeJudge("j2", [failure()]), FakeJudge("j3", [(B, 1)])]
    got = await MajorityJudge("maj", members).judge(PROMPT, "x", "y", 0)
    assert got.outcome is TIE


async def test_majority_needs_two_verdicts() -> None:
    members = [FakeJudge("j1", [(A, 1)], 10), FakeJudge("j2", [failure(usage=5)]),
               FakeJudge("j3", [failure(usage=6)])]
    with pytest.raises(JudgeFailure) as info:
        await MajorityJudge("maj", members).judge(PROMPT, "x", "y", 0)
    assert str(info.value) == "only 1 of 3 member judges reached a verdict"
    assert info.value.usage.prompt_tokens == 10 + 5 + 6
    trail = json.loads(info.value.raw or "")["members"]
    assert [m["judge"] for m in trail] == ["j1", "j2", "j3"]
    assert "failed" in trail[1] and "failed" in trail[2]


async def test_majority_reraises_other_errors() -> None:
    class Broken(FakeJudge):
        async def judge(self, prompt: Prompt, answer_a: str, answer_b: str,
                        game: int) -> Judgment:
            raise RuntimeError("bug in a member")

    members = [FakeJudge("j1", [(A, 1)]), Broken("j2", [(A, 1)]), FakeJudge("j3", [(A, 1)])]
    with pytest.raises(RuntimeError, match="bug in a member"):
        await MajorityJudge("maj", members).judge(PROMPT, "x", "y", 0)


# -- ScoredPairJudge ---------------------------------------------------------------------

async def test_scored_pair_compares_scores() -> None:
    inner = FakeAnswerJudge({"good": 9, "ok": 7, "bad": 2})
    pair = ScoredPairJudge(inner)
    assert (pair.name, pair.kind, pair.games) == ("scorer", "reference", 1)
    got = await pair.judge(PROMPT, "good", "bad", 0)
    assert (got.outcome, got.strength) == (A, 2)  # gap 7/9 >= 0.4
    assert json.loads(got.raw or "") == {"a": 9, "b": 2, "scale_max": 10}
    assert got.rationale == "A 9/10: graded good\nB 2/10: graded bad"
    assert got.usage.prompt_tokens == 80
    got = await pair.judge(PROMPT, "ok", "good", 0)
    assert (got.outcome, got.strength) == (B, 1)  # gap 2/9 < 0.4
    assert got.usage.prompt_tokens == 40  # "good" came from the cache
    got = await pair.judge(PROMPT, "bad", "bad", 0)
    assert (got.outcome, got.strength) == (TIE, 0)
    assert got.usage.prompt_tokens == 0
    assert sorted(inner.calls) == ["bad", "good", "ok"]  # each distinct answer scored once


async def test_scored_pair_cache_is_per_prompt() -> None:
    inner = FakeAnswerJudge({"good": 9, "bad": 2})
    pair = ScoredPairJudge(inner)
    other = Prompt(id=2, external_id="p2", set_name="s", text="Other.", reference="r")
    await pair.judge(PROMPT, "good", "bad", 0)
    await pair.judge(other, "good", "bad", 0)
    await pair.judge(PROMPT, "bad", "good", 0)
    assert inner.calls == ["good", "bad", "good", "bad"]


async def test_scored_pair_abstains_when_the_judge_does_not_apply() -> None:
    inner = FakeAnswerJudge({"good": 9, "bad": 2}, needs_reference=True)
    pair = ScoredPairJudge(inner)
    no_ref = Prompt(id=5, external_id="p5", set_name="s", text="No reference here.")
    got = await pair.judge(no_ref, "good", "bad", 0)
    assert (got.outcome, got.strength) == (TIE, 0)
    assert got.rationale == "abstains: the prompt has no reference answer"
    assert inner.calls == []
    assert pair.applies(no_ref) == "the prompt has no reference answer"


async def test_scored_pair_in_a_cascade_falls_through_on_equal_scores() -> None:
    inner = FakeAnswerJudge({"x": 5, "y": 5})
    llm = FakeJudge("llm", [(A, 1), (A, 1)], usage=50)
    got = await CascadeJudge("c", [ScoredPairJudge(inner), llm]).judge(PROMPT, "x", "y", 0)
    assert (got.outcome, got.strength) == (A, 1)
    assert json.loads(got.raw or "")["decided_by"] == "llm"
    assert got.usage.prompt_tokens == 80 + 100


async def test_answer_scores_ride_on_the_judgment_through_cascades_and_majorities() -> None:
    from judges.base import AnswerScore

    inner = FakeAnswerJudge({"x": 5, "y": 5, "good": 9})
    want = (AnswerScore("a", "scorer", "reference", 5, 10, None, "graded x"),
            AnswerScore("b", "scorer", "reference", 5, 10, None, "graded y"))
    got = await CascadeJudge("c", [ScoredPairJudge(inner), FakeJudge("llm", [(A, 1), (A, 1)])]
                             ).judge(PROMPT, "x", "y", 0)
    assert got.answer_scores == want  # kept although the LLM decided
    got = await MajorityJudge("m", [FakeJudge("p", [(B, 1)]), ScoredPairJudge(inner),
                                    FakeJudge("q", [(B, 1)])]).judge(PROMPT, "x", "good", 0)
    assert got.outcome == B
    assert [(s.side, s.score) for s in got.answer_scores] == [("a", 5), ("b", 9)]
    abstained = await ScoredPairJudge(FakeAnswerJudge({}, needs_reference=True)).judge(
        Prompt(id=5, external_id="p5", set_name="s", text="No reference."), "x", "y", 0)
    assert abstained.answer_scores == ()  # nothing scored, nothing to store
