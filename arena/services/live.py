"""Live battles for a person at the keyboard: the service the TUI's battle screen calls.

One battle: a prompt (drawn from a set, or typed), two models drawn at random, both answers
streamed at once to a callback, both stored as generations (a fresh sample for live
models; the recorded answer for replay models), and a battle row of its own. A side that
fails makes the battle void. The vote is stored as a human vote with the voter's name.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from arena.config import ArenaConfig
from arena.domain import ArenaError, Battle, Generation, Outcome, Prompt, Usage, Vote
from arena.providers.base import ChatRequest, Finished, Provider, ProviderError, StreamEvent
from arena.providers.registry import build_provider
from arena.providers.replay import ReplayProvider
from arena.services.battles import style_of
from db.repositories import PromptIn, Store

TYPED_SET = "typed"
SideCallback = Callable[[str, StreamEvent], object]  # what it returns is ignored


@dataclass(frozen=True)
class LiveResult:
    battle: Battle
    generation_a: Generation
    generation_b: Generation

    @property
    def void(self) -> bool:
        return self.battle.status == "void"


class LiveArena:
    """Draws prompts and pairs, runs a battle, stores the human vote."""

    def __init__(self, store: Store, config: ArenaConfig, *, voter: str = "anonymous",
                 provider_factory: Callable[[ArenaConfig, str], Provider] | None = None,
                 replay_chunk_delay: float = 0.01, seed: int | None = None) -> None:
        self.store = store
        self.config = config
        self.voter = voter
        self._factory = provider_factory
        self._replay_delay = replay_chunk_delay
        self._rng = random.Random(seed)
        self._providers: dict[str, Provider] = {}

    # -- choosing ----------------------------------------------------------------------
    def replay_models(self) -> list[str]:
        return sorted(n for n, provider, _ in self.store.list_models()
                      if provider == "replay" and n not in self.config.models)

    def models(self) -> list[str]:
        """Models that can battle: configured ones (judge-only models excluded) and the
        replay models of imported prompt sets."""
        judge_models = {j.model for j in self.config.judges.values()}
        configured = [m for m in self.config.models if m not in judge_models]
        return sorted(configured) + self.replay_models()

    def draw_pair(self, models: list[str] | None = None) -> tuple[str, str]:
        """Two different models at random; the order is the left/right coin flip."""
        pool = models or self.models()
        if len(pool) < 2:
            raise ArenaError("a battle needs two models: configure them in arena.toml or "
                             "import a prompt set with recorded answers")
        a, b = self._rng.sample(pool, 2)
        return a, b

    def random_prompt(self, set_name: str, *, category: str | None = None,
                      language: str | None = None) -> Prompt:
        prompts = self.store.prompts(set_name, category=category, language=language)
        if not prompts:
            raise ArenaError(f"no prompt in set {set_name!r} matches the filters")
        return self._rng.choice(prompts)

    def typed_prompt(self, text: str) -> Prompt:
        """Store a prompt typed in the TUI (set "typed") and return it."""
        text = text.strip()
        if not text:
            raise ArenaError("the prompt is empty")
        ext = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.store.import_prompts(TYPED_SET, "typed in the TUI", [PromptIn(ext, text)])
        return next(p for p in self.store.prompts(TYPED_SET) if p.external_id == ext)

    # -- running -----------------------------------------------------------------------
    def _provider(self, model: str, prompt: Prompt) -> Provider:
        if model not in self.config.models:
            stored = self.store.generations([prompt.id], [model]).get((prompt.id, model))  # type: ignore[list-item,arg-type]
            answers = {prompt.external_id: stored.text} if stored and stored.ok else {}
            return ReplayProvider(model, answers, delay_s=self._replay_delay,
                                  source="the recorded answers of its prompt set")
        if model not in self._providers:
            factory = self._factory or (lambda c, n: build_provider(c, n))
            self._providers[model] = factory(self.config, model)
        return self._providers[model]

    def _register(self, model: str) -> None:
        if model in self.config.models:
            spec = self.config.models[model]
            self.store.ensure_model(model, spec.provider, spec.endpoint_model,
                                    spec.model_dump(exclude={"name"}, mode="json"))
        elif self.store.model_id(model) is None:
            self.config.model(model)  # raises: unknown model

    async def _side(self, side: str, prompt: Prompt, model: str, on_event: SideCallback,
                    conversation: list[dict[str, str]] | None = None) -> Generation:
        replay = model not in self.config.models
        if conversation is not None and replay:
            provider: Provider = ReplayProvider(model, {}, source="recorded answers (they cannot "
                                                "answer a follow-up)")
        else:
            provider = self._provider(model, prompt)
        spec = self.config.models.get(model)
        request = ChatRequest(messages=conversation or prompt.as_messages(),
                              prompt_key=prompt.external_id)
        try:
            done = None
            async for event in provider.stream(request):
                on_event(side, event)
                if isinstance(event, Finished):
                    done = event.completion
            if done is None:
                raise ProviderError(f"{model}: the stream ended without a result")
        except ProviderError as exc:
            fresh = not replay or conversation is not None
            index = self.store.next_sample_index(prompt.id, model) if fresh else 0  # type: ignore[arg-type]
            return self.store.save_generation(prompt.id, model, "", exc.usage,  # type: ignore[arg-type]
                                              spec.sampling() if spec else {}, str(exc), None, index,
                                              conversation)
        if replay:
            return self.store.generations([prompt.id], [model])[(prompt.id, model)]  # type: ignore[list-item,index]
        index = self.store.next_sample_index(prompt.id, model)  # type: ignore[arg-type]
        return self.store.save_generation(prompt.id, model, done.text, done.usage,  # type: ignore[arg-type]
                                          spec.sampling() if spec else {}, None,
                                          done.finish_reason, index, conversation)

    async def run(self, prompt: Prompt, model_a: str, model_b: str,
                  on_event: SideCallback = lambda side, event: None) -> LiveResult:
        """Stream both answers at once; store them and the battle (void if a side failed)."""
        for m in (model_a, model_b):
            self._register(m)
        ga, gb = await asyncio.gather(self._side("a", prompt, model_a, on_event),
                                      self._side("b", prompt, model_b, on_event))
        battle = self.store.ensure_battles([(prompt.id, model_a, model_b)], None,  # type: ignore[list-item]
                                           slot="live:" + uuid.uuid4().hex)[0]
        ok = ga.ok and gb.ok
        battle = self.store.set_battle_generations(
            battle.id, ga.id, gb.id, "ready" if ok else "void",
            style=style_of(ga) + style_of(gb) if ok else None)
        return LiveResult(battle, ga, gb)

    async def follow_up(self, result: LiveResult, text: str,
                        on_event: SideCallback = lambda side, event: None) -> LiveResult:
        """Send a follow-up message to both sides, each within its own conversation so far.

        The battle then points at the new turn's answers (each stores its whole
        conversation), so the vote and any judge see the whole conversation. Recorded
        answers cannot answer a follow-up: that side fails and the battle is void.
        """
        text = text.strip()
        if not text:
            raise ArenaError("the follow-up is empty")
        if result.void:
            raise ArenaError("this battle is void (a side failed): it takes no follow-up")
        prompt = self.store.prompt(result.battle.prompt_id)

        def conversation(g: Generation) -> list[dict[str, str]]:
            before = g.messages or prompt.as_messages()
            return [*before, {"role": "assistant", "content": g.text}, {"role": "user", "content": text}]

        ga, gb = await asyncio.gather(
            self._side("a", prompt, result.battle.model_a, on_event, conversation(result.generation_a)),
            self._side("b", prompt, result.battle.model_b, on_event, conversation(result.generation_b)))
        ok = ga.ok and gb.ok
        battle = self.store.set_battle_generations(
            result.battle.id, ga.id, gb.id, "ready" if ok else "void",
            style=style_of(ga) + style_of(gb) if ok else None)
        return LiveResult(battle, ga, gb)

    def vote(self, result: LiveResult, outcome: Outcome) -> bool:
        """Store the person's vote; a void battle takes no vote."""
        if result.void:
            raise ArenaError("this battle is void (a side failed): it takes no vote")
        return self.store.add_vote(Vote(battle_id=result.battle.id, judge_kind="human",
                                        judge_name="human", voter=self.voter, outcome=outcome,
                                        usage=Usage()))

    async def aclose(self) -> None:
        for p in self._providers.values():
            await p.aclose()
        self._providers.clear()
