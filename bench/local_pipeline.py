"""The local-model half of the alignment loop: generation through Arena's ``hf`` provider
next to bare ``model.generate``, and DPO training through ``arena train dpo``'s machinery
(``trainers.plan.make_plan`` + ``trainers.run.run_plan``, in process) next to a bare
``trl.DPOTrainer`` with the same model, data and ``DPOConfig``.

The model is a random Llama built on the spot (``arena.testing.tiny_model``), so nothing is
fetched: no network, no hub. Everything goes to a temporary folder that is removed at the end.
Generation runs in a child process with every torch call on the provider model's worker
thread (see :func:`bench_generate`); training runs in this process, on the main thread. Both
warm up first and alternate who goes first, round by round. The same script runs on a GPU
(``--device cuda``: bf16 weights for generation, bf16 mixed precision and activation
checkpointing for training, as Arena picks on such a machine).

    .venv/bin/python bench/local_pipeline.py [--device cpu|cuda] [--size tiny|small|medium]
        [--tokens N] [--steps S] [--rounds R] [--skip-train] [--skip-generate]

There is no target: the figures are recorded. Each Arena figure is printed next to its
baseline from the same run, as a ratio (above 1: Arena is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
sys.path.insert(0, str(ROOT))

#: Model shapes (``build_tiny_llama`` arguments). The built-in corpus tops out at 569 BPE
#: tokens, so the larger vocabularies are trained on the standard library's sources as well.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "layers": 2, "heads": 4, "vocab_size": 512},
    "small": {"hidden_size": 256, "layers": 4, "heads": 8, "vocab_size": 2000},
    "medium": {"hidden_size": 1024, "layers": 8, "heads": 16, "vocab_size": 8000},
}
BUILT_IN_VOCAB = 569  # what default_corpus() reaches, whatever vocab_size asks for

PROMPTS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "Write a Python function that reverses a string."}],
    [{"role": "system", "content": "You write clean Python code."},
     {"role": "user", "content": "Return the largest number in a list, or None when empty."}],
    [{"role": "user", "content": "Count the words in a list of lines and return a dict."}],
    [{"role": "user", "content": "Which answer is better, A or B? Answer A sorts the list, "
                                 "answer B returns it unchanged."}],
]

#: (task, correct body, buggy body) for the synthetic DPO pairs.
_TASKS: list[tuple[str, str, str]] = [
    ("returns the sum of {x}", "return sum({x})", "return len({x})"),
    ("returns the largest of {x}", "return max({x})", "return {x}[0]"),
    ("returns {x} sorted", "return sorted({x})", "return {x}"),
    ("returns {x} reversed", "return {x}[::-1]", "return {x}[1:]"),
    ("counts the items in {x}", "return len({x})", "return len({x}) - 1"),
    ("returns the unique items of {x}", "return list(dict.fromkeys({x}))", "return {x}"),
    ("returns the even items of {x}", "return [v for v in {x} if v % 2 == 0]",
     "return [v for v in {x} if v % 2]"),
    ("returns the mean of {x}", "return sum({x}) / len({x})", "return sum({x}) // 2"),
]
_NAMES = ("values", "items", "numbers", "scores", "tokens", "lines", "words", "names")


# -- helpers -----------------------------------------------------------------------------
def _sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _versions() -> str:
    found = []
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _ratios(ours: list[float], base: list[float]) -> str:
    """Round by round (the two sides ran back to back), to see through a busy machine."""
    ratios = [a / b for a, b in zip(ours, base, strict=True)]
    return f"{', '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f})"


def _corpus(vocab_size: int) -> list[str] | None:
    """``None`` (the built-in corpus) when it reaches ``vocab_size``; else the built-in lines
    plus the first ~60,000 lines of the standard library's top-level modules (sorted, so the
    tokenizer is the same on every run of one Python)."""
    if vocab_size <= BUILT_IN_VOCAB:
        return None
    from arena.testing.tiny_model import default_corpus

    lines = default_corpus()
    for source in sorted(Path(json.__file__).resolve().parent.parent.glob("*.py")):
        lines += source.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(lines) > 60_000:
            break
    return lines


def _dpo_records(n: int) -> list[dict[str, str]]:
    records = []
    for i in range(n):
        task, good, bad = _TASKS[i % len(_TASKS)]
        name = _NAMES[(i // len(_TASKS)) % len(_NAMES)]
        fn = f"f{i}"
        records.append({
            "prompt": f"Write a Python function {fn}({name}) that {task.format(x=name)}.",
            "chosen": f"def {fn}({name}):\n    {good.format(x=name)}\n",
            "rejected": f"def {fn}({name}):\n    {bad.format(x=name)}\n",
        })
    return records


# -- generation --------------------------------------------------------------------------
@dataclasses.dataclass
class GenRound:
    tokens: int
    seconds: float
    ttfts: list[float]
    early: int = 0  # answers that ended before the token budget (end of sequence)
    reported: list[float] = dataclasses.field(default_factory=list)  # usage.ttft_s

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def _bare_round(torch: Any, model: Any, tok: Any, device: str,
                n: int) -> tuple[GenRound, GenRound]:
    """Each prompt rendered, tokenized and generated (greedy) one at a time, as the provider
    does, twice: with the provider's settings (``max_new_tokens=n``, so the same tokens, and
    the same early stop at end of sequence) and forced to exactly ``n`` new tokens
    (``min_new_tokens=n``). The time to first token is a 1-token generate."""
    same, forced = GenRound(0, 0.0, []), GenRound(0, 0.0, [])
    for messages in PROMPTS:
        for budget, least, into in ((1, 1, None), (n, None, same), (n, n, forced)):
            started = time.perf_counter()
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            enc = tok(text, return_tensors="pt", add_special_tokens=False).to(device)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=budget, min_new_tokens=least,
                                     do_sample=False, pad_token_id=tok.pad_token_id)
            _sync(torch, device)
            took = time.perf_counter() - started
            if into is None:
                same.ttfts.append(took)
            else:
                into.tokens += int(out.shape[1] - enc["input_ids"].shape[1])
                into.seconds += took
    return same, forced


async def _arena_round(provider: Any, n: int) -> GenRound:
    """The prompts through ``complete(provider, ChatRequest(messages))``, one at a time; the
    time to first token is the consumer's: from the request to the first ``TextDelta``."""
    from arena.providers.base import ChatRequest, ProviderError, StreamEvent, TextDelta, complete

    tokens, seconds, ttfts, reported, early = 0, 0.0, [], [], 0
    for messages in PROMPTS:
        first: list[float] = []

        def seen(event: StreamEvent, first: list[float] = first) -> None:
            if isinstance(event, TextDelta) and not first:
                first.append(time.perf_counter())

        started = time.perf_counter()
        try:
            usage = (await complete(provider, ChatRequest(messages), on_event=seen)).usage
        except ProviderError as exc:  # e.g. an empty answer: eos as the first token
            usage = exc.usage
        seconds += time.perf_counter() - started
        tokens += usage.completion_tokens or 0
        early += (usage.completion_tokens or 0) < n
        ttfts += [first[0] - started] if first else []
        reported += [usage.ttft_s] if usage.ttft_s is not None else []
    return GenRound(tokens, seconds, ttfts, early, reported)


