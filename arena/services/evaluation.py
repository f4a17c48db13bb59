"""``arena eval``: a model's pass@1 / pass@k on HumanEval+ and MBPP+, the evalplus way.

For every task the model gets one chat message (:func:`~arena.services.evaluation_data.task_prompt`)
per sample; its answer goes through evalplus's sanitizer (the function and what it needs,
out of prose and code fences), then through evalplus's sandboxed check against the expected
outputs of the canonical solution: the original tests ("base") and, unless ``plus=False``,
EvalPlus's extra tests ("plus": a sample counts there when it passes both, as in evalplus).
Scores are evalplus's unbiased pass@k estimator averaged over tasks.

Two deliberate departures from plain evalplus 0.3.1, both fixing verdicts on correct code:
helper functions that its sanitizer drops (generators, in-place functions) are put back
(:func:`judges.extraction.extract_code`), and its HumanEval/32 oracle, which
fails every solution, is repaired in our workers (``_fix_find_zero``).

Generation and testing overlap: answers stream in under a concurrency gate while a pool of
worker processes computes missing expected outputs and runs the checks. The workers are
spawned, not forked (the parent has threads: the event loop's helpers, a progress bar, an
in-process model), so a script that calls :class:`Evaluator` needs the usual
``if __name__ == "__main__":`` guard. A failed model call is recorded with its error and
counts as a failed sample. Nothing is written until the run is complete:
:func:`save_report` stores one row per test set (base, plus) in one transaction.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arena.domain import ArenaError, Usage
from arena.providers.base import ChatRequest, Provider, ProviderError, complete
from arena.services import evaluation_data as data
from judges.extraction import extract_code

if TYPE_CHECKING:
    from db.repositories.evals import EvalRecord, EvalRepository

NO_ANSWER = "no answer"  # the status of a sample whose model call failed
PROMPT_VERSION = 1  # bump when task_prompt changes, so stored results say which prompts they saw


@dataclass(frozen=True)
class EvalOptions:
    """What to run. ``temperature=None``: greedy (0) for one sample, 0.8 for several."""

    benchmark: str = "humaneval"
    samples: int = 1
    plus: bool = True
    limit: int | None = None
    temperature: float | None = None
    concurrency: int = 16
    workers: int | None = None  # test processes; None: evalplus's default, half the CPUs
    dataset: Path | None = None
    min_time_limit: float = 1.0  # evalplus's DEFAULT_MIN_TIME_LIMIT
    time_limit_factor: float = 4.0  # evalplus's DEFAULT_GT_TIME_LIMIT_FACTOR

    def check(self) -> None:
        """Raises ArenaError naming the first bad option."""
        if self.benchmark not in data.BENCHMARKS:
            raise ArenaError(f"unknown benchmark {self.benchmark!r}; choose humaneval or mbpp")
        for flag, value in (("--samples", self.samples), ("--limit", self.limit),
                            ("--concurrency", self.concurrency), ("--workers", self.workers)):
            if value is not None and value < 1:
                raise ArenaError(f"{flag}: must be at least 1, got {value}")
        if self.temperature is not None and self.temperature < 0:
            raise ArenaError(f"--temperature: must not be negative, got {self.temperature:g}")

    @property
    def sampling_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 0.8

    @property
    def worker_count(self) -> int:
        return self.workers or max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class SampleResult:
    task_id: str
    index: int
    base: str  # pass, fail, timeout, or NO_ANSWER when the model call failed
    plus: str | None  # None when only the base tests ran
    error: str | None = None  # why the model call failed

    @property
    def base_ok(self) -> bool:
        return self.base == "pass"

    @property
    def plus_ok(self) -> bool:
        return self.base == "pass" and self.plus == "pass"


@dataclass(frozen=True)
class Score:
    """One test set's result: pass@1 and pass@k (k = samples per task), as fractions."""

    variant: str  # base or plus
    pass_at_1: float
    pass_at_k: float
    k: int
    solved: int  # tasks with at least one passing sample
    per_task: list[dict[str, Any]]


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    generation_failures: int


