"""Running a tournament: generate every needed answer once, pair, judge twice, store.

Work is a graph of asyncio tasks: one task per missing generation (shared by every battle
that needs it), one per battle that waits for its two generations and then plays the
judge's games. A global semaphore caps calls in flight; each provider also caps its own
model. Every finished generation, vote and failure is committed as it lands, so an
interrupted run loses nothing it finished, and :func:`make_plan` skips it next time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.config import ArenaConfig
from arena.domain import AnswerRating, Battle, Generation, Prompt, Usage, Vote
from arena.providers import vllm_offline
from arena.providers.base import ChatRequest, Provider, ProviderError, complete
from arena.providers.registry import build_provider
from arena.services.planning import Plan
from arena.services.scoring import is_answer_judge, score_battles
from db.repositories import Store
from judges.base import AnswerJudge, Judge, JudgeFailure
from judges.combine import close_judge
from judges.registry import build_judge


@dataclass(frozen=True)
class Progress:
    """One unit of work finished: kind is generation, battle, vote or failure."""

    kind: str
    ok: bool
    detail: str = ""


@dataclass
class RunSummary:
    run_id: int
    battles: int = 0
    ready: int = 0
    void: int = 0
    generated: int = 0
    generation_failures: int = 0
    votes_new: int = 0
    votes_existing: int = 0
    judge_failures: int = 0
    scored: int = 0  # answers an answer judge scored
    skipped: int = 0  # battles the judge cannot judge (no tests, no reference answer)
    usage: Usage = field(default_factory=Usage)
    wall_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "battles": self.battles, "ready": self.ready,
            "void": self.void, "generated": self.generated,
            "generation_failures": self.generation_failures, "votes_new": self.votes_new,
            "votes_existing": self.votes_existing, "judge_failures": self.judge_failures,
            "scored": self.scored, "skipped": self.skipped,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost_usd": round(self.usage.cost_usd or 0.0, 6), "wall_s": round(self.wall_s, 3),
            "errors": dict(self.errors.most_common(10)),
        }


ProviderFactory = Callable[[ArenaConfig, str], Provider]
JudgeFactory = Callable[..., Judge | AnswerJudge]


class BattleRunner:
    """Executes a :class:`Plan`. Providers and judges are built by the factories passed in."""

    def __init__(self, store: Store, config: ArenaConfig, *,
                 provider_factory: ProviderFactory | None = None,
                 judge_factory: JudgeFactory | None = None,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.store = store
        self.config = config
        self._provider_factory = provider_factory
        self._judge_factory = judge_factory or build_judge
        self._progress = on_progress or (lambda _p: None)

    def _provider(self, name: str, replay_models: set[str]) -> Provider:
        if self._provider_factory is not None:
            return self._provider_factory(self.config, name)
        return build_provider(self.config, name, known_replay=replay_models)

    def register_models(self, models: list[str]) -> set[str]:
        """Record configured models in the database; returns the imported replay models."""
        known = {name: provider for name, provider, _ in self.store.list_models()}
        replay = {m for m in models if m not in self.config.models and known.get(m) == "replay"}
        for m in models:
            if m in self.config.models:
                spec = self.config.models[m]
                self.store.ensure_model(m, spec.provider, spec.endpoint_model,
                                        spec.model_dump(exclude={"name"}, mode="json"))
            elif m not in replay:
                self.config.model(m)  # raises: unknown model
        return replay

    def _judge(self, name: str, preference: str | None) -> Judge | AnswerJudge:
        if preference is None:
            return self._judge_factory(self.config, name)
        return self._judge_factory(self.config, name, preference)

    async def run(self, plan: Plan, *, concurrency: int = 32) -> RunSummary:
        started = time.perf_counter()
        replay = self.register_models(plan.models)
        providers = {m: self._provider(m, replay) for m in plan.models}
        any_judge = self._judge(plan.judge, plan.preference) if plan.judge else None
        answer_judge = any_judge if is_answer_judge(any_judge) else None
        judge: Judge | None = None if answer_judge is not None else any_judge  # type: ignore[assignment]
        run_id = self.store.start_run(plan.fingerprint, "battle", {
            "models": plan.models, "set": plan.set_name, "judge": plan.judge,
            "pairing": plan.pairing, "seed": plan.seed, "prompts": len(plan.prompts)})
        summary = RunSummary(run_id=run_id)
        battles = self.store.ensure_battles(
            [(b.prompt.id, b.model_a, b.model_b) for b in plan.battles], run_id)  # type: ignore[misc]
        summary.battles = len(battles)
        prompts = {p.id: p for p in plan.prompts}
        gate = asyncio.Semaphore(concurrency)
        gen_tasks: dict[tuple[int | None, str], asyncio.Task[Generation]] = {}
        for key, g in plan.stored.items():
            if g.ok:
                gen_tasks[key] = _done(g)

        def generation(prompt: Prompt, model: str) -> asyncio.Task[Generation]:
            key = (prompt.id, model)
            if key not in gen_tasks:
                gen_tasks[key] = asyncio.ensure_future(
                    self._generate(providers[model], prompt, model, gate, summary))
            return gen_tasks[key]

        status = "interrupted"
        try:
            for model in plan.models:  # vLLM offline (a path, no server): one batch per model
                spec = self.config.models.get(model)
                todo = [p for p, m in plan.to_generate if m == model]
                if self._provider_factory is None and spec and todo and vllm_offline.batch_ready(spec):
                    await providers[model].aclose()
                    providers[model] = await vllm_offline.batch_provider(
                        spec, [(p.external_id, p.as_messages()) for p in todo])
            await asyncio.gather(*(self._battle(b, prompts[b.prompt_id], generation, judge, gate,
                                                summary) for b in battles))
            if answer_judge is not None:
                ready = [b for b in self.store.find_battles(
                    [(b.prompt.id, b.model_a, b.model_b) for b in plan.battles])  # type: ignore[misc]
                    if b.status == "ready"]
                await score_battles(self.store, answer_judge, ready,  # type: ignore[arg-type]
                                    self._battle_texts(ready, plan.set_name), gate, summary,
                                    self._progress)
            status = "finished"
        finally:
            for t in gen_tasks.values():
                t.cancel()
            for p in providers.values():
                await p.aclose()
            if any_judge is not None:
                await close_judge(any_judge)
            summary.wall_s = time.perf_counter() - started
            self.store.finish_run(run_id, status, summary.as_dict())
        return summary

    async def judge_battles(self, judge_name: str, *, set_name: str | None = None,
                            concurrency: int = 32, preference: str | None = None) -> RunSummary:
        """Play the games ``judge_name`` has not played on ready battles (``arena judge run``);
        an answer judge scores the answers that lack a score and derives the votes."""
        started = time.perf_counter()
        any_judge = self._judge(judge_name, preference)
        battles = self.store.battles(set_name=set_name, status="ready")
        if is_answer_judge(any_judge):
            return await self._score_run(any_judge, judge_name, battles, set_name,  # type: ignore[arg-type]
                                         concurrency, started)
        judge: Judge = any_judge  # type: ignore[assignment]
        done = self.store.voted_games(judge.name, [b.id for b in battles])
        todo = [b for b in battles if any((b.id, g) not in done for g in range(judge.games))]
        run_id = self.store.start_run(f"judge:{judge.name}:{set_name or '*'}", "judge",
                                      {"judge": judge_name, "set": set_name,
                                       "stored_as": judge.name})
        summary = RunSummary(run_id=run_id, battles=len(battles), ready=len(battles),
                             votes_existing=len(done))
        gate = asyncio.Semaphore(concurrency)
        status = "interrupted"
        try:
            jobs = []
            texts = self._battle_texts(todo, set_name)
            for b in todo:
                prompt, text_a, text_b = texts[b.id]
                jobs += [self._game(judge, b, prompt, text_a, text_b, g, gate, summary)
                         for g in range(judge.games) if (b.id, g) not in done]
            self._progress(Progress("total", True, str(len(jobs))))
            await asyncio.gather(*jobs)
            status = "finished"
        finally:
            await close_judge(judge)
            summary.wall_s = time.perf_counter() - started
            self.store.finish_run(run_id, status, summary.as_dict())
        return summary

    async def _score_run(self, judge: AnswerJudge, judge_name: str, battles: list[Battle],
                         set_name: str | None, concurrency: int, started: float) -> RunSummary:
        run_id = self.store.start_run(f"judge:{judge.name}:{set_name or '*'}", "judge",
                                      {"judge": judge_name, "set": set_name,
                                       "stored_as": judge.name})
        summary = RunSummary(run_id=run_id, battles=len(battles), ready=len(battles))
        status = "interrupted"
        try:
            await score_battles(self.store, judge, battles, self._battle_texts(battles, set_name),
                                asyncio.Semaphore(concurrency), summary, self._progress)
            status = "finished"
        finally:
            await close_judge(judge)
            summary.wall_s = time.perf_counter() - started
            self.store.finish_run(run_id, status, summary.as_dict())
        return summary

    def _battle_texts(self, battles: list[Battle],
                      set_name: str | None) -> dict[int, tuple[Prompt, str, str]]:
        """Each battle's prompt and two answers, in a few bulk queries rather than a
        ``battle_detail`` (three sessions, seven queries) per battle, which held the first
        judge call back by about a millisecond per battle."""
        if not battles:
            return {}
        prompts = {p.id: p for p in self.store.prompts(set_name)} if set_name else {}
        for prompt_id in {b.prompt_id for b in battles} - prompts.keys():
            prompts[prompt_id] = self.store.prompt(prompt_id)
        gens = self.store.generations(sorted({b.prompt_id for b in battles}),
                                      sorted({m for b in battles for m in (b.model_a, b.model_b)}))
        out: dict[int, tuple[Prompt, str, str]] = {}
        for b in battles:
            prompt = prompts[b.prompt_id]
            ga, gb = gens.get((b.prompt_id, b.model_a)), gens.get((b.prompt_id, b.model_b))
            if ga is None or gb is None or (ga.id, gb.id) != (b.generation_a_id, b.generation_b_id):
                detail = self.store.battle_detail(b.id)  # not the stored sample-0 answers
                prompt, ga, gb = detail.prompt, detail.generation_a, detail.generation_b
            assert ga is not None and gb is not None
            turns = len(prompt.as_messages())
            out[b.id] = (prompt, ga.transcript(turns), gb.transcript(turns))
        return out

    async def _generate(self, provider: Provider, prompt: Prompt, model: str,
                        gate: asyncio.Semaphore, summary: RunSummary) -> Generation:
        spec = self.config.models.get(model)
        sampling = spec.sampling() if spec else {}
        request = ChatRequest(messages=prompt.as_messages(), prompt_key=prompt.external_id)
        async with gate:
            try:
                done = await complete(provider, request)
            except ProviderError as exc:
                gen = self.store.save_generation(prompt.id, model, "", exc.usage, sampling,  # type: ignore[arg-type]
                                                 str(exc), None)
                summary.generation_failures += 1
                summary.errors[_short(str(exc))] += 1
                self._progress(Progress("generation", False, str(exc)))
                return gen
        gen = self.store.save_generation(prompt.id, model, done.text, done.usage, sampling,  # type: ignore[arg-type]
                                         None, done.finish_reason)
        summary.generated += 1
        summary.usage = summary.usage + done.usage
        self._progress(Progress("generation", True, model))
        return gen

    async def _battle(self, battle: Battle, prompt: Prompt,
                      generation: Callable[[Prompt, str], asyncio.Task[Generation]],
                      judge: Judge | None, gate: asyncio.Semaphore, summary: RunSummary) -> None:
        ga, gb = await asyncio.gather(generation(prompt, battle.model_a),
                                      generation(prompt, battle.model_b))
        if not (ga.ok and gb.ok):
            self.store.set_battle_generations(battle.id, ga.id, gb.id, "void")
            summary.void += 1
            self._progress(Progress("battle", False, f"battle {battle.id} void"))
            return
        if (battle.status, battle.generation_a_id, battle.generation_b_id) != ("ready", ga.id, gb.id):
            battle = self.store.set_battle_generations(battle.id, ga.id, gb.id, "ready",
                                                       style=style_of(ga) + style_of(gb))
        summary.ready += 1
        self._progress(Progress("battle", True, str(battle.id)))
        if judge is None:
            return
        done = self.store.voted_games(judge.name, [battle.id])
        summary.votes_existing += len(done)
        await asyncio.gather(*(self._game(judge, battle, prompt, ga.text, gb.text, game, gate, summary)
                               for game in range(judge.games) if (battle.id, game) not in done))

    async def _game(self, judge: Judge, battle: Battle, prompt: Prompt, answer_a: str,
                    answer_b: str, game: int, gate: asyncio.Semaphore, summary: RunSummary) -> None:
        async with gate:
            try:
                verdict = await judge.judge(prompt, answer_a, answer_b, game)
            except JudgeFailure as exc:
                self.store.add_judge_failure(battle.id, judge.name, game, str(exc), exc.raw, exc.usage)
                summary.judge_failures += 1
                summary.usage = summary.usage + exc.usage
                summary.errors[_short(str(exc))] += 1
                self._progress(Progress("vote", False, str(exc)))
                return
        summary.usage = summary.usage + verdict.usage
        stored = self.store.add_vote(Vote(
            battle_id=battle.id, judge_kind=judge.kind, judge_name=judge.name,
            outcome=verdict.outcome, strength=verdict.strength, game=game, raw=verdict.raw,
            rationale=verdict.rationale, usage=verdict.usage, probability=verdict.probability))
        if stored:
            summary.votes_new += 1
        else:
            summary.votes_existing += 1
        for s in verdict.answer_scores:  # an answer judge inside a cascade/majority: its ratings
            gid = battle.generation_a_id if s.side == "a" else battle.generation_b_id
            if gid is not None:  # usage stays on the vote: counted once
                self.store.save_answer_rating(AnswerRating(
                    generation_id=gid, judge_name=s.judge_name, judge_kind=s.judge_kind,
                    score=s.score, scale_max=s.scale_max, preference=s.preference,
                    rationale=s.rationale))
        self._progress(Progress("vote", True, str(battle.id)))


def style_of(g: Generation) -> tuple[int, int, int, int]:
    """(answer tokens, markdown headers, list items, bold spans) for style control."""
    from arena.rating.style import markdown_counts

    tokens = g.usage.completion_tokens or max(1, len(g.text) // 4)
    return (tokens, *markdown_counts(g.text))


def _done(value: Generation) -> asyncio.Task[Generation]:
    async def ready() -> Generation:
        return value
    return asyncio.ensure_future(ready())


def _short(message: str) -> str:
    return message if len(message) <= 120 else message[:117] + "..."
