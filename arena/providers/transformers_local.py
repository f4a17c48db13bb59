"""A causal LM loaded in this process with transformers (``provider = "hf"`` models).

Used where a model must run here rather than behind a server: the preference-model judge's
classification mode (one forward pass, the next-token log-probabilities of "A" and "B"),
and local generation on CPU or a small GPU (:meth:`LocalCausalLM.generate`, which the
streaming ``hf`` provider in :mod:`arena.providers.hf` runs in a worker thread). torch and
transformers are imported lazily, on first use, so that nothing else pays for them
(ARCHITECTURE.md's import rule).

One model object is shared per folder and device; calls are serialised by a lock and run
in a worker thread, so the event loop stays free while the model computes.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.domain import ArenaError

log = logging.getLogger("arena.providers")


class LocalModelError(ArenaError):
    """The local model cannot be loaded or used; the message says what to do."""


@dataclass(frozen=True)
class LocalGeneration:
    """One answer generated in process. ``finish_reason``: "stop" (end of sequence),
    "length" (max_new_tokens reached) or "cancelled" (``should_stop`` said so)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    ttft_s: float | None
    latency_s: float


_CACHE: dict[tuple[str, str, str], LocalCausalLM] = {}
_CACHE_LOCK = threading.Lock()


def shared_model(path: str, device: str | None = None, dtype: str | None = None) -> LocalCausalLM:
    """The process-wide model for (path, device, dtype), loaded on first use."""
    key = (str(Path(path).resolve()), device or "", dtype or "")
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = LocalCausalLM(path, device=device, dtype=dtype)
        return _CACHE[key]


