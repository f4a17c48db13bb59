"""The execution judge: code extraction, real runs of the demo pack's tests, and judged code
that attacks the machine — contained, reported, and never touching the project's files."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from arena.domain import Prompt
from arena.services.prompts import DEMO_SET
from judges.execution import ExecutionJudge, calls_check
from judges.extraction import extract_code
from judges.sandbox import isolation_layers

pytest.importorskip("evalplus.sanitize", reason="the execution judge needs the eval extra")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo" / "prompts.jsonl"


def prompt(tests: str, entry_point: str | None = "add") -> Prompt:
    return Prompt(id=1, external_id="t1", set_name="s", text="Write add(a, b).", tests=tests,
                  entry_point=entry_point, language="python")


def score(judge: ExecutionJudge, p: Prompt, answer: str) -> tuple[float, str | None, dict]:
    got = asyncio.run(judge.score(p, [answer]))
    return got.scores[0], got.rationales[0], json.loads(got.raw or "{}")


def test_extract_code_takes_the_function_out_of_a_chatty_answer() -> None:
    answer = ("Sure! Here is the code:\n\n```python\nimport math\n\ndef add(a, b):\n"
              "    return a + b\n\nprint(add(1, 2))\n```\n\nIt adds two numbers.")
    code = extract_code(answer, "add")
    assert "def add(a, b):" in code and "import math" in code
    assert "print(" not in code and "Sure!" not in code


def test_extract_code_keeps_helpers_the_tests_call_and_functions_without_return() -> None:
    helpers = "```python\ndef enc(s):\n    return s[::-1]\n\ndef dec(s):\n    return enc(s)\n```"
    assert "def enc" in extract_code(helpers, "dec")
    in_place = "```python\ndef sort_in_place(xs):\n    xs.sort()\n```"
    assert "def sort_in_place" in extract_code(in_place, "sort_in_place")
    assert extract_code("no code at all", "f") == "no code at all"


def test_calls_check_detects_test_files_that_run_themselves() -> None:
    assert calls_check("def check(c):\n    assert c(1) == 2\n\ncheck(add)\n")
    assert not calls_check("def check(c):\n    assert c(1) == 2\n")
    assert not calls_check("this is not python (")


def test_pass_fail_and_what_the_rationale_says() -> None:
    judge = ExecutionJudge("exec", timeout=3)
    p = prompt("assert add(2, 3) == 5\nassert add(-1, 1) == 0\n")
    s, why, raw = score(judge, p, "```python\ndef add(a, b):\n    return a + b\n```")
    assert (s, why, raw["status"]) == (1.0, "passed all tests", "passed")
    s, why, raw = score(judge, p, "```python\ndef add(a, b):\n    return a - b\n```")
    assert s == 0.0 and raw["status"] == "failed" and "assert add(2, 3) == 5" in (why or "")
    s, why, raw = score(judge, p, "```python\ndef add(a, b):\n    while True:\n        pass\n```")
    assert s == 0.0 and raw["status"] == "timeout"
    s, why, raw = score(judge, p, "```python\ndef plus(a, b):\n    return a + b\n```")
    assert s == 0.0 and raw["status"] == "error"


def test_humaneval_style_check_with_entry_point() -> None:
    judge = ExecutionJudge("exec")
    tests = "def check(candidate):\n    assert candidate(2, 2) == 4\n"
    assert score(judge, prompt(tests), "def add(a, b):\n    return a + b\n")[0] == 1.0
    assert score(judge, prompt(tests), "def add(a, b):\n    return a * b + 1\n")[0] == 0.0


def test_applies_only_to_python_prompts_with_tests() -> None:
    judge = ExecutionJudge("exec")
    assert judge.applies(prompt("assert True")) is None
    assert "no tests" in (judge.applies(prompt("")) or "")
    go = Prompt(id=1, external_id="g", set_name="s", text="x", tests="assert True", language="go")
    assert "only for Python" in (judge.applies(go) or "")


def test_demo_pack_answers_score_as_their_quality_says() -> None:
    """The demo's recorded answers, run against the demo prompts' real tests."""
    judge = ExecutionJudge("exec", timeout=5)
    rows = [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()]
    tested = [r for r in rows if r.get("tests")]
    assert len(tested) == 12

    async def run_all() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for r in tested:
            p = Prompt(id=None, external_id=r["id"], set_name=DEMO_SET, text=r["prompt"],
                       tests=r["tests"], entry_point=r.get("entry_point"), language="python")
            for model, answer in r["answers"].items():
                got = await judge.score(p, [answer])
                out.setdefault(model, []).append(got.scores[0])
        return out

    scores = asyncio.run(run_all())
    assert sum(scores["sample-strong"]) == 12
    assert sum(scores["sample-sloppy"]) == 0
    assert 0 < sum(scores["sample-terse"]) < 12


# Attacks sit inside the function the tests call: the sanitizer drops top-level statements.
ATTACKS = {
    "delete": "import os\n    os.remove({path!r})",
    "rmtree": "import shutil\n    shutil.rmtree({folder!r})",
    "overwrite": "open({path!r}, 'w').write('pwned')",
    "rename": "import os\n    os.rename({path!r}, {path!r} + '.moved')",
    "shell": "import subprocess\n    subprocess.run(['rm', '-f', {path!r}], check=True)",
}


def attacking(body: str) -> str:
    return f"```python\ndef add(a, b):\n    {body}\n    return a + b\n```"


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_judged_code_cannot_touch_the_projects_files(attack: str) -> None:
    """A canary file inside the project tree (never a real project file) survives every
    attempt, and the judge reports what the code tried."""
    if "landlock" not in isolation_layers() and "user:nobody" not in " ".join(isolation_layers()):
        pytest.skip(f"no file-system isolation on this machine: {isolation_layers()}")
    folder = ROOT / f".canary-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    canary = folder / "keep.txt"
    canary.write_text("intact")
    try:
        answer = attacking(ATTACKS[attack].format(path=str(canary), folder=str(folder)))
        s, why, raw = score(ExecutionJudge("exec", timeout=5), prompt("assert add(1, 1) == 2"),
                            answer)
        assert canary.read_text() == "intact"
        assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
        assert s == 0.0 and raw["status"] == "blocked", (why, raw)
        assert (why or "").startswith("blocked:")
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_judged_code_cannot_reach_the_network_or_fork() -> None:
    judge = ExecutionJudge("exec", timeout=5)
    net = attacking("import socket\n    socket.create_connection(('127.0.0.1', 22), timeout=2)")
    s, why, raw = score(judge, prompt("assert add(1, 1) == 2"), net)
    assert s == 0.0 and raw["status"] == "blocked" and "network" in (why or "")
    if "nproc" in isolation_layers():
        fork = attacking("import os\n    os.fork()")
        s, why, raw = score(judge, prompt("assert add(1, 1) == 2"), fork)
        assert s == 0.0 and raw["status"] == "blocked" and "process" in (why or "")
