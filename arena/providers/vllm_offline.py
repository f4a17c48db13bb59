"""vLLM's offline engine: a local model (``provider = "vllm"``, ``path``, no ``base_url``)
answers without a server.

A batch run hands all of a model's missing answers to :func:`generate_batch` (or
:func:`batch_provider`, which wraps the answers as a provider the runner reads like any
other): ``vllm.LLM(model=path, ...)`` is built once and ``llm.chat`` runs every
conversation in one call, which is where vLLM's throughput comes from. Single requests
(the TUI, or a runner without the batch step) go through :class:`OfflineVLLMProvider`,
which shares the engine and sends one conversation per call; it cannot stream, so the
answer arrives as one piece.

The calls used, checked against vLLM's source (``vllm/entrypoints/llm.py``,
``vllm/outputs.py``): ``LLM(model, dtype=..., max_model_len=..., gpu_memory_utilization=...)``;
``LLM.chat(list_of_conversations, sampling_params, use_tqdm=False)`` returns one
``RequestOutput`` per conversation, in order, with ``.prompt_token_ids`` and ``.outputs[0]``
(``.text``, ``.token_ids``, ``.finish_reason`` "stop" or "length");
``SamplingParams(temperature=..., top_p=..., max_tokens=...)`` — ``max_tokens`` is always
passed, since vLLM's default is 16.

VERIFIED AGAINST A STAND-IN ONLY: vLLM ships CUDA builds only and cannot be installed on
the machines this was written on, so the tests inject a small fake ``vllm`` module into
``sys.modules`` that records how ``LLM``, ``SamplingParams`` and ``chat`` were called. The
first run on a machine with vLLM is the first real test.

vllm is imported lazily, inside the functions that need it (ARCHITECTURE.md's import rule).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
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

Conversation = list[dict[str, str]]
# extra_body keys that belong to llm.chat (the chat template), not to SamplingParams
CHAT_KEYS = ("chat_template", "chat_template_kwargs", "add_generation_prompt",
             "continue_final_message")

_ENGINES: dict[tuple[Any, ...], Any] = {}
_ENGINES_LOCK = threading.Lock()
_RUN_LOCKS: dict[tuple[Any, ...], threading.Lock] = {}


@dataclass(frozen=True)
class OfflineAnswer:
    """One conversation's answer from a batch; ``error`` is set when it failed."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    error: str | None = None

    @property
    def usage(self) -> Usage:
        """Token counts; no TTFT or latency: one batch call has no per-answer timing."""
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)


def available() -> bool:
    """Whether ``import vllm`` would find a module (without importing it)."""
    if "vllm" in sys.modules:
        return sys.modules["vllm"] is not None
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        return False


def uses_offline(spec: ModelSpec) -> bool:
    """A vLLM model with local weights and no server address."""
    return spec.provider == "vllm" and bool(spec.path) and not spec.base_urls


def batch_ready(spec: ModelSpec) -> bool:
    """The batch path applies: an offline vLLM model, and vllm is installed."""
    return uses_offline(spec) and available()


def _engine_key(spec: ModelSpec) -> tuple[Any, ...]:
    return (spec.path, spec.dtype, spec.serve.max_model_len, spec.serve.gpu_memory_utilization)


def engine(spec: ModelSpec) -> Any:
    """The process-wide ``vllm.LLM`` for this model's weights, built on first use.
    Raises ProviderError when vllm is missing or cannot load the model."""
    key = _engine_key(spec)
    with _ENGINES_LOCK:
        if key in _ENGINES:
            return _ENGINES[key]
        try:
            from vllm import LLM
        except ImportError as exc:
            raise ProviderError(f"{spec.name}: vllm is not installed ({exc}); install it "
                                "(pip install 'arena-code[vllm]') or run `arena serve "
                                f"{spec.name}` and set base_url") from None
        kwargs: dict[str, Any] = {"model": spec.path, "dtype": spec.dtype or "auto"}
        if spec.serve.max_model_len:
            kwargs["max_model_len"] = spec.serve.max_model_len
        if spec.serve.gpu_memory_utilization:
            kwargs["gpu_memory_utilization"] = spec.serve.gpu_memory_utilization
        try:
            llm = LLM(**kwargs)
        except Exception as exc:  # CUDA, memory, a bad folder: vLLM raises many kinds
            raise ProviderError(f"{spec.name}: vLLM cannot load {spec.path}: "
                                f"{type(exc).__name__}: {exc}") from None
        _ENGINES[key] = llm
        _RUN_LOCKS[key] = threading.Lock()
        return llm


def release(spec: ModelSpec) -> None:
    """Drop the cached engine, so its GPU memory can go (e.g. before the next model's
    batch). Best effort: vLLM frees the memory once nothing refers to the engine."""
    with _ENGINES_LOCK:
        _ENGINES.pop(_engine_key(spec), None)
        _RUN_LOCKS.pop(_engine_key(spec), None)


