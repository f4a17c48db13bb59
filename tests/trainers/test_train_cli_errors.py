"""``arena train dpo|sft`` with bad inputs: exit code 2, one message naming the file, line
or key, and no torch/transformers/trl/datasets imported — checked in a fresh interpreter
that drives ``train_app`` through Typer's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["torch", "transformers", "trl", "datasets", "peft", "tokenizers"]
PAIR = {"prompt": "p", "chosen": "c", "rejected": "r", "metadata": {"battle": 1}}

PROBE = """
import json, sys
from typer.testing import CliRunner
from arena.cli.train import train_app
cases = json.loads(sys.argv[1])
results = {}
for name, args in cases.items():
    r = CliRunner().invoke(train_app, args)
    results[name] = {"code": r.exit_code, "stderr": r.stderr, "stdout": r.stdout}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print(json.dumps({"results": results, "heavy": heavy}))
""".replace("HEAVY", repr(HEAVY))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("bad-inputs")
    model = tmp / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")  # never loaded: every case fails before
    good = tmp / "good.jsonl"
    good.write_text(json.dumps(PAIR) + "\n")
    bad_json = tmp / "bad.jsonl"
    bad_json.write_text(json.dumps(PAIR) + "\n" + json.dumps(PAIR) + "\n{oops\n")
    no_column = tmp / "nocol.jsonl"
    no_column.write_text(json.dumps({"prompt": "p", "chosen": "c", "metadata": {}}) + "\n")
    empty = tmp / "empty.jsonl"
    empty.write_text("")
    config = tmp / "cfg.toml"
    config.write_text("beta = 0.1\nlearning_rat = 1e-5\n")
    sft_cols = tmp / "sft.jsonl"
    sft_cols.write_text(json.dumps({"prompt": "p", "answer": "a"}) + "\n")

    def args(kind: str, data: Path, *extra: str) -> list[str]:
        return [kind, "--model", str(model), "--data", str(data), "--out", str(tmp / "out"), *extra]

    cases = {
        "missing": args("dpo", tmp / "nope.jsonl"),
        "bad_json": args("dpo", bad_json),
        "no_column": args("dpo", no_column),
        "empty": args("dpo", empty),
        "config_key": args("dpo", good, "--config", str(config)),
        "sft_column": args("sft", sft_cols),
        "no_model": [*args("dpo", good)[:2], str(tmp / "no-model"), *args("dpo", good)[3:]],
        "preset": args("dpo", good, "--preset", "nope"),
    }
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(cases)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["tmp"] = str(tmp)
    return result


EXPECTED = {
    "missing": "error: data file not found: {tmp}/nope.jsonl",
    "bad_json": "error: {tmp}/bad.jsonl line 3: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    "no_column": "error: {tmp}/nocol.jsonl line 1: missing column 'rejected'; DPO data needs "
                 "(prompt, chosen, rejected) or (chosen, rejected); found: prompt, chosen, metadata",
    "empty": "error: {tmp}/empty.jsonl: empty, no records; export some pairs first",
    "config_key": "error: {tmp}/cfg.toml: unknown DPOConfig field 'learning_rat' (did you mean "
                  "'learning_rate'?); see the DPOConfig documentation for the fields it takes",
    "sft_column": "error: {tmp}/sft.jsonl line 1: missing column 'completion'; SFT data needs "
                  "(prompt, completion) or (messages) or (text); found: prompt, answer",
    "no_model": "error: model folder not found: {tmp}/no-model",
    "preset": "error: unknown preset 'nope'; presets: default, codeultrafeedback",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_input_exits_2_with_its_message(outcomes: dict[str, object], case: str) -> None:
    result = outcomes["results"][case]  # type: ignore[index]
    assert result["code"] == 2, result
    assert result["stdout"] == ""
    assert result["stderr"].strip() == EXPECTED[case].format(tmp=outcomes["tmp"])


def test_bad_inputs_import_no_training_stack(outcomes: dict[str, object]) -> None:
    assert outcomes["heavy"] == []
    assert not (Path(str(outcomes["tmp"])) / "out").exists()  # nothing half-written


def test_help_is_light() -> None:
    probe = ("import json, sys\nfrom typer.testing import CliRunner\nfrom arena.cli.train import train_app\n"
             "outs = [CliRunner().invoke(train_app, [c, '--help']).output for c in ('dpo', 'sft')]\n"
             f"print(json.dumps([outs, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})]))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=True)
    (dpo_help, sft_help), heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert heavy == []
    for option in ("--model", "--data", "--out", "--lora", "--config", "--preset", "--max-steps",
                   "--epochs", "--lr", "--batch-size", "--resume"):
        assert option in dpo_help and option in sft_help
    assert "--beta" in dpo_help and "--beta" not in sft_help
