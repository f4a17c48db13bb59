"""Fixtures for TUI tests: a temp store with the demo pack, fake models, a fixed clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from arena.config import ArenaConfig, ModelSpec
from arena.domain import Usage
from arena.providers.base import (
    ChatRequest,
    Completion,
    Finished,
    ProviderError,
    StreamEvent,
    TextDelta,
)
from db.engine import open_database
from db.repositories import PromptIn, Store


class FakeModel:
    """A provider that streams scripted chunks; it can pause on a gate or fail."""

    def __init__(self, name: str, chunks: list[str], *, fail: str | None = None,
                 gate: asyncio.Event | None = None, pause_after: int = 1) -> None:
        self.name = name
        self.chunks = chunks
        self.fail = fail
        self.gate = gate
        self.pause_after = pause_after

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        for i, chunk in enumerate(self.chunks):
            if self.gate is not None and i == self.pause_after:
                await self.gate.wait()
            yield TextDelta(chunk)
            await asyncio.sleep(0)
        if self.fail:
            raise ProviderError(f"{self.name}: {self.fail}")
        text = "".join(self.chunks)
        yield Finished(Completion(text=text, usage=Usage(prompt_tokens=10,
                                                          completion_tokens=max(1, len(text) // 4),
                                                          ttft_s=0.1, latency_s=0.5)))

    async def aclose(self) -> None:
        return None


ANSWER_A = "Use a **set** for O(1) lookups:\n\n```python\ndef unique(xs):\n    return list(dict.fromkeys(xs))\n```\n"
ANSWER_B = "Sort first, then scan:\n\n```python\ndef unique(xs):\n    out = []\n    for x in sorted(xs):\n        if not out or out[-1] != x:\n            out.append(x)\n    return out\n```\n"


def config() -> ArenaConfig:
    return ArenaConfig(source="<test>", models={
        n: ModelSpec(name=n, provider="openai", base_url="http://127.0.0.1:9/v1", api_key_env=None)
        for n in ("left-model", "right-model")})


@pytest.fixture
def tui_store(tmp_path: Path) -> Store:
    store = Store(open_database(f"sqlite:///{tmp_path / 'tui.db'}"))
    store.import_prompts("tui", "test", [PromptIn(
        "dedupe", "Remove duplicates from a Python list, keeping the order.",
        category="algorithms", language="python", difficulty="easy")])
    return store


def fixed_clock() -> float:
    return 100.0
