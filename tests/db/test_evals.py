"""evalplus results in the database: migration 0006, writes all or nothing, latest per model."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from db.engine import head_revision, make_engine, open_database, upgrade
from db.repositories import Store
from db.repositories.evals import EvalIn


@pytest.fixture
def evals(db_url: str):  # type: ignore[no-untyped-def]
    engine = open_database(db_url)
    yield Store(engine)
    engine.dispose()


def result(variant: str = "plus", pass_at_1: float = 0.5, **kw: object) -> EvalIn:
    values: dict[str, object] = dict(
        benchmark="humaneval", variant=variant, dataset_hash="fe585eb4df8c88d844eeb463ea4d0302",
        dataset_version="v0.1.10", samples=2, k=2, pass_at_1=pass_at_1, pass_at_k=0.75, tasks=2,
        generation_failures=1, wall_s=3.5,
        per_task=[{"task_id": "HumanEval/0", "n": 2, "correct": 1, "status": ["pass", "fail"]},
                  {"task_id": "HumanEval/1", "n": 2, "correct": 1, "status": ["no answer", "pass"],
                   "errors": {"0": "HTTP 500"}}],
        config={"temperature": 0.8, "samples": 2})
    values.update(kw)
    return EvalIn(**values)  # type: ignore[arg-type]


def test_migration_creates_the_table_and_matches_the_model(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = open_database(db_url)
    assert head_revision() == "0006"
    assert "eval_results" in inspect(engine).get_table_names()
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("eval_results")}
    assert {"ix_eval_results_run_uid", "ix_eval_results_model_bench"} <= indexes
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    mine = [d for d in diff if "eval_results" in repr(d)]
    assert mine == []
    engine.dispose()


def test_upgrade_from_0005_keeps_data_and_downgrade_drops_the_table(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO models (name, provider, config_json, created_at) "
                          "VALUES ('old', 'openai', '{}', CURRENT_TIMESTAMP)"))
    upgrade(engine)
    store = Store(engine)
    store.save_eval_run("old", [result()])
    assert [r.model for r in store.eval_results()] == ["old"]
    from alembic import command

    from db.engine import alembic_config

    command.downgrade(alembic_config(engine), "0005")
    assert "eval_results" not in inspect(engine).get_table_names()
    assert store.list_models()[0][0] == "old"
    engine.dispose()


def test_a_run_is_stored_with_its_tasks_and_config(evals: Store) -> None:
    stored = evals.save_eval_run("m", [result("base", 0.75), result("plus", 0.5)],
                                 provider="openai", endpoint_model="gpt-x",
                                 model_config={"temperature": 0.0})
    assert [r.variant for r in stored] == ["base", "plus"]
    assert stored[0].run_uid == stored[1].run_uid and len(stored[0].run_uid) == 32
    assert evals.list_models() == [("m", "openai", "gpt-x")]
    back = {r.variant: r for r in evals.eval_results(model="m")}
    plus = back["plus"]
    assert (plus.pass_at_1, plus.pass_at_k, plus.k, plus.samples, plus.tasks) == (0.5, 0.75, 2, 2, 2)
    assert plus.per_task[1]["errors"] == {"0": "HTTP 500"}
    assert plus.config == {"samples": 2, "temperature": 0.8}
    assert (plus.dataset_version, plus.generation_failures, plus.wall_s) == ("v0.1.10", 1, 3.5)
    assert evals.eval_results(variant="base")[0].pass_at_1 == 0.75
    assert evals.eval_results(benchmark="mbpp") == []


def test_latest_result_per_model_feeds_the_leaderboard(evals: Store) -> None:
    evals.ensure_model("known", "vllm", "served", {"temperature": 0.2})
    evals.save_eval_run("known", [result(pass_at_1=0.25)])
    evals.save_eval_run("known", [result(pass_at_1=0.625)], provider="openai")
    evals.save_eval_run("other", [result(pass_at_1=0.5), result("base", 0.9)])
    evals.save_eval_run("other", [result(pass_at_1=0.1, benchmark="mbpp")])
    assert evals.latest_pass_at_1() == {"known": 0.625, "other": 0.5}
    assert evals.latest_pass_at_1("humaneval", "base") == {"other": 0.9}
    assert evals.latest_pass_at_1("mbpp") == {"other": 0.1}
    # a model already known keeps its row: an eval does not rewrite its provider or config
    assert ("known", "vllm", "served") in evals.list_models()
    newest = evals.eval_results(model="known")
    assert [r.pass_at_1 for r in newest] == [0.625, 0.25]


def test_a_partial_run_does_not_replace_a_full_one(evals: Store) -> None:
    evals.save_eval_run("m", [result(pass_at_1=0.25, tasks=3)])  # a first --limit 3 check
    assert evals.latest_pass_at_1() == {"m": 0.25}  # the only result: shown
    evals.save_eval_run("m", [result(pass_at_1=0.5, tasks=164)])
    evals.save_eval_run("m", [result(pass_at_1=1.0, tasks=3)])  # a smoke run afterwards
    assert evals.latest_pass_at_1() == {"m": 0.5}
    evals.save_eval_run("m", [result(pass_at_1=0.625, tasks=164)])  # a newer full run
    assert evals.latest_pass_at_1() == {"m": 0.625}
    assert [r.pass_at_1 for r in evals.eval_results(model="m")] == [0.625, 1.0, 0.5, 0.25]


def test_a_failed_write_leaves_nothing_behind(evals: Store) -> None:
    with pytest.raises(IntegrityError):
        evals.save_eval_run("new-model", [result("base"), result("plus", pass_at_1=None)])  # type: ignore[arg-type]
    assert evals.eval_results() == []
    assert evals.list_models() == []
    assert evals.latest_pass_at_1() == {}
