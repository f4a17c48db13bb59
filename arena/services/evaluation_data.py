"""The evalplus side of ``arena eval``: datasets, prompts, expected outputs, test runs.

HumanEval+ and MBPP+ are read the way evalplus reads them (its JSONL files, MBPP+ inputs
deserialized by its own function) but from a path chosen at call time: ``--dataset FILE``,
else ``HUMANEVAL_OVERRIDE_PATH`` / ``MBPP_OVERRIDE_PATH``, else evalplus's own download into
its cache. (evalplus reads those variables once, when ``evalplus.data`` is first imported,
and any import of its sanitizer imports that module; reading the file here keeps a variable
set later, or a ``--dataset`` flag, from being silently ignored.) The dataset hash is the
MD5 of the uncompressed file, which is what evalplus calls the dataset's hash.

Expected outputs come from running each task's canonical solution with evalplus's
``trusted_exec``, exactly as its ``get_groundtruth`` does, one task at a time so that a
``--limit`` run computes only what it needs. They are cached under ARENA_HOME by benchmark
and dataset hash, one file per task: a full HumanEval+ takes about 10 s and MBPP+ about
35 s of one core (more on a busy machine).

:func:`compute_groundtruth`, :func:`check_sample` and :func:`init_worker` run in worker
processes, which read the dataset and the expected outputs from their files themselves
(nothing big crosses the pipe); this module imports nothing heavy at the top.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import pickle
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.domain import ArenaError
from arena.jsonl import json_lines


@dataclass(frozen=True)
class BenchmarkInfo:
    title: str  # how tables name it
    env: str  # evalplus's override variable
    release: str  # evalplus's dataset name (download URL, cache file)
    task_prefix: str
    default_version: str


BENCHMARKS: dict[str, BenchmarkInfo] = {
    "humaneval": BenchmarkInfo("HumanEval+", "HUMANEVAL_OVERRIDE_PATH", "HumanEvalPlus",
                               "HumanEval/", "v0.1.10"),
    "mbpp": BenchmarkInfo("MBPP+", "MBPP_OVERRIDE_PATH", "MbppPlus", "Mbpp/", "v0.2.0"),
}
REQUIRED = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input",
            "atol")
TIMEOUT_VARIABLE = "EVALPLUS_TIMEOUT_PER_TASK"


@dataclass(frozen=True)
class Dataset:
    """One benchmark's tasks as evalplus's evaluation expects them, in file order."""

    benchmark: str
    path: Path
    hash: str  # MD5 of the uncompressed JSONL: evalplus's dataset hash
    version: str
    problems: dict[str, dict[str, Any]]


def dataset_path(benchmark: str, dataset: Path | None) -> tuple[Path | None, str]:
    """The file to read and where that choice came from (``--dataset`` or the variable);
    ``(None, "evalplus")`` means evalplus downloads it. Raises ArenaError for a missing file."""
    info = BENCHMARKS[benchmark]
    if dataset is not None:
        if not dataset.is_file():
            raise ArenaError(f"--dataset: {dataset}: no such file")
        return dataset, "--dataset"
    env = os.environ.get(info.env)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ArenaError(f"{info.env}={env}: no such file; point it at a {info.title} "
                             f"JSONL(.gz) file or unset it to download the dataset")
        return path, info.env
    return None, "evalplus"


def _download(benchmark: str) -> Path:
    """evalplus's own copy of the dataset (downloaded into its cache on first use)."""
    info = BENCHMARKS[benchmark]
    from evalplus.data.utils import get_dataset_metadata, make_cache

    url, cache_path = get_dataset_metadata(info.release, info.default_version, False)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # its progress must not mix into data
            make_cache(url, cache_path)
    except Exception as exc:  # noqa: BLE001 - any network or disk failure: say what to do
        raise ArenaError(f"could not download {info.title} from {url} ({exc}); set {info.env} "
                         f"or pass --dataset FILE with a local copy") from None
    return Path(cache_path)