def sampling_kwargs(spec: ModelSpec, *, temperature: float | None = None,
                    top_p: float | None = None, max_tokens: int | None = None,
                    extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(SamplingParams kwargs, llm.chat kwargs): the spec's values unless overridden;
    ``extra_body`` keys go to SamplingParams (top_k, repetition_penalty, seed, ...) except
    the chat-template ones, which go to ``llm.chat``."""
    params: dict[str, Any] = {
        "temperature": spec.temperature if temperature is None else temperature,
        "max_tokens": max_tokens or spec.max_tokens,
    }
    chosen_top_p = top_p if top_p is not None else spec.top_p
    if chosen_top_p is not None:
        params["top_p"] = chosen_top_p
    chat: dict[str, Any] = {}
    for key, value in {**spec.extra_body, **(extra or {})}.items():
        (chat if key in CHAT_KEYS else params)[key] = value
    return params, chat


def _with_system(spec: ModelSpec, messages: Conversation) -> Conversation:
    out = list(messages)
    if spec.system_prompt and not any(m.get("role") == "system" for m in out):
        out.insert(0, {"role": "system", "content": spec.system_prompt})
    return out


def _run(spec: ModelSpec, conversations: list[Conversation], params: dict[str, Any],
         chat_kwargs: dict[str, Any]) -> list[Any]:
    """One ``llm.chat`` call (serialised per engine: LLM is not thread-safe)."""
    llm = engine(spec)
    from vllm import SamplingParams

    try:
        sampling = SamplingParams(**params)
    except (TypeError, ValueError) as exc:
        raise ProviderError(f"{spec.name}: bad sampling parameters {params}: {exc}") from None
    with _RUN_LOCKS.get(_engine_key(spec)) or threading.Lock():
        try:
            outputs = list(llm.chat(conversations, sampling, use_tqdm=False, **chat_kwargs))
        except Exception as exc:
            raise ProviderError(f"{spec.name}: vLLM generation failed: "
                                f"{type(exc).__name__}: {exc}") from None
    if len(outputs) != len(conversations):
        raise ProviderError(f"{spec.name}: vLLM returned {len(outputs)} answers for "
                            f"{len(conversations)} conversations")
    return outputs


def _answer(spec: ModelSpec, output: Any) -> OfflineAnswer:
    try:
        best = output.outputs[0]
        text = str(best.text)
        answer = OfflineAnswer(text=text, prompt_tokens=len(output.prompt_token_ids or ()),
                               completion_tokens=len(best.token_ids or ()),
                               finish_reason=best.finish_reason)
    except (AttributeError, IndexError, TypeError) as exc:
        return OfflineAnswer("", 0, 0, None, f"{spec.name}: unexpected vLLM output: {exc}")
    if not text.strip():
        return OfflineAnswer(text, answer.prompt_tokens, answer.completion_tokens,
                             answer.finish_reason, f"{spec.name}: empty answer")
    return answer


def generate_batch(spec: ModelSpec, items: Sequence[tuple[str, Conversation]], *,
                   keep_engine: bool = False) -> dict[str, OfflineAnswer]:
    """Answer every (prompt key, conversation) in one ``llm.chat`` call with the spec's
    sampling (temperature, top_p, max_tokens, system prompt, extra_body). Blocking: run it
    in a worker thread. Keys must be unique.

    Never raises for a model failure: when the engine cannot load or the call fails, every
    answer carries that error (so a run records failures instead of retrying a load per
    prompt). The engine is released afterwards unless ``keep_engine``. Raises ValueError
    for duplicate keys.
    """
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        raise ValueError("generate_batch: prompt keys must be unique")
    if not items:
        return {}
    params, chat_kwargs = sampling_kwargs(spec)
    try:
        outputs = _run(spec, [_with_system(spec, conv) for _, conv in items], params, chat_kwargs)
    except ProviderError as exc:
        return {key: OfflineAnswer("", 0, 0, None, str(exc)) for key in keys}
    finally:
        if not keep_engine:
            release(spec)
    return {key: _answer(spec, out) for key, out in zip(keys, outputs, strict=True)}


async def batch_provider(spec: ModelSpec,
                         items: Sequence[tuple[str, Conversation]]) -> BatchAnswers:
    """Run :func:`generate_batch` in a worker thread and wrap the answers as a provider
    (answers by ``ChatRequest.prompt_key``), so a runner stores them the usual way."""
    answers = await asyncio.to_thread(generate_batch, spec, items)
    return BatchAnswers(spec.name, answers)


class BatchAnswers:
    """A provider over the answers of one batch: the answer for ``request.prompt_key``,
    or its error as ProviderError."""

    def __init__(self, name: str, answers: dict[str, OfflineAnswer]) -> None:
        self.name = name
        self.answers = answers

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        answer = self.answers.get(request.prompt_key or "")
        if answer is None:
            raise ProviderError(f"{self.name}: no answer for prompt {request.prompt_key!r} in "
                                "the vLLM batch")
        if answer.error is not None:
            raise ProviderError(answer.error, usage=answer.usage)
        yield TextDelta(answer.text)
        yield Finished(Completion(text=answer.text, usage=answer.usage,
                                  finish_reason=answer.finish_reason))

    async def aclose(self) -> None:
        return None


class OfflineVLLMProvider:
    """One conversation per ``llm.chat`` call on the shared engine; not streamed (the
    whole answer comes as one delta), not cancellable once vLLM has it."""

    def __init__(self, spec: ModelSpec) -> None:
        if not uses_offline(spec):
            raise ProviderError(f"{spec.name}: the offline vLLM backend needs provider vllm, "
                                "path and no base_url")
        self.name = spec.name
        self.spec = spec

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        params, chat_kwargs = sampling_kwargs(self.spec, temperature=request.temperature,
                                              top_p=request.top_p, max_tokens=request.max_tokens,
                                              extra=request.extra_body)
        conversation = _with_system(self.spec, request.messages)
        started = time.perf_counter()
        outputs = await asyncio.to_thread(_run, self.spec, [conversation], params, chat_kwargs)
        latency = time.perf_counter() - started
        answer = _answer(self.spec, outputs[0])
        usage = Usage(prompt_tokens=answer.prompt_tokens,
                      completion_tokens=answer.completion_tokens, ttft_s=latency,
                      latency_s=latency)
        if answer.error is not None:
            raise ProviderError(answer.error, usage=usage)
        yield TextDelta(answer.text)
        yield Finished(Completion(text=answer.text, usage=usage,
                                  finish_reason=answer.finish_reason))

    async def aclose(self) -> None:
        return None
