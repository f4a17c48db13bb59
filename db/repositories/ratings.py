"""Single-answer judge scores: one row per (generation, judge), failures included.

A failed rating is stored with a NULL score and its error, so a report can count it (the
reference judge's benchmark rule scores it 0) and the next run can try it again; a
successful rating is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from arena.domain import AnswerRating, Usage
from db.repositories._base import RepositoryBase
from db.tables import AnswerRatingRow, GenerationRow, ModelRow, PromptRow, utcnow


@dataclass(frozen=True)
class RatedAnswer:
    """A rating with what a report groups it by."""

    rating: AnswerRating
    model: str
    prompt_id: int
    category: str | None
    language: str | None


class RatingRepository(RepositoryBase):
    def answer_ratings(self, judge_name: str,
                       generation_ids: list[int] | None = None) -> dict[int, AnswerRating]:
        """The judge's ratings by generation id (failed ones included)."""
        out: dict[int, AnswerRating] = {}
        with Session(self.engine) as s:
            q = select(AnswerRatingRow).where(AnswerRatingRow.judge_name == judge_name)
            if generation_ids is None:
                out.update((r.generation_id, _rating(r)) for r in s.exec(q).all())
                return out
            for i in range(0, len(generation_ids), 500):
                chunk = generation_ids[i:i + 500]
                rows = s.exec(q.where(col(AnswerRatingRow.generation_id).in_(chunk))).all()
                out.update((r.generation_id, _rating(r)) for r in rows)
        return out

    def save_answer_rating(self, rating: AnswerRating) -> bool:
        """Store a rating. A failed rating already stored is replaced (its attempts add up);
        a successful one is kept. Returns False when a successful rating was already there."""
        with self.session() as s:
            row = s.exec(select(AnswerRatingRow).where(
                AnswerRatingRow.generation_id == rating.generation_id,
                AnswerRatingRow.judge_name == rating.judge_name)).first()
            if row is not None and row.score is not None:
                return False
            attempts = (row.attempts if row is not None else 0) + 1
            values: dict[str, Any] = dict(
                judge_kind=rating.judge_kind, preference=rating.preference, score=rating.score,
                scale_max=rating.scale_max, rationale=rating.rationale, raw=rating.raw,
                error=rating.error, attempts=attempts, prompt_tokens=rating.usage.prompt_tokens,
                completion_tokens=rating.usage.completion_tokens, cost_usd=rating.usage.cost_usd,
                created_at=utcnow())
            if row is None:
                s.add(AnswerRatingRow(generation_id=rating.generation_id,
                                      judge_name=rating.judge_name, **values))
            else:
                s.execute(update(AnswerRatingRow).where(
                    col(AnswerRatingRow.id) == row.id).values(**values))
        return True

    def rated_answers(self, judge_name: str | None = None) -> list[RatedAnswer]:
        """Every rating (of one judge, or all) with its model and prompt's category."""
        with Session(self.engine) as s:
            q = (select(AnswerRatingRow, ModelRow.name, PromptRow.id, PromptRow.category,  # type: ignore[call-overload]
                        PromptRow.language)
                 .join(GenerationRow, col(GenerationRow.id) == AnswerRatingRow.generation_id)
                 .join(ModelRow, col(ModelRow.id) == GenerationRow.model_id)
                 .join(PromptRow, col(PromptRow.id) == GenerationRow.prompt_id))
            if judge_name is not None:
                q = q.where(AnswerRatingRow.judge_name == judge_name)
            rows = s.exec(q.order_by(AnswerRatingRow.judge_name, AnswerRatingRow.id)).all()
        return [RatedAnswer(_rating(r), model, pid, cat, lang)
                for r, model, pid, cat, lang in rows]


def _rating(r: AnswerRatingRow) -> AnswerRating:
    return AnswerRating(
        generation_id=r.generation_id, judge_name=r.judge_name, judge_kind=r.judge_kind,
        score=r.score, scale_max=r.scale_max, preference=r.preference, rationale=r.rationale,
        raw=r.raw, error=r.error, id=r.id, created_at=r.created_at,
        usage=Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                    cost_usd=r.cost_usd))
