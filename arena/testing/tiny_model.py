"""A tiny causal LM for tests and benchmarks, built on the spot: no network, no model hub.

``build_tiny_llama`` trains a byte-level BPE tokenizer on a small built-in corpus, gives it
bos/eos/pad tokens and a chat template, builds a ``LlamaForCausalLM`` with random weights and
saves both to a folder that ``AutoModelForCausalLM`` / ``AutoTokenizer`` load with
``local_files_only=True``. Deterministic for a seed. torch, transformers and tokenizers (the
``train`` extra) are imported inside the functions only, so this module imports without them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (PAD, BOS, EOS, *ROLE_TOKENS)

# Role header, a newline, the content, eos; ``add_generation_prompt`` opens an assistant turn.
# The assistant's content sits in ``{% generation %}`` markers so that TRL's
# ``assistant_only_loss`` (``return_assistant_tokens_mask``) works with no patching. A prompt
# rendered with ``add_generation_prompt`` is a prefix of the full chat (DPO relies on that).
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- '<|' + message['role'] + '|>\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- message['content'] + eos_token -}}{%- endgeneration -%}"
    "{%- else -%}"
    "{{- message['content'] + eos_token -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>\n' -}}{%- endif -%}"
)

# Bump when the build changes, so that tiny_llama_cached does not reuse an older build.
BUILD_VERSION = 1

_CODE = '''\
def add(a, b):
    """Return the sum of a and b."""
    return a + b


def fibonacci(n: int) -> int:
    if n < 2:
        return n
    a, b = 0, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return b


def is_palindrome(text: str) -> bool:
    cleaned = [c.lower() for c in text if c.isalnum()]
    return cleaned == cleaned[::-1]


def count_words(lines: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        for word in line.split():
            counts[word] = counts.get(word, 0) + 1
    return counts


class Stack:
    def __init__(self) -> None:
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        if not self.items:
            raise IndexError("pop from an empty stack")
        return self.items.pop()


def binary_search(values, target):
    lo, hi = 0, len(values) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if values[mid] == target:
            return mid
        if values[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


def read_json(path):
    import json
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    numbers = [3, 1, 4, 1, 5, 9, 2, 6]
    print(sorted(numbers))
    print(sum(numbers) / len(numbers))
    print(max(numbers), min(numbers))


if __name__ == "__main__":
    main()
'''

_ENGLISH = """\
The quick brown fox jumps over the lazy dog.
Write a function that returns the sum of two numbers.
Which answer is better? Reply with A or B.
Answer A is correct and answer B has a bug.
Answer B is shorter, but answer A handles the empty list.
The user asked for a Python function that reverses a string.
Both answers pass the tests, so the result is a tie.
A good answer explains the code and keeps it simple.
The assistant should answer the question and stop.
You are a helpful assistant that writes clean Python code.
Compare the two answers and pick the one that is more helpful.
The first answer is A and the second answer is B.
"""

_SUBJECTS = ("the loop", "the function", "the test", "the list", "the string", "the answer",
             "the code", "the result", "the input", "the output")
_VERBS = ("returns", "checks", "sorts", "prints", "reads", "writes", "counts", "builds")
_NAMES = ("values", "items", "words", "lines", "numbers", "names", "scores", "tokens")


def default_corpus() -> list[str]:
    """A few hundred lines of Python and English; " A" and " B" are frequent in it."""
    lines = _CODE.splitlines() + _ENGLISH.splitlines()
    for i, subject in enumerate(_SUBJECTS):
        verb = _VERBS[i % len(_VERBS)]
        name = _NAMES[i % len(_NAMES)]
        better, worse = ("A", "B") if i % 2 == 0 else ("B", "A")
        lines += [
            f"In answer {better}, {subject} {verb} the {name}; in answer {worse} it does not.",
            f"Verdict: {better}. Answer {better} is better than answer {worse}.",
            f"def {verb}_{name}({name}):",
            f"    return [x for x in {name} if x is not None]",
            f"for i, x in enumerate({name}):",
            f"    print(i, x)  # {subject} {verb} {name}",
            f"{name} = sorted({name}, key=len, reverse={i % 2 == 0})",
            f"assert len({name}) == {i}, 'expected {i} {name}'",
        ]
    for i in range(60):
        a, b = i % 7, i % 5
        lines.append(f"Model A scored {a} and model B scored {b}, so {'A' if a >= b else 'B'} wins.")
        lines.append(f"x_{i} = add({a}, {b})  # {a + b}")
    return lines


def build_tiny_llama(out_dir: Path, *, hidden_size: int = 64, layers: int = 2, heads: int = 4,
                     vocab_size: int = 512, seed: int = 0,
                     corpus: list[str] | None = None) -> Path:
    """Train a byte-level BPE tokenizer on ``corpus`` (default: :func:`default_corpus`), wrap
    it as a ``PreTrainedTokenizerFast`` with bos/eos/pad tokens and :data:`CHAT_TEMPLATE`,
    build a ``LlamaForCausalLM`` with random weights (``torch.manual_seed(seed)``, without
    disturbing the caller's RNG state) and save both to ``out_dir``. Returns ``out_dir``.

    The tokenizer adds no special tokens when encoding (the chat template writes bos), so
    ``encode("A", add_special_tokens=False)`` is one token; padding is on the left.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = default_corpus() if corpus is None else list(corpus)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(lines, trainer=trainer, length=len(lines))

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        padding_side="left",
        model_max_length=2048,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: Any = LlamaForCausalLM(config)
    model.float()
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_llama_cached(tmp_root: Path, **kw: Any) -> Path:
    """:func:`build_tiny_llama` under ``tmp_root``, reusing an earlier build with the same
    arguments. The build goes to a private folder first and is renamed into place, so a
    half-written folder is never reused and concurrent callers do not clash."""
    tmp_root = Path(tmp_root)
    key = json.dumps({"version": BUILD_VERSION, **kw}, sort_keys=True, default=str)
    target = tmp_root / f"tiny-llama-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if target.is_dir():
        return target
    tmp_root.mkdir(parents=True, exist_ok=True)
    staging = tmp_root / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    build_tiny_llama(staging, **kw)
    try:
        staging.rename(target)
    except OSError:  # another process finished first: use its build
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise
    return target
