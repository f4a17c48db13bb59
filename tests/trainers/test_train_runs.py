"""``arena train dpo|sft`` end to end on the tiny local Llama (CPU, no hub): what lands in the
output folder, what the log says, resuming, LoRA with a merged copy, and the config layers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from arena.cli.train import train_app

TASKS = [
    ("Write a function that adds two numbers.", "def add(a, b):\n    return a + b",
     "def add(a, b):\n    return a - b"),
    ("Reverse a string.", "def rev(s):\n    return s[::-1]", "def rev(s):\n    return s"),
    ("Check if a word is a palindrome.", "def is_palindrome(w):\n    return w == w[::-1]",
     "def is_palindrome(w):\n    return True"),
    ("Count the words in a list of lines.",
     "def count(lines):\n    return sum(len(x.split()) for x in lines)",
     "def count(lines):\n    return len(lines)"),
    ("Return the largest number.", "def biggest(values):\n    return max(values)",
     "def biggest(values):\n    return values[0]"),
    ("Sort the names by length.", "names = sorted(names, key=len)", "names.sort()"),
    ("Read a JSON file.", "def read_json(path):\n    import json\n    with open(path) as f:\n"
     "        return json.load(f)", "def read_json(path):\n    return open(path).read()"),
    ("Search a sorted list.", "def find(values, x):\n    return values.index(x)",
     "def find(values, x):\n    return -1"),
]
SYSTEM = {"role": "system", "content": "You write clean Python code."}


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """The tiny model gains nothing from threads; on a busy CI machine they cost seconds."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("train-data")
    std = [{"prompt": p, "chosen": c, "rejected": r, "metadata": {"battle": i, "judge": "human"}}
           for i, (p, c, r) in enumerate(TASKS)]
    conv = [{"prompt": [SYSTEM, {"role": "user", "content": p}],
             "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}], "metadata": {"battle": i}}
            for i, (p, c, r) in enumerate(TASKS)]
    paths = {
        "dpo": _jsonl(tmp / "pairs.jsonl", std),
        "dpo_conv": _jsonl(tmp / "pairs_conv.jsonl", conv),
        "sft": _jsonl(tmp / "sft.jsonl", [{"prompt": p, "completion": c} for p, c, _ in TASKS]),
        "sft_msgs": _jsonl(tmp / "sft_msgs.jsonl", [
            {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": c}]}
            for p, c, _ in TASKS]),
    }
    # what `arena export` leaves next to its file, hashed into arena_train.json
    (tmp / "pairs.jsonl.meta.json").write_text(json.dumps({"exported_by": "arena", "pairs": 8}))
    return paths


def train(kind: str, model: Path, data: Path, out: Path, *extra: str) -> Result:
    result = CliRunner().invoke(train_app, [kind, "--model", str(model), "--data", str(data),
                                            "--out", str(out), *extra])
    assert result.exit_code == 0, (result.stderr, result.exception)
    return result


def log_lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def generate(folder: Path) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    assert tok.padding_side == "left" and tok.pad_token is not None
    enc = tok.apply_chat_template([{"role": "user", "content": "Reverse a string."}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        ids = model.generate(**enc, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert ids.shape[1] == enc["input_ids"].shape[1] + 5
    return str(tok.decode(ids[0, enc["input_ids"].shape[1]:]))


@pytest.fixture(scope="module")
def dpo_run(tiny_llama: Path, data: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    out = tmp_path_factory.mktemp("dpo") / "run"
    return out, train("dpo", tiny_llama, data["dpo"], out, "--max-steps", "2", "--batch-size", "2")


def test_dpo_writes_model_log_and_sidecar(dpo_run: tuple[Path, Result], tiny_llama: Path,
                                          data: dict[str, Path]) -> None:
    out, result = dpo_run
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                 "train_log.jsonl", "arena_train.json", "checkpoint-2"):
        assert (out / name).exists(), name
    lines = log_lines(out)
    assert [line["event"] for line in lines] == ["start", "log", "log", "summary"]
    steps = [line for line in lines if line["event"] == "log"]
    assert [s["step"] for s in steps] == [1, 2]
    for s in steps:
        assert {"loss", "rewards/margins", "rewards/accuracies", "epoch", "learning_rate"} <= set(s)
    assert lines[-1]["steps"] == 2 and lines[-1]["model_dir"] == str(out)
    # progress on stderr, the summary as JSON on stdout
    assert "dropping columns not used in training: metadata" in result.stderr
    assert "dpo step 2/2  epoch " in result.stderr and "rewards/margins" in result.stderr
    assert json.loads(result.stdout)["steps"] == 2
    meta = json.loads((out / "arena_train.json").read_text())
    assert meta["base_model"] == str(tiny_llama.resolve()) and meta["kind"] == "dpo"
    assert meta["data"]["path"] == str(data["dpo"]) and meta["data"]["records"] == 8
    assert len(meta["data"]["sha256"]) == 64
    assert meta["data"]["export_sidecar"]["content"] == {"exported_by": "arena", "pairs": 8}
    assert meta["config"]["bf16"] is False and meta["config"]["activation_checkpointing"] is False
    assert meta["effective_config"]["beta"] == 0.1 and meta["effective_config"]["max_steps"] == 2
    assert meta["steps"] == 2 and meta["lora"] is None and meta["adapter_dir"] is None
    assert "rewards/accuracies" in meta["final_metrics"] and meta["wall_time_s"] > 0


def test_dpo_model_loads_and_generates(dpo_run: tuple[Path, Result]) -> None:
    out, _ = dpo_run
    assert isinstance(generate(out), str)


def test_dpo_conversational_with_paper_preset_saves_adapter_and_merged(
        tiny_llama: Path, data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "lora"
    result = train("dpo", tiny_llama, data["dpo_conv"], out, "--preset", "codeultrafeedback",
                   "--max-steps", "2", "--batch-size", "4")
    assert "LoRA" in result.stderr and "preference (conversational)" in result.stderr
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert not (out / "model.safetensors").exists()
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (64, 128)
    assert adapter["base_model_name_or_path"] == str(tiny_llama.resolve())
    merged = out / "merged"
    assert (merged / "model.safetensors").is_file() and (merged / "tokenizer.json").is_file()
    assert not list(out.glob(".merged.*"))
    meta = json.loads((out / "arena_train.json").read_text())
    assert meta["preset"] == "codeultrafeedback" and meta["model_dir"] == str(merged)
    assert meta["effective_config"]["learning_rate"] == 5e-5
    assert meta["effective_config"]["num_train_epochs"] == 3 and meta["effective_config"]["beta"] == 0.1
    assert meta["lora"]["r"] == 64 and meta["adapter_dir"] == str(out)
    assert isinstance(generate(merged), str)


def test_resume_from_last_checkpoint(tiny_llama: Path, data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "resume"
    train("dpo", tiny_llama, data["dpo"], out, "--max-steps", "2", "--save-steps", "1",
          "--batch-size", "2")
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    again = train("dpo", tiny_llama, data["dpo"], out, "--max-steps", "3", "--save-steps", "1",
                  "--batch-size", "2")
    assert f"resuming from checkpoint-2 in {out}" in again.stderr
    assert "dpo step 3/3" in again.stderr and "dpo step 1/" not in again.stderr
    lines = log_lines(out)
    starts = [line for line in lines if line["event"] == "start"]
    assert [s["resumed_from"] for s in starts] == [None, "checkpoint-2"]
    assert [line["step"] for line in lines if line["event"] == "log"] == [1, 2, 3]
    meta = json.loads((out / "arena_train.json").read_text())
    assert meta["steps"] == 3 and meta["resumed_from"] == "checkpoint-2"
    # save_total_limit 2 keeps the last two
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-2", "checkpoint-3"}
    fresh = train("dpo", tiny_llama, data["dpo"], out, "--max-steps", "1", "--no-resume")
    assert "--no-resume: removing earlier checkpoints" in fresh.stderr
    assert [line["event"] for line in log_lines(out)] == ["start", "log", "summary"]
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-1"}


def test_sft_prompt_completion(tiny_llama: Path, data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sft"
    result = train("sft", tiny_llama, data["sft"], out, "--max-steps", "2", "--batch-size", "2",
                   "--lr", "1e-4")
    steps = [line for line in log_lines(out) if line["event"] == "log"]
    assert [s["step"] for s in steps] == [1, 2] and all("loss" in s and "epoch" in s for s in steps)
    assert "sft step 2/2  epoch " in result.stderr and "loss " in result.stderr
    meta = json.loads((out / "arena_train.json").read_text())
    assert meta["kind"] == "sft" and meta["effective_config"]["learning_rate"] == 1e-4
    assert "beta" not in meta["effective_config"]
    assert isinstance(generate(out), str)


def test_sft_messages_with_lora_and_config_file(tiny_llama: Path, data: dict[str, Path],
                                                tmp_path: Path) -> None:
    config = tmp_path / "sft.toml"
    config.write_text("max_length = 256\nseed = 7\n[lora]\nr = 4\nlora_alpha = 8\n")
    out = tmp_path / "sft-lora"
    train("sft", tiny_llama, data["sft_msgs"], out, "--config", str(config), "--max-steps", "2")
    meta = json.loads((out / "arena_train.json").read_text())
    assert meta["config_file"] == str(config) and meta["effective_config"]["max_length"] == 256
    assert meta["lora"] == {"r": 4, "lora_alpha": 8, "lora_dropout": 0.05, "task_type": "CAUSAL_LM"}
    assert (out / "adapter_model.safetensors").is_file() and (out / "merged" / "model.safetensors").is_file()


def test_invalid_config_value_is_a_clean_error(tiny_llama: Path, data: dict[str, Path],
                                               tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('lr_scheduler_type = "sideways"\n')
    result = CliRunner().invoke(train_app, ["dpo", "--model", str(tiny_llama), "--data",
                                            str(data["dpo"]), "--out", str(tmp_path / "o"),
                                            "--config", str(config)])
    assert result.exit_code == 2
    assert f"error: {config}: invalid DPOConfig settings: " in result.stderr
    assert "sideways" in result.stderr


def test_load_dataset_drops_extra_columns(tmp_path: Path, data: dict[str, Path]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    from trainers.data import inspect_data, load_dataset

    rows = [json.loads(line) for line in data["dpo"].read_text().splitlines()]
    folder = tmp_path / "saved"
    Dataset.from_list(rows).save_to_disk(str(folder))
    parquet = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (data["dpo"], folder, parquet):
        loaded = load_dataset(inspect_data(path, "dpo"))
        assert loaded.column_names == ["prompt", "chosen", "rejected"] and len(loaded) == 8


def test_early_field_names_match_the_installed_classes() -> None:
    from peft import LoraConfig
    from trl import DPOConfig, SFTConfig

    from trainers.fields import config_fields

    for which, cls in (("dpo", DPOConfig), ("sft", SFTConfig), ("lora", LoraConfig)):
        assert config_fields(which) == {f.name for f in dataclasses.fields(cls) if f.init}, which
