"""Generations, battles, votes, judge failures and runs: the writes of a tournament.

Each finished unit of work is committed on its own, so an interrupted run keeps all it
finished; the unique constraints in :mod:`db.tables` make re-running safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from arena.domain import ArenaError, Battle, Generation, Outcome, Prompt, Usage, Vote
from db.repositories._base import RepositoryBase, dumps
from db.tables import (
    BattleRow,
    GenerationRow,
    JudgeFailureRow,
    PromptRow,
    RunRow,
    VoteRow,
    utcnow,
)


@dataclass(frozen=True)
class BattleDetail:
    battle: Battle
    prompt: Prompt
    generation_a: Generation | None
    generation_b: Generation | None
    votes: list[Vote]
    failures: list[tuple[str, int, str]]  # (judge, game, error)


def pair_key(model_x: str, model_y: str) -> str:
    """The unordered identity of a pair of models."""
    lo, hi = sorted((model_x, model_y))
    return f"{lo}\x1f{hi}"


class BattleRepository(RepositoryBase):
    # -- generations -----------------------------------------------------------------
    def generations(self, prompt_ids: list[int], models: list[str]) -> dict[tuple[int, str], Generation]:
        """Stored generations (sample 0), keyed by (prompt id, model name)."""
        model_ids = [i for i in (self.model_id(m) for m in models) if i is not None]
        out: dict[tuple[int, str], Generation] = {}
        if not model_ids or not prompt_ids:
            return out
        with Session(self.engine) as s:
            for chunk in _chunks(prompt_ids, 500):
                rows = s.exec(select(GenerationRow).where(
                    GenerationRow.prompt_id.in_(chunk),  # type: ignore[attr-defined]
                    GenerationRow.model_id.in_(model_ids),  # type: ignore[attr-defined]
                    GenerationRow.sample_index == 0)).all()
                for r in rows:
                    g = self._generation(r)
                    out[(g.prompt_id, g.model)] = g
        return out

    def generation(self, generation_id: int) -> Generation:
        with Session(self.engine) as s:
            row = s.get(GenerationRow, generation_id)
            if row is None:
                raise ArenaError(f"no generation with id {generation_id}")
            return self._generation(row)

    def next_sample_index(self, prompt_id: int, model: str) -> int:
        """The first free sample slot of (prompt, model): live battles take a fresh one."""
        from sqlalchemy import func

        model_id = self.model_id(model)
        with Session(self.engine) as s:
            top = s.exec(select(func.max(GenerationRow.sample_index)).where(
                GenerationRow.prompt_id == prompt_id, GenerationRow.model_id == model_id)).one()
        return 0 if top is None else int(top) + 1

    def save_generation(self, prompt_id: int, model: str, text: str, usage: Usage,
                        sampling: dict[str, Any], error: str | None,
                        finish_reason: str | None, sample_index: int = 0,
                        messages: list[dict[str, str]] | None = None) -> Generation:
        """Record an answer or a failure. A stored success is never replaced by a failure."""
        model_id = self.model_id(model)
        if model_id is None:
            raise ArenaError(f"model {model!r} is not registered")
        with self.session() as s:
            row = s.exec(select(GenerationRow).where(
                GenerationRow.prompt_id == prompt_id, GenerationRow.model_id == model_id,
                GenerationRow.sample_index == sample_index)).first()
            if row is not None and row.error is None:
                return self._generation(row)
            if row is None:
                row = GenerationRow(prompt_id=prompt_id, model_id=model_id,
                                    sample_index=sample_index)
            row.text, row.error, row.finish_reason = text, error, finish_reason
            row.messages_json = json.dumps(messages, ensure_ascii=False) if messages else None
            row.sampling_json = dumps(sampling)
            row.prompt_tokens, row.completion_tokens = usage.prompt_tokens, usage.completion_tokens
            row.ttft_s, row.latency_s, row.cost_usd = usage.ttft_s, usage.latency_s, usage.cost_usd
            row.attempts += 1
            row.created_at = utcnow()
            s.add(row)
            s.flush()
            return self._generation(row)

    # -- battles ---------------------------------------------------------------------
    def ensure_battles(self, specs: list[tuple[int, str, str]], run_id: int | None,
                       slot: str = "batch") -> list[Battle]:
        """Create the battles (prompt id, left model, right model) that do not exist yet.

        An existing battle for the same prompt and pair keeps its original sides.
        """
        out: list[Battle] = []
        with self.session() as s:
            existing: dict[tuple[int, str], BattleRow] = {}
            prompt_ids = sorted({p for p, _, _ in specs})
            for chunk in _chunks(prompt_ids, 500):
                for found in s.exec(select(BattleRow).where(
                        BattleRow.prompt_id.in_(chunk), BattleRow.slot == slot)).all():  # type: ignore[attr-defined]
                    existing[(found.prompt_id, found.pair_key)] = found
            for prompt_id, left, right in specs:
                key = pair_key(left, right)
                row = existing.get((prompt_id, key))
                if row is None:
                    row = BattleRow(prompt_id=prompt_id, model_a_id=self._known_model(left),
                                    model_b_id=self._known_model(right), pair_key=key, slot=slot,
                                    run_id=run_id)
                    s.add(row)
                    s.flush()
                    existing[(prompt_id, key)] = row
                out.append(self._battle(row))
        return out

    def _known_model(self, name: str) -> int:
        model_id = self.model_id(name)
        if model_id is None:
            raise ArenaError(f"model {name!r} is not in the database yet: its battles can be "
                             "created once it has been registered (ensure_model)")
        return model_id

    def find_battles(self, specs: list[tuple[int, str, str]], slot: str = "batch") -> list[Battle]:
        """The existing battles among ``specs`` (prompt id, model, model); creates nothing."""
        wanted = {(p, pair_key(a, b)) for p, a, b in specs}
        out = []
        with Session(self.engine) as s:
            for chunk in _chunks(sorted({p for p, _ in wanted}), 500):
                for row in s.exec(select(BattleRow).where(
                        BattleRow.prompt_id.in_(chunk), BattleRow.slot == slot)).all():  # type: ignore[attr-defined]
                    if (row.prompt_id, row.pair_key) in wanted:
                        out.append(self._battle(row))
        return out

    def set_battle_generations(self, battle_id: int, generation_a_id: int | None,
                               generation_b_id: int | None, status: str,
                               style: tuple[int, ...] | None = None) -> Battle:
        """Attach the two answers; ``style`` is (tokens, headers, lists, bold) of A then B."""
        with self.session() as s:
            row = s.get(BattleRow, battle_id)
            if row is None:
                raise ArenaError(f"no battle with id {battle_id}")
            row.generation_a_id, row.generation_b_id, row.status = (
                generation_a_id, generation_b_id, status)
            if style is not None:
                (row.a_tokens, row.a_headers, row.a_lists, row.a_bold, row.b_tokens,
                 row.b_headers, row.b_lists, row.b_bold) = style
            s.add(row)
            return self._battle(row)

    def battles(self, *, set_name: str | None = None, status: str | None = None,
                ids: list[int] | None = None) -> list[Battle]:
        from db.tables import PromptSetRow

        with Session(self.engine) as s:
            q = select(BattleRow)
            if set_name is not None:
                q = q.join(PromptRow, PromptRow.id == BattleRow.prompt_id).join(  # type: ignore[arg-type]
                    PromptSetRow, PromptSetRow.id == PromptRow.set_id).where(  # type: ignore[arg-type]
                    PromptSetRow.name == set_name)
            if status is not None:
                q = q.where(BattleRow.status == status)
            if ids is not None:
                q = q.where(BattleRow.id.in_(ids))  # type: ignore[union-attr]
            return [self._battle(r) for r in s.exec(q.order_by(col(BattleRow.id))).all()]

    def battle_detail(self, battle_id: int) -> BattleDetail:
        with Session(self.engine) as s:
            row = s.get(BattleRow, battle_id)
            if row is None:
                raise ArenaError(f"no battle with id {battle_id}; `arena battles list` shows them")
            battle = self._battle(row)
            ga = s.get(GenerationRow, row.generation_a_id) if row.generation_a_id else None
            gb = s.get(GenerationRow, row.generation_b_id) if row.generation_b_id else None
            fails = s.exec(select(JudgeFailureRow).where(JudgeFailureRow.battle_id == battle_id)
                           .order_by(col(JudgeFailureRow.id))).all()
            return BattleDetail(
                battle=battle,
                prompt=self.prompt(row.prompt_id),  # type: ignore[attr-defined]
                generation_a=self._generation(ga) if ga else None,
                generation_b=self._generation(gb) if gb else None,
                votes=self.votes(battle_ids=[battle_id]),
                failures=[(f.judge_name, f.game, f.error) for f in fails],
            )

    # -- votes -----------------------------------------------------------------------
    def add_vote(self, vote: Vote) -> bool:
        """Store a vote; False when the same (battle, judge, voter, game) is already stored."""
        values = dict(
            battle_id=vote.battle_id, judge_kind=vote.judge_kind, judge_name=vote.judge_name,
            voter=vote.voter or "", outcome=vote.outcome.value, strength=vote.strength,
            game=vote.game, raw=vote.raw, rationale=vote.rationale,
            prompt_tokens=vote.usage.prompt_tokens, completion_tokens=vote.usage.completion_tokens,
            cost_usd=vote.usage.cost_usd, created_at=vote.created_at or utcnow(),
            probability=vote.probability)
        try:
            # a Core insert: votes land by the hundred per second during a judging run, and
            # the ORM's unit of work cost more than the commit itself
            with self.engine.begin() as conn:
                conn.execute(insert(VoteRow), values)
        except IntegrityError:
            with Session(self.engine) as s:
                exists = s.exec(select(VoteRow.id).where(
                    VoteRow.battle_id == vote.battle_id, VoteRow.judge_name == vote.judge_name,
                    VoteRow.voter == (vote.voter or ""), VoteRow.game == vote.game)).first()
            if exists is None:
                raise  # not a duplicate: a broken reference, which is a bug worth seeing
            return False
        return True

    def voted_games(self, judge_name: str, battle_ids: list[int]) -> set[tuple[int, int]]:
        """(battle id, game) pairs that ``judge_name`` has already voted on."""
        out: set[tuple[int, int]] = set()
        with Session(self.engine) as s:
            for chunk in _chunks(battle_ids, 500):
                rows = s.exec(select(VoteRow.battle_id, VoteRow.game).where(
                    VoteRow.judge_name == judge_name, VoteRow.battle_id.in_(chunk))).all()  # type: ignore[attr-defined]
                out.update((b, g) for b, g in rows)
        return out

    def votes(self, *, battle_ids: list[int] | None = None,
              judge_names: list[str] | None = None) -> list[Vote]:
        with Session(self.engine) as s:
            q = select(VoteRow)
            if battle_ids is not None:
                q = q.where(VoteRow.battle_id.in_(battle_ids))  # type: ignore[attr-defined]
            if judge_names is not None:
                q = q.where(VoteRow.judge_name.in_(judge_names))  # type: ignore[attr-defined]
            return [_vote(r) for r in s.exec(q.order_by(col(VoteRow.judge_name), col(VoteRow.voter), col(VoteRow.game), col(VoteRow.id))).all()]

    def add_judge_failure(self, battle_id: int, judge_name: str, game: int, error: str,
                          raw: str | None, usage: Usage) -> None:
        with self.session() as s:
            s.add(JudgeFailureRow(battle_id=battle_id, judge_name=judge_name, game=game,
                                  error=error, raw=raw, prompt_tokens=usage.prompt_tokens,
                                  completion_tokens=usage.completion_tokens,
                                  cost_usd=usage.cost_usd))

    # -- runs ------------------------------------------------------------------------
    def start_run(self, fingerprint: str, kind: str, config: dict[str, Any]) -> int:
        """The run with this fingerprint, created or marked running again (resume)."""
        with self.session() as s:
            row = s.exec(select(RunRow).where(RunRow.fingerprint == fingerprint)).first()
            if row is None:
                row = RunRow(fingerprint=fingerprint, kind=kind, config_json=dumps(config))
            row.status, row.updated_at, row.finished_at = "running", utcnow(), None
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

    def finish_run(self, run_id: int, status: str, counts: dict[str, Any]) -> None:
        with self.session() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                return
            row.status, row.counts_json = status, dumps(counts)
            row.updated_at = row.finished_at = utcnow()
            s.add(row)

    def runs(self) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            return [{"id": r.id, "kind": r.kind, "status": r.status,
                     "config": json.loads(r.config_json), "counts": json.loads(r.counts_json),
                     "started_at": r.started_at, "finished_at": r.finished_at}
                    for r in s.exec(select(RunRow).order_by(col(RunRow.id))).all()]


def _vote(r: VoteRow) -> Vote:
    return Vote(
        id=r.id, battle_id=r.battle_id, judge_kind=r.judge_kind, judge_name=r.judge_name,
        outcome=Outcome(r.outcome), strength=r.strength, game=r.game, raw=r.raw,
        rationale=r.rationale, voter=r.voter or None, created_at=r.created_at,
        usage=Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                    cost_usd=r.cost_usd),
        probability=r.probability)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
