"""`arena import battles`: Chatbot Arena, Arena-Hard and our JSONL into rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from arena.domain import ArenaError
from arena.services.importing import NO_TEXT, import_battles
from db.repositories import PromptIn, Store, pair_key
from db.repositories.bulk import shared_prompt_id
from db.repositories.stats import VoteFilter

T0 = 1700000000.25
FASTCHAT = [
    {"question_id": "q1", "model_a": "gpt-x", "model_b": "claude-y", "winner": "model_a",
     "judge": "arena_user_1", "turn": 1, "anony": True, "language": "English", "tstamp": T0,
     "conversation_a": [{"role": "user", "content": "Reverse a list in Python."},
                        {"role": "assistant", "content": "xs[::-1]"}],
     "conv_metadata": {"sum_user_tokens": 7, "sum_assistant_a_tokens": 120,
                       "sum_assistant_b_tokens": 80, "context_a_tokens": 7, "turns": 1,
                       "header_count_a": {"h1": 1, "h2": 2}, "list_count_a": {"ordered": 3, "unordered": 1},
                       "bold_count_a": {"**": 2, "__": 1}, "header_count_b": {"h1": 0},
                       "list_count_b": {"ordered": 0, "unordered": 5},
                       "bold_count_b": {"**": 0, "__": 0}}},
    {"question_id": "q2", "model_a": "claude-y", "model_b": "llama-z", "winner": "model_b",
     "judge": "arena_user_2", "language": "Chinese", "tstamp": 1700000100, "category": "coding"},
    {"question_id": "q3", "model_a": "llama-z", "model_b": "gpt-x", "winner": "tie",
     "tstamp": 1700000200.5},
    {"question_id": "q3", "model_a": "gpt-x", "model_b": "llama-z", "winner": "tie (bothbad)",
     "judge": "arena_user_1", "tstamp": 1700000300.75},
]


def _jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _rows(store: Store, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive UTC, PostgreSQL aware: compare as naive UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _battles(store: Store) -> dict[str, tuple[Any, ...]]:
    """slot -> (model A, model B, external id, status, style columns...)."""
    rows = _rows(store, """
        SELECT b.slot, ma.name, mb.name, p.external_id, b.status, b.pair_key,
               b.a_tokens, b.a_headers, b.a_lists, b.a_bold,
               b.b_tokens, b.b_headers, b.b_lists, b.b_bold
        FROM battles b JOIN models ma ON ma.id = b.model_a_id
        JOIN models mb ON mb.id = b.model_b_id JOIN prompts p ON p.id = b.prompt_id""")
    return {r[0]: r[1:] for r in rows}


def _votes(store: Store) -> list[tuple[Any, ...]]:
    """(slot, judge kind, judge, voter, game, outcome, strength), sorted."""
    return sorted(_rows(store, """
        SELECT b.slot, v.judge_kind, v.judge_name, v.voter, v.game, v.outcome, v.strength
        FROM votes v JOIN battles b ON b.id = v.battle_id"""))


def test_fastchat_records_become_prompts_battles_and_votes(store: Store, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "clean_battle.jsonl", FASTCHAT)
    summary = import_battles(store, path, "fastchat")
    r = summary.result
    assert r.set_name == "imported-clean_battle"
    assert (r.prompts_added, r.battles_added, r.votes_added) == (3, 4, 4)
    assert sorted(r.models_added) == ["claude-y", "gpt-x", "llama-z"]
    assert "battles: 4 added, 0 already present" in summary.lines()[0]

    battles = _battles(store)
    s1 = f"import:q1:{T0!r}"
    assert set(battles) == {s1, "import:q2:1700000100", "import:q3:1700000200.5",
                            "import:q3:1700000300.75"}
    assert battles[s1][:5] == ("gpt-x", "claude-y", "q1", "ready", pair_key("gpt-x", "claude-y"))
    assert battles[s1][5:] == (120, 3, 4, 3, 80, 0, 5, 0)  # conv_metadata sums
    assert battles["import:q2:1700000100"][5:] == (None,) * 8
    # records without conversation text share one placeholder prompt per language and
    # category; the question stays in the slot
    assert battles["import:q2:1700000100"][2] == "(no text):chinese:coding"
    assert battles["import:q3:1700000200.5"][:3] == ("llama-z", "gpt-x", "(no text):")
    assert battles["import:q3:1700000300.75"][:3] == ("gpt-x", "llama-z", "(no text):")

    assert _votes(store) == sorted([
        (s1, "human", "human", "arena_user_1", 0, "a", 1),
        ("import:q2:1700000100", "human", "human", "arena_user_2", 0, "b", 1),
        ("import:q3:1700000200.5", "human", "human", "", 0, "tie", 1),
        ("import:q3:1700000300.75", "human", "human", "arena_user_1", 0, "both_bad", 1),
    ])

    prompts = {p.external_id: p for p in store.prompts("imported-clean_battle")}
    assert set(prompts) == {"q1", "(no text):chinese:coding", "(no text):"}
    q2, q3 = prompts["(no text):chinese:coding"], prompts["(no text):"]
    assert prompts["q1"].text == "Reverse a list in Python."
    assert (prompts["q1"].language, q2.language, q3.language) == ("english", "chinese", None)
    assert (prompts["q1"].category, q2.category, q3.category) == (None, "coding", None)
    assert q2.text == q3.text == NO_TEXT
    hashes = dict(_rows(store, "SELECT external_id, content_hash FROM prompts"))
    assert hashes["q1"] == hashlib.sha256(b"Reverse a list in Python.").hexdigest()
    assert hashes["(no text):"] == hashlib.sha256(NO_TEXT.encode()).hexdigest()

    assert {(n, p) for n, p, _ in store.list_models()} == {
        ("claude-y", "imported"), ("gpt-x", "imported"), ("llama-z", "imported")}
    configs = {json.loads(c)["source"] for (c,) in _rows(store, "SELECT config_json FROM models")}
    assert configs == {str(path)}

    # times: the record's tstamp, in UTC, on the battle and on the vote
    (battle,) = [b for b in store.battles() if b.prompt_id == prompts["q1"].id]
    assert battle.created_at is not None
    assert _utc(battle.created_at) == datetime.fromtimestamp(T0, UTC).replace(tzinfo=None)
    (vote,) = store.votes(battle_ids=[battle.id])
    assert vote.created_at is not None and _utc(vote.created_at) == _utc(battle.created_at)
    # the leaderboard's time-ordered read sees them in tstamp order
    records = store.vote_records(set_name="imported-clean_battle")
    assert [v.outcome for v in records] == ["a", "b", "tie", "both_bad"]


def test_json_array_and_gzip_read_the_same(store: Store, tmp_path: Path) -> None:
    array = tmp_path / "battles.json"
    array.write_text(json.dumps(FASTCHAT, indent=1), encoding="utf-8")
    first = import_battles(store, array, "fastchat", set_name="arena")
    assert (first.records, first.result.battles_added, first.result.votes_added) == (4, 4, 4)
    packed = tmp_path / "battles.jsonl.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in FASTCHAT)
    again = import_battles(store, packed, "fastchat", set_name="arena")
    r = again.result
    assert (r.battles_added, r.battles_present, r.votes_added, r.votes_present) == (0, 4, 0, 4)
    assert (r.prompts_added, r.prompts_present, r.models_added) == (0, 3, [])


def test_reimport_adds_nothing_and_says_so(store: Store, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "b.jsonl", FASTCHAT)
    import_battles(store, path, "fastchat")
    before = store.counts()
    summary = import_battles(store, path, "fastchat")
    assert store.counts() == before
    line = summary.lines()[0]
    assert "battles: 0 added, 4 already present" in line
    assert "votes: 0 added, 4 already present" in line
    # a longer file adds only its new records
    more = _jsonl(tmp_path / "b2.jsonl", FASTCHAT + [
        {"question_id": "q4", "model_a": "gpt-x", "model_b": "new-m", "winner": "model_b",
         "tstamp": 1700000400.0}])
    r = import_battles(store, more, "fastchat", set_name="imported-b").result
    assert (r.battles_added, r.battles_present, r.votes_added, r.models_added) == (1, 4, 1, ["new-m"])


def test_repeated_record_in_one_file_is_skipped_and_a_contradiction_refused(
        store: Store, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "dup.jsonl", FASTCHAT + [FASTCHAT[1]])
    summary = import_battles(store, path, "fastchat")
    assert (summary.duplicates, summary.result.battles_added, summary.result.votes_added) == (1, 4, 4)
    before = store.counts()
    bad = _jsonl(tmp_path / "contra.jsonl", FASTCHAT + [dict(FASTCHAT[1], winner="tie")])
    with pytest.raises(ArenaError, match=rf"^{bad}:5: contradicts an earlier vote at {bad}:2"):
        import_battles(store, bad, "fastchat")
    assert store.counts() == before


BAD_RECORDS = [
    ('{"question_id": "q9", "model_a": "a", "model_b": "b", "winner": "model_c"}',
     "field winner must be one of model_a, model_b, tie, tie (bothbad), got 'model_c'"),
    ('{"question_id": "q9", "model_a": "a", "model_b": "b", "winner": "tie"',
     "not valid JSON"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie"}', "field question_id is missing"),
    ('{"question_id": "q9", "model_a": "a", "model_b": "a", "winner": "tie"}',
     "model_a and model_b are the same model ('a')"),
    ('{"question_id": "q9", "model_a": "a", "model_b": "b", "winner": "tie", "tstamp": "soon"}',
     "field tstamp must be seconds since 1970 (UTC), got 'soon'"),
    ('["q9", "a", "b"]', "expected a JSON object, got array"),
    ('{"question_id": "q9", "model_a": "a", "model_b": "b", "winner": "tie", '
     '"conv_metadata": {"header_count_a": {"h1": "x"}}}',
     "conv_metadata.header_count_a must be a count or an object of counts"),
]


@pytest.mark.parametrize("repeat", ["timed", "untimed"])
def test_repeats_in_a_long_file_are_found(store: Store, tmp_path: Path, repeat: str) -> None:
    """Past 10,000 records repeats are looked for by sorting the times, not with a dict."""
    def rec(i: int) -> dict[str, Any]:
        out: dict[str, Any] = {"question_id": f"q{i}", "model_a": "m1", "model_b": "m2",
                               "winner": "model_a", "judge": f"u{i}"}
        if repeat == "timed" or i % 2:
            out["tstamp"] = 1700000000 + i / 4  # some times equal as numbers, not as slots
        return out

    records = [rec(i) for i in range(12000)]
    records[11000]["tstamp"] = 1700000000  # the time of q0, another question: no repeat
    records.insert(11500, dict(records[6000]))
    path = _jsonl(tmp_path / "long.jsonl", records)
    summary = import_battles(store, path, "fastchat", set_name=repeat)
    assert (summary.records, summary.duplicates) == (12001, 1)
    assert (summary.result.battles_added, summary.result.votes_added) == (12000, 12000)

    records[11500] = dict(records[6001], winner="tie")  # now it contradicts line 6002
    records[11700] = {"question_id": "q", "model_a": "a", "model_b": "b", "winner": "x"}
    bad = _jsonl(tmp_path / "long-bad.jsonl", records)
    before = store.counts()
    with pytest.raises(ArenaError, match=rf"^{bad}:11501: contradicts an earlier vote at "
                                         rf"{bad}:6002"):
        import_battles(store, bad, "fastchat", set_name=repeat)
    assert store.counts() == before


def test_malformed_record_names_its_line_and_imports_nothing(store: Store, tmp_path: Path) -> None:
    import_battles(store, _jsonl(tmp_path / "good.jsonl", FASTCHAT), "fastchat", set_name="s")
    before = store.counts()
    good = "".join(json.dumps(r) + "\n" for r in FASTCHAT[:2]) + "\n"  # a blank line 3 too
    for i, (line, message) in enumerate(BAD_RECORDS):
        path = tmp_path / f"bad{i}.jsonl"
        path.write_text(good + line + "\n" + json.dumps(FASTCHAT[3]) + "\n", encoding="utf-8")
        with pytest.raises(ArenaError) as info:
            import_battles(store, path, "fastchat", set_name="s")
        assert str(info.value).startswith(f"{path}:4: {message}"), str(info.value)
    array = tmp_path / "bad.json"
    array.write_text(json.dumps(FASTCHAT[:2] + [dict(FASTCHAT[2], winner=None)]))
    with pytest.raises(ArenaError, match=rf"^{array}:record 2: field winner"):
        import_battles(store, array, "fastchat", set_name="s")
    assert store.counts() == before


def _ah(qid: str, model: str, scores: list[str | None], judge: str = "gpt-4-judge") -> dict[str, Any]:
    return {"question_id": qid, "model": model, "judge": judge,
            "games": [{"user_prompt": f"<|User Prompt|>\nQuestion {qid}?\n\n<|The Start of "
                                      "Assistant A's Answer|>\n...", "judgment": "...",
                       "score": s} for s in scores]}


def test_arena_hard_games_are_stored_in_the_battle_frame(store: Store, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "model-x.jsonl", [
        _ah("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "model-x", ["A>>B", "A>B"]),
        _ah("q2", "model-x", ["B>A", "B>>A"]),
        _ah("q3", "model-x", ["A=B", None]),
    ])
    with pytest.raises(ArenaError, match="--baseline MODEL is required"):
        import_battles(store, path, "arena-hard")
    with pytest.raises(ArenaError, match="--baseline only applies to --format arena-hard"):
        import_battles(store, path, "fastchat", baseline="gpt-4-0314")
    assert store.counts()["battles"] == 0

    summary = import_battles(store, path, "arena-hard", baseline="gpt-4-0314")
    assert summary.failed_games == [f"{path}:3 game 2"]
    assert "1 failed judgments (no score) skipped" in summary.lines()[-1]
    battles = _battles(store)
    assert len(battles) == 3 and all(b[:2] == ("gpt-4-0314", "model-x") for b in battles.values())
    slot1 = next(s for s, b in battles.items() if b[2] == "0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    # the natural key is longer than the column: its head plus a hash, 64 characters
    assert len(slot1) == 64 and slot1.startswith("import:arena-hard:0a1b2c3d4e5f60718293")
    assert "import:arena-hard:q2:model-x:gpt-4-judge" in battles
    votes = {(s, g): (kind, judge, voter, outcome, strength)
             for s, kind, judge, voter, g, outcome, strength in _votes(store)}
    # game 1 (A = baseline): as written; game 2 (A = the model): flipped into the battle's frame
    assert votes[(slot1, 0)] == ("pairwise", "gpt-4-judge", "", "a", 2)
    assert votes[(slot1, 1)] == ("pairwise", "gpt-4-judge", "", "b", 1)
    assert votes[("import:arena-hard:q2:model-x:gpt-4-judge", 0)][3:] == ("b", 1)
    assert votes[("import:arena-hard:q2:model-x:gpt-4-judge", 1)][3:] == ("a", 2)
    assert votes[("import:arena-hard:q3:model-x:gpt-4-judge", 0)][3:] == ("tie", 0)
    assert len(votes) == 5  # the failed game has no vote
    texts = {p.external_id: p.text for p in store.prompts("imported-model-x")}
    assert texts["q2"] == "Question q2?"

    again = import_battles(store, path, "arena-hard", baseline="gpt-4-0314").result
    assert (again.battles_added, again.votes_added, again.votes_present) == (0, 0, 5)


def test_arena_hard_bad_score_names_the_line(store: Store, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "ah.jsonl", [_ah("q1", "m", ["A>B", "B>A"]),
                                          _ah("q2", "m", ["A>B", "A>>>B"])])
    with pytest.raises(ArenaError, match=rf"^{path}:2: games\[1\]\.score must be one of A>>B"):
        import_battles(store, path, "arena-hard", baseline="base")
    assert store.counts()["votes"] == 0


def test_our_jsonl_votes_sharing_a_battle_id_share_the_battle(store: Store, tmp_path: Path) -> None:
    base = {"prompt_id": "p1", "prompt": "Sort a dict by value.", "model_a": "m1",
            "model_b": "m2", "category": "algorithms", "language": "Python"}
    path = _jsonl(tmp_path / "ours.jsonl", [
        dict(base, battle_id="b1", outcome="a", judge="gpt-judge", game=0, strength=2,
             tstamp="2024-05-01T12:00:00Z"),
        dict(base, battle_id="b1", outcome="tie", judge="gpt-judge", game=1, strength=0),
        dict(base, battle_id="b1", outcome="b", voter="alice"),
        {"prompt_id": "p1", "model_a": "m2", "model_b": "m3", "outcome": "both_bad",
         "tstamp": 1714564800},
    ])
    r = import_battles(store, path, "jsonl", set_name="mine").result
    assert (r.prompts_added, r.battles_added, r.votes_added) == (1, 2, 4)
    votes = _votes(store)
    assert [v[1:] for v in votes if v[0] == "import:b1"] == [
        ("human", "human", "alice", 0, "b", 1),
        ("pairwise", "gpt-judge", "", 0, "a", 2),
        ("pairwise", "gpt-judge", "", 1, "tie", 0)]
    (p,) = store.prompts("mine")
    assert (p.text, p.category, p.language) == ("Sort a dict by value.", "algorithms", "python")
    (b1,) = [b for b in store.battles(set_name="mine") if (b.model_a, b.model_b) == ("m1", "m2")]
    assert b1.created_at is not None
    assert _utc(b1.created_at) == datetime(2024, 5, 1, 12, 0)

    # a later file voting on the same battle with the sides the other way round
    swapped = _jsonl(tmp_path / "swapped.jsonl", [dict(base, battle_id="b1", model_a="m2",
                                                       model_b="m1", outcome="a", voter="bob")])
    r = import_battles(store, swapped, "jsonl", set_name="mine").result
    assert (r.battles_added, r.battles_present, r.votes_added) == (0, 1, 1)
    assert ("import:b1", "human", "human", "bob", 0, "b", 1) in _votes(store)

    before = store.counts()
    bad = _jsonl(tmp_path / "bad.jsonl", [dict(base, battle_id="b1", outcome="a"),
                                         dict(base, battle_id="b1", model_b="m3", outcome="a")])
    with pytest.raises(ArenaError, match=rf"^{bad}:2: battle 'b1' is also at {bad}:1"):
        import_battles(store, bad, "jsonl", set_name="mine")
    unknown = _jsonl(tmp_path / "unknown.jsonl", [dict(base, outcome="a", winner="model_a")])
    with pytest.raises(ArenaError, match=rf"^{unknown}:1: unknown field\(s\) winner"):
        import_battles(store, unknown, "jsonl", set_name="mine")
    assert store.counts() == before


def test_existing_prompts_and_models_are_reused_untouched(store: Store, tmp_path: Path) -> None:
    store.import_prompts("questions", "q.jsonl", [PromptIn("q1", "The real question 1."),
                                                  PromptIn("q3", "The real question 3.")])
    store.ensure_model("gpt-x", "openai", "gpt-x-2024", {"base_url": "http://x"})
    path = _jsonl(tmp_path / "fc.jsonl", FASTCHAT[:3])
    r = import_battles(store, path, "fastchat", set_name="questions").result
    # q1 (with text) and q3 (without) go on the set's own prompts of their questions; q2,
    # a question the set does not hold, on the placeholder of its language and category
    assert (r.prompts_added, r.prompts_present) == (1, 2)
    assert sorted(r.models_added) == ["claude-y", "llama-z"]
    texts = {p.external_id: p.text for p in store.prompts("questions")}
    assert texts == {"q1": "The real question 1.", "q3": "The real question 3.",
                     "(no text):chinese:coding": NO_TEXT}
    assert {s: b[2] for s, b in _battles(store).items()} == {
        f"import:q1:{T0!r}": "q1", "import:q2:1700000100": "(no text):chinese:coding",
        "import:q3:1700000200.5": "q3"}
    assert ("gpt-x", "openai", "gpt-x-2024") in store.list_models()
    again = import_battles(store, path, "fastchat", set_name="questions").result
    assert (again.prompts_added, again.battles_added, again.votes_added) == (0, 0, 0)
    assert (again.prompts_present, again.battles_present, again.votes_present) == (3, 3, 3)


def test_records_with_and_without_text_are_the_same_battles(store: Store, tmp_path: Path) -> None:
    """The public logs carry no text; a conversations dump of the same battles does. Either
    file after the other adds nothing; the question's own prompt wins within a file."""
    bare = [{k: v for k, v in r.items() if k != "conversation_a"} for r in FASTCHAT]
    talk = [dict(r, conversation_a=[{"role": "user", "content": f"Question {r['question_id']}?"}])
            for r in FASTCHAT]
    first = import_battles(store, _jsonl(tmp_path / "bare.jsonl", bare), "fastchat",
                           set_name="s").result
    assert (first.prompts_added, first.battles_added, first.votes_added) == (3, 4, 4)
    before = store.counts()
    second = import_battles(store, _jsonl(tmp_path / "talk.jsonl", talk), "fastchat",
                            set_name="s").result
    assert (second.battles_added, second.battles_present) == (0, 4)
    assert second.prompts_added == 3  # the texts are kept; the battles stay where they are
    assert (second.votes_added, second.votes_present) == (0, 4)
    assert store.counts()["battles"] == before["battles"]
    assert store.counts()["votes"] == before["votes"]

    # the other way round, into another set; and both in one file
    r = import_battles(store, _jsonl(tmp_path / "talk2.jsonl", talk), "fastchat",
                       set_name="t").result
    assert (r.prompts_added, r.battles_added) == (3, 4)
    r = import_battles(store, _jsonl(tmp_path / "bare2.jsonl", bare), "fastchat",
                       set_name="t").result
    assert (r.prompts_added, r.battles_added, r.votes_added, r.votes_present) == (0, 0, 0, 4)
    mixed = _jsonl(tmp_path / "mixed.jsonl", bare + talk)
    summary = import_battles(store, mixed, "fastchat", set_name="u")
    assert (summary.result.battles_added, summary.result.votes_added) == (4, 4)
    assert summary.duplicates == 4
    assert {b[2] for b in _battles(store).values() if b[2].startswith("q")} == {"q1", "q2", "q3"}
    u = {p.external_id: p.text for p in store.prompts("u")}  # no placeholder left unused
    assert u == {"q1": "Question q1?", "q2": "Question q2?", "q3": "Question q3?"}


