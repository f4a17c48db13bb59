"""Turning "these models on that prompt set" into a concrete, resumable plan.

A plan is derived from the database on every run: what is already stored (successful
generations, votes) is not planned again, and what failed is. Pairing and left/right
sides are drawn from a seeded RNG per prompt, so the same command always yields the same
battles.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, field
from typing import Literal

from arena.config import ArenaConfig
from arena.domain import ArenaError, Generation, Prompt
from db.repositories import Store

Pairing = Literal["all", "sampled"]
JUDGE_OUTPUT_TOKENS = 700
DEFAULT_ANSWER_TOKENS = 400
JUDGE_SYSTEM_TOKENS = 330


@dataclass(frozen=True)
class PlannedBattle:
    prompt: Prompt
    model_a: str
    model_b: str


@dataclass
class Plan:
    models: list[str]
    set_name: str
    judge: str | None
    pairing: Pairing
    seed: int
    prompts: list[Prompt]
    battles: list[PlannedBattle]
    stored: dict[tuple[int, str], Generation]
    to_generate: list[tuple[Prompt, str]] = field(default_factory=list)
    games_done: int = 0
    estimates: dict[str, dict[str, float]] = field(default_factory=dict)
    preference: str | None = None  # --preference for the judge
    games_per_battle: int = 2  # of the judge: 2 for pairwise kinds, 1 for the others

    @property
    def fingerprint(self) -> str:
        judge = self.judge if self.preference is None else f"{self.judge}/{self.preference}"
        body = "|".join([",".join(sorted(self.models)), self.set_name, judge or "-",
                         self.pairing, str(self.seed), ",".join(str(p.id) for p in self.prompts)])
        return hashlib.sha256(body.encode()).hexdigest()[:32]


def pairs_for(prompt: Prompt, models: list[str], pairing: Pairing, seed: int) -> list[tuple[str, str]]:
    """The (left, right) model pairs that battle on ``prompt``."""
    rng = random.Random(f"{seed}:{prompt.set_name}:{prompt.external_id}")
    combos = list(itertools.combinations(sorted(models), 2))
    if pairing == "sampled":
        combos = [rng.choice(combos)]
    return [(x, y) if rng.random() < 0.5 else (y, x) for x, y in combos]


def make_plan(store: Store, config: ArenaConfig, models: list[str], set_name: str,
              judge: str | None, *, pairing: Pairing = "all", limit: int | None = None,
              seed: int = 0, category: str | None = None, language: str | None = None,
              preference: str | None = None) -> Plan:
    """Raises ArenaError for fewer than two models, duplicates, or an empty selection."""
    if len(models) < 2:
        raise ArenaError("--models: name at least two models, separated by commas")
    if len(set(models)) != len(models):
        raise ArenaError("--models: a model is named twice")
    replay = {name for name, provider, _ in store.list_models() if provider == "replay"}
    for m in models:
        if m not in config.models and m not in replay:
            config.model(m)  # raises ConfigError naming the file and the known models
    prompts = store.prompts(set_name, category=category, language=language, limit=limit)
    if not prompts:
        raise ArenaError(f"prompt set {set_name!r} has no prompts matching the filters")
    battles = [PlannedBattle(p, a, b) for p in prompts for a, b in pairs_for(p, models, pairing, seed)]
    stored = store.generations([p.id for p in prompts if p.id is not None], models)
    needed = {(b.prompt.id, m) for b in battles for m in (b.model_a, b.model_b)}
    to_generate = [(p, m) for p in prompts for m in models
                   if (p.id, m) in needed and not ((g := stored.get((p.id, m))) and g.ok)]  # type: ignore[arg-type]
    plan = Plan(models, set_name, judge, pairing, seed, prompts, battles, stored, to_generate,
                preference=preference)
    if judge is not None:
        from judges.registry import vote_name

        kind = config.judge(judge).kind
        plan.games_per_battle = 2 if kind in ("pairwise", "preference-model") else 1
        existing = store.find_battles([(b.prompt.id, b.model_a, b.model_b)  # type: ignore[misc]
                                        for b in battles])
        plan.games_done = len(store.voted_games(vote_name(config, judge, preference),
                                                [b.id for b in existing]))
    plan.estimates = estimate(plan, config)
    return plan


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def estimate(plan: Plan, config: ArenaConfig) -> dict[str, dict[str, float]]:
    """Calls, tokens and cost per model (and for the judge), before anything runs.

    Output tokens of a model not yet seen are guessed at DEFAULT_ANSWER_TOKENS (capped by
    its max_tokens); models with stored answers use their average.
    """
    avg: dict[str, int] = {}
    for m in plan.models:
        seen = [g.usage.completion_tokens or _tokens(g.text) for (pid, mm), g in plan.stored.items()
                if mm == m and g.ok]
        cap = config.models[m].max_tokens if m in config.models else DEFAULT_ANSWER_TOKENS
        avg[m] = int(sum(seen) / len(seen)) if seen else min(cap, DEFAULT_ANSWER_TOKENS)
    out: dict[str, dict[str, float]] = {}

    def add(label: str, model: str, calls: int, tok_in: int, tok_out: int) -> None:
        row = out.setdefault(label, {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
        row["calls"] += calls
        row["input_tokens"] += tok_in
        row["output_tokens"] += tok_out
        spec = config.models.get(model)
        if spec is not None and spec.price is not None:
            row["cost_usd"] += spec.price.cost(tok_in, tok_out)

    for prompt, model in plan.to_generate:
        add(model, model, 1, _tokens(prompt.text), avg[model])
    if plan.judge is not None:
        judge_model = config.judge(plan.judge).model
        games = max(0, plan.games_per_battle * len(plan.battles) - plan.games_done)
        if judge_model is None:  # execution, cascade, majority: no single judge model
            return out
        per_game_in = [JUDGE_SYSTEM_TOKENS + _tokens(b.prompt.text) + avg[b.model_a] + avg[b.model_b]
                       for b in plan.battles]
        mean_in = int(sum(per_game_in) / max(1, len(per_game_in)))
        add(f"judge {plan.judge} ({judge_model})", judge_model, games, games * mean_in, games * JUDGE_OUTPUT_TOKENS)
    return out
