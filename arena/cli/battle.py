"""Batch commands: ``arena battle run``, ``arena judge run`` and ``arena demo``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arena.cli.common import fail, info, split_csv, state, table_console

if TYPE_CHECKING:
    from arena.services.battles import Progress, RunSummary
    from arena.services.planning import Plan

battle_app = typer.Typer(help="Run battles between models.", no_args_is_help=True)
judge_app = typer.Typer(help="Judge stored battles.", no_args_is_help=True)


class _Bar:
    """A rich progress bar on stderr fed by the runner's progress events."""

    def __init__(self, total: int, label: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=False)
        self.task = self.progress.add_task(label, total=total or None, failed=0)
        self.failed = 0

    def __call__(self, event: Progress) -> None:
        if event.kind == "total":
            self.progress.update(self.task, total=int(event.detail) or None)
            return
        if not event.ok:
            self.failed += 1
        self.progress.update(self.task, advance=1, failed=self.failed)

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _run(coro: Coroutine[Any, Any, RunSummary]) -> RunSummary:
    """Run a batch coroutine; Ctrl-C ends it with a resume hint and exit code 130."""
    import gc

    gc.collect()
    gc.freeze()  # start-up objects never need collecting: shorter GC pauses mid-run
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        info("interrupted: finished work is saved; run the same command again to resume")
        raise typer.Exit(130) from None


def _print_plan(plan: Plan) -> None:
    from rich.table import Table

    con = table_console()
    con.print(f"plan: {len(plan.battles)} battles on {len(plan.prompts)} prompts of set "
              f"{plan.set_name!r} between {', '.join(plan.models)} (pairs: {plan.pairing}); "
              f"{len(plan.to_generate)} answers to generate"
              + (f"; judge {plan.judge}: {max(0, plan.games_per_battle * len(plan.battles) - plan.games_done)} games to play"
                 if plan.judge else "; no judge"))
    table = Table("model / judge", "calls", "input tokens (est.)", "output tokens (est.)", "cost $ (est.)")
    total = 0.0
    for name, row in plan.estimates.items():
        table.add_row(name, f"{row['calls']:.0f}", f"{row['input_tokens']:.0f}",
                      f"{row['output_tokens']:.0f}", f"{row['cost_usd']:.4f}")
        total += row["cost_usd"]
    con.print(table)
    con.print(f"estimated cost: ${total:.4f} (models without a price table count as free)")


def _print_summary(s: RunSummary) -> None:
    info(f"run {s.run_id}: {s.battles} battles ({s.ready} ready, {s.void} void) · "
         f"{s.generated} answers generated, {s.generation_failures} failed · "
         f"votes {s.votes_new} new + {s.votes_existing} already stored, {s.judge_failures} judge failures · "
         + (f"{s.scored} answers scored · " if s.scored else "")
         + (f"{s.skipped} battles skipped · " if s.skipped else "") +
         f"{s.usage.prompt_tokens} tokens in, {s.usage.completion_tokens} out · "
         f"${s.usage.cost_usd or 0:.4f} · {s.wall_s:.1f} s")
    for message, n in s.errors.most_common(5):
        info(f"  {n}× {message}")


