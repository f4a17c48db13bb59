"""Repositories: the only code that writes to the database. They return domain objects."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from db.repositories.battles import BattleDetail, BattleRepository, pair_key
from db.repositories.browse import BrowseRepository
from db.repositories.bulk import BulkRepository
from db.repositories.evals import EvalRepository
from db.repositories.prompts import (
    AnswerIn,
    ImportResult,
    PromptIn,
    PromptRepository,
    PromptSetInfo,
)
from db.repositories.ratings import RatedAnswer, RatingRepository
from db.repositories.stats import StatsRepository


class Store(PromptRepository, BattleRepository, StatsRepository, BulkRepository, BrowseRepository,
            RatingRepository, EvalRepository):
    """All repositories over one engine."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)


__all__ = ["AnswerIn", "BattleDetail", "ImportResult", "PromptIn", "PromptSetInfo", "RatedAnswer", "Store",
           "pair_key"]