def load_dataset(benchmark: str, dataset: Path | None = None) -> Dataset:
    """Read the benchmark's tasks (see :func:`dataset_path` for which file).

    Raises ArenaError for a missing or unreadable file, a line that is not JSON, a task
    without one of the fields evalplus needs, or tasks of the other benchmark."""
    info = BENCHMARKS[benchmark]
    path, source = dataset_path(benchmark, dataset)
    if path is None:
        path = _download(benchmark)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ArenaError(f"{path}: cannot read it as (gzipped) JSONL: {exc}") from None
    problems: dict[str, dict[str, Any]] = {}
    for lineno, task in json_lines(text.splitlines(), lambda n: f"{path}:{n}"):
        missing = [k for k in REQUIRED if k not in task]
        if missing:
            raise ArenaError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}; "
                             f"is this an evalplus {info.title} file?")
        if not str(task["task_id"]).startswith(info.task_prefix):
            raise ArenaError(f"{path}:{lineno}: task {task['task_id']!r} is not a {info.title} "
                             f"task (ids start with {info.task_prefix!r})")
        problems[task["task_id"]] = task
    if not problems:
        raise ArenaError(f"{path}: no tasks")
    if benchmark == "mbpp":
        from evalplus.data.mbpp import mbpp_deserialize_inputs

        for task_id, task in problems.items():
            task["base_input"] = mbpp_deserialize_inputs(task_id, task["base_input"])
            task["plus_input"] = mbpp_deserialize_inputs(task_id, task["plus_input"])
    match = re.search(r"v\d+(?:\.\d+)+", path.name)
    version = match.group(0) if match else ("custom: " + path.name)[:40]
    if source == "evalplus":
        version = info.default_version
    return Dataset(benchmark, path, hashlib.md5(raw).hexdigest(), version, problems)


# -- prompts ------------------------------------------------------------------------------
HUMANEVAL_INSTRUCTION = (
    "Complete the Python function below. Reply with one ```python code block that holds the "
    "whole function, self-contained: its signature, the imports it needs and any helper "
    "functions it calls, so that the block runs on its own. Keep the function's name and "
    "parameters. No example usage, tests or prints.")
MBPP_INSTRUCTION = (
    "Write a self-contained Python function for the task below. It must pass the test shown, "
    "so use the function name and the arguments the test uses. Reply with one ```python code "
    "block holding the function and the imports it needs. No example usage, tests or prints.")


def task_prompt(benchmark: str, problem: dict[str, Any]) -> str:
    """The chat message that asks for a task's solution.

    HumanEval+: the instruction and the function's signature with its docstring, as
    evalplus's chat prompt shows it. MBPP+: the task text and its one example assert (evalplus
    puts both in the prompt's docstring), as MBPP's own prompt format lays them out."""
    prompt = problem["prompt"].strip()
    if benchmark == "humaneval":
        return f"{HUMANEVAL_INSTRUCTION}\n\n```python\n{prompt}\n```\n"
    body = prompt.strip('"').strip("'").strip()
    lines = body.splitlines()
    tests = [ln.strip() for ln in lines if ln.strip().startswith("assert")]
    text = "\n".join(ln for ln in lines if not ln.strip().startswith("assert")).strip()
    if not tests:  # an unusual prompt: show it whole
        return f"{MBPP_INSTRUCTION}\n\n```python\n{prompt}\n```\n"
    return f"{MBPP_INSTRUCTION}\n\nTask: {text}\n\nTest:\n```python\n" + "\n".join(tests) + "\n```\n"


# -- the answer's code --------------------------------------------------------------------
# -- expected outputs and checks (in worker processes) ------------------------------------
def groundtruth_dir(cache_dir: Path, dataset: Dataset) -> Path:
    """Where a dataset's expected outputs are cached: one file per task, since a few tasks
    are huge (MBPP+'s Mbpp/255 pickles to 780 MB, HumanEval/15 to 147 MB) and most tiny."""
    return cache_dir / f"{dataset.benchmark}-{dataset.hash}"


def groundtruth_file(directory: Path, task_id: str) -> Path:
    return directory / (task_id.replace("/", "_") + ".pkl")


#: What a worker process keeps between calls: the dataset, and one task's expected outputs.
_held: dict[str, Any] = {}


def _problem(benchmark: str, path: str, digest: str, task_id: str) -> dict[str, Any]:
    key = f"{benchmark}:{path}:{digest}"
    if _held.get("dataset_key") != key:
        _held.pop("dataset", None)
        dataset = load_dataset(benchmark, Path(path))
        if dataset.hash != digest:
            raise ArenaError(f"{path}: the file changed during the run")
        _held.update(dataset=dataset, dataset_key=key)
    problem: dict[str, Any] = _held["dataset"].problems[task_id]
    return problem