def test_placeholder_prompts_keep_language_and_category_filters(store: Store,
                                                                tmp_path: Path) -> None:
    records = [{"question_id": f"q{i}", "model_a": "m1", "model_b": "m2",
                "winner": "model_a" if i % 3 else "model_b", "judge": f"u{i}",
                "language": ("English", "German", "english")[i % 3], "tstamp": 1700000000 + i,
                **({"category": "coding"} if i % 2 else {})} for i in range(12)]
    r = import_battles(store, _jsonl(tmp_path / "langs.jsonl", records), "fastchat").result
    assert (r.prompts_added, r.battles_added) == (4, 12)
    assert {p.external_id: (p.language, p.category) for p in store.prompts("imported-langs")} == {
        "(no text):english": ("english", None), "(no text):english:coding": ("english", "coding"),
        "(no text):german": ("german", None), "(no text):german:coding": ("german", "coding")}
    german = store.vote_records(vote_filter=VoteFilter(language="german"))
    assert [v.outcome for v in german] == ["a"] * 4
    english = store.vote_records(vote_filter=VoteFilter(language="english"))
    assert sorted(v.outcome for v in english) == ["a"] * 4 + ["b"] * 4
    coding = store.vote_records(vote_filter=VoteFilter(category="coding"))
    assert len(coding) == 6 and {v.language for v in coding} == {"english", "german"}
    assert shared_prompt_id("a:b", None) != shared_prompt_id("a", "b")
    assert len(shared_prompt_id("x" * 100, "y" * 100)) <= 200


