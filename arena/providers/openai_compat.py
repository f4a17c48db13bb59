"""The OpenAI-compatible provider: OpenAI itself, vLLM servers and any /v1 endpoint.

One provider per configured model. It streams with ``stream_options.include_usage``,
measures time to first token and total latency, prices the call from the model's price
table, asks for logprobs when a request does, and retries what is worth retrying (429,
5xx, timeouts, refused connections, cut or malformed streams, empty answers) with
jittered backoff that honours Retry-After. A per-model semaphore bounds concurrency; a
list of base URLs spreads the load, and a URL that refuses connections is skipped for a
while. The API key is handed in by the caller and kept only inside the client object.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import openai

from arena.config import ModelSpec
from arena.domain import Usage
from arena.providers.base import (
    ChatRequest,
    Completion,
    Finished,
    ProviderError,
    Restarted,
    StreamEvent,
    TextDelta,
    TokenLogprob,
)
from arena.providers.retry import Backoff, parse_retry_after

log = logging.getLogger("arena.providers")

DEAD_URL_COOLDOWN_S = 30.0
NOT_RETRYABLE = {400, 401, 403, 404, 413, 422}


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None,
                 dead_url: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.dead_url = dead_url


class OpenAICompatibleProvider:
    """Streams chat completions from one or more OpenAI-protocol base URLs."""

    def __init__(self, spec: ModelSpec, api_key: str, *, backoff: Backoff | None = None,
                 seed: int | None = None) -> None:
        if not spec.base_urls:
            raise ProviderError(f"{spec.name}: no base_url configured")
        self.name = spec.name
        self.spec = spec
        self._clients = [
            openai.AsyncOpenAI(base_url=url, api_key=api_key, timeout=spec.timeout,
                               max_retries=0)
            for url in spec.base_urls
        ]
        self._dead_until = [0.0] * len(self._clients)
        self._next = 0
        self._sem = asyncio.Semaphore(spec.concurrency)
        self._backoff = backoff or Backoff()
        self._rng = random.Random(seed)

    def _pick(self) -> int:
        now = time.monotonic()
        n = len(self._clients)
        for step in range(n):
            i = (self._next + step) % n
            if self._dead_until[i] <= now:
                self._next = i + 1
                return i
        return min(range(n), key=lambda i: self._dead_until[i])

    def _params(self, req: ChatRequest) -> dict[str, Any]:
        spec = self.spec
        messages = list(req.messages)
        if spec.system_prompt and not any(m.get("role") == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": spec.system_prompt})
        params: dict[str, Any] = {
            "model": spec.endpoint_model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": spec.temperature if req.temperature is None else req.temperature,
            "max_tokens": req.max_tokens or spec.max_tokens,
        }
        top_p = req.top_p if req.top_p is not None else spec.top_p
        if top_p is not None:
            params["top_p"] = top_p
        if req.logprobs:
            params["logprobs"] = True
            if req.top_logprobs:
                params["top_logprobs"] = req.top_logprobs
        extra = {**spec.extra_body, **req.extra_body}
        if extra:
            params["extra_body"] = extra
        return params

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        params = self._params(request)
        attempts = self.spec.max_retries + 1
        started_text = False
        last_error = "no attempt made"
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            url_index = self._pick()
            try:
                async with self._sem:
                    async for event in self._attempt(url_index, params, attempt):
                        if isinstance(event, TextDelta):
                            started_text = True
                        yield event
                return
            except _Retryable as exc:
                last_error, retry_after = str(exc), exc.retry_after
                if exc.dead_url:
                    self._dead_until[url_index] = time.monotonic() + DEAD_URL_COOLDOWN_S
                log.warning("%s: attempt %d/%d failed: %s", self.name, attempt, attempts, exc)
            if attempt == attempts:
                break
            if started_text:
                yield Restarted(last_error)
                started_text = False
            if retry_after is None and len(self._clients) > 1 and last_error.startswith("connection"):
                continue  # another URL may be alive: try it at once
            await asyncio.sleep(self._backoff.delay(attempt, retry_after, self._rng))
        raise ProviderError(f"{self.name}: {last_error} (after {attempts} attempts)",
                            retryable=True, attempts=attempts)

    async def _attempt(self, url_index: int, params: dict[str, Any],
                       attempt: int) -> AsyncIterator[StreamEvent]:
        client = self._clients[url_index]
        t0 = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        logprobs: list[TokenLogprob] | None = [] if params.get("logprobs") else None
        finish: str | None = None
        usage_in = usage_out = None
        try:
            stream = await client.chat.completions.create(**params)
            try:
                async for chunk in stream:
                    if getattr(chunk, "usage", None):
                        usage_in = chunk.usage.prompt_tokens
                        usage_out = chunk.usage.completion_tokens
                    for choice in chunk.choices or []:
                        text = choice.delta.content if choice.delta else None
                        if text:
                            if ttft is None:
                                ttft = time.perf_counter() - t0
                            parts.append(text)
                            yield TextDelta(text)
                        if logprobs is not None and choice.logprobs and choice.logprobs.content:
                            logprobs.extend(_logprobs(choice.logprobs.content))
                        if choice.finish_reason:
                            finish = choice.finish_reason
            finally:
                await stream.close()
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = _error_message(exc)
            if status in NOT_RETRYABLE:
                raise ProviderError(f"{self.name}: HTTP {status}: {message}",
                                    attempts=attempt) from None
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            raise _Retryable(f"HTTP {status}: {message}", retry_after) from None
        except openai.APITimeoutError:
            raise _Retryable(f"timed out after {self.spec.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            if _is_refused(cause):
                raise _Retryable(f"connection refused by {client.base_url}", dead_url=True) from None
            raise _Retryable(f"connection error: {type(cause).__name__}: {cause}") from None
        except (ProviderError, asyncio.CancelledError):
            raise
        except Exception as exc:  # malformed chunks, protocol errors from the transport
            raise _Retryable(f"malformed stream: {type(exc).__name__}: {exc}") from None
        text = "".join(parts)
        if finish is None:
            raise _Retryable("stream ended before the answer was finished")
        if not text.strip():
            raise _Retryable("empty answer")
        latency = time.perf_counter() - t0
        prompt_tokens = usage_in if usage_in is not None else _estimate(params["messages"])
        completion_tokens = usage_out if usage_out is not None else max(1, len(text) // 4)
        cost = self.spec.price.cost(prompt_tokens, completion_tokens) if self.spec.price else None
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      ttft_s=ttft, latency_s=latency, cost_usd=cost)
        yield Finished(Completion(text=text, usage=usage, finish_reason=finish,
                                  logprobs=logprobs, attempts=attempt))

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


def _logprobs(items: Any) -> list[TokenLogprob]:
    out = []
    for item in items:
        top = {t.token: t.logprob for t in (item.top_logprobs or [])}
        out.append(TokenLogprob(token=item.token, logprob=item.logprob, top=top))
    return out


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(exc.message)[:300]


def _is_refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _estimate(messages: list[dict[str, str]]) -> int:
    return max(1, sum(len(m.get("content") or "") for m in messages) // 4)
