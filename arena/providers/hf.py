"""The ``hf`` provider: a model folder loaded in this process with transformers, streamed.

For a model just trained (``arena models add NAME --path DIR --provider hf``) that should
battle without a server. Generation runs on the model's own worker thread (its
:meth:`~arena.providers.transformers_local.LocalCausalLM.generate`, which feeds decoded
text to a callback as transformers' streamer finalises it); each piece is handed to the
event loop with ``call_soon_threadsafe`` and yielded as a :class:`TextDelta`. The model
object is shared per folder, device and dtype, and runs one generation at a time:
requests from several battles (and from models that share the folder) queue on that
thread, first come first served, never blocking the event loop. Sampling merges the request over the model's spec the way the
OpenAI-compatible provider does (temperature, top_p, max_tokens, system prompt);
``extra_body = {seed = N}`` makes sampled answers repeatable, as it does for vLLM.

Cancelling the consumer (the TUI's ``n`` cancels its worker; a batch run that stops) sets
a flag that a stopping criterion checks after every token, so the model stops within a
token and the next request starts; a request still queued is dropped. Load and generation failures (a missing folder, an unknown
dtype or device, out of memory) become :class:`ProviderError` with the reason; an answer
with no text is a failure too, as it is for the OpenAI-compatible provider.

torch and transformers are imported by the model object on first use, never here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

from arena.config import ModelSpec
from arena.domain import Usage
from arena.providers.base import (
    ChatRequest,
    Completion,
    Finished,
    ProviderError,
    StreamEvent,
    TextDelta,
)
from arena.providers.transformers_local import (
    LocalCausalLM,
    LocalGeneration,
    LocalModelError,
    shared_model,
)

log = logging.getLogger("arena.providers")

_TEXT, _DONE, _ERROR = "text", "done", "error"
CLOSE_WAIT_S = 10.0  # how long aclose waits for a stopped generation to let go of the model


def merged_messages(spec: ModelSpec, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The spec's system prompt first, unless the conversation brings its own."""
    out = list(messages)
    if spec.system_prompt and not any(m.get("role") == "system" for m in out):
        out.insert(0, {"role": "system", "content": spec.system_prompt})
    return out


def _seed(extra: dict[str, Any]) -> int | None:
    """``extra_body.seed`` (as vLLM reads it): repeatable sampling. A seed that is not an
    integer is a configuration error, not something to ignore."""
    seed = extra.get("seed")
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ProviderError(f"extra_body.seed must be an integer, not {seed!r}")
    return seed


class HFProvider:
    """Streams answers of a local transformers model (``provider = "hf"``)."""

    def __init__(self, spec: ModelSpec, *, model: LocalCausalLM | None = None) -> None:
        if model is None and not spec.path:
            raise ProviderError(f"{spec.name}: provider hf needs path = the model's folder")
        self.name = spec.name
        self.spec = spec
        _seed(spec.extra_body)  # a bad seed fails here, before any model is loaded
        self.model = model or shared_model(spec.path or "", spec.device, spec.dtype)
        self._running: dict[threading.Event, Future[Any]] = {}

    def _options(self, request: ChatRequest) -> dict[str, Any]:
        spec = self.spec
        return {
            "max_new_tokens": request.max_tokens or spec.max_tokens,
            "temperature": spec.temperature if request.temperature is None else request.temperature,
            "top_p": request.top_p if request.top_p is not None else spec.top_p,
            "seed": _seed({**spec.extra_body, **(request.extra_body or {})}),
        }

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        messages = merged_messages(self.spec, request.messages)
        options = self._options(request)

        def post(kind: str, payload: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, payload))
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                stop.set()

        def work() -> None:
            try:
                result = self.model.generate(messages, **options, should_stop=stop.is_set,
                                             on_text=lambda text: post(_TEXT, text))
            except LocalModelError as exc:
                post(_ERROR, f"{self.name}: {exc}")
            except Exception as exc:  # never let the worker swallow a failure silently
                log.exception("%s: local generation failed", self.name)
                post(_ERROR, f"{self.name}: generation failed: {type(exc).__name__}: {exc}")
            else:
                post(_DONE, result)

        def finished(job: Future[Any]) -> None:
            self._running.pop(stop, None)
            if job.cancelled():  # dropped from the queue (aclose): tell a waiting consumer
                post(_ERROR, f"{self.name}: generation was stopped before it started")

        job = self.model.submit(work)
        self._running[stop] = job
        job.add_done_callback(finished)
        parts: list[str] = []
        try:
            while True:
                kind, payload = await queue.get()
                if kind == _TEXT:
                    parts.append(payload)
                    yield TextDelta(payload)
                elif kind == _ERROR:
                    raise ProviderError(payload)
                else:
                    yield Finished(self._completion(payload, "".join(parts)))
                    return
        finally:
            stop.set()  # a consumer that went away (cancelled, closed) stops the model
            job.cancel()  # and a job still queued never starts

    def _completion(self, result: LocalGeneration, text: str) -> Completion:
        spec = self.spec
        cost = (spec.price.cost(result.prompt_tokens, result.completion_tokens)
                if spec.price else None)
        usage = Usage(prompt_tokens=result.prompt_tokens,
                      completion_tokens=result.completion_tokens, ttft_s=result.ttft_s,
                      latency_s=result.latency_s, cost_usd=cost)
        if result.finish_reason == "cancelled":
            raise ProviderError(f"{self.name}: generation was stopped", usage=usage)
        if not text.strip():
            raise ProviderError(f"{self.name}: empty answer (the model stopped after "
                                f"{result.completion_tokens} token(s))", usage=usage)
        return Completion(text=text, usage=usage, finish_reason=result.finish_reason)

    async def aclose(self) -> None:
        """Stop this provider's generations (running or queued) and wait, briefly, until
        they have let go of the model. The model stays loaded: it is shared per process."""
        running = list(self._running.items())
        for stop, job in running:
            stop.set()
            job.cancel()
        pending = [asyncio.wrap_future(job) for _, job in running if not job.done()]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_WAIT_S)
