"""Shared plumbing for the repositories: sessions and row-to-domain converters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from arena.domain import Battle, Generation, Prompt, Usage
from db.tables import BattleRow, GenerationRow, ModelRow, PromptRow


class RepositoryBase:
    """Holds the engine and a cache of model names and ids (names never change)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._model_ids: dict[str, int] = {}
        self._model_names: dict[int, str] = {}

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose changes are committed on success and rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                # ids remembered during this session may belong to rolled-back rows
                self._model_ids.clear()
                self._model_names.clear()
                raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def model_name(self, model_id: int) -> str:
        if model_id not in self._model_names:
            with Session(self.engine) as s:
                row = s.get(ModelRow, model_id)
                if row is None:
                    raise KeyError(model_id)
                self._remember(row)
        return self._model_names[model_id]

    def model_id(self, name: str) -> int | None:
        if name not in self._model_ids:
            with Session(self.engine) as s:
                row = s.exec(select(ModelRow).where(ModelRow.name == name)).first()
                if row is None:
                    return None
                self._remember(row)
        return self._model_ids[name]

    def _remember(self, row: ModelRow) -> None:
        assert row.id is not None
        self._model_ids[row.name] = row.id
        self._model_names[row.id] = row.name

    def _prompt(self, row: PromptRow, set_name: str) -> Prompt:
        assert row.id is not None
        return Prompt(
            id=row.id,
            external_id=row.external_id,
            set_name=set_name,
            text=row.text,
            messages=json.loads(row.messages_json) if row.messages_json else None,
            category=row.category,
            language=row.language,
            difficulty=row.difficulty,
            reference=row.reference,
            tests=row.tests,
            entry_point=row.entry_point,
        )

    def _generation(self, row: GenerationRow) -> Generation:
        assert row.id is not None
        return Generation(
            id=row.id,
            prompt_id=row.prompt_id,
            model=self.model_name(row.model_id),
            text=row.text,
            usage=Usage(
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                ttft_s=row.ttft_s,
                latency_s=row.latency_s,
                cost_usd=row.cost_usd,
            ),
            sampling=json.loads(row.sampling_json),
            error=row.error,
            finish_reason=row.finish_reason,
            created_at=row.created_at,
            messages=json.loads(row.messages_json) if row.messages_json else None,
        )

    def _battle(self, row: BattleRow) -> Battle:
        assert row.id is not None
        return Battle(
            id=row.id,
            prompt_id=row.prompt_id,
            model_a=self.model_name(row.model_a_id),
            model_b=self.model_name(row.model_b_id),
            generation_a_id=row.generation_a_id,
            generation_b_id=row.generation_b_id,
            status=row.status,
            created_at=row.created_at,
        )


def dumps(value: Any) -> str:
    """Canonical JSON used for stored configs, so equal inputs give equal text."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
