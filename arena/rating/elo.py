"""Online Elo as Chatbot Arena defines it: battles replayed in time order.

Defaults K=4, base 10, scale 400, initial 1000; a tie or a both-bad outcome scores half a
win for each side. Pure: the same sequence and parameters give the same ratings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}


@dataclass(frozen=True)
class EloParams:
    k: float = 4.0
    base: float = 10.0
    scale: float = 400.0
    initial: float = 1000.0


def online_elo(battles: Iterable[tuple[str, str, str]], params: EloParams = EloParams()) -> dict[str, float]:
    """Ratings after replaying (model_a, model_b, outcome) triples in the given order."""
    rating: dict[str, float] = {}
    for a, b, outcome in battles:
        ra = rating.setdefault(a, params.initial)
        rb = rating.setdefault(b, params.initial)
        expected_a = 1.0 / (1.0 + params.base ** ((rb - ra) / params.scale))
        score_a = SCORE[outcome]
        rating[a] = ra + params.k * (score_a - expected_a)
        rating[b] = rb + params.k * ((1.0 - score_a) - (1.0 - expected_a))
    return rating
