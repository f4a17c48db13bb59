"""The rubric judge: parsing the per-answer blocks, the shuffle, and calls over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from arena.config import ArenaConfig, parse_config
from arena.domain import PREFERENCES, Prompt
from arena.testing.openai_server import OpenAITestServer
from arena.testing.responses import tokenize
from judges.base import AnswerJudge, JudgeFailure
from judges.registry import build_judge
from judges.rubric import RUBRICS, RubricJudge, parse_ratings, shuffled_order, system_prompt

ANSWER_BLOCK = re.compile(r"<<<ANSWER (\d+)>>>\n(.*?)\n<<<END OF ANSWER \1>>>", re.S)
RATING_OF = {"good": 4, "bad": 1, "okay": 3, "great": 5, "poor": 2}


def blocks(*ratings: int | str) -> str:
    return "\n\n".join(f"Answer {i}\nRating: {r}\nRationale: reason {i}."
                       for i, r in enumerate(ratings, start=1))


def user_of(messages: list[dict]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def system_of(messages: list[dict]) -> str:
    return next(m["content"] for m in messages if m["role"] == "system")


def rate_by_content(model: str, messages: list[dict]) -> str:
    """Rates each <<<ANSWER n>>> block by its text, whatever its position."""
    out = []
    for number, text in ANSWER_BLOCK.findall(user_of(messages)):
        out.append(f"Answer {number}\nRating: {RATING_OF[text]}\nRationale: about {text}.")
    return "\n\n".join(out)


def config_for(url: str, **judge: object) -> ArenaConfig:
    return parse_config({
        "models": {"judge-model": {"provider": "openai", "model": "judge-model",
                                   "base_url": url, "max_retries": 0, "timeout": 10}},
        "judges": {"ufb": {"kind": "rubric", "model": "judge-model",
                           "preference": "readability", **judge}},
    }, "test.toml")


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer(responder=rate_by_content) as srv:
        yield srv


def rubric(server: OpenAITestServer, preference: str | None = None,
           **judge: object) -> RubricJudge:
    judge_obj = build_judge(config_for(server.url, **judge), "ufb", preference)
    assert isinstance(judge_obj, RubricJudge)
    return judge_obj


def prompt(ext: str = "p1") -> Prompt:
    return Prompt(id=1, external_id=ext, set_name="s", text="Write a tidy sum function.")


# -- parse_ratings ------------------------------------------------------------------------

def test_parse_four_blocks() -> None:
    got = parse_ratings(blocks(5, 1, 3, 2), 4)
    assert got == [(5, "reason 1."), (1, "reason 2."), (3, "reason 3."), (2, "reason 4.")]


def test_parse_blocks_map_by_their_number() -> None:
    text = "Answer 2\nRating: 2\nRationale: second.\n\nAnswer 1\nRating: 5\nRationale: first."
    assert parse_ratings(text, 2) == [(5, "first."), (2, "second.")]


@pytest.mark.parametrize("text", [
    "### Answer 1\nRating: 4\nRationale: r1\n\n### Answer 2\nRating: 2\nRationale: r2",
    "**Answer 1**\n**Rating:** 4\nRationale: r1\n\n**Answer 2**\n**Rating:** 2\nRationale: r2",
    "Answer 1\nRating: [4]\nRationale: r1\n\nAnswer 2\nRating: [2]\nRationale: r2",
    "answer 1:\nrating = 4\nrationale: r1\n\n- Answer 2\nRATING: 2/5\nRationale: r2",
    "Here are my ratings.\n\n> Answer 1\nRating: 4\nRationale: r1\n\n> Answer 2\nRating: 2\n"
    "Rationale: r2",
])
def test_parse_markdown_variants(text: str) -> None:
    got = parse_ratings(text, 2)
    assert got is not None
    assert [r for r, _ in got] == [4, 2]
    assert got[1][1] == "r2"


@pytest.mark.parametrize(("text", "count"), [
    (blocks(4, 2), 3),  # answer 3 missing
    ("Answer 1\nRating: 4\n\nAnswer 1\nRating: 2", 2),  # answer 1 twice, answer 2 missing
    ("Answer 1\nRating: 4\nRating: 5\n\nAnswer 2\nRating: 2", 2),  # two ratings in a block
    ("Answer 1\nRating: 4\n\nAnswer 2\nRationale: none given", 2),  # no rating
    (blocks(0, 3), 2),
    (blocks(6, 3), 2),
    (blocks("3.5", 3), 2),
    (blocks(10, 3), 2),
    (blocks(4, 2, 3), 2),  # an extra answer
    ("Answer 1\nRating: 4\n\nAnswer 3\nRating: 2", 2),  # a number out of range
    ("Rating: 4\nRating: 2", 2),  # no headers
    ("", 1),
])
def test_parse_rejects(text: str, count: int) -> None:
    assert parse_ratings(text, count) is None


def test_parse_accepts_whole_number_written_as_float() -> None:
    assert parse_ratings("Answer 1\nRating: 4.0\nRationale: x", 1) == [(4, "x")]


# -- the rubric text ----------------------------------------------------------------------

@pytest.mark.parametrize("preference", list(PREFERENCES))
def test_every_preference_has_five_named_levels(preference: str) -> None:
    text = system_prompt(preference)
    numbered = re.findall(r"^(\d+)\. ([^:\n]+): ", text, re.M)
    assert [int(n) for n, _ in numbered] == [1, 2, 3, 4, 5]
    assert [name for _, name in numbered] == [name for name, _ in RUBRICS[preference]]
    assert len({name for _, name in numbered}) == 5
    assert f"one quality only: {PREFERENCES[preference]}." in text
    assert "Rate every answer exactly once" in text


# -- the shuffle --------------------------------------------------------------------------

def test_shuffled_order_is_a_seeded_permutation() -> None:
    orders = [shuffled_order(prompt(f"p{i}"), 4, "ufb/readability") for i in range(30)]
    assert all(sorted(o) == [0, 1, 2, 3] for o in orders)
    assert any(o != [0, 1, 2, 3] for o in orders)
    assert len({tuple(o) for o in orders}) > 3
    # the same prompt and judge give the same order; another judge name may not
    assert orders[0] == shuffled_order(prompt("p0"), 4, "ufb/readability")


# -- through the server -------------------------------------------------------------------

async def test_scores_map_back_to_the_callers_order(server: OpenAITestServer) -> None:
    judge = rubric(server)
    assert isinstance(judge, AnswerJudge)
    assert (judge.name, judge.preference, judge.group_size) == ("ufb/readability", "readability", 4)
    ext = next(f"q{i}" for i in range(100)
               if shuffled_order(prompt(f"q{i}"), 4, judge.name) not in ([0, 1, 2, 3], [3, 2, 1, 0]))
    order = shuffled_order(prompt(ext), 4, judge.name)
    answers = ["good", "bad", "great", "okay"]
    try:
        got = await judge.score(prompt(ext), answers)
    finally:
        await judge.provider.aclose()
    assert got.scores == [4.0, 1.0, 5.0, 3.0]
    assert got.rationales == ["about good.", "about bad.", "about great.", "about okay."]
    assert got.preference == "readability"
    assert got.usage.prompt_tokens > 0 and got.usage.completion_tokens > 0
    # the judge really saw the answers in the shuffled order
    shown = [text for _, text in ANSWER_BLOCK.findall(user_of(server.received[-1]["messages"]))]
    assert shown == [answers[i] for i in order]
    assert shown != answers
    assert server.requests["judge-model"] == 1
    sent = server.received[-1]
    assert system_of(sent["messages"]) == system_prompt("readability")
    assert "Rate all 4 answers for code readability." in user_of(sent["messages"])
    assert "Write a tidy sum function." in user_of(sent["messages"])


async def test_preference_flag_overrides_the_table(server: OpenAITestServer) -> None:
    judge = rubric(server, "style")
    try:
        got = await judge.score(prompt(), ["poor", "great"])
    finally:
        await judge.provider.aclose()
    assert judge.name == "ufb/style"
    assert got.scores == [2.0, 5.0] and got.preference == "style"
    assert system_of(server.received[-1]["messages"]) == system_prompt("style")


async def test_too_many_answers_is_a_programming_error(server: OpenAITestServer) -> None:
    judge = rubric(server, max_answers=2)
    with pytest.raises(ValueError, match="1 to 2"):
        await judge.score(prompt(), ["good", "bad", "okay"])
    await judge.provider.aclose()
    assert server.requests["judge-model"] == 0


def flaky(bad_replies: int, bad: str = "I like them all.") -> Callable[[str, list[dict]], str]:
    calls = {"n": 0}

    def respond(model: str, messages: list[dict]) -> str:
        calls["n"] += 1
        return bad if calls["n"] <= bad_replies else rate_by_content(model, messages)
    return respond


async def test_malformed_twice_then_valid() -> None:
    with OpenAITestServer(responder=flaky(2)) as srv:
        judge = rubric(srv)
        try:
            got = await judge.score(prompt(), ["bad", "great"])
        finally:
            await judge.provider.aclose()
        assert srv.requests["judge-model"] == 3
    assert got.scores == [1.0, 5.0]
    one_reply = len(tokenize("I like them all."))
    assert got.usage.completion_tokens == 2 * one_reply + len(tokenize(got.raw or ""))


async def test_always_malformed_fails_after_max_attempts() -> None:
    bad = "Answer 1\nRating: 4\nRationale: I only rated one."
    with OpenAITestServer(responder=flaky(99, bad)) as srv:
        judge = rubric(srv, max_attempts=4)
        try:
            with pytest.raises(JudgeFailure) as info:
                await judge.score(prompt(), ["bad", "great"])
        finally:
            await judge.provider.aclose()
        assert srv.requests["judge-model"] == 4
    assert info.value.raw == bad
    assert "after 4 attempts" in str(info.value)
    assert "each of the 2 answers" in str(info.value)
    assert info.value.usage.completion_tokens == 4 * len(tokenize(bad))


def test_parse_bold_rationale_is_clean() -> None:
    got = parse_ratings("**Answer 1**\n**Rating:** 4\n**Rationale:** tidy names.", 1)
    assert got == [(4, "tidy names.")]
