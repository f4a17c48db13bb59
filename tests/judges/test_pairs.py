"""load_pairs: CodePrefBench JSONL/arrays, HumanEvalPack correct-vs-buggy pairs, strict errors."""

from __future__ import annotations

import ast
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arena.domain import ArenaError
from judges.pairs import LabelledPair, PairsError, load_pairs

ROOT = Path(__file__).resolve().parents[2]
HUMANEVALPACK = ROOT.parent / "shared/data/humanevalpack/humanevalpack-python.jsonl.gz"
needs_humanevalpack = pytest.mark.skipif(
    not HUMANEVALPACK.exists(),
    reason=f"HumanEvalPack reference file absent: {HUMANEVALPACK} "
           "(see ../shared/data/README.md; the project does not ship benchmark data)",
)


def rec(task_id: str = "correctness/1", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "task_id": task_id,
        "instruction": "Reverse a list.",
        "choices": ["def f(xs):\n    return xs[::-1]\n", "def f(xs):\n    return xs\n"],
        "gt_choice": 0,
    }
    base.update(over)
    return base


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- CodePrefBench


def test_codeprefbench_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [
        rec("correctness/1"),
        rec("efficiency/7", gt_choice=1, tests="def check(f): pass", entry_point="f"),
    ])
    fmt, pairs = load_pairs(path)
    assert fmt == "codeprefbench"
    assert pairs[0] == LabelledPair(
        task_id="correctness/1", instruction="Reverse a list.",
        choices=("def f(xs):\n    return xs[::-1]\n", "def f(xs):\n    return xs\n"),
        gt_choice=0, category="correctness", source=f"{path}:1",
    )
    assert (pairs[1].gt_choice, pairs[1].tests, pairs[1].entry_point) == (1, "def check(f): pass", "f")
    assert pairs[1].source == f"{path}:2"


def test_codeprefbench_json_array_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([rec("a/1"), rec("a/2")], indent=2), encoding="utf-8")
    fmt, pairs = load_pairs(path)
    assert fmt == "codeprefbench"
    assert [p.task_id for p in pairs] == ["a/1", "a/2"]
    lines = path.read_text().splitlines()
    for p in pairs:
        line = int(p.source.rsplit(":", 1)[1])
        assert lines[line - 1].strip() == "{"  # the line where the record opens
    assert pairs[0].source != pairs[1].source


def test_gt_choice_as_letters(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [rec("x/1", gt_choice="A"), rec("x/2", gt_choice="B")])
    _, pairs = load_pairs(path)
    assert [p.gt_choice for p in pairs] == [0, 1]


@pytest.mark.parametrize(("record", "category"), [
    (rec("security/3", category="secure"), "secure"),
    (rec("security/3", criterion="efficiency"), "efficiency"),
    (rec("security/3"), "security"),
    (rec("human:12"), "human"),
    (rec("plain-id"), None),
    (rec("/odd"), None),
])
def test_category(tmp_path: Path, record: dict[str, Any], category: str | None) -> None:
    _, pairs = load_pairs(write_jsonl(tmp_path / "p.jsonl", [record]))
    assert pairs[0].category == category


def test_gz_is_read_transparently(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(rec("a/1")) + "\n" + json.dumps(rec("a/2", gt_choice="B")) + "\n")
    fmt, pairs = load_pairs(path)
    assert fmt == "codeprefbench"
    assert [(p.task_id, p.gt_choice) for p in pairs] == [("a/1", 0), ("a/2", 1)]


def test_limit_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(rec(f"a/{i}")) for i in range(5)).replace("\n", "\n\n"))
    _, pairs = load_pairs(path, limit=2)
    assert [p.task_id for p in pairs] == ["a/0", "a/1"]
    assert pairs[1].source == f"{path}:3"
    with pytest.raises(PairsError, match="limit"):
        load_pairs(path, limit=0)


# ----------------------------------------------------------------------------- errors


def check_error(path: Path, line: int | None, *needles: str) -> PairsError:
    with pytest.raises(PairsError) as info:
        load_pairs(path)
    message = str(info.value)
    where = f"{path}:{line}:" if line is not None else f"{path}:"
    assert where in message, message
    for needle in needles:
        assert needle in message, message
    assert isinstance(info.value, ArenaError)
    return info.value


@pytest.mark.parametrize(("bad", "needles"), [
    ({k: v for k, v in rec("a/9").items() if k != "choices"}, ["missing field choices"]),
    ({k: v for k, v in rec("a/9").items() if k != "gt_choice"}, ["missing field gt_choice"]),
    ({k: v for k, v in rec("a/9").items() if k != "instruction"}, ["missing field instruction"]),
    ({k: v for k, v in rec("a/9").items() if k != "task_id"}, ["missing field task_id"]),
    (rec("a/9", choices=["only one"]), ["field choices", "two strings"]),
    (rec("a/9", choices=["a", "b", "c"]), ["field choices", "two strings"]),
    (rec("a/9", choices=["a", 2]), ["field choices", "two strings"]),
    (rec("a/9", choices="ab"), ["field choices"]),
    (rec("a/9", gt_choice=2), ["field gt_choice", '"A" or "B"', "got 2"]),
    (rec("a/9", gt_choice="C"), ["field gt_choice", "got \"C\""]),
    (rec("a/9", gt_choice=True), ["field gt_choice", "got true"]),
    (rec("a/9", instruction=""), ["field instruction", "non-empty string"]),
    (rec("a/9", category=3), ["field category", "string"]),
    (rec("a/9", tests=["x"]), ["field tests", "string"]),
])
def test_bad_record_names_line_and_field(tmp_path: Path, bad: dict[str, Any], needles: list[str]) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [rec("a/1"), rec("a/2"), bad])
    check_error(path, 3, *needles)


