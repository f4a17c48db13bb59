"""The one contract every model backend speaks: an async stream of text for a chat request.

A provider turns a :class:`ChatRequest` into a stream of :class:`TextDelta` events and ends
with exactly one :class:`Finished` (usage, latency, cost, optional logprobs). Retries happen
inside the provider; if a retry restarts an answer that had already started streaming, a
:class:`Restarted` event tells the consumer to drop what it showed. When every attempt
fails the stream raises :class:`ProviderError`, which callers record as a failure and
never turn into a vote.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from arena.domain import Usage


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    prompt_key: str | None = None  # the prompt's external id, for replayed answers


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Restarted:
    """A retry began; text streamed so far is void."""

    reason: str


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None
    attempts: int = 1


@dataclass(frozen=True)
class Finished:
    completion: Completion


StreamEvent = TextDelta | Restarted | Finished


class ProviderError(Exception):
    """A model call that failed for good (after the retries that made sense)."""

    def __init__(self, message: str, *, retryable: bool = False, attempts: int = 1,
                 usage: Usage | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.attempts = attempts
        self.usage = usage or Usage()


@runtime_checkable
class Provider(Protocol):
    """A chat model. Implementations: OpenAI-compatible (API, vLLM), replay, local."""

    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one answer; raises ProviderError when it cannot be had."""
        ...

    async def aclose(self) -> None:
        ...


async def complete(provider: Provider, request: ChatRequest,
                   on_event: Callable[[StreamEvent], None] | None = None) -> Completion:
    """Run a stream to its end and return the final completion."""
    async for event in provider.stream(request):
        if on_event is not None:
            on_event(event)
        if isinstance(event, Finished):
            return event.completion
    raise ProviderError(f"{provider.name}: stream ended without a result")
