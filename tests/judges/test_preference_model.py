"""The preference-model judge: letter log-probabilities, both games, both modes, local model."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from arena.config import parse_config
from arena.domain import Outcome, Prompt, Usage
from arena.providers.base import Completion, TokenLogprob
from arena.testing.openai_server import OpenAITestServer, Scripted
from judges.base import Judge, JudgeFailure
from judges.preference_model import (
    ASK_FEEDBACK,
    ASK_LETTER,
    PreferenceModelJudge,
    letter_logprobs,
    parse_generative,
)
from judges.registry import build_judge

PROMPT = Prompt(id=1, external_id="p1", set_name="s", text="Reverse a list in Python.")
GOOD, BAD = "CODE-GOOD: xs[::-1]", "CODE-BAD: xs.sort()"
FIRST_CODE = re.compile(r"<<<CODE A>>>\n(.*?)\n<<<END OF CODE A>>>", re.S)


def p_first(lp_a: float, lp_b: float) -> float:
    """Softmax over the two letters, by hand."""
    return math.exp(lp_a) / (math.exp(lp_a) + math.exp(lp_b))


def completion(token: str, logprob: float, top: dict[str, float]) -> Completion:
    return Completion(text=token, usage=Usage(),
                      logprobs=[TokenLogprob(token, logprob, top), TokenLogprob("x", -1.0, {})])


# -- letter_logprobs ---------------------------------------------------------------------

def test_letters_both_listed() -> None:
    got = letter_logprobs(completion("A", -0.1, {"A": -0.1, "B": -2.3, " the": -5.0}))
    assert got == {"A": -0.1, "B": -2.3}


def test_letter_variants_are_summed() -> None:
    got = letter_logprobs(completion(" A", -1.0, {" A": -1.0, "A": -1.5, "B": -0.9, "\nB": -3.0,
                                                  "a": -0.5}))
    assert got is not None
    assert got["A"] == pytest.approx(math.log(math.exp(-1.0) + math.exp(-1.5)), abs=1e-12)
    assert got["B"] == pytest.approx(math.log(math.exp(-0.9) + math.exp(-3.0)), abs=1e-12)


def test_the_emitted_token_counts_even_when_not_in_top() -> None:
    assert letter_logprobs(completion("B", -0.7, {"A": -0.9})) == {"A": -0.9, "B": -0.7}


@pytest.mark.parametrize(("top", "expected"), [
    ({"A": -0.2, " the": -3.0, "x": -4.5}, {"A": -0.2, "B": -4.5}),
    ({"B": -0.3, " the": -1.0, "y": -7.25}, {"A": -7.25, "B": -0.3}),
])
def test_one_letter_missing_gets_the_smallest_listed_value(top: dict[str, float],
                                                           expected: dict[str, float]) -> None:
    token = max(top, key=lambda t: top[t])
    assert letter_logprobs(completion(token, top[token], top)) == expected


@pytest.mark.parametrize("done", [
    completion(" the", -0.1, {" the": -0.1, "a": -0.5, "b": -1.0, "AB": -2.0}),
    # one letter listed, and it is the smallest value: nothing bounds the other letter
    completion(" the", -0.5, {" the": -0.5, "B": -6.0}),
    Completion(text="A", usage=Usage(), logprobs=None),
    Completion(text="A", usage=Usage(), logprobs=[]),
])
def test_no_letter_is_none(done: Completion) -> None:
    assert letter_logprobs(done) is None


# -- classification through the server ---------------------------------------------------

def config(url: str, **table: object):  # type: ignore[no-untyped-def]
    return parse_config({
        "models": {"pm-model": {"provider": "openai", "model": "pm-model", "base_url": url,
                                "max_retries": 0, "timeout": 10}},
        "judges": {"pm": {"kind": "preference-model", "model": "pm-model", **table}},
    }, "test.toml")


def built(url: str, flag: str | None = None, **table: object) -> PreferenceModelJudge:
    judge = build_judge(config(url, **table), "pm", flag)
    assert isinstance(judge, PreferenceModelJudge)
    return judge


def prefers_good(lp_hi: float, lp_lo: float):  # type: ignore[no-untyped-def]
    """P(first letter) high when the good code is shown first, low otherwise."""
    def respond(model: str, messages: list[dict]) -> Scripted:
        shown_first = FIRST_CODE.search(messages[-1]["content"])
        assert shown_first is not None
        if shown_first.group(1) == GOOD:
            return Scripted("A", [{"A": lp_hi, "B": lp_lo}])
        return Scripted("B", [{"A": lp_lo, "B": lp_hi}])
    return respond


async def judge_both(judge: PreferenceModelJudge, a: str, b: str):  # type: ignore[no-untyped-def]
    try:
        return [await judge.judge(PROMPT, a, b, g) for g in (0, 1)]
    finally:
        await judge.provider.aclose()  # type: ignore[union-attr]


async def test_games_map_to_the_battle_frame() -> None:
    with OpenAITestServer(responder=prefers_good(-0.2, -1.7)) as srv:
        judge = built(srv.url)
        assert isinstance(judge, Judge) and (judge.kind, judge.games) == ("preference-model", 2)
        g0, g1 = await judge_both(judge, GOOD, BAD)
        sent = srv.received
        assert srv.requests["pm-model"] == 2
    expected = p_first(-0.2, -1.7)  # 0.8176
    assert expected == pytest.approx(0.817574, abs=1e-6)
    # game 0: the battle's A (good) shown first, P(first) = P(A)
    assert g0.probability == pytest.approx(expected, abs=1e-9)
    assert (g0.outcome, g0.strength) == (Outcome.A, 1)
    # game 1: the battle's B (bad) shown first; P(first) = 1 - expected, so P(A) = expected
    assert g1.probability == pytest.approx(expected, abs=1e-9)
    assert (g1.outcome, g1.strength) == (Outcome.A, 1)
    assert FIRST_CODE.search(sent[0]["messages"][-1]["content"]).group(1) == GOOD  # type: ignore[union-attr]
    assert FIRST_CODE.search(sent[1]["messages"][-1]["content"]).group(1) == BAD  # type: ignore[union-attr]
    assert "A shown first" in (g0.rationale or "") and "B shown first" in (g1.rationale or "")
    assert g0.raw == "first token 'A'; logprob A -0.2000, B -1.7000"
    assert g0.usage.prompt_tokens > 0 and g0.usage.completion_tokens == 1
    body = sent[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert (body.get("max_completion_tokens") or body.get("max_tokens")) == 1
    assert body["messages"][-1]["content"].endswith(ASK_LETTER)
    assert "Criterion: correctness: the code runs" in body["messages"][-1]["content"]


async def test_battle_b_better_in_both_games() -> None:
    with OpenAITestServer(responder=prefers_good(-0.05, -3.0)) as srv:
        g0, g1 = await judge_both(built(srv.url), BAD, GOOD)
    expected = 1.0 - p_first(-0.05, -3.0)  # 0.0497: confident
    assert expected == pytest.approx(0.049737, abs=1e-6)
    for g in (g0, g1):
        assert g.probability == pytest.approx(expected, abs=1e-9)
        assert (g.outcome, g.strength) == (Outcome.B, 2)


async def test_same_first_letter_in_both_games_is_position_bias() -> None:
    """A model that always says "first": game 0 favours A, game 1 favours B."""
    with OpenAITestServer(responder=lambda m, msgs: Scripted("A", [{"A": -0.5, "B": -1.0}])) as srv:
        g0, g1 = await judge_both(built(srv.url), GOOD, BAD)
    p = p_first(-0.5, -1.0)  # 0.6225
    assert (g0.outcome, g0.strength, g0.probability) == (Outcome.A, 1, pytest.approx(p))
    assert (g1.outcome, g1.strength, g1.probability) == (Outcome.B, 1, pytest.approx(1 - p))


async def test_equal_letters_are_a_tie() -> None:
    with OpenAITestServer(responder=lambda m, msgs: Scripted("A", [{"A": -0.7, "B": -0.7}])) as srv:
        g0, g1 = await judge_both(built(srv.url), GOOD, BAD)
    assert (g0.outcome, g0.strength, g0.probability) == (Outcome.TIE, 0, 0.5)
    assert (g1.outcome, g1.strength, g1.probability) == (Outcome.TIE, 0, 0.5)


async def test_criterion_from_the_flag() -> None:
    with OpenAITestServer(responder=prefers_good(-0.2, -1.7)) as srv:
        judge = built(srv.url, "security", top_logprobs=5)
        await judge_both(judge, GOOD, BAD)
        body = srv.received[0]
    assert judge.name == "pm/security" and judge.criterion == "security"
    assert "Criterion: security: the code resists attacks" in body["messages"][-1]["content"]
    assert body["top_logprobs"] == 5


async def test_no_letter_in_top_logprobs_fails_after_retries() -> None:
    reply = Scripted("Hello", [{"Hello": -0.1, "World": -1.0}])
    with OpenAITestServer(responder=lambda m, msgs: reply) as srv:
        judge = built(srv.url, max_attempts=3)
        with pytest.raises(JudgeFailure) as info:
            await judge_both(judge, GOOD, BAD)
        assert srv.requests["pm-model"] == 3
    assert "neither A nor B" in str(info.value) and "after 3 attempts" in str(info.value)
    assert info.value.raw == "Hello"
    assert info.value.usage.completion_tokens == 3


async def test_extreme_logprobs_do_not_overflow() -> None:
    with OpenAITestServer(responder=lambda m, msgs: Scripted("B", [{"B": -0.01,
                                                                   "A": -9999.0}])) as srv:
        judge = built(srv.url)
        try:
            g0 = await judge.judge(PROMPT, GOOD, BAD, 0)
        finally:
            await judge.provider.aclose()  # type: ignore[union-attr]
    assert g0.outcome is Outcome.B and g0.probability == pytest.approx(0.0, abs=1e-9)


# -- generative mode ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "outcome"), [
    ("A is cleaner.\nVerdict: A", Outcome.A),
    ("Verdict: B", Outcome.B),
    ("Both fine.\nverdict: undecided", Outcome.TIE),
    ("Verdict: tie", Outcome.TIE),
    ("Verdict: Code B", Outcome.B),
    ("**Verdict:** A", Outcome.A),
    ("Verdict: A\nOn second thought...\nVerdict: B", Outcome.B),  # the last one
    ("```\nVerdict: B\n```\nVerdict: A", Outcome.A),  # quoted code is not the verdict
    ("Verdict: A\n```text\nVerdict: B\n```", Outcome.A),
])
def test_parse_generative(text: str, outcome: Outcome) -> None:
    assert parse_generative(text) is outcome


@pytest.mark.parametrize("text", [
    "A is better.",
    "```\nVerdict: A\n```",
    "The `Verdict: B` line is missing.",
    "Verdict: Both",
    "",
])
def test_parse_generative_none(text: str) -> None:
    assert parse_generative(text) is None


@pytest.mark.parametrize("text", ["Verdict: a tie", "My verdict: a clear win for B"])
def test_parse_generative_article_is_not_a_letter(text: str) -> None:
    assert parse_generative(text) is not Outcome.A


@pytest.mark.parametrize(("word", "game0", "game1"), [
    ("A", Outcome.A, Outcome.B),
    ("B", Outcome.B, Outcome.A),
    ("undecided", Outcome.TIE, Outcome.TIE),
])
async def test_generative_games(word: str, game0: Outcome, game1: Outcome) -> None:
    reply = f"Code A is shorter; code B checks its input.\nVerdict: {word}"
    with OpenAITestServer(responder=lambda m, msgs: reply) as srv:
        judge = built(srv.url, mode="generative", max_tokens=300)
        g0, g1 = await judge_both(judge, GOOD, BAD)
        body = srv.received[0]
    assert (g0.outcome, g1.outcome) == (game0, game1)
    strength = 0 if game0 is Outcome.TIE else 1
    assert (g0.strength, g1.strength) == (strength, strength)
    assert g0.probability is None and g0.raw == reply
    assert g0.rationale == "Code A is shorter; code B checks its input."
    assert body["messages"][-1]["content"].endswith(ASK_FEEDBACK)
    assert not body.get("logprobs")
    assert (body.get("max_completion_tokens") or body.get("max_tokens")) == 300


async def test_generative_without_verdict_fails() -> None:
    with OpenAITestServer(responder=lambda m, msgs: "No opinion.") as srv:
        judge = built(srv.url, mode="generative", max_attempts=2)
        with pytest.raises(JudgeFailure, match="no 'Verdict: A|B|undecided' line"):
            await judge_both(judge, GOOD, BAD)
        assert srv.requests["pm-model"] == 2


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="criterion"):
        PreferenceModelJudge("pm", criterion="speed", provider=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        PreferenceModelJudge("pm")
    with pytest.raises(ValueError, match="exactly one"):
        PreferenceModelJudge("pm", provider=object(), local=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="classification mode only"):
        PreferenceModelJudge("pm", mode="generative", local=object())  # type: ignore[arg-type]


# -- a local transformers model ----------------------------------------------------------

def expected_probability(folder: Path, messages: list[dict[str, str]]) -> tuple[float, int]:
    """P(first letter) over "A"/"B" (and their " A"/" B" tokens), computed from scratch."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1].double()
    logprobs = torch.log_softmax(logits, dim=-1)

    def letter(x: str) -> float:
        found = {tok.encode(v, add_special_tokens=False)[0] for v in (x, " " + x)
                 if len(tok.encode(v, add_special_tokens=False)) == 1}
        assert found
        return float(torch.logsumexp(logprobs[sorted(found)], dim=0))

    two = torch.tensor([letter("A"), letter("B")], dtype=torch.float64)
    return float(torch.softmax(two, dim=0)[0]), int(ids.shape[1])


