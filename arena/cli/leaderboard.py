"""``arena leaderboard`` and ``arena leaderboard matrix``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arena.cli.common import fail, info, split_csv, state, table_console

if TYPE_CHECKING:
    from arena.services.leaderboard import Leaderboard, RatingOptions
    from db.repositories.stats import VoteFilter

leaderboard_app = typer.Typer(help="Ratings from the stored votes.", no_args_is_help=False)

Judge = Annotated[str | None, typer.Option("--judge", help="Count only these judges' votes, comma-separated; 'human' = all human votes (default: every vote).")]
SetName = Annotated[str | None, typer.Option("--set", "--prompt-set", help="Only battles on this prompt set.")]
Category = Annotated[str | None, typer.Option(help="Only prompts of this category.")]
Language = Annotated[str | None, typer.Option(help="Only prompts in this language.")]
Since = Annotated[str | None, typer.Option(help="Only votes cast on or after this date (YYYY-MM-DD or ISO time, UTC).")]
Until = Annotated[str | None, typer.Option(help="Only votes cast before this date.")]
Combine = Annotated[str, typer.Option(help="battle: a judge's games on a battle add up to one outcome (CodeArena's ±2/±1 sum); game: each game counts.")]
StrongWeight = Annotated[float, typer.Option(help="With --combine game: weight of a 'much better' verdict (Arena-Hard uses 3).")]
Fmt = Annotated[str, typer.Option("--format", help="table, md, csv or json.")]
Plot = Annotated[Path | None, typer.Option("--plot", help="Also save a PNG plot here (needs the plot extra: matplotlib).")]


def _date(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{flag}: {value!r} is not a date; use YYYY-MM-DD or an ISO time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filter(judge: str | None, set_name: str | None, category: str | None, language: str | None,
            since: str | None, until: str | None, combine: str, strong_weight: float) -> VoteFilter:
    from db.repositories.stats import VoteFilter

    if combine not in ("battle", "game"):
        fail("--combine: choose battle or game")
    return VoteFilter(judges=tuple(split_csv(judge)) or None, set_name=set_name, category=category,
                      language=language, since=_date(since, "--since"), until=_date(until, "--until"),
                      combine=combine, strong_weight=strong_weight)  # type: ignore[arg-type]


@leaderboard_app.callback(invoke_without_command=True)
def leaderboard_cmd(
    ctx: typer.Context,
    fmt: Fmt = "table",
    judge: Judge = None,
    set_name: SetName = None,
    category: Category = None,
    language: Language = None,
    since: Since = None,
    until: Until = None,
    combine: Combine = "battle",
    strong_weight: StrongWeight = 1.0,
    algorithm: Annotated[str, typer.Option(help="bt (Bradley-Terry) or elo (online Elo, no intervals).")] = "bt",
    method: Annotated[str, typer.Option(help="Intervals: bootstrap, sandwich or none.")] = "bootstrap",
    rounds: Annotated[int, typer.Option(min=10, help="Bootstrap rounds.")] = 100,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    level: Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval coverage.")] = 0.95,
    anchor: Annotated[str | None, typer.Option(help="Pin this model's rating (default: mean rating 1000).")] = None,
    anchor_rating: Annotated[float, typer.Option(help="The pinned model's rating.")] = 1000.0,
    style: Annotated[bool, typer.Option("--style", help="Style control: fit answer length and markdown jointly; show raw and controlled ratings.")] = False,
    baseline: Annotated[str | None, typer.Option(help="Report each model's win and tie rate and score against this model.")] = None,
    by: Annotated[str | None, typer.Option(help="One column per category (or language).")] = None,
    plot: Plot = None,
) -> None:
    """Ratings with confidence intervals from the stored votes."""
    if ctx.invoked_subcommand is not None:
        return
    from arena.services.leaderboard import RatingOptions

    if fmt not in ("table", "md", "csv", "json"):
        fail("--format: choose table, md, csv or json")
    if algorithm not in ("bt", "elo") or method not in ("bootstrap", "sandwich", "none"):
        fail("--algorithm: bt or elo; --method: bootstrap, sandwich or none")
    if by not in (None, "category", "language"):
        fail("--by: choose category or language")
    vf = _filter(judge, set_name, category, language, since, until, combine, strong_weight)
    opts = RatingOptions(algorithm=algorithm, method=method, rounds=rounds, seed=seed,  # type: ignore[arg-type]
                         level=level, anchor_model=anchor, anchor_rating=anchor_rating, style=style)
    store = state.context().store
    if baseline is not None:
        _baseline(store, vf, baseline, by, fmt, seed, level)
    elif by is not None:
        _by_group(store, vf, opts, by, fmt)
    else:
        _overall(store, vf, opts, fmt, plot)


def _overall(store, vf: VoteFilter, opts: RatingOptions, fmt: str, plot: Path | None) -> None:  # type: ignore[no-untyped-def]
    from arena.services.leaderboard import compute
    from arena.services.report import render_rows

    board = compute(store, vf, opts)
    from arena.services.evaluation import leaderboard_pass_at_1

    pass_at_1 = leaderboard_pass_at_1(store) if board.rows else {}
    if fmt in ("csv", "json"):
        info(board.caption())
    if board.coefficients:
        info("style coefficients (logit per standardised unit): "
             + ", ".join(f"{k} {v:+.3f}" for k, v in board.coefficients.items()))
    if plot is not None and board.rows:
        from arena.services.plots import plot_ratings

        plot_ratings(board, plot)
        info(f"plot saved to {plot}")
    if fmt != "table":
        print(render_rows(board.rows, fmt, board.caption(), pass_at_1), end="")
        return
    if not board.rows:
        info("no votes counted: run `arena battle run ... --judge NAME`, vote in the TUI, "
             "or widen the filters")
        return
    _print_table(board, pass_at_1)


def _print_table(board: Leaderboard, pass_at_1: dict[str, float]) -> None:
    from rich import box
    from rich.table import Table

    style = any(r.rating_raw is not None for r in board.rows)
    level = f"{board.options.level:.0%} CI"
    cols = ["#", "model", "rating", level] + (["raw"] if style else []) + ["battles", "W-T-L"]
    cols += ["HE+ pass@1"] if pass_at_1 else []
    table = Table(title="Leaderboard", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in cols:
        table.add_column(col, no_wrap=True, justify="left" if col == "model" else "right")
    for r in board.rows:
        interval = "–" if r.ci_low is None else f"{r.ci_low:.0f}–{r.ci_high:.0f}"
        cells = [str(r.rank), r.model, f"{r.rating:.1f}", interval]
        cells += [f"{r.rating_raw:.1f}"] if style else []
        cells += [f"{r.battles}", f"{r.wins:g}-{r.ties:g}-{r.losses:g}"]
        if pass_at_1:
            value = pass_at_1.get(r.model)
            cells.append("–" if value is None else f"{100 * value:.1f}")
        table.add_row(*cells)
    con = table_console()
    con.print(table)
    con.print(board.caption())


def _by_group(store, vf: VoteFilter, opts: RatingOptions, by: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    from arena.services.breakdowns import by_group

    boards = by_group(store, vf, opts, by)  # type: ignore[arg-type]
    if not boards:
        info("no votes counted")
        return
    info(next(iter(boards.values())).caption().split(";")[0] + f"; fitted separately per {by}")
    if fmt == "json":
        print(json.dumps({g: [r.as_dict() for r in b.rows] for g, b in boards.items()}, indent=2))
        return
    models = sorted({r.model for b in boards.values() for r in b.rows})
    header = ["model"] + list(boards)
    table = []
    for m in models:
        row: list[object] = [m]
        for b in boards.values():
            r = next((x for x in b.rows if x.model == m), None)
            row.append(None if r is None else (f"{r.rating:.0f}" + (
                f" ({r.ci_low:.0f}–{r.ci_high:.0f})" if r.ci_low is not None else "")))
        table.append(row)
    _emit(header, table, fmt, f"Ratings by {by}")


def _baseline(store, vf: VoteFilter, baseline: str, by: str | None, fmt: str, seed: int,  # type: ignore[no-untyped-def]
              level: float) -> None:
    from arena.services.breakdowns import versus_baseline

    rows = versus_baseline(store, vf, baseline, by=by, seed=seed, level=level)  # type: ignore[arg-type]
    info(f"against {baseline}: score = (wins + ½ ties) / battles, {level:.0%} bootstrap interval "
         f"(1000 rounds, seed {seed})")
    if fmt == "json":
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    header = ["model", by or "group", "battles", "win %", "tie %", "score", "interval"]
    table = [[r.model, r.group, f"{r.battles:g}", f"{100 * r.win_rate:.1f}", f"{100 * r.tie_rate:.1f}",
              f"{r.score:.3f}", f"{r.score_low:.3f} … {r.score_high:.3f}"] for r in rows]
    _emit(header, table, fmt, f"Against {baseline}")


def _emit(header: list[str], table: list[list[Any]], fmt: str, title: str) -> None:
    """A table as CSV, Markdown or a terminal table (drawn without markup)."""
    from arena.services.report import cell, to_csv, to_markdown

    if fmt == "csv":
        print(to_csv(header, table), end="")
    elif fmt == "md":
        print(to_markdown(header, table), end="")
    else:
        from rich.table import Table

        t = Table(*header, title=title)
        for row in table:
            t.add_row(*[cell(v) for v in row])
        table_console().print(t)


@leaderboard_app.command("matrix")
def matrix_cmd(
    fmt: Fmt = "table",
    judge: Judge = None,
    set_name: SetName = None,
    category: Category = None,
    language: Language = None,
    since: Since = None,
    until: Until = None,
    combine: Combine = "battle",
    strong_weight: StrongWeight = 1.0,
    plot: Plot = None,
) -> None:
    """Pairwise matrices: how often the row model beat the column model, and battle counts."""
    from arena.services.breakdowns import matrices
    from arena.services.report import cell, to_csv, to_markdown

    vf = _filter(judge, set_name, category, language, since, until, combine, strong_weight)
    models, frac, counts = matrices(state.context().store, vf)
    if plot is not None and models:
        from arena.services.plots import plot_matrix

        plot_matrix(models, frac, counts, plot)
        info(f"plot saved to {plot}")
    if fmt == "json":
        print(json.dumps({"models": list(models),
                          "win_fraction": [[None if v != v else round(float(v), 4) for v in row] for row in frac],
                          "battles": [[float(v) for v in row] for row in counts]}, indent=2))
        return
    for title, mat, as_int in (("win fraction (row beats column, ties half)", frac, False),
                               ("battles", counts, True)):
        header = [title] + list(models)
        rows = [[m] + [(int(v) if as_int else (None if v != v else round(float(v), 3))) for v in row]
                for m, row in zip(models, mat, strict=True)]
        if fmt == "csv":
            print(to_csv(header, rows))
        elif fmt == "md":
            print(to_markdown(header, rows))
        else:
            from rich.table import Table

            t = Table(*header)
            for row in rows:
                t.add_row(*[cell(v) for v in row])
            table_console().print(t)