def _expected(file: str) -> dict[str, Any]:
    if _held.get("expected_file") != file:
        _held.pop("expected", None)  # free the last task's outputs before loading the next
        with open(file, "rb") as fh:
            _held.update(expected=pickle.load(fh), expected_file=file)  # noqa: S301 - our cache
    expected: dict[str, Any] = _held["expected"]
    return expected


def compute_groundtruth(benchmark: str, path: str, digest: str, task_id: str, out: str) -> float:
    """Expected outputs and reference times of one task, as evalplus's ``get_groundtruth``
    computes them (its ``trusted_exec`` on the canonical solution, base then plus inputs),
    written to ``out`` atomically. Returns the seconds it took."""
    import time

    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.gen.util import trusted_exec

    started = time.perf_counter()
    problem = _problem(benchmark, path, digest, task_id)
    not_none = benchmark == "mbpp" and problem["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS
    code = problem["prompt"] + problem["canonical_solution"]
    oracle: dict[str, Any] = {}
    with contextlib.redirect_stdout(sys.stderr):
        for part in ("base", "plus"):
            oracle[part], oracle[f"{part}_time"] = trusted_exec(
                code, problem[f"{part}_input"], problem["entry_point"], record_time=True,
                output_not_none=not_none)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump(oracle, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, target)
    return time.perf_counter() - started


def check_sample(benchmark: str, path: str, digest: str, task_id: str, expected_file: str,
                 solution: str, base_only: bool, min_time_limit: float,
                 time_limit_factor: float) -> tuple[str, str | None]:
    """(base status, plus status) of one solution from evalplus's ``check_correctness``
    (its sandboxed ``untrusted_check`` per test set, stopping at the first failed input,
    as ``evalplus.evaluate`` does by default); the plus status is None with base_only."""
    from evalplus.evaluate import check_correctness

    problem = _problem(benchmark, path, digest, task_id)
    result = check_correctness(benchmark, 0, problem, solution, _expected(expected_file),
                               base_only=base_only, fast_check=True,
                               min_time_limit=min_time_limit,
                               gt_time_limit_factor=time_limit_factor)
    return result["base"][0], None if base_only else result["plus"][0]


def init_worker() -> None:
    """Set up a (spawned, single-threaded) worker process: evalplus's sandbox forks one
    child per test set, as it does under ``evalplus.evaluate`` (a spawned worker would
    otherwise spawn, re-importing everything for each check); Ctrl-C is left to the parent,
    which shuts the workers down; EVALPLUS_TIMEOUT_PER_TASK is dropped, as evalplus 0.3.1
    raises a TypeError when it is set."""
    import multiprocessing

    multiprocessing.set_start_method("fork", force=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.pop(TIMEOUT_VARIABLE, None)
    _fix_find_zero()


def _fix_find_zero() -> None:
    """Work around an evalplus 0.3.1 bug that fails every solution of HumanEval/32, the
    canonical one included: its ``find_zero`` oracle ``continue``s past the line that marks
    an input passed, so the sandbox's verdict "all inputs ran" is then overruled by the
    count of passed inputs (0). With ``fast_check`` a failed input stops the run as a
    failure, so "all inputs ran" means every input passed; the wrapper records that.
    Harmless where evalplus marks the inputs itself. Patched in worker processes only."""
    import evalplus.eval as sandbox

    original = sandbox.unsafe_execute
    if getattr(original, "arena_fixed", False):
        return

    def unsafe_execute(dataset: str, entry_point: str, code: str, inputs: Any, expected: Any,
                       time_limits: Any, atol: Any, fast_check: bool, stat: Any, details: Any,
                       progress: Any) -> None:
        original(dataset, entry_point, code, inputs, expected, time_limits, atol, fast_check,
                 stat, details, progress)
        if (dataset, entry_point) == ("humaneval", "find_zero") and fast_check \
                and stat.value == sandbox._SUCCESS:
            for i in range(len(inputs)):
                details[i] = True
            progress.value = len(inputs)

    unsafe_execute.arena_fixed = True  # type: ignore[attr-defined]
    sandbox.unsafe_execute = unsafe_execute
