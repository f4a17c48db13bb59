"""The light half of ``arena train``: data files, config files, presets and plans are checked
without torch, transformers, trl or datasets (those are asserted absent in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from trainers import TrainError
from trainers.data import inspect_data
from trainers.plan import TrainRequest, checkpoints, make_plan
from trainers.presets import load_config_file
from trainers.progress import format_step

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "transformers", "trl", "datasets", "peft", "tokenizers"}
CONV = [{"role": "user", "content": "Add two numbers."}]
PAIR = {"prompt": "Add two numbers.", "chosen": "def add(a, b):\n    return a + b",
        "rejected": "def add(a, b):\n    return a - b", "metadata": {"battle": 1}}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def error_of(path: Path, kind: str = "dpo") -> str:
    with pytest.raises(TrainError) as info:
        inspect_data(path, kind)  # type: ignore[arg-type]
    return str(info.value)


def test_standard_and_conversational_pairs(tmp_path: Path) -> None:
    std = inspect_data(write_jsonl(tmp_path / "a.jsonl", [PAIR, "", PAIR]), "dpo")
    assert (std.columns, std.style, std.records, std.dropped) == (
        ("prompt", "chosen", "rejected"), "standard", 2, ("metadata",))
    conv_row = {"prompt": CONV, "chosen": [{"role": "assistant", "content": "A"}],
                "rejected": [{"role": "assistant", "content": "B"}]}
    conv = inspect_data(write_jsonl(tmp_path / "b.jsonl", [conv_row]), "dpo")
    assert (conv.style, conv.format, conv.dropped) == ("conversational", "preference (conversational)", ())
    implicit = inspect_data(write_jsonl(tmp_path / "c.jsonl", [
        {"chosen": CONV + [{"role": "assistant", "content": "A"}],
         "rejected": CONV + [{"role": "assistant", "content": "B"}]}]), "dpo")
    assert implicit.columns == ("chosen", "rejected")


def test_sft_formats(tmp_path: Path) -> None:
    pc = inspect_data(write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "p", "completion": "c"}]), "sft")
    msgs = inspect_data(write_jsonl(tmp_path / "m.jsonl", [{"messages": CONV}]), "sft")
    assert (pc.columns, msgs.columns, msgs.style) == (("prompt", "completion"), ("messages",), "conversational")
    assert "'messages' must be a list of role/content messages" in error_of(
        write_jsonl(tmp_path / "x.jsonl", [{"messages": "hi"}]), "sft")
    assert error_of(write_jsonl(tmp_path / "y.jsonl", [{"prompt": "p"}]), "sft").endswith(
        "missing column 'completion'; SFT data needs (prompt, completion) or (messages) or (text); "
        "found: prompt")


def test_data_errors_name_file_line_and_columns(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.jsonl") == f"data file not found: {tmp_path / 'nope.jsonl'}"
    bad = write_jsonl(tmp_path / "bad.jsonl", [PAIR, PAIR, '{"prompt": "x", "chosen": '])
    assert error_of(bad).startswith(f"{bad} line 3: not valid JSON (")
    missing = write_jsonl(tmp_path / "missing.jsonl", [{"prompt": "p", "chosen": "c", "metadata": {}}])
    assert error_of(missing) == (
        f"{missing} line 1: missing column 'rejected'; DPO data needs (prompt, chosen, rejected) "
        "or (chosen, rejected); found: prompt, chosen, metadata")
    later = write_jsonl(tmp_path / "later.jsonl", [PAIR, {"prompt": "p", "chosen": "c"}])
    assert "line 2: missing column 'rejected'" in error_of(later)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert error_of(empty) == f"{empty}: empty, no records; export some pairs first"
    assert "line 1: expected a JSON object, got list" in error_of(write_jsonl(tmp_path / "l.jsonl", [[1]]))
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{**PAIR, "prompt": CONV}])
    assert "mixes plain strings and message lists" in error_of(mixed)
    across = write_jsonl(tmp_path / "across.jsonl", [
        PAIR, {"prompt": CONV, "chosen": CONV, "rejected": CONV}])
    assert "line 2: conversational record in a file of standard records" in error_of(across)
    assert "message 0 is not a" in error_of(write_jsonl(tmp_path / "msg.jsonl", [
        {"prompt": [{"role": "user"}], "chosen": CONV, "rejected": CONV}]))
    assert "unsupported data file type '.csv'" in error_of(write_jsonl(tmp_path / "d.csv", [PAIR]))


def test_parquet_and_arrow_folder(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [PAIR, PAIR]
    table = pa.Table.from_pylist([{**r, "metadata": json.dumps(r["metadata"])} for r in rows])
    pq.write_table(table, tmp_path / "pairs.parquet")
    summary = inspect_data(tmp_path / "pairs.parquet", "dpo")
    assert (summary.source, summary.records, summary.dropped) == ("parquet", 2, ("metadata",))
    pq.write_table(table.drop(["rejected"]), tmp_path / "broken.parquet")
    assert "missing column 'rejected'" in error_of(tmp_path / "broken.parquet")
    pq.write_table(table.slice(0, 0), tmp_path / "empty.parquet")
    assert "empty, no records" in error_of(tmp_path / "empty.parquet")
    conv = pa.Table.from_pylist([{"messages": CONV}])
    pq.write_table(conv, tmp_path / "sft.parquet")
    assert inspect_data(tmp_path / "sft.parquet", "sft").style == "conversational"
    # a datasets save_to_disk folder, written the way datasets writes it (arrow stream + state)
    folder = tmp_path / "ds"
    folder.mkdir()
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink, \
            pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    arrow = inspect_data(folder, "dpo")
    assert (arrow.source, arrow.records, arrow.columns) == ("arrow", 2, ("prompt", "chosen", "rejected"))
    assert "not a datasets save_to_disk folder" in error_of(tmp_path)


def test_config_file(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('beta = 0.2\nmax_length = 512\n[lora]\nr = 8\ntarget_modules = ["q_proj"]\n')
    cfg = load_config_file(good, "dpo")
    assert cfg.args == {"beta": 0.2, "max_length": 512} and cfg.lora == {"r": 8, "target_modules": ["q_proj"]}
    cases = {
        "betta = 0.2\n": "unknown DPOConfig field 'betta' (did you mean 'beta'?)",
        "[lora]\nrank = 8\n": "[lora]: unknown LoraConfig field 'rank'",
        "output_dir = 'x'\n": "'output_dir' is set on the command line (--out)",
        "beta = \n": "not valid TOML",
        "lora = 3\n": "'lora' must be a table",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(TrainError, match=None) as info:
            load_config_file(path, "dpo")
        assert str(info.value).startswith(str(path)) and message in str(info.value), str(info.value)
    sft_only = tmp_path / "sft.toml"
    sft_only.write_text("beta = 0.1\n")  # beta is DPO's
    with pytest.raises(TrainError, match="unknown SFTConfig field 'beta'"):
        load_config_file(sft_only, "sft")
    with pytest.raises(TrainError, match="config file not found"):
        load_config_file(tmp_path / "none.toml", "dpo")


def _model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return model


def test_plan_layers_presets_config_and_flags(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [PAIR])
    model = _model_dir(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text("beta = 0.3\nwarmup_steps = 5\n[lora]\nlora_dropout = 0.1\n")
    plan = make_plan(TrainRequest("dpo", str(model), data, tmp_path / "out",
                                  preset="codeultrafeedback", config=cfg, lr=1e-4))
    assert plan.args["learning_rate"] == 1e-4  # flag beats preset
    assert plan.args["beta"] == 0.3  # file beats preset
    assert plan.args["num_train_epochs"] == 3 and plan.args["warmup_steps"] == 5
    assert plan.lora == {"r": 64, "lora_alpha": 128, "lora_dropout": 0.1, "task_type": "CAUSAL_LM"}
    assert plan.model == str(model.resolve()) and plan.model_is_local
    off = make_plan(TrainRequest("dpo", str(model), data, tmp_path / "out",
                                 preset="codeultrafeedback", lora=False))
    assert off.lora is None
    plain = make_plan(TrainRequest("sft", str(model), write_jsonl(
        tmp_path / "s.jsonl", [{"prompt": "p", "completion": "c"}]), tmp_path / "o2", lora=True))
    assert plain.lora == {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "task_type": "CAUSAL_LM"}
    assert "beta" not in plain.args and plain.args["logging_steps"] == 1
    with pytest.raises(TrainError, match="--beta is a DPO setting"):
        make_plan(TrainRequest("sft", str(model), tmp_path / "s.jsonl", tmp_path / "o3", beta=0.1))
    with pytest.raises(TrainError, match="unknown preset 'paper'; presets: default, codeultrafeedback"):
        make_plan(TrainRequest("dpo", str(model), data, tmp_path / "o4", preset="paper"))


def test_plan_checks_model_and_output_folders(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [PAIR])
    model = _model_dir(tmp_path)
    with pytest.raises(TrainError, match="model folder not found: ./missing"):
        make_plan(TrainRequest("dpo", "./missing", data, tmp_path / "out"))
    assert make_plan(TrainRequest("dpo", "org/model", data, tmp_path / "out")).model_is_local is False
    with pytest.raises(TrainError, match="is the base model"):
        make_plan(TrainRequest("dpo", str(model), data, model))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(TrainError, match="not empty and holds no earlier training run"):
        make_plan(TrainRequest("dpo", str(model), data, busy))


def test_resume_decisions(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [PAIR])
    model = _model_dir(tmp_path)
    out = tmp_path / "out"
    for step in (2, 10, 4):
        (out / f"checkpoint-{step}").mkdir(parents=True)
        (out / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (out / "checkpoint-99").mkdir()  # no trainer state: not a checkpoint
    assert [p.name for p in checkpoints(out)] == ["checkpoint-2", "checkpoint-4", "checkpoint-10"]
    plan = make_plan(TrainRequest("dpo", str(model), data, out))
    assert plan.resume_from == (out / "checkpoint-10").resolve()
    assert any("resuming from checkpoint-10" in n for n in plan.notes)
    fresh = make_plan(TrainRequest("dpo", str(model), data, out, resume=False))
    assert fresh.resume_from is None and len(fresh.stale_checkpoints) == 3
    empty = make_plan(TrainRequest("dpo", str(model), data, tmp_path / "new", resume=True))
    assert empty.resume_from is None and any("--resume: no checkpoint" in n for n in empty.notes)


def test_terminal_line() -> None:
    line = format_step("dpo", 2, 3, {"loss": 0.69, "rewards/margins": 0.0012, "rewards/accuracies": 1.0,
                                     "learning_rate": 5e-7, "epoch": 0.5, "grad_norm": 3.0})
    assert line == ("dpo step 2/3  epoch 0.50  loss 0.6900  rewards/margins 0.0012  "
                    "rewards/accuracies 1.0000  lr 5.000e-07")


def test_checks_import_nothing_heavy(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [PAIR])
    cfg = tmp_path / "c.toml"
    cfg.write_text("beta = 0.2\n[lora]\nr = 4\n")
    _model_dir(tmp_path)
    probe = f"""
import json, sys
from pathlib import Path
from trainers.plan import TrainRequest, make_plan
from trainers.data import inspect_data
make_plan(TrainRequest("dpo", {str(tmp_path / 'model')!r}, Path({str(data)!r}), Path({str(tmp_path / 'o')!r}),
                       config=Path({str(cfg)!r}), preset="codeultrafeedback"))
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r})))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
