"""Answer judges and the preference model on stored battles (BattleRunner.judge_battles),
against the real OpenAI-protocol test server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.config import ArenaConfig, parse_config
from arena.domain import Outcome, Vote
from arena.services.battles import BattleRunner
from arena.services.planning import make_plan
from arena.services.prompts import import_prompt_file
from arena.testing.openai_server import OpenAITestServer, Scripted
from db.repositories import Store
from judges.preference_model import ASK_LETTER

MODELS = ["m-good", "m-mid", "m-bad"]
QUALITY = {"m-good": "GOOD", "m-mid": "MID", "m-bad": "BAD"}
RUBRIC = {"GOOD": 5, "MID": 4, "BAD": 1}
GRADE = {"GOOD": 9, "MID": 6, "BAD": 2}
RANK = {"GOOD": 3, "MID": 2, "BAD": 1}

ANSWER_BLOCK = re.compile(r"<<<ANSWER (\d+)>>>\n(.*?)\n<<<END OF ANSWER \1>>>", re.S)
GRADED = re.compile(r"<<<ANSWER TO GRADE>>>\n(.*?)\n<<<END OF ANSWER TO GRADE>>>", re.S)
CODE = re.compile(r"<<<CODE ([AB])>>>\n(.*?)\n<<<END OF CODE \1>>>", re.S)
QUALITY_WORD = re.compile(r"\b(GOOD|MID|BAD)\b")


def quality(answer: str) -> str:
    found = QUALITY_WORD.search(answer)
    assert found is not None, answer
    return found.group(1)


def good_responder(model: str, messages: list[dict]) -> str | Scripted:
    system = " ".join(m["content"] for m in messages if m["role"] == "system")
    user = messages[-1]["content"]
    if "Rate every answer exactly once" in system:
        return "\n\n".join(f"Answer {n}\nRating: {RUBRIC[quality(text)]}\nRationale: {text}."
                           for n, text in ANSWER_BLOCK.findall(user))
    graded = GRADED.search(user)
    if graded is not None:
        return f"It is {quality(graded.group(1))}.\nRating: [[{GRADE[quality(graded.group(1))]}]]"
    if ASK_LETTER in user:
        codes = dict(CODE.findall(user))
        first, second = RANK[quality(codes["A"])], RANK[quality(codes["B"])]
        if first > second:
            return Scripted("A", [{"A": -0.1, "B": -2.5}])
        return Scripted("B", [{"A": -2.5, "B": -0.1}])
    raise AssertionError(f"unexpected request: {user[:200]}")


def malformed(model: str, messages: list[dict]) -> str:
    return "All answers look fine to me."


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer(responder=good_responder) as srv:
        yield srv


def make_config(url: str) -> ArenaConfig:
    return parse_config({
        "models": {"judge-model": {"provider": "openai", "model": "judge-model", "base_url": url,
                                   "max_retries": 0, "timeout": 10}},
        "judges": {
            "ufb": {"kind": "rubric", "model": "judge-model", "max_attempts": 2},
            "ufb2": {"kind": "rubric", "model": "judge-model", "preference": "complexity",
                     "max_answers": 2},
            "ref": {"kind": "reference", "model": "judge-model", "max_attempts": 2},
            "pm": {"kind": "preference-model", "model": "judge-model"},
        },
    }, "test.toml")


def write_prompts(path: Path) -> Path:
    rows = [
        {"id": "with-ref", "prompt": "Sum a list of numbers.", "category": "readability",
         "reference": "def total(xs):\n    return sum(xs)"},
        {"id": "no-ref", "prompt": "Reverse a string.", "category": "algorithms"},
    ]
    with path.open("w") as fh:
        for row in rows:
            answers = {m: f"{QUALITY[m]} answer to {row['id']} by {m}" for m in MODELS}
            fh.write(json.dumps({**row, "answers": answers}) + "\n")
    return path


async def setup_battles(store: Store, config: ArenaConfig, tmp_path: Path) -> None:
    result = import_prompt_file(store, write_prompts(tmp_path / "p.jsonl"), "jsonl", "small")
    assert result.answers_added == 6
    plan = make_plan(store, config, MODELS, "small", None)
    assert plan.to_generate == []  # every answer is a recorded one
    summary = await BattleRunner(store, config).run(plan)
    assert (summary.battles, summary.ready, summary.votes_new) == (6, 6, 0)


def models_by_generation(store: Store) -> dict[int, str]:
    prompts = store.prompts("small")
    gens = store.generations([p.id for p in prompts if p.id is not None], MODELS)
    return {g.id: model for (_, model), g in gens.items() if g.id is not None}


def votes_of(store: Store, name: str) -> list[Vote]:
    return store.votes(judge_names=[name])


async def test_rubric_scores_each_answer_once_and_derives_votes(
        store: Store, server: OpenAITestServer, tmp_path: Path) -> None:
    config = make_config(server.url)
    await setup_battles(store, config, tmp_path)
    runner = BattleRunner(store, config)
    first = await runner.judge_battles("ufb", preference="readability", set_name="small")
    assert server.requests["judge-model"] == 2  # one call per prompt: its 3 answers together
    assert (first.scored, first.votes_new, first.votes_existing) == (6, 6, 0)
    assert (first.judge_failures, first.skipped) == (0, 0)

    model_of = models_by_generation(store)
    ratings = store.answer_ratings("ufb/readability")
    assert set(ratings) == set(model_of)  # once per generation
    for gid, rating in ratings.items():
        q = QUALITY[model_of[gid]]
        assert (rating.score, rating.scale_max, rating.judge_kind) == (RUBRIC[q], 5, "rubric")
        assert rating.preference == "readability" and rating.error is None
        assert rating.rationale is not None and rating.rationale.startswith(f"{q} answer")

    battles = {b.id: b for b in store.battles(set_name="small")}
    votes = votes_of(store, "ufb/readability")
    assert len(votes) == 6 and {v.battle_id for v in votes} == set(battles)
    for v in votes:
        b = battles[v.battle_id]
        sa = RUBRIC[QUALITY[b.model_a]]
        sb = RUBRIC[QUALITY[b.model_b]]
        expected = Outcome.A if sa > sb else Outcome.B
        assert (v.outcome, v.game, v.judge_kind) == (expected, 0, "rubric")
        # good vs mid differ by 1 of 4 (strength 1); anything vs bad by >= 3 (strength 2)
        assert v.strength == (1 if {sa, sb} == {5, 4} else 2)
        assert json.loads(v.raw or "") == {"a": sa, "b": sb, "scale_max": 5,
                                           "preference": "readability"}

    again = await BattleRunner(store, config).judge_battles("ufb", preference="readability")
    assert (again.scored, again.votes_new, again.votes_existing) == (0, 0, 6)
    assert server.requests["judge-model"] == 2
    assert len(votes_of(store, "ufb/readability")) == 6
    assert store.answer_ratings("ufb/readability") == ratings


async def test_failed_ratings_are_stored_and_retried(
        store: Store, server: OpenAITestServer, tmp_path: Path) -> None:
    config = make_config(server.url)
    await setup_battles(store, config, tmp_path)
    server.responder = malformed
    failed = await BattleRunner(store, config).judge_battles("ufb", preference="style")
    assert server.requests["judge-model"] == 2 * 2  # two prompts, max_attempts = 2
    assert failed.judge_failures == 2 and failed.scored == 0  # one per failed call
    assert (failed.votes_new, failed.votes_existing) == (0, 0)
    ratings = store.answer_ratings("ufb/style")
    assert len(ratings) == 6
    for r in ratings.values():
        assert r.score is None and not r.ok
        assert r.error is not None and "after 2 attempts" in r.error
        assert r.raw == "All answers look fine to me."
    assert votes_of(store, "ufb/style") == []

    server.responder = good_responder
    fixed = await BattleRunner(store, config).judge_battles("ufb", preference="style")
    assert (fixed.scored, fixed.votes_new, fixed.judge_failures) == (6, 6, 0)
    model_of = models_by_generation(store)
    ratings = store.answer_ratings("ufb/style")
    assert {gid: r.score for gid, r in ratings.items()} == {
        gid: RUBRIC[QUALITY[m]] for gid, m in model_of.items()}
    assert all(r.error is None for r in ratings.values())
    assert len(votes_of(store, "ufb/style")) == 6
    assert votes_of(store, "ufb/readability") == []  # another preference, another judge name


async def test_reference_judge_skips_prompts_without_reference(
        store: Store, server: OpenAITestServer, tmp_path: Path) -> None:
    config = make_config(server.url)
    await setup_battles(store, config, tmp_path)
    summary = await BattleRunner(store, config).judge_battles("ref")
    assert summary.skipped == 3
    assert summary.errors["skipped: the prompt has no reference answer"] == 3
    assert (summary.scored, summary.votes_new) == (3, 3)
    assert server.requests["judge-model"] == 3  # one answer per call, one prompt
    with_ref = next(p for p in store.prompts("small") if p.external_id == "with-ref")
    battles = {b.id: b for b in store.battles(set_name="small")}
    votes = votes_of(store, "ref")
    assert {battles[v.battle_id].prompt_id for v in votes} == {with_ref.id}
    for v in votes:
        b = battles[v.battle_id]
        ga, gb = GRADE[QUALITY[b.model_a]], GRADE[QUALITY[b.model_b]]
        assert v.outcome is (Outcome.A if ga > gb else Outcome.B)
        assert json.loads(v.raw or "")["preference"] == "readability"  # the prompt's category
    ratings = store.answer_ratings("ref")
    assert sorted(r.score or 0.0 for r in ratings.values()) == [2, 6, 9]
    assert all(r.scale_max == 10 for r in ratings.values())


async def test_preference_model_votes_twice_with_probability(
        store: Store, server: OpenAITestServer, tmp_path: Path) -> None:
    config = make_config(server.url)
    await setup_battles(store, config, tmp_path)
    summary = await BattleRunner(store, config).judge_battles("pm", set_name="small")
    assert (summary.votes_new, summary.judge_failures) == (12, 0)
    assert server.requests["judge-model"] == 12
    battles = {b.id: b for b in store.battles(set_name="small")}
    votes = votes_of(store, "pm")
    assert sorted((v.battle_id, v.game) for v in votes) == sorted(
        (b, g) for b in battles for g in (0, 1))
    p_high = 1.0 / (1.0 + math.exp(-2.4))  # softmax(-0.1, -2.5)
    for v in votes:
        assert v.probability is not None and 0.0 <= v.probability <= 1.0
        b = battles[v.battle_id]
        a_better = RANK[QUALITY[b.model_a]] > RANK[QUALITY[b.model_b]]
        assert v.probability == pytest.approx(p_high if a_better else 1.0 - p_high, abs=1e-6)
        assert v.outcome is (Outcome.A if a_better else Outcome.B)
        assert (v.strength, v.judge_kind) == (2, "preference-model")  # 0.917 >= 0.9
    again = await BattleRunner(store, config).judge_battles("pm")
    assert (again.votes_new, again.votes_existing) == (0, 12)
    assert server.requests["judge-model"] == 12


async def test_rubric_groups_respect_max_answers(
        store: Store, server: OpenAITestServer, tmp_path: Path) -> None:
    config = make_config(server.url)
    await setup_battles(store, config, tmp_path)
    summary = await BattleRunner(store, config).judge_battles("ufb2")
    assert server.requests["judge-model"] == 4  # 3 answers a prompt: a call of 2, one of 1
    sizes = sorted(len(ANSWER_BLOCK.findall(body["messages"][-1]["content"]))
                   for body in server.received)
    assert sizes == [1, 1, 2, 2]
    assert (summary.scored, summary.votes_new) == (6, 6)
    assert {r.preference for r in store.answer_ratings("ufb2/complexity").values()} == {
        "complexity"}


async def test_battle_run_with_an_answer_judge(
        store: Store, server: OpenAITestServer, tmp_path: Path) -> None:
    config = make_config(server.url)
    import_prompt_file(store, write_prompts(tmp_path / "p.jsonl"), "jsonl", "small")
    plan = make_plan(store, config, MODELS, "small", "ufb", preference="explanation")
    assert plan.games_per_battle == 1
    summary = await BattleRunner(store, config).run(plan)
    assert (summary.ready, summary.scored, summary.votes_new) == (6, 6, 6)
    votes = votes_of(store, "ufb/explanation")
    assert len(votes) == 6 and all(v.judge_kind == "rubric" for v in votes)
    again = await BattleRunner(store, config).run(
        make_plan(store, config, MODELS, "small", "ufb", preference="explanation"))
    assert (again.scored, again.votes_new, again.votes_existing) == (0, 0, 6)
    assert server.requests["judge-model"] == 2