def test_bad_record_in_json_array(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([rec("a/1"), rec("a/2", gt_choice=5)], indent=1), encoding="utf-8")
    opens = [i for i, s in enumerate(path.read_text().splitlines(), 1) if s.strip() == "{"]
    check_error(path, opens[1], "field gt_choice")


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(rec("a/1")) + "\n{not json\n", encoding="utf-8")
    check_error(path, 2, "not valid JSON")


def test_broken_json_array(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('[\n  {"task_id": "a/1",\n   "choices": [1,, 2]}\n]\n', encoding="utf-8")
    check_error(path, 3, "not valid JSON")
    path.write_text(json.dumps([rec("a/1")]) + "\n[]\n", encoding="utf-8")
    check_error(path, 1, "after the closing")


def test_record_not_an_object(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [rec("a/1"), ["a", "b"]])
    check_error(path, 2, "expected a JSON object")


@pytest.mark.parametrize("content", ["", "\n\n  \n", "[]", "  [ ]\n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(content, encoding="utf-8")
    check_error(path, None, "no records")


def test_missing_file(tmp_path: Path) -> None:
    check_error(tmp_path / "nope.jsonl", None, "no such file")


def test_broken_gzip(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl.gz"
    path.write_bytes(b"not gzip at all")
    check_error(path, None, "cannot read")


def test_unknown_format(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "prompt": "hi"}])
    check_error(path, 1, "cannot tell the format", "CodePrefBench", "HumanEvalPack")


def test_duplicate_task_ids(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [rec("a/1"), rec("a/2"), rec("a/1")])
    check_error(path, 3, "field task_id", "'a/1'", "line 1")


def test_later_record_of_the_other_format_is_rejected(tmp_path: Path) -> None:
    hep = {"task_id": "Python/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
           "buggy_solution": "    return 2\n", "test": "def check(f): assert f() == 1\n",
           "entry_point": "f"}
    path = write_jsonl(tmp_path / "p.jsonl", [rec("a/1"), hep])
    check_error(path, 2, "missing field instruction")
    path = write_jsonl(tmp_path / "q.jsonl", [hep, rec("a/1")])
    check_error(path, 2, "missing field prompt")


def test_humanevalpack_missing_field(tmp_path: Path) -> None:
    hep = {"task_id": "Python/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
           "buggy_solution": "    return 2\n", "entry_point": "f"}
    check_error(write_jsonl(tmp_path / "p.jsonl", [hep]), 1, "missing field test")


# ----------------------------------------------------------------------------- HumanEvalPack


@pytest.fixture(scope="module")
def hep_raw() -> list[dict[str, Any]]:
    if not HUMANEVALPACK.exists():
        pytest.skip(f"HumanEvalPack reference file absent: {HUMANEVALPACK}")
    with gzip.open(HUMANEVALPACK, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@needs_humanevalpack
def test_humanevalpack_pairs(hep_raw: list[dict[str, Any]]) -> None:
    fmt, pairs = load_pairs(HUMANEVALPACK)
    assert fmt == "humanevalpack"
    assert len(pairs) == 164
    assert 60 <= sum(p.gt_choice == 0 for p in pairs) <= 104
    for pair, raw in zip(pairs, hep_raw, strict=True):
        correct = pair.choices[pair.gt_choice]
        buggy = pair.choices[1 - pair.gt_choice]
        assert correct == raw["prompt"] + raw["canonical_solution"]
        assert buggy == raw["prompt"] + raw["buggy_solution"]
        assert pair.instruction == raw["instruction"]
        assert (pair.tests, pair.entry_point, pair.category) == (
            raw["test"], raw["entry_point"], raw["bug_type"])
        for choice in pair.choices:
            compile(choice, pair.task_id, "exec")
        defined = {n.name for n in ast.parse(correct).body if isinstance(n, ast.FunctionDef)}
        assert pair.entry_point in defined, pair.task_id


@needs_humanevalpack
def test_humanevalpack_positions_follow_the_seed() -> None:
    _, a = load_pairs(HUMANEVALPACK, seed=0)
    _, b = load_pairs(HUMANEVALPACK, seed=0)
    _, c = load_pairs(HUMANEVALPACK, seed=1)
    assert a == b
    assert [p.gt_choice for p in a] != [p.gt_choice for p in c]
    # a task's position does not depend on limit
    _, head = load_pairs(HUMANEVALPACK, seed=1, limit=10)
    assert head == c[:10]


@needs_humanevalpack
def test_humanevalpack_limit() -> None:
    fmt, pairs = load_pairs(HUMANEVALPACK, limit=5)
    assert fmt == "humanevalpack"
    assert [p.task_id for p in pairs] == [f"Python/{i}" for i in range(5)]


def run_check(code: str, tests: str, entry_point: str) -> subprocess.CompletedProcess[str]:
    program = f"{code}\n\n{tests}\n\ncheck({entry_point})\n"
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=10)


@needs_humanevalpack
def test_humanevalpack_correct_passes_and_buggy_fails() -> None:
    _, pairs = load_pairs(HUMANEVALPACK, limit=5)
    for pair in pairs:
        assert pair.tests is not None and pair.entry_point is not None
        correct = run_check(pair.choices[pair.gt_choice], pair.tests, pair.entry_point)
        assert correct.returncode == 0, (pair.task_id, correct.stderr)
        buggy = run_check(pair.choices[1 - pair.gt_choice], pair.tests, pair.entry_point)
        assert buggy.returncode != 0, pair.task_id
        assert "Error" in buggy.stderr, (pair.task_id, buggy.stderr)
