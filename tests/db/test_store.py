"""Storage on SQLite and PostgreSQL: migrations, idempotent imports, unique constraints."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from arena.domain import ArenaError, Outcome, Usage, Vote
from db.engine import make_engine, open_database, upgrade
from db.repositories import AnswerIn, PromptIn, Store


def _prompts(n: int = 3) -> list[PromptIn]:
    return [PromptIn(f"p{i}", f"question {i}", category="algorithms", language="python",
                     where=f"f.jsonl:{i}") for i in range(n)]


def test_migrations_from_empty_create_every_table(db_url: str) -> None:
    engine = open_database(db_url)
    names = set(inspect(engine).get_table_names())
    assert {"models", "prompt_sets", "prompts", "generations", "battles", "votes",
            "judge_failures", "runs", "alembic_version"} <= names
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0006"
    upgrade(engine)  # a second upgrade is a no-op
    engine.dispose()


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x' / 'a.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 30000


def test_import_is_idempotent_and_keeps_answers(store: Store) -> None:
    answers = [AnswerIn("p0", "replay-x", "answer zero"), AnswerIn("p1", "replay-x", "answer one")]
    first = store.import_prompts("s", "f.jsonl", _prompts(), answers)
    assert (first.added, first.answers_added, first.models) == (3, 2, ["replay-x"])
    again = store.import_prompts("s", "f.jsonl", _prompts(), answers)
    assert (again.added, again.unchanged, again.answers_added, again.answers_unchanged) == (0, 3, 0, 2)
    counts = store.counts()
    assert (counts["prompts"], counts["generations"], counts["models"]) == (3, 2, 1)


def test_changed_prompt_with_answers_is_refused_and_nothing_changes(store: Store) -> None:
    store.import_prompts("s", "f.jsonl", _prompts(), [AnswerIn("p0", "replay-x", "a")])
    changed = _prompts()
    changed[0] = PromptIn("p0", "a different question", where="f.jsonl:7")
    with pytest.raises(ArenaError, match=r"f.jsonl:7: prompt 'p0' differs"):
        store.import_prompts("s", "f.jsonl", changed + [PromptIn("new", "q")])
    assert [p.text for p in store.prompts("s")] == ["question 0", "question 1", "question 2"]


def test_generation_success_is_never_replaced_by_failure(store: Store) -> None:
    store.import_prompts("s", "f", _prompts(1))
    store.ensure_model("m", "openai", "m", {})
    pid = store.prompts("s")[0].id
    failed = store.save_generation(pid, "m", "", Usage(), {}, "HTTP 500", None)
    assert not failed.ok
    ok = store.save_generation(pid, "m", "the answer", Usage(completion_tokens=3), {}, None, "stop")
    assert ok.ok and ok.id == failed.id
    again = store.save_generation(pid, "m", "", Usage(), {}, "timeout", None)
    assert again.text == "the answer" and again.ok
    assert store.counts()["generations"] == 1


def test_battles_and_votes_are_unique(store: Store) -> None:
    store.import_prompts("s", "f", _prompts(2))
    for m in ("x", "y"):
        store.ensure_model(m, "openai", m, {})
    p0, p1 = (p.id for p in store.prompts("s"))
    first = store.ensure_battles([(p0, "x", "y"), (p1, "y", "x")], None)
    # the same pair the other way round is the same battle and keeps its sides
    again = store.ensure_battles([(p0, "y", "x"), (p1, "x", "y")], None)
    assert [b.id for b in first] == [b.id for b in again]
    assert [(b.model_a, b.model_b) for b in again] == [("x", "y"), ("y", "x")]
    vote = Vote(battle_id=first[0].id, judge_kind="pairwise", judge_name="j", outcome=Outcome.A, game=0)
    assert store.add_vote(vote) is True
    assert store.add_vote(vote) is False
    assert store.add_vote(Vote(battle_id=first[0].id, judge_kind="pairwise", judge_name="j",
                               outcome=Outcome.B, game=1)) is True
    assert store.voted_games("j", [first[0].id, first[1].id]) == {(first[0].id, 0), (first[0].id, 1)}
    assert store.counts()["votes"] == 2


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(IntegrityError):
        store.add_vote(Vote(battle_id=424242, judge_kind="k", judge_name="j", outcome=Outcome.A))
    assert store.counts()["votes"] == 0


def test_unknown_prompt_set_is_a_clear_error(store: Store) -> None:
    store.import_prompts("known", "f", _prompts(1))
    with pytest.raises(ArenaError, match=r"no prompt set named 'nope' \(imported: known\)"):
        store.prompts("nope")


def test_upgrade_from_the_first_schema_keeps_data(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO prompt_sets (name, created_at) VALUES ('old', CURRENT_TIMESTAMP)"))
        set_id = conn.execute(text("SELECT id FROM prompt_sets")).scalar_one()
        conn.execute(text(
            "INSERT INTO prompts (set_id, external_id, text, content_hash, created_at) "
            "VALUES (:s, 'p', 'kept', 'h', CURRENT_TIMESTAMP)"), {"s": set_id})
    assert "a_tokens" not in {c["name"] for c in inspect(engine).get_columns("battles")}
    upgrade(engine)
    cols = {c["name"] for c in inspect(engine).get_columns("battles")}
    assert {"a_tokens", "a_headers", "a_lists", "a_bold", "b_tokens", "b_bold"} <= cols
    assert [p.text for p in Store(engine).prompts("old")] == ["kept"]
    engine.dispose()
