"""The tiny Llama that tests and benchmarks build on the spot (arena.testing.tiny_model)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from arena.testing.tiny_model import build_tiny_llama, tiny_llama_cached

ROOT = Path(__file__).resolve().parents[2]
CHAT = [
    {"role": "system", "content": "You judge code."},
    {"role": "user", "content": "Which answer is better, A or B?"},
    {"role": "assistant", "content": "A"},
]


@pytest.fixture(scope="module")
def loaded(tiny_llama: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, local_files_only=True)
    return tok, model


def _weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_module_imports_without_heavy_packages() -> None:
    probe = ("import sys, json, arena.testing.tiny_model\n"
             "print(json.dumps(sorted(m for m, mod in sys.modules.items() if mod is not None "
             "and m.split('.')[0] in {'torch', 'transformers', 'tokenizers'})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_folder_loads_locally(tiny_llama: Path, loaded: tuple[Any, Any]) -> None:
    tok, model = loaded
    assert (tiny_llama / "model.safetensors").is_file()
    assert type(model).__name__ == "LlamaForCausalLM"
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (64, 2, 4)
    assert cfg.vocab_size == len(tok) <= 512
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>" and tok.pad_token == "<pad>"
    assert len({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}) == 3
    assert (cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id) == (
        tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
    assert tok.padding_side == "left"
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_letters_are_single_tokens(loaded: tuple[Any, Any]) -> None:
    tok, _ = loaded
    ids = {s: tok.encode(s, add_special_tokens=False) for s in ("A", "B", " A", " B")}
    assert all(len(v) == 1 for v in ids.values()), ids
    assert len({v[0] for v in ids.values()}) == 4
    # no special tokens are added when encoding: the chat template writes bos itself
    assert tok("A")["input_ids"] == ids["A"]
    assert tok.decode(ids[" B"]) == " B"


def test_chat_template_renders(loaded: tuple[Any, Any]) -> None:
    tok, _ = loaded
    prompt = tok.apply_chat_template(CHAT[:2], tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(CHAT, tokenize=False)
    assert prompt == ("<s><|system|>\nYou judge code.</s>"
                      "<|user|>\nWhich answer is better, A or B?</s><|assistant|>\n")
    assert full == prompt + "A</s>"
    assert tok.apply_chat_template(CHAT[1:2], tokenize=False) == (
        "<s><|user|>\nWhich answer is better, A or B?</s>")
    # token ids too: the prompt is a prefix of the whole chat (DPO relies on it)
    prompt_ids = tok.apply_chat_template(CHAT[:2], add_generation_prompt=True, return_dict=True)["input_ids"]
    full_ids = tok.apply_chat_template(CHAT, return_dict=True)["input_ids"]
    assert full_ids[: len(prompt_ids)] == prompt_ids
    assert full_ids[len(prompt_ids):] == [*tok.encode("A", add_special_tokens=False), tok.eos_token_id]
    # generation markers: TRL's assistant_only_loss needs the assistant tokens' mask
    masked = tok.apply_chat_template(CHAT, return_dict=True, return_assistant_tokens_mask=True)
    mask = masked["assistant_masks"]
    assert sum(mask) == 2 and mask[-2:] == [1, 1]


def test_generate_on_cpu(loaded: tuple[Any, Any]) -> None:
    import torch

    tok, model = loaded
    enc = tok.apply_chat_template(CHAT[:2], add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert out.device.type == "cpu"
    new = out[0, enc["input_ids"].shape[1]:]
    assert new.numel() == 6
    assert isinstance(tok.decode(new), str)
    # batched, left-padded prompts of different lengths
    batch = tok(["Hello", "def add(a, b):\n    return"], return_tensors="pt", padding=True)
    assert batch["input_ids"][0, 0].item() == tok.pad_token_id
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape == (2, batch["input_ids"].shape[1] + 3)


def test_same_seed_same_weights(tmp_path: Path, tiny_llama: Path) -> None:
    a = build_tiny_llama(tmp_path / "a", seed=0)
    b = build_tiny_llama(tmp_path / "b", seed=0)
    c = build_tiny_llama(tmp_path / "c", seed=1)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert wa.keys() == wb.keys() == wc.keys()
    assert all(wa[k].equal(wb[k]) for k in wa)
    assert not all(wa[k].equal(wc[k]) for k in wa)
    # the session fixture's build (default arguments, seed 0) matches too, tokenizer included
    assert all(wa[k].equal(w) for k, w in _weights(tiny_llama).items())
    for name in ("tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes() == (tiny_llama / name).read_bytes()


def test_build_does_not_move_the_callers_rng(tmp_path: Path, tiny_llama: Path) -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_llama(tmp_path / "m", seed=7)
    assert torch.rand(3).equal(expected)


def test_build_is_fast(tmp_path: Path, tiny_llama: Path) -> None:
    start = time.perf_counter()  # imports were paid by the session fixture
    build_tiny_llama(tmp_path / "m")
    elapsed = time.perf_counter() - start
    print(f"tiny llama build: {elapsed:.3f}s")
    assert elapsed < 10


def test_custom_sizes_and_corpus(tmp_path: Path, tiny_llama: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    corpus = ["Answer A is better than answer B."] * 20 + ["def f(x):\n    return x"] * 20
    out = build_tiny_llama(tmp_path / "m", hidden_size=32, layers=1, heads=2, vocab_size=300,
                           corpus=corpus)
    cfg = AutoConfig.from_pretrained(out, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (32, 1, 2)
    assert cfg.vocab_size == len(tok) <= 300
    assert len(tok.encode("A", add_special_tokens=False)) == 1


def test_cached_build_is_reused(tmp_path: Path, tiny_llama: Path) -> None:
    first = tiny_llama_cached(tmp_path, hidden_size=32, seed=5)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    again = tiny_llama_cached(tmp_path, hidden_size=32, seed=5)
    other = tiny_llama_cached(tmp_path, hidden_size=32, seed=6)
    assert again == first and other != first
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])