async def test_local_model_probability_matches_a_hand_computed_softmax(tiny_llama: Path) -> None:
    from arena.providers.transformers_local import LocalCausalLM

    judge = PreferenceModelJudge("pm-local", local=LocalCausalLM(str(tiny_llama), device="cpu"),
                                 criterion="efficiency")
    g0 = await judge.judge(PROMPT, GOOD, BAD, 0)
    g1 = await judge.judge(PROMPT, GOOD, BAD, 1)
    p0, n0 = expected_probability(tiny_llama, judge.messages(PROMPT, GOOD, BAD))
    p1, _ = expected_probability(tiny_llama, judge.messages(PROMPT, BAD, GOOD))
    assert g0.probability is not None and g1.probability is not None
    assert abs(g0.probability - p0) < 1e-5
    assert abs(g1.probability - (1.0 - p1)) < 1e-5
    assert 0.0 < g0.probability < 1.0 and 0.0 < g1.probability < 1.0
    assert g0.probability != g1.probability  # the two orders really are different inputs
    for g in (g0, g1):
        expected = Outcome.A if g.probability > 0.5 else Outcome.B  # type: ignore[operator]
        assert g.outcome is expected
    assert g0.usage.prompt_tokens == n0
    assert g0.raw is not None and g0.raw.startswith("local forward pass; logprob A -")
