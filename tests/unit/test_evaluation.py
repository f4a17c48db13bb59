"""``arena eval``'s service: datasets, prompts, sanitizing, scoring, and real evalplus runs.

The real checks: a model that answers with the canonical solutions scores 164/164 on
HumanEval+ and 378/378 on MBPP+ (base and plus tests), and HumanEvalPack's buggy solutions
score, task by task, what evalplus's own ``evaluate`` says they score. The answers come from
the OpenAI-protocol test server through the real provider, so the whole path runs: prompt,
HTTP, sanitizer, expected outputs, sandboxed tests, pass@k.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.domain import ArenaError
from arena.providers.replay import ReplayProvider
from arena.services import evaluation_data as data
from arena.services.evaluation import (
    NO_ANSWER,
    EvalOptions,
    EvalReport,
    Evaluator,
    SampleResult,
    score,
)
from judges.extraction import extract_code

pytest.importorskip("evalplus.sanitize", reason="arena eval needs the eval extra (evalplus)")

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
HUMANEVAL = SHARED / "humanevalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"
MBPP = SHARED / "mbppplus" / "MbppPlus-v0.2.0.jsonl.gz"
PACK = SHARED / "humanevalpack" / "humanevalpack-python.jsonl.gz"
FILES = {"humaneval": HUMANEVAL, "mbpp": MBPP}
needs_data = pytest.mark.skipif(not (HUMANEVAL.exists() and MBPP.exists()),
                                reason=f"evalplus datasets not found under {SHARED} (see its README)")
needs_pack = pytest.mark.skipif(not PACK.exists(), reason=f"HumanEvalPack not found at {PACK}")


def rows(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def fenced(code: str) -> str:
    return f"Here is the solution:\n\n```python\n{code}\n```\n\nIt handles the edge cases."


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Expected outputs, computed once per module (a full MBPP+ takes about a minute)."""
    return tmp_path_factory.mktemp("evalplus-cache")


def run(provider: Any, cache: Path, **options: Any) -> EvalReport:
    benchmark = options.setdefault("benchmark", "humaneval")
    options.setdefault("dataset", FILES[benchmark])
    options.setdefault("workers", 2)
    return asyncio.run(Evaluator(provider, cache_dir=cache).run("m", EvalOptions(**options)))


def replay(benchmark: str, answer: Callable[[dict[str, Any]], str | None]) -> ReplayProvider:
    answers = {r["task_id"]: a for r in rows(FILES[benchmark]) if (a := answer(r)) is not None}
    return ReplayProvider("m", answers)


# -- options, prompts, code --------------------------------------------------------------
@pytest.mark.parametrize(("options", "message"), [
    (dict(samples=0), "--samples: must be at least 1, got 0"),
    (dict(limit=0), "--limit: must be at least 1, got 0"),
    (dict(concurrency=0), "--concurrency: must be at least 1"),
    (dict(workers=-1), "--workers: must be at least 1"),
    (dict(temperature=-0.5), "--temperature: must not be negative"),
    (dict(benchmark="apps"), "unknown benchmark 'apps'"),
])
def test_bad_options_are_one_clear_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ArenaError, match=message.replace("(", r"\(")):
        EvalOptions(**options).check()


def test_default_temperature_is_greedy_for_one_sample() -> None:
    assert EvalOptions().sampling_temperature == 0.0
    assert EvalOptions(samples=5).sampling_temperature == 0.8
    assert EvalOptions(samples=5, temperature=0.2).sampling_temperature == 0.2
    assert EvalOptions(workers=3).worker_count == 3 and EvalOptions().worker_count >= 1


def test_prompts_ask_for_a_self_contained_function() -> None:
    he = {"prompt": 'def add(a, b):\n    """Add two numbers."""\n', "entry_point": "add"}
    text = data.task_prompt("humaneval", he)
    assert "self-contained" in text and '```python\ndef add(a, b):\n    """Add two numbers."""\n```' in text
    mbpp = {"prompt": '"""\nWrite a function to add two numbers.\nassert add(1, 2) == 3\n"""\n',
            "entry_point": "add"}
    text = data.task_prompt("mbpp", mbpp)
    assert "Task: Write a function to add two numbers." in text
    assert "Test:\n```python\nassert add(1, 2) == 3\n```" in text and '"""' not in text


