"""The OpenAI-compatible provider: OpenAI itself, vLLM servers and any /v1 endpoint.

One provider per configured model. It streams with ``stream_options.include_usage``,
measures time to first token and total latency, prices the call from the model's price
table, asks for logprobs when a request does, and retries what is worth retrying (429,
5xx, timeouts, refused connections, cut or malformed streams, empty answers) with
jittered backoff that honours Retry-After. A per-model semaphore bounds concurrency; a
list of base URLs spreads the load, and a URL that refuses connections is skipped for a
while. The API key is handed in by the caller and kept only inside the client object.

Transport: requests go out on ``httpx2``, the HTTP client the ``openai`` SDK itself runs
on, and the SSE stream is parsed here. Going through the SDK's request builder and its
per-chunk pydantic models cost about 1.1 ms of CPU per call more, which at concurrency 64
was the difference between meeting and missing the throughput target (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2

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
        limits = httpx2.Limits(max_connections=max(100, 2 * spec.concurrency),
                               max_keepalive_connections=max(20, spec.concurrency))
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream",
                   "User-Agent": "arena-code/0.1"}
        self._clients = [
            httpx2.AsyncClient(base_url=url.rstrip("/") + "/", headers=headers,
                               timeout=httpx2.Timeout(spec.timeout), limits=limits)
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
        # vLLM-only sampling options travel as extra top-level keys, as the SDK's extra_body does
        params.update({**spec.extra_body, **req.extra_body})
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
            async with client.stream("POST", "chat/completions", json=params) as resp:
                if resp.status_code >= 400:
                    await self._raise_for_status(resp, attempt)
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        continue  # read on to the end of the body, so the connection is reused
                    chunk = json.loads(payload)
                    if not isinstance(chunk, dict):
                        raise ValueError(f"a stream chunk is not an object: {payload[:80]}")
                    if chunk.get("error"):
                        raise _Retryable(f"error in stream: {_message(chunk)}")
                    usage = chunk.get("usage")
                    if usage:
                        usage_in, usage_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
                    for choice in chunk.get("choices") or ():
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            if ttft is None:
                                ttft = time.perf_counter() - t0
                            parts.append(text)
                            yield TextDelta(text)
                        lp = choice.get("logprobs")
                        if logprobs is not None and lp and lp.get("content"):
                            logprobs.extend(_logprobs(lp["content"]))
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
        except (ProviderError, _Retryable, asyncio.CancelledError):
            raise
        except httpx2.TimeoutException:
            raise _Retryable(f"timed out after {self.spec.timeout:g} s") from None
        except httpx2.ConnectError as exc:
            if _is_refused(exc):
                raise _Retryable(f"connection refused by {client.base_url}", dead_url=True) from None
            raise _Retryable(f"connection error: {exc}") from None
        except httpx2.TransportError as exc:  # a cut stream, a reset connection
            raise _Retryable(f"connection error: {type(exc).__name__}: {exc}") from None
        except ValueError as exc:  # a chunk that is not JSON, or not a chunk
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

    async def _raise_for_status(self, resp: httpx2.Response, attempt: int) -> None:
        """Turn an HTTP error into a final ProviderError or a retryable failure."""
        await resp.aread()
        try:
            message = _message(resp.json())
        except ValueError:
            message = resp.text[:300] or resp.reason_phrase
        status = resp.status_code
        if status in NOT_RETRYABLE:
            raise ProviderError(f"{self.name}: HTTP {status}: {message}", attempts=attempt)
        raise _Retryable(f"HTTP {status}: {message}",
                         parse_retry_after(resp.headers.get("retry-after")))

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def _logprobs(items: list[dict[str, Any]]) -> list[TokenLogprob]:
    out = []
    for item in items:
        top = {t["token"]: t["logprob"] for t in (item.get("top_logprobs") or [])}
        out.append(TokenLogprob(token=item["token"], logprob=item["logprob"], top=top))
    return out


def _message(body: Any) -> str:
    """The error message of an OpenAI-style error body ({"error": {"message": ...}})."""
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])[:300]
    return str(err)[:300]


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
