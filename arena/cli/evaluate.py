"""``arena eval humaneval|mbpp``: a model's pass@1 / pass@k with evalplus's tests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from arena.cli.common import fail, info, state, table_console

if TYPE_CHECKING:
    from arena.providers.base import Provider
    from arena.services.evaluation import EvalOptions, EvalReport, Evaluator, Progress

eval_app = typer.Typer(help="Score a model on HumanEval+ or MBPP+ (evalplus): pass@1 and pass@k.",
                       no_args_is_help=True)

Model = Annotated[str, typer.Option("--model", help="Name of a configured model.")]
Samples = Annotated[int, typer.Option("--samples", help="Answers per task; pass@k uses k = this.")]
Plus = Annotated[bool, typer.Option("--plus/--base", help="Run EvalPlus's extra tests too (default), or the original tests only.")]
Limit = Annotated[int | None, typer.Option("--limit", help="Only the first N tasks.")]
Temperature = Annotated[float | None, typer.Option("--temperature", help="Sampling temperature (default: 0 for one sample, 0.8 for several).")]
Concurrency = Annotated[int, typer.Option("--concurrency", help="Model calls in flight at once.")]
Workers = Annotated[int | None, typer.Option("--workers", help="Test processes (default: half the CPUs, as evalplus).")]
DatasetFile = Annotated[Path | None, typer.Option("--dataset", help="Local dataset file (JSONL or .jsonl.gz), like HUMANEVAL_OVERRIDE_PATH / MBPP_OVERRIDE_PATH (default: those, else evalplus downloads it).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result (with per-task statuses) as JSON on stdout.")]


@eval_app.command("humaneval")
def humaneval_cmd(model: Model, samples: Samples = 1, plus: Plus = True, limit: Limit = None,
                  temperature: Temperature = None, concurrency: Concurrency = 16,
                  workers: Workers = None, dataset: DatasetFile = None, as_json: AsJson = False) -> None:
    """HumanEval+ (164 tasks): complete each function; base and plus tests."""
    _run("humaneval", model, samples, plus, limit, temperature, concurrency, workers, dataset, as_json)


@eval_app.command("mbpp")
def mbpp_cmd(model: Model, samples: Samples = 1, plus: Plus = True, limit: Limit = None,
             temperature: Temperature = None, concurrency: Concurrency = 16,
             workers: Workers = None, dataset: DatasetFile = None, as_json: AsJson = False) -> None:
    """MBPP+ (378 tasks): write a function from a description and one example test."""
    _run("mbpp", model, samples, plus, limit, temperature, concurrency, workers, dataset, as_json)


def _run(benchmark: str, model: str, samples: int, plus: bool, limit: int | None,
         temperature: float | None, concurrency: int, workers: int | None, dataset: Path | None,
         as_json: bool) -> None:
    from arena.domain import ArenaError
    from arena.services.evaluation import EvalOptions, Evaluator, save_report

    options = EvalOptions(benchmark=benchmark, samples=samples, plus=plus, limit=limit,
                          temperature=temperature, concurrency=concurrency, workers=workers,
                          dataset=dataset)
    try:
        options.check()
        from arena.services.evaluation_data import dataset_path

        dataset_path(benchmark, dataset)  # a missing file: say so before any model call
        ctx = state.context()
        spec = ctx.config.model(model)  # unknown model: ConfigError lists the known ones
        from arena.providers.registry import build_provider

        provider = build_provider(ctx.config, model)
    except ArenaError as exc:
        fail(str(exc))
    with _Bar(benchmark) as bar:
        evaluator = Evaluator(provider, cache_dir=ctx.settings.home / "cache" / "evalplus",
                              on_progress=bar)
        try:
            report = asyncio.run(_evaluate(evaluator, provider, model, options))
        except ArenaError as exc:
            bar.stop()
            fail(str(exc))
        except KeyboardInterrupt:
            bar.stop()
            info("interrupted: nothing was stored")
            raise typer.Exit(130) from None
    if report.samples and report.generation_failures == len(report.samples):
        first = next(s.error for s in report.samples if s.error)
        fail(f"every model call failed ({len(report.samples)}), so there is no score to store; "
             f"the first error: {first}", code=1)
    records = save_report(ctx.store, report, provider=spec.provider,
                          endpoint_model=spec.endpoint_model,
                          model_config=spec.model_dump(exclude={"name"}, mode="json"))
    for note in report.notes:
        info(f"note: {note}")
    if report.groundtruth_computed:
        info(f"expected outputs of {report.groundtruth_computed} tasks computed in "
             f"{report.groundtruth_s:.1f} s and cached")
    if report.generation_failures:
        info(f"{report.generation_failures} of {len(report.samples)} model calls failed; "
             "they count as failed samples")
    if as_json:
        print(json.dumps({**report.as_dict(), "stored": [r.id for r in records]}, indent=2))
    else:
        _print_table(report)


async def _evaluate(evaluator: Evaluator, provider: Provider, model: str,
                    options: EvalOptions) -> EvalReport:
    try:
        return await evaluator.run(model, options)
    finally:
        await provider.aclose()


def _print_table(report: EvalReport) -> None:
    from rich import box
    from rich.table import Table

    k = report.options.samples
    cols = ["tests", "pass@1"] + ([f"pass@{k}"] if k > 1 else []) + ["solved", "tasks", "time"]
    table = Table(title=f"{report.title} · {report.model}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in cols:
        table.add_column(col, no_wrap=True, justify="left" if col == "tests" else "right")
    names = {"base": "base", "plus": "base + plus"}
    for variant, s in report.scores.items():
        cells = [names[variant], f"{100 * s.pass_at_1:.1f}"]
        cells += [f"{100 * s.pass_at_k:.1f}"] if k > 1 else []
        cells += [str(s.solved), str(len(report.tasks)), f"{report.wall_s:.1f} s"]
        table.add_row(*cells)
    con = table_console()
    con.print(table)
    d = report.dataset
    con.print(f"{k} sample{'s' if k > 1 else ''} per task at temperature "
              f"{report.options.sampling_temperature:g}; dataset {d.version} (md5 {d.hash[:8]}); "
              f"failed model calls: {report.generation_failures}")


class _Bar:
    """A progress bar on stderr, fed by the evaluator's progress events."""

    def __init__(self, label: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failed calls"),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.task = self.progress.add_task(label, total=None, failed=0)

    def __call__(self, event: Progress) -> None:
        self.progress.update(self.task, completed=event.done, total=event.total,
                             failed=event.generation_failures)

    def stop(self) -> None:
        self.progress.stop()

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