def test_solution_code_takes_the_function_out_of_prose_and_keeps_what_it_needs() -> None:
    chatty = fenced("import math\n\ndef area(r):\n    return math.pi * r * r\n\nprint(area(2))")
    code = extract_code(chatty, "area")
    assert code == "import math\ndef area(r):\n    return math.pi * r * r"
    # the sanitizer drops functions without `return`: generator helpers come back
    gen = fenced("def pairs(xs):\n    for x in xs:\n        yield x, x\n\n"
                 "def f(xs):\n    return list(pairs(xs))\n\nassert f([1]) == [(1, 1)]")
    code = extract_code(gen, "f")
    assert code.index("def pairs") < code.index("def f") and "assert" not in code
    in_place = extract_code(fenced("def sort_it(xs):\n    xs.sort()"), "sort_it")
    assert "def sort_it(xs):" in in_place
    assert extract_code("no code here", "f") == "no code here"


# -- datasets -----------------------------------------------------------------------------
@needs_data
def test_datasets_load_with_evalplus_hashes() -> None:
    he = data.load_dataset("humaneval", HUMANEVAL)
    assert (len(he.problems), he.hash, he.version) == (164, "fe585eb4df8c88d844eeb463ea4d0302", "v0.1.10")
    mbpp = data.load_dataset("mbpp", MBPP)
    assert (len(mbpp.problems), mbpp.hash, mbpp.version) == (378, "ee43ecabebf20deef4bb776a405ac5b1", "v0.2.0")
    assert isinstance(mbpp.problems["Mbpp/2"]["base_input"][0][0], tuple)  # evalplus's deserializer ran
    assert list(he.problems)[:2] == ["HumanEval/0", "HumanEval/1"]