def bench_generate(torch: Any, path: Path, device: str, dtype: str, n: int, rounds: int) -> None:
    """Both sides in this process, every torch call on one thread: the provider model's own
    worker, which the bare side borrows (``submit``) for its loads and rounds. (A second
    thread that has run torch keeps an OpenMP team of its own; on 2 cores that slowed all
    torch work in the process by 15-20 %, so the sides would tax each other.)"""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from arena.config import ModelSpec
    from arena.providers.hf import HFProvider

    spec = ModelSpec(name="bench-local", provider="hf", path=str(path), device=device,
                     dtype=dtype, max_tokens=n)
    provider = HFProvider(spec)

    def on_worker(fn: Callable[[], T]) -> T:
        return provider.model.submit(fn).result()

    def load_bare() -> tuple[Any, Any, float]:
        started = time.perf_counter()
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                          dtype=getattr(torch, dtype))
        model.to(device).eval()
        _sync(torch, device)
        return tok, model, time.perf_counter() - started

    def load_arena() -> float:
        started = time.perf_counter()
        provider.model.load()
        return time.perf_counter() - started

    on_worker(load_bare)  # imports transformers' Llama code, so neither load below pays it
    load_a = on_worker(load_arena)
    tok, model, load_b = on_worker(load_bare)
    print(f"load: hf provider {load_a:.2f} s, bare from_pretrained {load_b:.2f} s")

    def bare_round() -> tuple[GenRound, GenRound]:
        return on_worker(lambda: _bare_round(torch, model, tok, device, n))

    bare_round()  # warm-up, both sides
    asyncio.run(_arena_round(provider, n))
    bare: list[GenRound] = []
    forced: list[GenRound] = []
    arena: list[GenRound] = []
    for r in range(rounds):  # alternate who goes first
        if r % 2 == 0:
            same, fixed = bare_round()
            arena.append(asyncio.run(_arena_round(provider, n)))
        else:
            arena.append(asyncio.run(_arena_round(provider, n)))
            same, fixed = bare_round()
        bare.append(same)
        forced.append(fixed)
        print(f"  round {r + 1}: hf provider {arena[-1].rate:6.1f} tok/s "
              f"({arena[-1].tokens} tokens in {arena[-1].seconds:.3f} s), bare generate "
              f"{same.rate:6.1f} tok/s ({same.tokens} in {same.seconds:.3f} s), forced "
              f"{fixed.rate:6.1f} tok/s ({fixed.tokens} in {fixed.seconds:.3f} s)")
    x = statistics.median(g.rate for g in arena)
    y = statistics.median(g.rate for g in bare)
    z = statistics.median(g.rate for g in forced)
    ttft_arena = statistics.median(t for g in arena for t in g.ttfts) * 1000
    ttft_usage = statistics.median(t for g in arena for t in g.reported) * 1000
    ttft_bare = statistics.median(t for g in bare for t in g.ttfts) * 1000
    print(f"TTFT median: hf provider {ttft_arena:.1f} ms to the first TextDelta "
          f"(usage.ttft_s {ttft_usage:.1f} ms), bare 1-token generate {ttft_bare:.1f} ms "
          "(render + tokenize + prefill)")
    print("  (the provider's first text waits for transformers' TextStreamer to finish a word, "
          "at a space or newline;\n   a random model's output can run many tokens without one)")
    early = sum(g.early for g in arena)
    if early:
        print(f"note: {early} of {len(PROMPTS) * rounds} provider answers ended at end of "
              "sequence before the budget (the provider cannot force a minimum length): "
              "each side's rate is its own tokens / its own time")
    else:
        print(f"every provider answer ran to the {n}-token budget")
    if any(a.tokens != b.tokens for a, b in zip(arena, bare, strict=True)):
        print("note: the provider and bare generate with its settings made different numbers "
              "of tokens (they should be the same greedy answers)")
    print(f"bare generate forced to {n} tokens (min_new_tokens): {z:.1f} tok/s; its min-length "
          f"logits processor costs {100 * (1 - z / y):.1f} % against the same call without it; "
          f"hf provider / forced = {x / z:.3f}")
    print(f"per-round ratios: {_ratios([a.rate for a in arena], [b.rate for b in bare])}")
    print(f"hf provider: {x:.1f} tok/s, bare generate: {y:.1f} tok/s, ratio X/Y = {x / y:.3f}")