@dataclass
class EvalReport:
    model: str
    options: EvalOptions
    dataset: data.Dataset
    tasks: list[str]
    samples: list[SampleResult]
    scores: dict[str, Score]
    wall_s: float
    groundtruth_computed: int  # tasks whose expected outputs were not cached
    groundtruth_s: float  # worker time spent computing them
    usage: Usage = field(default_factory=Usage)
    notes: list[str] = field(default_factory=list)

    @property
    def generation_failures(self) -> int:
        return sum(1 for s in self.samples if s.base == NO_ANSWER)

    @property
    def title(self) -> str:
        return data.BENCHMARKS[self.options.benchmark].title

    def config(self) -> dict[str, Any]:
        """The run's parameters, stored with its results."""
        from evalplus import __version__ as evalplus_version

        o = self.options
        return {"benchmark": o.benchmark, "samples": o.samples, "plus": o.plus, "limit": o.limit,
                "temperature": o.sampling_temperature, "concurrency": o.concurrency,
                "workers": o.worker_count, "min_time_limit": o.min_time_limit,
                "time_limit_factor": o.time_limit_factor, "dataset_path": str(self.dataset.path),
                "dataset_tasks": len(self.dataset.problems), "prompt_version": PROMPT_VERSION,
                "evalplus": evalplus_version, "groundtruth_computed": self.groundtruth_computed,
                "groundtruth_s": round(self.groundtruth_s, 2),
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens}

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "benchmark": self.options.benchmark,
                "dataset": {"hash": self.dataset.hash, "version": self.dataset.version,
                            "path": str(self.dataset.path)},
                "tasks": len(self.tasks), "samples": self.options.samples,
                "generation_failures": self.generation_failures, "wall_s": round(self.wall_s, 2),
                "scores": {v: {k: val for k, val in asdict(s).items() if k != "per_task"}
                           for v, s in self.scores.items()},
                "per_task": _per_task_json(self), "config": self.config(), "notes": self.notes}


ProgressCallback = Callable[[Progress], None]


class Evaluator:
    """Runs one model on one benchmark. The provider is passed in; ``cache_dir`` keeps the
    expected outputs between runs (ARENA_HOME/cache/evalplus for the CLI)."""

    def __init__(self, provider: Provider, *, cache_dir: Path,
                 on_progress: ProgressCallback | None = None) -> None:
        self.provider = provider
        self.cache_dir = cache_dir
        self.on_progress = on_progress

    async def run(self, model: str, options: EvalOptions) -> EvalReport:
        """Generate, sanitize and test every sample; raises ArenaError for bad options or
        a dataset that cannot be read."""
        options.check()
        started = time.perf_counter()
        dataset = await asyncio.to_thread(data.load_dataset, options.benchmark, options.dataset)
        task_ids = list(dataset.problems)[: options.limit]
        notes = []
        if os.environ.get(data.TIMEOUT_VARIABLE):
            notes.append(f"{data.TIMEOUT_VARIABLE} is ignored: evalplus 0.3.1 fails with it set; "
                         "time limits are evalplus's per-input limits")
        run = _Run(self, model, options, dataset, task_ids)
        samples = await run.execute()
        scores = {"base": score(samples, task_ids, options.samples, "base")}
        if options.plus:
            scores["plus"] = score(samples, task_ids, options.samples, "plus")
        return EvalReport(model, options, dataset, task_ids, samples, scores,
                          time.perf_counter() - started, run.gt_computed, run.gt_seconds,
                          run.usage, notes)