def test_many_records_and_their_times_as_the_orm_writes_them(store: Store, tmp_path: Path) -> None:
    """Enough records for the bulk paths (statements of many rows, times computed on
    arrays); the stored time is what the ORM writes for that UTC datetime, so --since and
    --until compare right; re-importing adds nothing."""
    rng = random.Random(7)
    fractions = [0.0, 0.5, 0.25, 0.9999995, 0.0000005, 0.0000015, 0.0000025, 1e-7, 0.9999999]
    times: list[float | int] = [rng.randrange(-2_000_000_000, 4_000_000_000) + rng.choice(fractions)
                                for _ in range(1200)]
    times += [round(rng.uniform(1.6e9, 1.75e9), rng.randrange(8)) for _ in range(1200)]
    times += [rng.randrange(1_600_000_000, 1_750_000_000) for _ in range(99)]  # integers
    times += [-62135596800, 0, -0.5, 253402300799.5, 1.5e-6]
    records = [{"question_id": f"q{i}", "model_a": f"m{i % 7}", "model_b": f"m{(i + 1) % 7}",
                "winner": ("model_a", "model_b", "tie", "tie (bothbad)")[i % 4],
                "judge": f"u{i % 13}", "language": ("English", "German")[i % 2], "tstamp": ts}
               for i, ts in enumerate(times)]
    path = _jsonl(tmp_path / "many.jsonl", records)
    r = import_battles(store, path, "fastchat", set_name="many").result
    assert (r.prompts_added, r.battles_added, r.votes_added) == (2, len(times), len(times))
    stored = dict(_rows(store, "SELECT b.slot, v.created_at FROM votes v "
                               "JOIN battles b ON b.id = v.battle_id"))
    battle_times = dict(_rows(store, "SELECT slot, created_at FROM battles"))
    for i, ts in enumerate(times):
        slot = f"import:q{i}:{ts!r}"
        want = datetime.fromtimestamp(ts, UTC)
        if store.dialect == "sqlite":  # the text SQLAlchemy stores for an aware datetime
            want_text = want.replace(tzinfo=None).isoformat(" ", "microseconds")
            assert stored[slot] == battle_times[slot] == want_text, (ts, stored[slot])
        else:
            assert stored[slot] == battle_times[slot] == want, (ts, stored[slot])
    again = import_battles(store, path, "fastchat", set_name="many").result
    assert (again.battles_added, again.votes_added, again.votes_present) == (0, 0, len(times))