# -- training ----------------------------------------------------------------------------
#: DPOConfig fields compared between the two runs (Arena's from its arena_train.json).
_COMPARED = ("max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
             "learning_rate", "beta", "max_length", "bf16", "activation_checkpointing", "seed")


@dataclasses.dataclass
class TrainRun:
    steps_per_s: float  # TRL's train_steps_per_second (train loop, end-of-run checkpoint in)
    steady_per_s: float  # from the per-step log times, step 1 and the final save left out
    wall_s: float  # the whole call: loads, trainer set-up, training, saving
    config: dict[str, Any]


def _steady(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")


def _arena_train(model: Path, data: Path, out: Path, steps: int, batch: int) -> TrainRun:
    from trainers.plan import TrainRequest, make_plan
    from trainers.run import run_plan

    lines: list[str] = []
    started = time.perf_counter()
    plan = make_plan(TrainRequest(kind="dpo", model=str(model), data=data, out=out,
                                  max_steps=steps, batch_size=batch))
    result = run_plan(plan, lines.append)
    wall = time.perf_counter() - started
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    times = [e["time"] for e in log if e["event"] == "log"]
    sidecar = json.loads((out / "arena_train.json").read_text())
    return TrainRun(float(result.summary["final_metrics"]["train_steps_per_second"]),
                    _steady(times), wall, sidecar["effective_config"])


def _bare_train(torch: Any, model_dir: Path, data: Path, out: Path, steps: int,
                batch: int) -> TrainRun:
    """A bare DPOTrainer with the DPOConfig ``arena train dpo`` builds: its base settings
    (log every step, two checkpoints kept, no trackers, no tqdm) and, for this device,
    bf16 and activation checkpointing only on CUDA (TRL 1.16's defaults are both on), no
    pinned memory on CPU. Policy and reference are loaded from the folder in float32."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    times: list[float] = []

    class StepTimes(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs:
                times.append(time.time())

    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    config = DPOConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch,
        logging_steps=1, save_total_limit=2, report_to="none", disable_tqdm=True,
        bf16=cuda and torch.cuda.is_bf16_supported(), activation_checkpointing=cuda,
        dataloader_pin_memory=cuda,
    )
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)

    def load() -> Any:
        return AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True,
                                                    dtype=torch.float32)

    trainer = DPOTrainer(load(), ref_model=load(), args=config,
                         train_dataset=Dataset.from_list(rows), processing_class=tok,
                         callbacks=[StepTimes()])
    with contextlib.redirect_stdout(io.StringIO()):  # TRL's printer: a dict per step
        metrics = trainer.train().metrics
    trainer.save_model(str(out))
    wall = time.perf_counter() - started
    effective = {k: getattr(getattr(trainer.args, k), "value", getattr(trainer.args, k))
                 for k in _COMPARED if hasattr(trainer.args, k)}  # enums as their values
    return TrainRun(float(metrics["train_steps_per_second"]), _steady(times), wall, effective)


def bench_train(torch: Any, model: Path, tmp: Path, steps: int, batch: int, records: int,
                rounds: int) -> None:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    data = tmp / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _dpo_records(records)))
    print(f"data: {records} synthetic prompt/chosen/rejected code pairs; {steps} steps of "
          f"batch {batch}, full fine-tuning, policy + reference model")
    # warm-up, 2 steps each: imports, first calls, the allocator
    _bare_train(torch, model, data, tmp / "warm-up-bare", 2, batch)
    _arena_train(model, data, tmp / "warm-up-arena", 2, batch)
    shutil.rmtree(tmp / "warm-up-bare")
    shutil.rmtree(tmp / "warm-up-arena")
    arena: list[TrainRun] = []
    bare: list[TrainRun] = []
    for r in range(rounds):  # alternate who goes first
        out_a, out_b = tmp / f"arena-{r}", tmp / f"bare-{r}"
        if r % 2 == 0:
            bare.append(_bare_train(torch, model, data, out_b, steps, batch))
            arena.append(_arena_train(model, data, out_a, steps, batch))
        else:
            arena.append(_arena_train(model, data, out_a, steps, batch))
            bare.append(_bare_train(torch, model, data, out_b, steps, batch))
        shutil.rmtree(out_a)
        shutil.rmtree(out_b)
        print(f"  round {r + 1}: arena train dpo {arena[-1].steps_per_s:.2f} steps/s "
              f"(steady {arena[-1].steady_per_s:.2f}, call {arena[-1].wall_s:.1f} s), bare "
              f"DPOTrainer {bare[-1].steps_per_s:.2f} steps/s (steady {bare[-1].steady_per_s:.2f}, "
              f"call {bare[-1].wall_s:.1f} s)")
    differ = {k: (arena[0].config.get(k), bare[0].config.get(k)) for k in _COMPARED
              if arena[0].config.get(k) != bare[0].config.get(k)}
    print("config check: " + ("same " + ", ".join(f"{k}={arena[0].config.get(k)}"
                                                   for k in _COMPARED) if not differ else
                              f"DIFFERENT (arena, bare): {differ}"))
    x = statistics.median(t.steps_per_s for t in arena)
    y = statistics.median(t.steps_per_s for t in bare)
    sx = statistics.median(t.steady_per_s for t in arena)
    sy = statistics.median(t.steady_per_s for t in bare)
    wx = statistics.median(t.wall_s for t in arena)
    wy = statistics.median(t.wall_s for t in bare)
    print(f"steady state (log times, steps 1..{steps}): arena {sx:.2f}, bare {sy:.2f} steps/s, "
          f"ratio {sx / sy:.3f}; whole call (load, train, save): arena {wx:.1f} s, "
          f"bare {wy:.1f} s")
    print("per-round ratios: "
          f"{_ratios([t.steps_per_s for t in arena], [t.steps_per_s for t in bare])}")
    print(f"arena train dpo: {x:.2f} steps/s, bare DPOTrainer: {y:.2f} steps/s, "
          f"ratio = {x / y:.3f}")


# -- main --------------------------------------------------------------------------------
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--size", choices=tuple(SIZES), default="tiny")
    p.add_argument("--tokens", type=int, default=128, help="new tokens per answer")
    p.add_argument("--steps", type=int, default=50, help="DPO optimizer steps per run")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--records", type=int, default=64, help="synthetic DPO pairs")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-generate", action="store_true")
    p.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = p.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # Arena's trainer takes a GPU when it sees one
    # What the hf provider sets before it first imports torch (see transformers_local): here
    # torch is imported before the provider loads, so set it for both sides, as in `arena`.
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    import torch
    import transformers
    from safetensors.torch import load_file

    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"error: --device cuda, but torch {torch.__version__} sees no CUDA device",
              file=sys.stderr)
        return 2
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    dtype = "bfloat16" if args.device == "cuda" else "float32"
    if args.generate_only:
        bench_generate(torch, args.generate_only, args.device, dtype, args.tokens, args.rounds)
        return 0
    name = (f"cuda ({torch.cuda.get_device_name(0)})" if args.device == "cuda"
            else f"cpu, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads")
    load1, load5, _ = os.getloadavg()
    print(f"device: {name}; load average {load1:.2f} (1 min), {load5:.2f} (5 min)")
    print(f"versions: {_versions()}; Python {sys.version.split()[0]}")

    from arena.testing.tiny_model import build_tiny_llama

    tmp = Path(tempfile.mkdtemp(prefix="arena-bench-local-"))
    try:
        shape = SIZES[args.size]
        started = time.perf_counter()
        path = build_tiny_llama(tmp / "model", **shape, seed=0,
                                corpus=_corpus(shape["vocab_size"]))
        config = json.loads((path / "config.json").read_text())
        n_params = sum(t.numel() for t in load_file(str(path / "model.safetensors")).values())
        print(f"model: random Llama '{args.size}', hidden {shape['hidden_size']}, "
              f"{shape['layers']} layers, {shape['heads']} heads, vocab {config['vocab_size']}, "
              f"{n_params / 1e6:.2f}M parameters (built in {time.perf_counter() - started:.1f} s)")
        if not args.skip_generate:
            print(f"\n== generation: {len(PROMPTS)} chat prompts x {args.tokens} new tokens, "
                  f"greedy, {dtype}, one at a time; warm-up, then {args.rounds} round(s), median")
            # In a process of its own: this one has run torch on its main thread (the build)
            # and trains on it next; see bench_generate.
            child = [sys.executable, __file__, "--generate-only", str(path), "--device",
                     args.device, "--tokens", str(args.tokens), "--rounds", str(args.rounds)]
            if subprocess.run(child, check=False).returncode != 0:
                print("generation: the child process failed (above)")
        if not args.skip_train:
            precision = "bf16 mixed precision" if args.device == "cuda" else "float32"
            print(f"\n== DPO training ({precision}); warm-up, then {args.rounds} round(s), median")
            bench_train(torch, path, tmp, args.steps, args.batch_size, args.records, args.rounds)
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