class _Run:
    """The state of one evaluation: the worker pool, expected outputs, counters."""

    def __init__(self, ev: Evaluator, model: str, options: EvalOptions, dataset: data.Dataset,
                 task_ids: list[str]) -> None:
        self.ev, self.model, self.options, self.dataset = ev, model, options, dataset
        self.task_ids = task_ids
        self.total = len(task_ids) * options.samples
        self.done = self.failed = 0
        self.usage = Usage()
        self.gt_computed, self.gt_seconds = 0, 0.0
        self.gt_dir = data.groundtruth_dir(ev.cache_dir, dataset)
        self.expected: dict[str, asyncio.Future[None]] = {}
        self.gate = asyncio.Semaphore(options.concurrency)

    async def execute(self) -> list[SampleResult]:
        loop = asyncio.get_running_loop()
        pool = ProcessPoolExecutor(self.options.worker_count, initializer=data.init_worker,
                                   mp_context=multiprocessing.get_context("spawn"))
        try:
            jobs = [self._sample(loop, pool, t, i) for t in self.task_ids
                    for i in range(self.options.samples)]
            return list(await asyncio.gather(*jobs))
        finally:
            for fut in self.expected.values():
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def _args(self, task_id: str) -> tuple[str, str, str, str]:
        d = self.dataset
        return d.benchmark, str(d.path), d.hash, task_id

    def _expected(self, loop: asyncio.AbstractEventLoop, pool: ProcessPoolExecutor,
                  task_id: str) -> asyncio.Future[None]:
        """The task's expected outputs are in the cache once this is done (computed on the
        first answer that needs them, so a task without answers costs nothing)."""
        if task_id not in self.expected:
            if data.groundtruth_file(self.gt_dir, task_id).is_file():
                self.expected[task_id] = loop.create_future()
                self.expected[task_id].set_result(None)
            else:
                self.gt_computed += 1
                self.expected[task_id] = asyncio.ensure_future(self._groundtruth(loop, pool, task_id))
        return self.expected[task_id]

    async def _groundtruth(self, loop: asyncio.AbstractEventLoop, pool: ProcessPoolExecutor,
                           task_id: str) -> None:
        out = str(data.groundtruth_file(self.gt_dir, task_id))
        try:
            seconds = await loop.run_in_executor(pool, data.compute_groundtruth,
                                                 *self._args(task_id), out)
            self.gt_seconds += seconds  # not `+= await`: that would read the sum before waiting
        except BrokenProcessPool:
            raise ArenaError(f"a test worker died computing the expected outputs of {task_id} "
                             "(out of memory?)") from None
        except Exception as exc:  # the dataset's canonical solution, not the model, is broken
            raise ArenaError(f"{self.dataset.path}: the canonical solution of {task_id} does not "
                             f"run: {type(exc).__name__}: {exc}") from None

    async def _sample(self, loop: asyncio.AbstractEventLoop, pool: ProcessPoolExecutor,
                      task_id: str, index: int) -> SampleResult:
        problem = self.dataset.problems[task_id]
        text, error = await self._generate(task_id, problem)
        if error is not None:
            result = SampleResult(task_id, index, NO_ANSWER, NO_ANSWER if self.options.plus else None,
                                  error)
        else:
            code = extract_code(text or "", problem["entry_point"])
            await self._expected(loop, pool, task_id)
            o = self.options
            try:
                base, plus = await loop.run_in_executor(
                    pool, data.check_sample, *self._args(task_id),
                    str(data.groundtruth_file(self.gt_dir, task_id)), code, not o.plus,
                    o.min_time_limit, o.time_limit_factor)
            except BrokenProcessPool:
                raise ArenaError(f"a test worker died testing a sample of {task_id} "
                                 "(out of memory?)") from None
            except Exception as exc:  # ours, not the answer's: the sandbox reports those
                raise ArenaError(f"could not test a sample of {task_id}: {type(exc).__name__}: "
                                 f"{exc} (a damaged cache? delete {self.gt_dir})") from None
            result = SampleResult(task_id, index, base, plus)
        self.done += 1
        self.failed += error is not None
        if self.ev.on_progress is not None:
            self.ev.on_progress(Progress(self.done, self.total, self.failed))
        return result

    async def _generate(self, task_id: str, problem: dict[str, Any]) -> tuple[str | None, str | None]:
        prompt = data.task_prompt(self.dataset.benchmark, problem)
        request = ChatRequest(messages=[{"role": "user", "content": prompt}],
                              temperature=self.options.sampling_temperature, prompt_key=task_id)
        async with self.gate:
            try:
                completion = await complete(self.ev.provider, request)
            except ProviderError as exc:
                self.usage = self.usage + exc.usage
                return None, str(exc) or type(exc).__name__
        self.usage = self.usage + completion.usage
        return completion.text, None