@needs_data
def test_override_variables_are_read_when_a_run_starts(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    import evalplus.data  # noqa: F401 - already imported: evalplus itself would not see the change

    monkeypatch.setenv("HUMANEVAL_OVERRIDE_PATH", str(HUMANEVAL))
    assert data.dataset_path("humaneval", None) == (HUMANEVAL, "HUMANEVAL_OVERRIDE_PATH")
    assert data.load_dataset("humaneval").hash == "fe585eb4df8c88d844eeb463ea4d0302"
    assert data.dataset_path("humaneval", MBPP)[1] == "--dataset"  # the flag wins
    monkeypatch.setenv("MBPP_OVERRIDE_PATH", str(tmp_path / "gone.jsonl"))
    with pytest.raises(ArenaError, match=r"MBPP_OVERRIDE_PATH=.*gone.jsonl: no such file"):
        data.load_dataset("mbpp")


def test_bad_dataset_files_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(ArenaError, match=r"--dataset: .*nope.jsonl: no such file"):
        data.load_dataset("humaneval", tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "HumanEval/0"}\n')
    with pytest.raises(ArenaError, match=r"bad.jsonl:1: missing field\(s\) prompt, entry_point"):
        data.load_dataset("humaneval", bad)
    bad.write_text("\n{not json\n")
    with pytest.raises(ArenaError, match=r"bad.jsonl:2: not valid JSON"):
        data.load_dataset("humaneval", bad)
    task = {k: "x" for k in data.REQUIRED} | {"task_id": "Mbpp/2"}
    bad.write_text(json.dumps(task) + "\n")
    with pytest.raises(ArenaError, match=r"bad.jsonl:1: task 'Mbpp/2' is not a HumanEval\+ task"):
        data.load_dataset("humaneval", bad)


# -- scoring ------------------------------------------------------------------------------
def test_pass_at_k_is_evalplus_unbiased_estimator() -> None:
    s = [SampleResult("t1", i, b, p) for i, (b, p) in enumerate(
        [("pass", "pass"), ("pass", "fail"), ("fail", "fail"), (NO_ANSWER, NO_ANSWER)])]
    s += [SampleResult("t2", i, "pass", "pass") for i in range(4)]
    base, plus = score(s, ["t1", "t2"], 4, "base"), score(s, ["t1", "t2"], 4, "plus")
    assert (base.pass_at_1, base.pass_at_k) == ((2 / 4 + 1) / 2, 1.0)
    assert (plus.pass_at_1, plus.pass_at_k) == ((1 / 4 + 1) / 2, 1.0)
    assert plus.per_task[0]["status"] == ["pass", "fail", "fail", NO_ANSWER]
    none = score([SampleResult("t", i, "fail", "fail") for i in range(3)], ["t"], 3, "base")
    assert (none.pass_at_1, none.pass_at_k, none.solved) == (0.0, 0.0, 0)
    # pass@2 of 1 correct in 3 samples: 1 - C(2,2)/C(3,2) = 2/3
    one = score([SampleResult("t", i, s, s) for i, s in enumerate(["fail", "pass", "fail"])],
                ["t"], 2, "plus")
    assert one.pass_at_k == pytest.approx(2 / 3) and one.pass_at_1 == pytest.approx(1 / 3)


# -- runs with an in-process provider ------------------------------------------------------
@needs_data
def test_canonical_wrong_failing_and_cached(cache_dir: Path) -> None:
    canonical = replay("humaneval", lambda r: fenced(r["prompt"] + r["canonical_solution"]))
    first = run(canonical, cache_dir, limit=4)
    assert [s.pass_at_1 for s in first.scores.values()] == [1.0, 1.0]
    assert first.groundtruth_computed == 4 and first.generation_failures == 0
    again = run(canonical, cache_dir, limit=4, plus=False)
    assert again.groundtruth_computed == 0 and list(again.scores) == ["base"]
    assert {s.plus for s in again.samples} == {None}
    wrong = replay("humaneval", lambda r: fenced(f"def {r['entry_point']}(*args):\n    return None"))
    assert run(wrong, cache_dir, limit=4).scores["plus"].pass_at_1 == 0.0
    # answers missing for two tasks: failed model calls, recorded and counted as failures
    some = replay("humaneval", lambda r: None if r["task_id"] in ("HumanEval/1", "HumanEval/3")
                  else fenced(r["prompt"] + r["canonical_solution"]))
    report = run(some, cache_dir, limit=4, samples=2)
    assert report.generation_failures == 4 and report.options.sampling_temperature == 0.8
    assert [(s.pass_at_1, s.pass_at_k, s.k) for s in report.scores.values()] == [(0.5, 0.5, 2)] * 2
    failed = [s for s in report.samples if s.base == NO_ANSWER]
    assert len(failed) == 4 and all("no recorded answer for prompt" in (s.error or "") for s in failed)
    assert report.groundtruth_computed == 0  # the other two were cached by the first run
    assert report.as_dict()["per_task"][1]["errors"].keys() == {"0", "1"}


@needs_data
def test_timeouts_and_crashes_fail_without_stopping_the_run(cache_dir: Path) -> None:
    answers = {"HumanEval/0": fenced("def has_close_elements(numbers, threshold):\n    while True:\n        pass"),
               "HumanEval/1": fenced("def separate_paren_groups(s):\n    raise SystemExit(3)"),
               "HumanEval/2": "I cannot help with that."}
    started = time.perf_counter()
    report = run(ReplayProvider("m", answers), cache_dir, limit=3)
    # an input past its time limit fails the sample (evalplus stops at the first failed input)
    assert [s.base for s in report.samples] == ["fail", "fail", "fail"]
    assert report.generation_failures == 0 and time.perf_counter() - started < 60


@needs_data
def test_evalplus_timeout_variable_is_ignored_with_a_note(cache_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """evalplus 0.3.1 raises a TypeError in every check when EVALPLUS_TIMEOUT_PER_TASK is set."""
    monkeypatch.setenv("EVALPLUS_TIMEOUT_PER_TASK", "20")
    canonical = replay("humaneval", lambda r: fenced(r["prompt"] + r["canonical_solution"]))
    report = run(canonical, cache_dir, limit=2)
    assert report.scores["plus"].pass_at_1 == 1.0
    assert report.notes and "EVALPLUS_TIMEOUT_PER_TASK is ignored" in report.notes[0]


@needs_data
def test_evalplus_find_zero_bug_is_worked_around(cache_dir: Path) -> None:
    """evalplus 0.3.1 fails every HumanEval/32 solution, canonical included (its find_zero
    oracle skips the line that marks an input passed); ours passes correct ones only."""
    from evalplus.evaluate import check_correctness

    he = data.load_dataset("humaneval", HUMANEVAL)
    problem = he.problems["HumanEval/32"]
    good = fenced(problem["prompt"] + problem["canonical_solution"])
    bad = fenced(problem["prompt"] + "    return 0.0\n")
    report = run(ReplayProvider("m", {"HumanEval/32": good}), cache_dir, limit=33)
    assert [s.base for s in report.samples if s.task_id == "HumanEval/32"] == ["pass"]
    report = run(ReplayProvider("m", {"HumanEval/32": bad}), cache_dir, limit=33)
    assert [s.base for s in report.samples if s.task_id == "HumanEval/32"] == ["fail"]
    expected = data._expected(str(data.groundtruth_file(data.groundtruth_dir(cache_dir, he), "HumanEval/32")))
    upstream = check_correctness("humaneval", 0, problem, problem["prompt"] + problem["canonical_solution"],
                                 expected, fast_check=True)
    assert upstream["base"][0] == "fail"  # when this starts passing, evalplus has fixed it


# -- the real checks through the OpenAI-protocol test server -------------------------------
@pytest.fixture
def server_provider() -> Iterator[Callable[[Callable[[str, list[dict]], str]], Any]]:
    from arena.config import parse_config
    from arena.providers.registry import build_provider
    from arena.testing.openai_server import OpenAITestServer

    servers: list[OpenAITestServer] = []

    def make(responder: Callable[[str, list[dict]], str]) -> Any:
        server = OpenAITestServer(responder=responder).start()
        servers.append(server)
        config = parse_config({"models": {"m": {"provider": "openai", "base_url": server.url,
                                                "max_retries": 2, "concurrency": 16}}}, "test")
        return build_provider(config, "m")

    yield make
    for server in servers:
        server.stop()


def answering(benchmark: str, answer: Callable[[dict[str, Any]], str]) -> Callable[[str, list[dict]], str]:
    """A responder that finds the task by its prompt text and answers ``answer(task)``."""
    by_prompt = {data.task_prompt(benchmark, r): answer(r) for r in rows(FILES[benchmark])}

    def respond(model: str, messages: list[dict]) -> str:
        return by_prompt.get(messages[-1]["content"], "I do not know this task.")

    return respond


@needs_data
@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize(("benchmark", "tasks"), [("humaneval", 164), ("mbpp", 378)])
def test_canonical_solutions_score_everything(benchmark: str, tasks: int, cache_dir: Path,
                                              server_provider: Any) -> None:
    provider = server_provider(answering(benchmark, lambda r: fenced(r["prompt"] + r["canonical_solution"])))
    report = run(provider, cache_dir, benchmark=benchmark)
    failed = [e for e in report.scores["plus"].per_task if e["correct"] != 1]
    assert failed == []
    assert {v: (s.pass_at_1, s.solved) for v, s in report.scores.items()} == {
        "base": (1.0, tasks), "plus": (1.0, tasks)}
    assert len(report.tasks) == tasks and report.generation_failures == 0
    print(f"\n{benchmark}: {tasks} tasks in {report.wall_s:.1f} s "
          f"(expected outputs of {report.groundtruth_computed} computed, {report.groundtruth_s:.1f} s)")


# Both sides of the HumanEvalPack comparison run with the same, roomier time limits than
# evalplus's defaults (1 s, 4x ground truth): with the suite's other worker on the same two
# cores, a correct solution once ran past 1 s on one side only (HumanEval/96).
SLACK = {"min_time_limit": 4.0, "time_limit_factor": 8.0}


def evalplus_verdicts(solutions: dict[str, list[str]], tmp_path: Path) -> dict[str, list[tuple[bool, bool]]]:
    """(base passed, base and plus passed) of each solution by task, from evalplus's own
    ``evaluate`` in a fresh interpreter with its own dataset copy and cache (so it computes
    its own expected outputs), with the time limits of :data:`SLACK`."""
    plain = tmp_path / "HumanEvalPlus.jsonl"
    plain.write_bytes(gzip.decompress(HUMANEVAL.read_bytes()))  # its hash is then evalplus's
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "solution": s}) + "\n"
                               for t, ss in solutions.items() for s in ss))
    env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(plain), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("EVALPLUS_TIMEOUT_PER_TASK", None)
    code = ("import os\nfrom evalplus.evaluate import evaluate\n"
            f"evaluate('humaneval', samples={str(samples)!r}, parallel=2, i_just_wanna_run=True, "
            f"min_time_limit={SLACK['min_time_limit']}, "
            f"gt_time_limit_factor={SLACK['time_limit_factor']})\n"
            "os._exit(0)  # its progress watcher thread would keep the process for 20 s\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "samples_eval_results.json").read_text())["eval"]
    return {t: sorted((r["base_status"] == "pass", r["base_status"] == r["plus_status"] == "pass")
                      for r in rs) for t, rs in results.items()}


@needs_data
@needs_pack
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_humanevalpack_solutions_score_what_evalplus_says(cache_dir: Path, tmp_path: Path,
                                                          server_provider: Any) -> None:
    """Two samples per task: HumanEvalPack's buggy solution and its (original HumanEval)
    canonical one, in whichever order the requests arrive; per task, our verdicts on the
    pair equal evalplus's own."""
    pack = {r["task_id"].replace("Python/", "HumanEval/"): r for r in rows(PACK)}
    solutions = {t: [r["prompt"] + r["buggy_solution"], r["prompt"] + r["canonical_solution"]]
                 for t, r in pack.items()}
    asked: dict[str, int] = {}

    def answer(task: dict[str, Any]) -> list[str]:
        return [fenced(code) for code in solutions[task["task_id"]]]

    by_prompt = {data.task_prompt("humaneval", r): answer(r) for r in rows(HUMANEVAL)}

    def respond(model: str, messages: list[dict]) -> str:
        prompt = messages[-1]["content"]
        asked[prompt] = asked.get(prompt, -1) + 1
        return by_prompt[prompt][asked[prompt] % 2]

    report = run(server_provider(respond), cache_dir, samples=2, **SLACK)
    ours: dict[str, list[tuple[bool, bool]]] = {}
    for s in report.samples:
        ours.setdefault(s.task_id, []).append((s.base_ok, s.plus_ok))
    ours = {t: sorted(v) for t, v in ours.items()}
    theirs = evalplus_verdicts(solutions, tmp_path)
    assert ours.keys() == theirs.keys() and len(ours) == 164
    # evalplus 0.3.1 fails every HumanEval/32 answer (see the find_zero test); elsewhere: equal
    differ = {t: (ours[t], theirs[t]) for t in ours if ours[t] != theirs[t]}
    assert set(differ) <= {"HumanEval/32"}, differ
    assert theirs["HumanEval/32"] == [(False, False), (False, False)]
    base = report.scores["base"]
    plus = report.scores["plus"]
    assert (base.pass_at_k, plus.pass_at_k) == (pytest.approx(base.solved / 164),
                                                pytest.approx(plus.solved / 164))
    print(f"\nHumanEvalPack: {base.solved} tasks pass base, {plus.solved} pass plus "
          f"(one sample in two is buggy); differ from evalplus: {differ}; {report.wall_s:.1f} s")
