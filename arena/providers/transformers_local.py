"""A causal LM loaded in this process with transformers (``provider = "hf"`` models).

Used where a model must run here rather than behind a server: the preference-model judge's
classification mode (one forward pass, the next-token log-probabilities of "A" and "B"),
and local generation on CPU or a small GPU. torch and transformers are imported lazily,
on first use, so that nothing else pays for them (ARCHITECTURE.md's import rule).

One model object is shared per folder and device; calls are serialised by a lock and run
in a worker thread, so the event loop stays free while the model computes.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from arena.domain import ArenaError


class LocalModelError(ArenaError):
    """The local model cannot be loaded or used; the message says what to do."""


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
        self._model: Any = None
        self._tokenizer: Any = None
        self.device: str = device or "cpu"

    # -- loading ---------------------------------------------------------------------
    def load(self) -> None:
        """Load weights and tokenizer (once). Raises LocalModelError with the reason."""
        if self._model is not None:
            return
        folder = Path(self.path)
        if not (folder / "config.json").exists():
            raise LocalModelError(f"{self.path}: not a model folder (no config.json); give the "
                                  "folder a model was saved to with save_pretrained")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise LocalModelError("local models need torch and transformers: install the "
                                  "train extra (pip install 'arena[train]')") from None
        device = self.requested_device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype: Any = "auto"
        if self.requested_dtype:
            dtype = getattr(torch, self.requested_dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise LocalModelError(f"{self.path}: unknown dtype {self.requested_dtype!r} "
                                      "(e.g. float32, bfloat16, float16)")
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True,
                                                         torch_dtype=dtype)
        except (OSError, ValueError) as exc:
            raise LocalModelError(f"{self.path}: cannot load the model: {exc}") from None
        model.to(device)  # type: ignore[arg-type]
        model.eval()
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


def two_way_probability(logprob_a: float, logprob_b: float) -> float:
    """P(A) when the choice is between A and B only: softmax over the two (a sigmoid of
    the difference, computed so that huge gaps, like vLLM's -9999 floor, cannot overflow)."""
    diff = logprob_a - logprob_b
    if diff >= 0:
        return 1.0 / (1.0 + math.exp(-diff))
    z = math.exp(diff)
    return z / (1.0 + z)