def score(samples: list[SampleResult], task_ids: list[str], k: int, variant: str) -> Score:
    """pass@1 and pass@k of one test set with evalplus's unbiased estimator, averaged over
    tasks; every sample counts, failed model calls as failures."""
    from evalplus.eval import estimate_pass_at_k

    by_task: dict[str, list[SampleResult]] = {t: [] for t in task_ids}
    for s in samples:
        by_task[s.task_id].append(s)
    per_task = []
    for t, rows in by_task.items():
        rows.sort(key=lambda s: s.index)
        ok = [s.plus_ok if variant == "plus" else s.base_ok for s in rows]
        status = [_status(s, variant) for s in rows]
        entry: dict[str, Any] = {"task_id": t, "n": len(rows), "correct": sum(ok), "status": status}
        errors = {str(s.index): s.error for s in rows if s.error}
        if errors:
            entry["errors"] = errors
        per_task.append(entry)
    n = [e["n"] for e in per_task]
    c = [e["correct"] for e in per_task]
    p1 = float(estimate_pass_at_k(n, c, 1).mean()) if per_task else 0.0
    pk = float(estimate_pass_at_k(n, c, k).mean()) if per_task else 0.0
    return Score(variant, p1, pk, k, sum(1 for e in per_task if e["correct"]), per_task)


def _status(s: SampleResult, variant: str) -> str:
    """A sample's status in one test set: plus counts only after base passed (evalplus)."""
    if variant == "base" or s.base != "pass":
        return s.base
    return s.plus or NO_ANSWER


def _per_task_json(report: EvalReport) -> list[dict[str, Any]]:
    out = []
    by_task: dict[str, list[SampleResult]] = {}
    for s in report.samples:
        by_task.setdefault(s.task_id, []).append(s)
    for t in report.tasks:
        rows = sorted(by_task.get(t, []), key=lambda s: s.index)
        out.append({"task_id": t, "base": [s.base for s in rows],
                    **({"plus": [s.plus for s in rows]} if report.options.plus else {}),
                    **({"errors": {str(s.index): s.error for s in rows if s.error}}
                       if any(s.error for s in rows) else {})})
    return out


def save_report(store: EvalRepository, report: EvalReport, *, provider: str,
                endpoint_model: str | None, model_config: dict[str, Any]) -> list[EvalRecord]:
    """Store one row per test set (base, plus) in one transaction; returns them."""
    from db.repositories.evals import EvalIn

    rows = [EvalIn(benchmark=report.options.benchmark, variant=s.variant,
                   dataset_hash=report.dataset.hash, dataset_version=report.dataset.version,
                   samples=report.options.samples, k=s.k, pass_at_1=s.pass_at_1,
                   pass_at_k=s.pass_at_k, tasks=len(report.tasks),
                   generation_failures=report.generation_failures, wall_s=report.wall_s,
                   per_task=s.per_task, config=report.config())
            for s in report.scores.values()]
    return store.save_eval_run(report.model, rows, provider=provider,
                               endpoint_model=endpoint_model, model_config=model_config)


def leaderboard_pass_at_1(store: EvalRepository) -> dict[str, float]:
    """What the leaderboard shows next to a rating: each model's HumanEval+ pass@1 (base +
    plus tests), from its ``arena eval humaneval`` result over the most tasks (the latest of
    those), so a ``--limit`` smoke run does not replace a full run."""
    return store.latest_pass_at_1("humaneval", "plus")
