"""The reference-graded judge: reading [[N]], when it applies, what it focuses on, HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from arena.config import parse_config
from arena.domain import PREFERENCES, Prompt
from arena.testing.openai_server import OpenAITestServer
from judges.base import AnswerJudge, JudgeFailure
from judges.reference import ReferenceJudge, parse_grade
from judges.registry import build_judge

GRADED = re.compile(r"<<<ANSWER TO GRADE>>>\n(.*?)\n<<<END OF ANSWER TO GRADE>>>", re.S)
REFERENCE = re.compile(r"<<<REFERENCE ANSWER>>>\n(.*?)\n<<<END OF REFERENCE ANSWER>>>", re.S)
GRADE_OF = {"excellent": 9, "fine": 6, "wrong": 2}


def prompt(reference: str | None = "return sum(xs)", category: str | None = None) -> Prompt:
    return Prompt(id=3, external_id="r1", set_name="s", text="Sum a list.",
                  category=category, reference=reference)


# -- parse_grade ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "grade"), [
    ("Good.\nRating: [[7]]", 7.0),
    ("Rating: [[ 10 ]]", 10.0),
    ("Rating: [[1]]", 1.0),
    ("First thought [[3]], on reflection [[8]].", 8.0),  # the last one wins
    ("Rating: [[7.5]]", None),  # a whole number is asked for
    ("```\nRating: [[9]]\n```\nRating: [[4]]", 4.0),  # a fenced label is a quote
    ("Rating: [[4]]\n```python\n# Rating: [[9]]\n```", 4.0),
    ("Rating: [[5]] and the answer says `[[10]]`", 5.0),  # inline code too
])
def test_parse_grade(text: str, grade: float) -> None:
    assert parse_grade(text) == grade


@pytest.mark.parametrize("text", [
    "Rating: [[11]]",
    "Rating: [[0]]",
    "Rating: [[7]] then [[11]]",  # the last label decides, and it is out of range
    "Rating: 7",
    "Rating: [7]",
    "```\nRating: [[9]]\n```",  # only inside code
    "",
])
def test_parse_grade_rejects(text: str) -> None:
    assert parse_grade(text) is None


# -- applies / preference_for -----------------------------------------------------------------

def make(preference: str | None = None) -> ReferenceJudge:
    return ReferenceJudge("ref", provider=None, preference=preference)  # type: ignore[arg-type]


def test_is_an_answer_judge_grading_one_at_a_time() -> None:
    judge = make()
    assert isinstance(judge, AnswerJudge)
    assert (judge.kind, judge.scale_min, judge.scale_max, judge.group_size) == (
        "reference", 1, 10, 1)


def test_applies_only_with_a_reference() -> None:
    assert make().applies(prompt()) is None
    assert make().applies(prompt(reference=None)) == "the prompt has no reference answer"
    assert make().applies(prompt(reference="")) == "the prompt has no reference answer"


@pytest.mark.parametrize(("judge_pref", "category", "expected"), [
    ("style", "complexity", "style"),  # the judge's own preference wins
    ("style", None, "style"),
    (None, "complexity", "complexity"),  # else the prompt's category, if it is a preference
    (None, "explanation", "explanation"),
    (None, "algorithms", None),  # not one of the five
    (None, None, None),
])
def test_preference_for(judge_pref: str | None, category: str | None,
                        expected: str | None) -> None:
    assert make(judge_pref).preference_for(prompt(category=category)) == expected


def test_focus_in_the_system_prompt() -> None:
    system = make().messages(prompt(category="complexity"), "x")[0]["content"]
    assert f"Focus: {PREFERENCES['complexity']}." in system
    system = make().messages(prompt(category="web"), "x")[0]["content"]
    assert "Focus: overall quality, correctness first." in system


# -- through the server -------------------------------------------------------------------

def grade_by_content(model: str, messages: list[dict]) -> str:
    user = messages[-1]["content"]
    answer, reference = GRADED.search(user), REFERENCE.search(user)
    assert answer is not None and reference is not None
    grade = GRADE_OF[answer.group(1)]
    return (f"Compared with the reference ({reference.group(1)!r}), "
            f"a {answer.group(1)} answer.\n\nRating: [[{grade}]]")


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer(responder=grade_by_content) as srv:
        yield srv


def built(url: str, flag: str | None = None, **table: object) -> ReferenceJudge:
    config = parse_config({
        "models": {"judge-model": {"provider": "openai", "model": "judge-model",
                                   "base_url": url, "max_retries": 0, "timeout": 10}},
        "judges": {"ref": {"kind": "reference", "model": "judge-model", **table}},
    }, "test.toml")
    judge = build_judge(config, "ref", flag)
    assert isinstance(judge, ReferenceJudge)
    return judge


@pytest.mark.parametrize(("answer", "grade"), [("excellent", 9.0), ("fine", 6.0), ("wrong", 2.0)])
async def test_score_through_the_server(server: OpenAITestServer, answer: str,
                                        grade: float) -> None:
    judge = built(server.url)
    try:
        got = await judge.score(prompt(category="readability"), [answer])
    finally:
        await judge.provider.aclose()
    assert got.scores == [grade]
    assert got.preference == "readability"  # from the prompt's category
    assert got.rationales[0] is not None and f"a {answer} answer" in got.rationales[0]
    assert f"[[{int(grade)}]]" not in got.rationales[0]
    assert got.raw is not None and got.raw.endswith(f"Rating: [[{int(grade)}]]")
    sent = server.received[-1]["messages"]
    assert "Focus: code readability." in sent[0]["content"]
    assert "return sum(xs)" in sent[1]["content"] and "Sum a list." in sent[1]["content"]


async def test_preference_flag_names_the_votes(server: OpenAITestServer) -> None:
    judge = built(server.url, "complexity", preference="style")
    try:
        got = await judge.score(prompt(category="readability"), ["fine"])
    finally:
        await judge.provider.aclose()
    assert judge.name == "ref/complexity"
    assert got.preference == "complexity"
    assert "Focus: code complexity and efficiency." in server.received[-1]["messages"][0]["content"]


async def test_one_answer_per_call(server: OpenAITestServer) -> None:
    judge = built(server.url)
    with pytest.raises(ValueError, match="one answer per call"):
        await judge.score(prompt(), ["fine", "wrong"])
    await judge.provider.aclose()
    assert server.requests["judge-model"] == 0


async def test_no_grade_is_retried_then_fails() -> None:
    replies = iter(["I think it is fine.", "Rating: [[12]]", "Rating: 8"])
    with OpenAITestServer(responder=lambda m, msgs: next(replies)) as srv:
        judge = built(srv.url)
        try:
            with pytest.raises(JudgeFailure) as info:
                await judge.score(prompt(), ["fine"])
        finally:
            await judge.provider.aclose()
        assert srv.requests["judge-model"] == 3
    assert info.value.raw == "Rating: 8"
    assert "no grade [[1-10]]" in str(info.value) and "after 3 attempts" in str(info.value)


async def test_no_grade_then_a_grade() -> None:
    replies = iter(["Hmm.", "```\nRating: [[10]]\n```\nRating: [[3]]"])
    with OpenAITestServer(responder=lambda m, msgs: next(replies)) as srv:
        judge = built(srv.url)
        try:
            got = await judge.score(prompt(), ["fine"])
        finally:
            await judge.provider.aclose()
        assert srv.requests["judge-model"] == 2
    assert got.scores == [3.0]