class LocalCausalLM:
    """A transformers causal LM and its tokenizer, loaded from a local folder only."""

    def __init__(self, path: str, *, device: str | None = None, dtype: str | None = None) -> None:
        self.path = path
        self.requested_device = device
        self.requested_dtype = dtype
        self.lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._worker_lock = threading.Lock()  # never held long: submit runs on the event loop
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self.device: str = device or "cpu"

    # -- the model's own thread --------------------------------------------------------
    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` on this model's worker thread, after the jobs submitted before it
        (first come, first served). A daemon thread: a generation never holds up exit.
        Cancelling the future before the job starts drops the job."""
        future: Future[Any] = Future()
        with self._worker_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, daemon=True,
                                                name=f"arena-local-{Path(self.path).name}")
                self._worker.start()
        self._jobs.put((future, fn))
        return future

    def _work(self) -> None:
        while True:
            future, fn = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

    # -- loading ---------------------------------------------------------------------
    def load(self) -> None:
        """Load weights and tokenizer (once). Raises LocalModelError with the reason."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        folder = Path(self.path)
        if not folder.is_dir():
            raise LocalModelError(f"{self.path}: no such folder; give the folder a model was "
                                  "saved to with save_pretrained")
        if not (folder / "config.json").exists():
            raise LocalModelError(f"{self.path}: not a model folder (no config.json); give the "
                                  "folder a model was saved to with save_pretrained")
        if "torch" not in sys.modules:
            # torch's OpenMP threads spin ~300,000 rounds after each op by default; with the
            # model on a worker thread and an event loop beside it, that spinning starved
            # both (16 tokens of the tiny test model: 0.6 s instead of 0.01 s on 2 CPUs).
            # A shorter spin costs big models nothing measurable. Set before torch loads
            # libgomp; a value the user set wins.
            os.environ.setdefault("GOMP_SPINCOUNT", "10000")
        try:
            import torch
            import transformers
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise LocalModelError("local models need torch and transformers: install the "
                                  "train extra (pip install 'arena[train]')") from None
        try:
            device = str(torch.device(self.requested_device)) if self.requested_device else (
                "cuda" if torch.cuda.is_available() else "cpu")
        except RuntimeError:
            raise LocalModelError(f"{self.path}: unknown device {self.requested_device!r} "
                                  "(e.g. cpu, cuda, cuda:1, mps)") from None
        dtype: Any = "auto"
        if self.requested_dtype:
            dtype = getattr(torch, self.requested_dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise LocalModelError(f"{self.path}: unknown dtype {self.requested_dtype!r} "
                                      "(e.g. float32, bfloat16, float16)")
        # transformers 4.56 renamed torch_dtype to dtype (the old name warns in 5.x)
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        started = time.perf_counter()
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a local load needs no bar on the user's terminal
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True,
                                                         **{dtype_kw: dtype})
        except (OSError, ValueError) as exc:
            raise LocalModelError(f"{self.path}: cannot load the model: {exc}") from None
        except torch.cuda.OutOfMemoryError:
            raise LocalModelError(f"{self.path}: out of memory loading the model; try dtype = "
                                  "\"bfloat16\" or another device") from None
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        try:
            model.to(device)  # type: ignore[arg-type]
        except torch.cuda.OutOfMemoryError:
            raise LocalModelError(f"{self.path}: out of memory moving the model to {device}; "
                                  "try dtype = \"bfloat16\" or another device") from None
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise LocalModelError(f"{self.path}: cannot use device {device!r}: {exc}") from None
        model.eval()
        log.info("loaded %s on %s in %.1f s", self.path, device, time.perf_counter() - started)
        self._model, self._tokenizer, self.device = model, tokenizer, device

    @property
    def model(self) -> Any:
        self.load()
        return self._model

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    # -- prompts ---------------------------------------------------------------------
    def render(self, messages: list[dict[str, str]]) -> str:
        """The chat as the model's chat template writes it, ready for the reply; a model
        without a template gets role-labelled plain text."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return str(text)
        body = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
        return body + "\n\nassistant:"

    def letter_ids(self, letter: str) -> list[int]:
        """Vocabulary ids that spell ``letter`` as one token, with or without a leading
        space (BPE vocabularies usually have both)."""
        tok = self.tokenizer
        ids: set[int] = set()
        for variant in (letter, " " + letter):
            encoded = tok.encode(variant, add_special_tokens=False)
            if len(encoded) == 1:
                ids.add(int(encoded[0]))
        return sorted(ids)

    # -- scoring ---------------------------------------------------------------------
    def next_token_logprobs(self, messages: list[dict[str, str]],
                            letters: tuple[str, ...] = ("A", "B")) -> tuple[dict[str, float], int]:
        """Log-probabilities (over the whole vocabulary) that the reply starts with each
        letter, summed over the letter's token variants; and the prompt's token count.
        Blocking: call it from a worker thread."""
        import torch

        with self.lock:
            tok, model = self.tokenizer, self.model
            ids = {letter: self.letter_ids(letter) for letter in letters}
            missing = [letter for letter, found in ids.items() if not found]
            if missing:
                raise LocalModelError(f"{self.path}: the tokenizer has no single token for "
                                      f"{', '.join(missing)}; this model cannot be used as a "
                                      "classification preference model")
            encoded = tok(self.render(messages), return_tensors="pt", add_special_tokens=False)
            encoded = {k: v.to(self.device) for k, v in encoded.items()}
            with torch.inference_mode():
                logits = model(**encoded).logits[0, -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            out = {letter: float(torch.logsumexp(logprobs[found], dim=0))
                   for letter, found in ids.items()}
            return out, int(encoded["input_ids"].shape[1])

    # -- generation ------------------------------------------------------------------
    def context_window(self) -> int | None:
        """Positions the model can read (prompt plus answer), when its config says."""
        config = self.model.config
        for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int,
                 temperature: float = 0.0, top_p: float | None = None,
                 on_text: Callable[[str], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 seed: int | None = None) -> LocalGeneration:
        """Generate the reply to a chat (rendered with the chat template), waiting for the
        model's lock first: one generation at a time per model. Greedy when temperature is
        0, else sampled with temperature and top_p; a ``seed`` makes sampling repeatable
        (torch's global generator is seeded under the model's lock, so the same request
        gives the same answer as long as nothing else samples with torch meanwhile). Text reaches ``on_text`` in pieces as
        it is decoded (their concatenation is the answer's text); ``should_stop`` is asked
        after every token and ends generation early when it returns True (also checked
        once the lock is held, so a request cancelled while queued costs nothing). The
        answer is capped so that prompt and answer fit the model's context window.

        Blocking: call it from a worker thread. Raises LocalModelError when the model
        cannot be loaded or generation fails (out of memory, a template error, ...).
        """
        stop = should_stop or (lambda: False)
        with self.lock:
            if stop():
                return LocalGeneration("", 0, 0, "cancelled", None, 0.0)
            self.load()
            try:
                return self._generate(messages, max_new_tokens, temperature, top_p, on_text, stop,
                                      seed)
            except LocalModelError:
                raise
            except Exception as exc:  # torch/transformers/jinja raise many kinds
                import torch

                if isinstance(exc, torch.cuda.OutOfMemoryError):
                    raise LocalModelError(
                        f"{self.path}: out of memory on {self.device} while generating; lower "
                        "max_tokens, use dtype = \"bfloat16\" or a bigger device") from None
                raise LocalModelError(f"{self.path}: generation failed: "
                                      f"{type(exc).__name__}: {exc}") from None

    def _generate(self, messages: list[dict[str, str]], max_new_tokens: int, temperature: float,
                  top_p: float | None, on_text: Callable[[str], None] | None,
                  stop: Callable[[], bool], seed: int | None = None) -> LocalGeneration:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        tok, model = self._tokenizer, self._model
        started = time.perf_counter()
        first: list[float] = []

        class Streamer(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if text:
                    if not first:
                        first.append(time.perf_counter() - started)
                    if on_text is not None:
                        on_text(text)

        class StopWhenAsked(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop(), dtype=torch.bool,
                                  device=input_ids.device)

        encoded = tok(self.render(messages), return_tensors="pt", add_special_tokens=False)
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        n_prompt = int(encoded["input_ids"].shape[1])
        window = self.context_window()
        if window is not None:
            if n_prompt >= window:
                raise LocalModelError(f"{self.path}: the prompt is {n_prompt} tokens and the "
                                      f"model reads at most {window}")
            max_new_tokens = min(max_new_tokens, window - n_prompt)
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tok.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            options["temperature"] = temperature
            if top_p is not None:
                options["top_p"] = top_p
            if seed is not None:
                torch.manual_seed(seed)
        pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos_ids), None)
        with torch.inference_mode():
            out = model.generate(
                **encoded, **options, pad_token_id=pad,
                streamer=Streamer(tok, skip_prompt=True, skip_special_tokens=True),
                stopping_criteria=StoppingCriteriaList([StopWhenAsked()]))
        new = [int(t) for t in out[0, n_prompt:]]
        if stop():
            finish = "cancelled"
        elif new and new[-1] in eos_ids:
            finish = "stop"
        else:
            finish = "length" if len(new) >= max_new_tokens else "stop"
        text = tok.decode(new, skip_special_tokens=True)
        return LocalGeneration(text, n_prompt, len(new), finish, first[0] if first else None,
                               time.perf_counter() - started)


def two_way_probability(logprob_a: float, logprob_b: float) -> float:
    """P(A) when the choice is between A and B only: softmax over the two (a sigmoid of
    the difference, computed so that huge gaps, like vLLM's -9999 floor, cannot overflow)."""
    diff = logprob_a - logprob_b
    if diff >= 0:
        return 1.0 / (1.0 + math.exp(-diff))
    z = math.exp(diff)
    return z / (1.0 + z)