def test_bulk_time_text_matches_the_datetime_one() -> None:
    import numpy as np

    from db.repositories._bulk_writer import _sqlite_texts

    rng = random.Random(3)
    times = [rng.uniform(-62135596800, 253402300799) for _ in range(20000)]
    times += [rng.randrange(-62135596800, 253402300799) + f for f in
              (0.0, 0.5, 0.9999995, 0.99999949, 0.0000005, 0.0000015, 0.0000025, -0.0) for _ in range(500)]
    times += [-62135596800, 253402300799.99997, -1e-7, 0, -1]
    want = [datetime.fromtimestamp(t, UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            for t in times]
    assert _sqlite_texts(times, np) == want
    assert _sqlite_texts([253402300799.9999996], np) is None  # year 10000: the slow path's error


def test_float_slots_are_repr() -> None:
    from arena.services import import_records as importing

    if importing.FLOAT_TEXT is None:
        pytest.skip("orjson not installed: slots use repr() itself")
    rng = random.Random(5)
    values = [round(rng.uniform(1e9, 2e9), rng.randrange(9)) for _ in range(20000)]
    values += [rng.uniform(1, 1e16) for _ in range(5000)] + [-rng.uniform(1, 3e11) for _ in range(5000)]
    assert all(importing.FLOAT_TEXT(v).decode() == repr(v) for v in values)


def test_numbers_orjson_reads_otherwise_are_read_as_json_does(store: Store, tmp_path: Path) -> None:
    """orjson makes a float of an integer beyond 64 bits; json's int decides, as before."""
    big = 123456789012345678901234567890
    lines = [json.dumps({"question_id": big, "model_a": "a", "model_b": "b", "winner": "tie",
                         "tstamp": 1700000000.5}),
             json.dumps({"question_id": "q2", "model_a": "a", "model_b": "b", "winner": "tie",
                         "turn": big * 7}),
             json.dumps({"question_id": "q3", "model_a": "a", "model_b": "b", "winner": "tie",
                         "tstamp": 1700000000.5, "conv_metadata": {"sum_assistant_a_tokens": 12,
                                                                   "bold_count_b": {"**": 3}}})]
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = import_battles(store, path, "fastchat", set_name="big").result
    assert (r.battles_added, r.votes_added) == (3, 3)
    slots = set(_battles(store))
    assert f"import:{big}:1700000000.5" in slots
    from arena.services.import_records import record_hash
    assert f"import:q2:{record_hash(json.loads(lines[1]))[:16]}" in slots
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question_id": "q", "model_a": "a", "model_b": "b",
                               "winner": "tie", "tstamp": big}) + "\n", encoding="utf-8")
    with pytest.raises(ArenaError, match=rf"^{bad}:1: field tstamp must be seconds since 1970 "
                                         rf"\(UTC\), got {big}$"):
        import_battles(store, bad, "fastchat", set_name="big")


