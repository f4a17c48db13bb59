"""Answers from a file of recorded responses, so existing answer sets can be battled.

The file is JSONL, one ``{"prompt_id", "model", "response"}`` object a line; ``prompt_id``
is the prompt's id in its prompt set. Lines for other models are ignored, so one file can
hold the answers of many models. Text is streamed in small pieces so the TUI shows it the
way it shows a live model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from arena.domain import ArenaError, Usage
from arena.jsonl import json_lines
from arena.providers.base import (
    ChatRequest,
    Completion,
    Finished,
    ProviderError,
    StreamEvent,
    TextDelta,
)


def read_answers(path: Path, model: str | None = None) -> dict[tuple[str, str], str]:
    """(prompt id, model) → response from a replay file; ArenaError names a bad line."""
    if not path.exists():
        raise ArenaError(f"{path}: no such replay file")
    out: dict[tuple[str, str], str] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, rec in json_lines(fh, lambda n: f"{path}:{n}"):
            missing = [k for k in ("prompt_id", "model", "response") if k not in rec]
            if missing:
                raise ArenaError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            if not isinstance(rec["response"], str):
                raise ArenaError(f"{path}:{lineno}: field response must be a string")
            if model is None or rec["model"] == model:
                out[(str(rec["prompt_id"]), str(rec["model"]))] = rec["response"]
    return out


class ReplayProvider:
    """Serves one model's recorded answers; a prompt with no answer is a failure."""

    def __init__(self, name: str, answers: dict[str, str], *, chunk_chars: int = 24,
                 delay_s: float = 0.0, source: str = "recorded answers") -> None:
        self.name = name
        self._answers = answers
        self._chunk = chunk_chars
        self._delay = delay_s
        self._source = source

    @classmethod
    def from_file(cls, name: str, path: Path, model: str | None = None) -> ReplayProvider:
        key = model or name
        answers = {pid: text for (pid, m), text in read_answers(path, key).items()}
        return cls(name, answers, source=str(path))

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        key = request.prompt_key
        if key is None or key not in self._answers:
            raise ProviderError(f"{self.name}: no recorded answer for prompt {key!r} in {self._source}")
        text = self._answers[key]
        for i in range(0, len(text), self._chunk):
            if self._delay:
                await asyncio.sleep(self._delay)
            yield TextDelta(text[i:i + self._chunk])
        prompt_chars = sum(len(m.get("content") or "") for m in request.messages)
        usage = Usage(prompt_tokens=max(1, prompt_chars // 4),
                      completion_tokens=max(1, len(text) // 4), ttft_s=0.0, latency_s=0.0,
                      cost_usd=0.0)
        yield Finished(Completion(text=text, usage=usage, finish_reason="stop"))

    async def aclose(self) -> None:
        return None