@battle_app.command("run")
def battle_run(
    models: Annotated[str, typer.Option("--models", help="Two or more model names, comma-separated.")],
    prompts: Annotated[str, typer.Option("--prompts", help="Prompt set name.")],
    judge: Annotated[str | None, typer.Option("--judge", help="Judge name from [judges] (default: no judging).")] = None,
    pairs: Annotated[str, typer.Option("--pairs", help="all: every pair on every prompt; sampled: one random pair per prompt.")] = "all",
    preference: Annotated[str | None, typer.Option("--preference", help="For rubric and reference judges: the coding preference (instruction-following, explanation, complexity, readability, style); for a preference model: the criterion (correctness, efficiency, security, developer-preference). Votes are stored as JUDGE/PREFERENCE.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Calls in flight at once, over all models.")] = 32,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N prompts of the set.")] = None,
    category: Annotated[str | None, typer.Option(help="Only prompts of this category.")] = None,
    language: Annotated[str | None, typer.Option(help="Only prompts in this language.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for pairing and sides.")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (calls, tokens, cost) and stop.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Battle models on a prompt set. Re-running the same command resumes it."""
    from arena.services.battles import BattleRunner
    from arena.services.planning import make_plan

    if pairs not in ("all", "sampled"):
        fail("--pairs: choose all or sampled")
    ctx = state.context()
    model_names = split_csv(models)
    if judge is not None:
        from judges.registry import vote_name

        vote_name(ctx.config, judge, preference)  # unknown judge or bad preference: say so now
    elif preference is not None:
        fail("--preference needs --judge")
    plan = make_plan(ctx.store, ctx.config, model_names, prompts, judge, pairing=pairs,  # type: ignore[arg-type]
                     limit=limit, seed=seed, category=category, language=language,
                     preference=preference)
    if dry_run:
        _print_plan(plan)
        return
    total = len(plan.to_generate) + len(plan.battles)
    if judge:
        total += max(0, plan.games_per_battle * len(plan.battles) - plan.games_done)
    with _Bar(total, "battles") as bar:
        runner = BattleRunner(ctx.store, ctx.config, on_progress=bar)
        summary = _run(runner.run(plan, concurrency=concurrency))
    _print_summary(summary)
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))


@judge_app.command("run")
def judge_run(
    judge: Annotated[str, typer.Option("--judge", help="Judge name from [judges].")],
    set_name: Annotated[str | None, typer.Option("--set", help="Only battles on this prompt set.")] = None,
    preference: Annotated[str | None, typer.Option("--preference", help="For rubric and reference judges: the coding preference (instruction-following, explanation, complexity, readability, style); for a preference model: the criterion (correctness, efficiency, security, developer-preference). Votes are stored as JUDGE/PREFERENCE.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Judge the ready battles that lack this judge's votes."""
    from arena.services.battles import BattleRunner
    from judges.registry import vote_name

    ctx = state.context()
    stored = vote_name(ctx.config, judge, preference)
    with _Bar(0, f"judge {stored}") as bar:
        runner = BattleRunner(ctx.store, ctx.config, on_progress=bar)
        summary = _run(runner.judge_battles(judge, set_name=set_name, concurrency=concurrency,
                                            preference=preference))
    _print_summary(summary)
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))


def demo_cmd(
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo database in ARENA_HOME instead of a temp folder.")] = False,
    headless: Annotated[bool, typer.Option("--headless", help="Run a whole judged tournament in the terminal instead of opening the TUI.")] = False,
) -> None:
    """The TUI on the bundled demo pack, in a throwaway database.

    The four sample models are recorded answers (sample data, written for the demo). With
    --headless, a whole tournament runs instead, judged by the local OpenAI-protocol
    stand-in server, whose verdicts are a hash of the inputs: it shows the machinery, not
    a real opinion. Configure a real judge for that.
    """
    import tempfile
    from pathlib import Path

    from arena.config import Settings
    from arena.services.context import Context

    base = state.settings or Settings()
    home = base.home / "demo" if keep else Path(tempfile.mkdtemp(prefix="arena-demo-"))
    ctx = Context(Settings(home=home, db_url=None, voter=base.voter), None)
    if not headless:
        from arena.cli.tui import open_tui

        open_tui(ctx, demo=True)
        return
    from arena.config import ArenaConfig, JudgeSpec, ModelSpec
    from arena.services.battles import BattleRunner
    from arena.services.leaderboard import RatingOptions, compute
    from arena.services.planning import make_plan
    from arena.services.prompts import DEMO_SET, ensure_demo_pack
    from arena.services.report import render_rows
    from arena.testing.openai_server import OpenAITestServer
    from db.repositories.stats import VoteFilter

    res = ensure_demo_pack(ctx.store)
    info(f"demo database: {ctx.settings.database_url}")
    with OpenAITestServer(latency=0.05, tokens_per_second=400) as server:
        config = ArenaConfig(
            source="<demo>",
            models={"stand-in-judge": ModelSpec(name="stand-in-judge", provider="openai",
                                                base_url=server.url, concurrency=16)},
            judges={"demo-judge": JudgeSpec(name="demo-judge", model="stand-in-judge")},
        )
        plan = make_plan(ctx.store, config, res.models, DEMO_SET, "demo-judge", pairing="all")
        with _Bar(len(plan.battles) * 3, "demo") as bar:
            summary = asyncio.run(BattleRunner(ctx.store, config, on_progress=bar).run(plan))
    _print_summary(summary)
    board = compute(ctx.store, VoteFilter(), RatingOptions())
    print(render_rows(board.rows, "md", board.caption()), end="")
    info("the demo judge is a stand-in (verdicts from a hash); see the README to add real models and judges")
