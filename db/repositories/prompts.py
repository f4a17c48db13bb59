"""Models and prompt sets: registering models and importing prompt sets in one transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from arena.domain import ArenaError, Prompt
from db.repositories._base import RepositoryBase, dumps
from db.tables import GenerationRow, ModelRow, PromptRow, PromptSetRow


@dataclass(frozen=True)
class PromptIn:
    """A prompt as read from a file, before it has a database id."""

    external_id: str
    text: str
    messages: list[dict[str, str]] | None = None
    category: str | None = None
    language: str | None = None
    difficulty: str | None = None
    reference: str | None = None
    tests: str | None = None
    entry_point: str | None = None
    where: str = ""  # FILE:LINE, for messages

    def content_hash(self) -> str:
        body = dumps([self.text, self.messages, self.category, self.language, self.difficulty,
                      self.reference, self.tests, self.entry_point])
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class AnswerIn:
    """A recorded answer of a replay model to a prompt of the same file."""

    external_id: str
    model: str
    text: str
    where: str = ""


@dataclass
class ImportResult:
    set_name: str
    added: int = 0
    unchanged: int = 0
    updated: int = 0
    answers_added: int = 0
    answers_unchanged: int = 0
    models: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PromptSetInfo:
    name: str
    source: str | None
    prompts: int
    categories: dict[str, int]
    languages: dict[str, int]


class PromptRepository(RepositoryBase):
    def ensure_model(self, name: str, provider: str, endpoint_model: str | None,
                     config: dict[str, Any], session: Session | None = None) -> int:
        """The id of model ``name``, registering it (or refreshing its config) as needed."""
        if session is None:
            with self.session() as s:
                return self.ensure_model(name, provider, endpoint_model, config, s)
        row = session.exec(select(ModelRow).where(ModelRow.name == name)).first()
        text = dumps(config)
        if row is None:
            row = ModelRow(name=name, provider=provider, endpoint_model=endpoint_model,
                           config_json=text)
            session.add(row)
            session.flush()
        elif (row.provider, row.endpoint_model, row.config_json) != (provider, endpoint_model, text):
            row.provider, row.endpoint_model, row.config_json = provider, endpoint_model, text
            session.add(row)
        self._remember(row)
        assert row.id is not None
        return row.id

    def list_models(self) -> list[tuple[str, str, str | None]]:
        with Session(self.engine) as s:
            rows = s.exec(select(ModelRow).order_by(ModelRow.name)).all()
            return [(r.name, r.provider, r.endpoint_model) for r in rows]

    def import_prompts(self, set_name: str, source: str, prompts: list[PromptIn],
                       answers: list[AnswerIn] = ()) -> ImportResult:  # type: ignore[assignment]
        """Add a prompt set (and recorded answers) atomically; re-importing changes nothing.

        Raises ArenaError, naming the line, when a prompt or answer already stored with
        different content would have to be overwritten although answers depend on it.
        """
        result = ImportResult(set_name=set_name)
        with self.session() as s:
            pset = s.exec(select(PromptSetRow).where(PromptSetRow.name == set_name)).first()
            if pset is None:
                pset = PromptSetRow(name=set_name, source=source)
                s.add(pset)
                s.flush()
            existing = {r.external_id: r for r in
                        s.exec(select(PromptRow).where(PromptRow.set_id == pset.id)).all()}
            ids: dict[str, int] = {}
            for p in prompts:
                ids[p.external_id] = self._upsert_prompt(s, pset.id, p, existing.get(p.external_id), result)  # type: ignore[arg-type]
            for model in sorted({a.model for a in answers}):
                self.ensure_model(model, "replay", None, {"source": source}, s)
                result.models.append(model)
            for a in answers:
                self._upsert_answer(s, ids[a.external_id], a, result)
        return result

    def _upsert_prompt(self, s: Session, set_id: int, p: PromptIn, row: PromptRow | None,
                       result: ImportResult) -> int:
        digest = p.content_hash()
        if row is not None and row.content_hash == digest:
            result.unchanged += 1
            assert row.id is not None
            return row.id
        if row is not None:
            used = s.exec(select(func.count()).select_from(GenerationRow)
                          .where(GenerationRow.prompt_id == row.id)).one()
            if used:
                raise ArenaError(
                    f"{p.where}: prompt {p.external_id!r} differs from the one already imported "
                    "and models have answered it; give it a new id or import into a new --set")
            result.updated += 1
        else:
            row = PromptRow(set_id=set_id, external_id=p.external_id, text=p.text,
                            content_hash=digest)
            result.added += 1
        row.text, row.category, row.language = p.text, p.category, p.language
        row.messages_json = json.dumps(p.messages) if p.messages else None
        row.difficulty, row.reference, row.tests = p.difficulty, p.reference, p.tests
        row.entry_point, row.content_hash = p.entry_point, digest
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id

    def _upsert_answer(self, s: Session, prompt_id: int, a: AnswerIn, result: ImportResult) -> None:
        model_id = self._model_ids[a.model]
        row = s.exec(select(GenerationRow).where(
            GenerationRow.prompt_id == prompt_id, GenerationRow.model_id == model_id,
            GenerationRow.sample_index == 0)).first()
        if row is not None and row.text == a.text and row.error is None:
            result.answers_unchanged += 1
            return
        if row is not None and row.error is None:
            raise ArenaError(f"{a.where}: {a.model}'s answer to {a.external_id!r} differs from "
                             "the one already imported; import into a new --set")
        if row is None:
            row = GenerationRow(prompt_id=prompt_id, model_id=model_id)
        row.text, row.error, row.finish_reason, row.attempts = a.text, None, "stop", 1
        row.sampling_json = dumps({"replay": True})
        s.add(row)
        result.answers_added += 1

    def list_sets(self) -> list[PromptSetInfo]:
        with Session(self.engine) as s:
            out = []
            for pset in s.exec(select(PromptSetRow).order_by(PromptSetRow.name)).all():
                rows = s.exec(select(PromptRow.category, PromptRow.language)
                              .where(PromptRow.set_id == pset.id)).all()
                cats: dict[str, int] = {}
                langs: dict[str, int] = {}
                for cat, lang in rows:
                    cats[cat or "-"] = cats.get(cat or "-", 0) + 1
                    langs[lang or "-"] = langs.get(lang or "-", 0) + 1
                out.append(PromptSetInfo(pset.name, pset.source, len(rows), cats, langs))
            return out

    def prompts(self, set_name: str, *, category: str | None = None,
                language: str | None = None, limit: int | None = None) -> list[Prompt]:
        """The set's prompts in import order; raises ArenaError for an unknown set."""
        with Session(self.engine) as s:
            pset = s.exec(select(PromptSetRow).where(PromptSetRow.name == set_name)).first()
            if pset is None:
                known = ", ".join(r.name for r in s.exec(select(PromptSetRow)).all()) or "none"
                raise ArenaError(f"no prompt set named {set_name!r} (imported: {known}); "
                                 "import one with `arena prompts import FILE --set NAME`")
            q = select(PromptRow).where(PromptRow.set_id == pset.id)
            if category:
                q = q.where(PromptRow.category == category)
            if language:
                q = q.where(PromptRow.language == language)
            q = q.order_by(col(PromptRow.id))
            if limit:
                q = q.limit(limit)
            return [self._prompt(r, set_name) for r in s.exec(q).all()]

    def prompt(self, prompt_id: int) -> Prompt:
        with Session(self.engine) as s:
            row = s.get(PromptRow, prompt_id)
            if row is None:
                raise ArenaError(f"no prompt with id {prompt_id}")
            pset = s.get(PromptSetRow, row.set_id)
            return self._prompt(row, pset.name if pset else "?")
