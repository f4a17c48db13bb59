"""PairwiseJudge against an in-process fake provider: order, swaps, retries, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from arena.domain import Outcome, Prompt, Usage
from arena.providers.base import (
    ChatRequest,
    Completion,
    Finished,
    ProviderError,
    StreamEvent,
    TextDelta,
)
from judges.base import Judge, JudgeFailure
from judges.pairwise import SYSTEM_PROMPT, PairwiseJudge

PROMPT = Prompt(id=1, external_id="p1", set_name="s", text="Reverse a list in Python.")
ANSWER_A = "ANSWER-ALPHA: xs[::-1]"
ANSWER_B = "ANSWER-BRAVO: list(reversed(xs))"
PER_CALL = Usage(prompt_tokens=100, completion_tokens=10, cost_usd=0.001)


class FakeProvider:
    """Replies with scripted texts (or raises scripted errors) and records every request."""

    name = "fake-judge"

    def __init__(self, replies: list[str | Exception], usage: Usage = PER_CALL) -> None:
        self.replies = list(replies)
        self.usage = usage
        self.requests: list[ChatRequest] = []

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        for i in range(0, len(reply), 7):
            yield TextDelta(reply[i : i + 7])
        yield Finished(Completion(text=reply, usage=self.usage, finish_reason="stop"))

    async def aclose(self) -> None:
        pass


def user_text(request: ChatRequest) -> str:
    assert [m["role"] for m in request.messages] == ["system", "user"]
    return request.messages[1]["content"]


def test_is_a_judge() -> None:
    judge = PairwiseJudge("j", FakeProvider([]))
    assert isinstance(judge, Judge)
    assert (judge.kind, judge.games) == ("pairwise", 2)


async def test_game_0_shows_a_first() -> None:
    provider = FakeProvider(["A is cleaner. [[A>B]]"])
    judgment = await PairwiseJudge("j", provider).judge(PROMPT, ANSWER_A, ANSWER_B, game=0)
    text = user_text(provider.requests[0])
    assert PROMPT.text in text
    assert text.index(ANSWER_A) < text.index(ANSWER_B)
    assert text.index("<<<ANSWER A>>>") < text.index(ANSWER_A) < text.index("<<<ANSWER B>>>")
    assert judgment.outcome is Outcome.A
    assert judgment.strength == 1


async def test_game_1_shows_b_first() -> None:
    provider = FakeProvider(["[[A>B]]"])
    await PairwiseJudge("j", provider).judge(PROMPT, ANSWER_A, ANSWER_B, game=1)
    text = user_text(provider.requests[0])
    assert text.index(ANSWER_B) < text.index(ANSWER_A)
    # the battle's B sits under the "Answer A" heading
    assert text.index("<<<ANSWER A>>>") < text.index(ANSWER_B) < text.index("<<<ANSWER B>>>")


@pytest.mark.parametrize(
    ("game", "reply", "outcome", "strength"),
    [
        (0, "[[A>>B]]", Outcome.A, 2),
        (1, "[[A>>B]]", Outcome.B, 2),  # the shown A is the battle's B
        (1, "[[A>B]]", Outcome.B, 1),
        (1, "[[B>A]]", Outcome.A, 1),
        (1, "[[B>>A]]", Outcome.A, 2),
        (0, "[[B>>A]]", Outcome.B, 2),
        (0, "[[A=B]]", Outcome.TIE, 0),
        (1, "[[A=B]]", Outcome.TIE, 0),
    ],
)
async def test_verdicts_map_back_to_the_battle_frame(
    game: int, reply: str, outcome: Outcome, strength: int
) -> None:
    judgment = await PairwiseJudge("j", FakeProvider([f"Reasoning.\n{reply}"])).judge(
        PROMPT, ANSWER_A, ANSWER_B, game
    )
    assert judgment.outcome is outcome
    assert judgment.strength == strength


async def test_judgment_keeps_raw_and_rationale() -> None:
    reply = "B crashes on an empty list.\n[[A>>B]]"
    judgment = await PairwiseJudge("j", FakeProvider([reply])).judge(PROMPT, ANSWER_A, ANSWER_B, 0)
    assert judgment.raw == reply
    assert judgment.rationale == "B crashes on an empty list."
    assert judgment.usage.prompt_tokens == 100


async def test_request_parameters() -> None:
    provider = FakeProvider(["[[A=B]]"])
    await PairwiseJudge("j", provider, temperature=0.2, max_tokens=777).judge(
        PROMPT, ANSWER_A, ANSWER_B, 0
    )
    request = provider.requests[0]
    assert request.temperature == 0.2
    assert request.max_tokens == 777


async def test_no_label_is_retried_and_usage_summed() -> None:
    provider = FakeProvider(["I think A is better.", "Still thinking.", "Fine: [[B>A]]"])
    judgment = await PairwiseJudge("j", provider, max_attempts=3).judge(
        PROMPT, ANSWER_A, ANSWER_B, 0
    )
    assert len(provider.requests) == 3
    assert provider.requests[0] == provider.requests[2]  # the same question each time
    assert judgment.outcome is Outcome.B
    assert judgment.raw == "Fine: [[B>A]]"
    assert judgment.usage.prompt_tokens == 300
    assert judgment.usage.completion_tokens == 30
    assert judgment.usage.cost_usd == pytest.approx(0.003)


async def test_all_attempts_without_label_fail() -> None:
    provider = FakeProvider(["no idea", "still no idea", "honestly, no idea", "[[A>B]]"])
    with pytest.raises(JudgeFailure) as info:
        await PairwiseJudge("j", provider, max_attempts=3).judge(PROMPT, ANSWER_A, ANSWER_B, 0)
    assert len(provider.requests) == 3  # the fourth reply was never asked for
    failure = info.value
    assert "no verdict label" in str(failure)
    assert failure.raw == "honestly, no idea"
    assert failure.usage.prompt_tokens == 300
    assert failure.usage.completion_tokens == 30


async def test_label_only_in_quoted_code_is_not_a_verdict() -> None:
    provider = FakeProvider(["B says:\n```\n[[B>>A]]\n```\n", "[[A>B]]"])
    judgment = await PairwiseJudge("j", provider).judge(PROMPT, ANSWER_A, ANSWER_B, 0)
    assert len(provider.requests) == 2
    assert judgment.outcome is Outcome.A


async def test_provider_error_becomes_judge_failure() -> None:
    spent = Usage(prompt_tokens=5, completion_tokens=1)
    provider = FakeProvider(
        [ProviderError("fake-judge: HTTP 503 after 4 attempts", attempts=4, usage=spent)]
    )
    with pytest.raises(JudgeFailure) as info:
        await PairwiseJudge("j", provider).judge(PROMPT, ANSWER_A, ANSWER_B, 1)
    assert str(info.value) == "fake-judge: HTTP 503 after 4 attempts"
    assert info.value.usage.prompt_tokens == 5
    assert len(provider.requests) == 1  # the provider already retried; the judge does not


async def test_provider_error_after_an_unlabelled_reply_keeps_usage() -> None:
    provider = FakeProvider(["hmm", ProviderError("down")])
    with pytest.raises(JudgeFailure, match="^down$") as info:
        await PairwiseJudge("j", provider).judge(PROMPT, ANSWER_A, ANSWER_B, 0)
    assert info.value.usage.prompt_tokens == 100


async def test_stream_without_result_is_a_failure() -> None:
    class Silent(FakeProvider):
        async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
            self.requests.append(request)
            yield TextDelta("[[A>B]]")  # text but no Finished event

    with pytest.raises(JudgeFailure, match="stream ended without a result"):
        await PairwiseJudge("j", Silent([])).judge(PROMPT, ANSWER_A, ANSWER_B, 0)


def test_system_prompt_lists_the_five_labels() -> None:
    for label in ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]"):
        assert label in SYSTEM_PROMPT
    messages = PairwiseJudge("j", FakeProvider([])).messages(PROMPT, "x", "y")
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}


async def test_multi_turn_request_is_rendered_with_roles() -> None:
    prompt = Prompt(
        id=2,
        external_id="p2",
        set_name="s",
        text="Now in Rust.",
        messages=[
            {"role": "user", "content": "Write hello world."},
            {"role": "assistant", "content": "print('hello')"},
            {"role": "user", "content": "Now in Rust."},
        ],
    )
    provider = FakeProvider(["[[A=B]]"])
    await PairwiseJudge("j", provider).judge(prompt, ANSWER_A, ANSWER_B, 0)
    text = user_text(provider.requests[0])
    assert "[user]\nWrite hello world." in text
    assert "[assistant]\nprint('hello')" in text
    assert text.index("Write hello world.") < text.index("Now in Rust.") < text.index(ANSWER_A)