def test_foreign_key_checks_come_back_after_an_import(store: Store, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if store.dialect != "sqlite":
        pytest.skip("a SQLite connection setting")
    from db.repositories.bulk import BulkRepository

    def pragma() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(text("PRAGMA foreign_keys")).scalar_one())

    path = _jsonl(tmp_path / "fk.jsonl", FASTCHAT)
    import_battles(store, path, "fastchat")
    assert pragma() == 1

    def boom(*_args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(BulkRepository, "_bulk_votes", boom)
    before = store.counts()
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_battles(store, path, "fastchat", set_name="other")
    assert store.counts() == before  # rolled back
    assert pragma() == 1
    with store.engine.connect() as conn:  # and enforced: a vote on no battle is refused
        with pytest.raises(Exception, match="FOREIGN KEY"):
            conn.execute(text("INSERT INTO votes (battle_id, judge_kind, judge_name, voter, "
                              "outcome, strength, game, prompt_tokens, completion_tokens, "
                              "created_at) VALUES (424242, 'h', 'h', '', 'a', 1, 0, 0, 0, "
                              "'2024-01-01 00:00:00.000000')"))


def test_migration_0004_drops_the_covered_vote_indexes_and_downgrades(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from db.engine import alembic_config, make_engine, upgrade

    engine = make_engine(db_url)

    def indexes() -> set[str]:
        insp = inspect(engine)
        return {i["name"] for t in ("votes", "battles") for i in insp.get_indexes(t)}

    upgrade(engine)
    after = indexes()
    assert not after & {"ix_votes_battle_id", "ix_votes_judge_battle"}
    assert {"ix_votes_judge", "ix_battles_prompt_id"} <= after  # needed: see the migration
    command.downgrade(alembic_config(engine), "0003")
    assert {"ix_votes_battle_id", "ix_votes_judge_battle"} <= indexes()
    upgrade(engine)
    assert indexes() == after
    engine.dispose()


# -- the command, as users run it (SQLite) ---------------------------------------------------
ARENA = Path(sys.executable).parent / "arena"


def _arena(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_HOME=str(tmp_path / "home"), NO_COLOR="1")
    return subprocess.run([str(ARENA), "--db", f"sqlite:///{tmp_path / 'cli.db'}", *args],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not ARENA.exists(), reason="console script not installed")
def test_cli_import_reports_on_stderr_and_fails_cleanly(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "fc.jsonl", FASTCHAT)
    proc = _arena(tmp_path, "import", "battles", str(path), "--format", "fastchat")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "set imported-fc: 4 records; battles: 4 added, 0 already present" in proc.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(FASTCHAT[0]) + "\n" + '{"question_id": "q", "winner": 3}\n')
    proc = _arena(tmp_path, "import", "battles", str(bad), "--format", "fastchat")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {bad}:2: field model_a is missing"], proc.stderr
