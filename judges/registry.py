"""Build a judge from its ``[judges.NAME]`` table."""

from __future__ import annotations

from arena.config import ArenaConfig
from arena.providers.registry import build_provider
from judges.base import Judge
from judges.pairwise import PairwiseJudge


def build_judge(config: ArenaConfig, name: str) -> Judge:
    """Raises ConfigError for an unknown judge or a judge whose model cannot be built."""
    spec = config.judge(name)
    provider = build_provider(config, spec.model)
    return PairwiseJudge(name, provider, temperature=spec.temperature,
                         max_tokens=spec.max_tokens, max_attempts=spec.max_attempts)
