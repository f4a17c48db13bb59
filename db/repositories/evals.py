"""evalplus results (``arena eval``): one row per model, benchmark and test set per run.

Rows are written once, all the test sets of a run in one transaction, and never updated, so
every result stays in the history. "The model's score" (the leaderboard's column) is its
result over the most tasks, the latest of those: a quick ``--limit 3`` check run after a full
run does not replace the full run's number.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from db.repositories._base import RepositoryBase, dumps
from db.tables import EvalResultRow, ModelRow


@dataclass(frozen=True)
class EvalIn:
    """One test set's result, to store."""

    benchmark: str  # humaneval or mbpp
    variant: str  # base or plus
    dataset_hash: str
    dataset_version: str
    samples: int
    k: int
    pass_at_1: float
    pass_at_k: float
    tasks: int
    generation_failures: int = 0
    wall_s: float | None = None
    per_task: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EvalRecord(EvalIn):
    """A stored result: what was stored, with its row id, run, model and time."""

    id: int
    run_uid: str
    model: str
    created_at: datetime


class EvalRepository(RepositoryBase):
    def save_eval_run(self, model: str, results: list[EvalIn], *, provider: str = "openai",
                      endpoint_model: str | None = None,
                      model_config: dict[str, Any] | None = None) -> list[EvalRecord]:
        """Store a run's results under one new run id, registering the model if it is new
        (a known model's row is left as it is). All or nothing."""
        run_uid = uuid.uuid4().hex
        with self.session() as s:
            row = s.exec(select(ModelRow).where(ModelRow.name == model)).first()
            if row is None:
                row = ModelRow(name=model, provider=provider, endpoint_model=endpoint_model,
                               config_json=dumps(model_config or {}))
                s.add(row)
                s.flush()
            self._remember(row)
            assert row.id is not None
            rows = [EvalResultRow(
                run_uid=run_uid, model_id=row.id, benchmark=r.benchmark, variant=r.variant,
                dataset_hash=r.dataset_hash, dataset_version=r.dataset_version, samples=r.samples,
                k=r.k, pass_at_1=r.pass_at_1, pass_at_k=r.pass_at_k, tasks=r.tasks,
                generation_failures=r.generation_failures, wall_s=r.wall_s,
                per_task_json=json.dumps(r.per_task, ensure_ascii=False),
                config_json=dumps(r.config)) for r in results]
            s.add_all(rows)
            s.flush()
            return [_record(r, model) for r in rows]

    def eval_results(self, model: str | None = None, benchmark: str | None = None,
                     variant: str | None = None) -> list[EvalRecord]:
        """Stored results, newest first, optionally of one model, benchmark or test set."""
        with Session(self.engine) as s:
            q = select(EvalResultRow, ModelRow.name).join(
                ModelRow, col(ModelRow.id) == EvalResultRow.model_id)
            if model is not None:
                q = q.where(ModelRow.name == model)
            if benchmark is not None:
                q = q.where(EvalResultRow.benchmark == benchmark)
            if variant is not None:
                q = q.where(EvalResultRow.variant == variant)
            rows = s.exec(q.order_by(col(EvalResultRow.created_at).desc(),
                                     col(EvalResultRow.id).desc())).all()
        return [_record(r, name) for r, name in rows]

    def latest_pass_at_1(self, benchmark: str = "humaneval", variant: str = "plus") -> dict[str, float]:
        """Each model's pass@1 on this test set (HumanEval+ by default): of its results over
        the most tasks, the latest. A partial run (``--limit``) counts only while the model
        has no result over more tasks."""
        with Session(self.engine) as s:
            q = (select(ModelRow.name, EvalResultRow.pass_at_1)
                 .join(ModelRow, col(ModelRow.id) == EvalResultRow.model_id)
                 .where(EvalResultRow.benchmark == benchmark, EvalResultRow.variant == variant)
                 .order_by(col(EvalResultRow.tasks), col(EvalResultRow.created_at),
                           col(EvalResultRow.id)))
            return {name: value for name, value in s.exec(q).all()}


def _record(r: EvalResultRow, model: str) -> EvalRecord:
    assert r.id is not None
    return EvalRecord(
        id=r.id, run_uid=r.run_uid, model=model, benchmark=r.benchmark, variant=r.variant,
        dataset_hash=r.dataset_hash, dataset_version=r.dataset_version, samples=r.samples, k=r.k,
        pass_at_1=r.pass_at_1, pass_at_k=r.pass_at_k, tasks=r.tasks,
        generation_failures=r.generation_failures, wall_s=r.wall_s,
        per_task=json.loads(r.per_task_json), config=json.loads(r.config_json),
        created_at=r.created_at)
