"""``arena judges``: reports on the judges themselves (agreement between judges and people)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated

import typer

from arena.cli.common import fail, info, split_csv, state, table_console

if TYPE_CHECKING:
    from arena.services.judge_eval import EvalReport

judges_app = typer.Typer(help="Reports on the judges: agreement with each other and with people.",
                         no_args_is_help=True)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _kappa(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


@judges_app.command("agreement")
def agreement_cmd(
    judges: Annotated[str | None, typer.Option(
        "--judges", help="Raters, comma-separated: judge names, human (every human vote, "
                         "majority per battle) or human:VOTER. Default: every judge that "
                         "voted, plus human.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Also break agreement down by: category.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Per cent agreement and Cohen's kappa for every pair of raters.

    Over the battles both raters judged; a judge's games on a battle combine into one
    verdict; both-bad counts as a tie."""
    from arena.services.agreement import agreement_table

    if by not in (None, "category"):
        fail("--by: the only breakdown is category")
    if fmt not in ("table", "json"):
        fail("--format: choose table or json")
    ctx = state.context()
    raters = split_csv(judges) or None
    rows = agreement_table(ctx.store, raters, by=by)  # type: ignore[arg-type]
    info(f"{len({(r.rater_x, r.rater_y) for r in rows})} pairs; labels a / b / tie "
         "(both_bad counts as tie); kappa 1.0 when both raters gave one same label throughout, "
         "– when they share no battle")
    if fmt == "json":
        print(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    headers = ["rater X", "rater Y"] + (["category"] if by else []) + ["agree %", "kappa", "n"]
    table = Table(*headers)
    for r in rows:
        cells = [r.rater_x, r.rater_y] + ([r.category or "(all)"] if by else [])
        table.add_row(*cells, _pct(r.percent), _kappa(r.kappa), str(r.n))
    table_console(highlight=False).print(table)


@judges_app.command("eval")
def eval_cmd(
    judge: Annotated[str, typer.Option("--judge", help="Judge name(s) from [judges], comma-separated: one row each.")],
    pairs: Annotated[str, typer.Option("--pairs", help="Labelled pairs: CodePrefBench JSONL/JSON ({task_id, instruction, choices, gt_choice}) or a HumanEvalPack JSONL(.gz), which becomes correct-vs-buggy pairs.")],
    preference: Annotated[str | None, typer.Option("--preference", help="Preference (rubric, reference) or criterion (preference model) to judge for.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N pairs.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for which position holds the better answer (HumanEvalPack).")] = 0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 16,
    out: Annotated[str | None, typer.Option("--out", help="Also write the report, with every pair's verdicts, to this JSON file.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Measure judges on labelled pairs: accuracy (undecided = half), per category,
    position-flip rate, length bias, tokens and cost. Each result is also kept in the
    database (see `arena judges report`)."""
    import asyncio
    import uuid
    from pathlib import Path

    from arena.services.judge_eval import evaluate
    from judges.pairs import load_pairs
    from judges.registry import build_judge, vote_name

    if fmt not in ("table", "json"):
        fail("--format: choose table or json")
    names = split_csv(judge)
    if not names:
        fail("--judge: name at least one judge")
    ctx = state.context()
    for n in names:  # a wrong judge or preference is reported before any file is read
        vote_name(ctx.config, n, preference)
    kind, items = load_pairs(Path(pairs), seed=seed, limit=limit)
    judges = [build_judge(ctx.config, n, preference) for n in names]
    info(f"{len(items)} {kind} pairs from {pairs}; judging each in both orders")
    reports = []
    for j in judges:
        info(f"judge {j.name} ({j.kind}) ...")
        try:
            report = asyncio.run(evaluate(j, items, pairs, concurrency=concurrency))
        except KeyboardInterrupt:
            info("interrupted: nothing was recorded for this judge")
            raise typer.Exit(130) from None
        summary = report.as_dict()
        run_id = ctx.store.start_run(f"eval:{uuid.uuid4().hex}", "judge-eval",
                                     {"judge": j.name, "pairs": pairs, "format": kind,
                                      "seed": seed, "limit": limit})
        ctx.store.finish_run(run_id, "finished", summary)
        reports.append(report)
    if out:
        Path(out).write_text(json.dumps([r.as_dict(pairs=True) for r in reports], indent=2,
                                        ensure_ascii=False), encoding="utf-8")
        info(f"wrote {out}")
    if fmt == "json":
        print(json.dumps([r.as_dict() for r in reports], indent=2, ensure_ascii=False))
        return
    _print_eval(reports)


def _print_eval(reports: list[EvalReport]) -> None:
    from rich.table import Table

    con = table_console(highlight=False)
    table = Table("judge", "kind", "pairs", "accuracy %", "undecided", "abstained", "failures",
                  "flip rate %", "longer wins %", "longer better %", "tokens in/out", "cost $",
                  "time s")
    for r in reports:
        d = r.as_dict()
        table.add_row(r.judge, r.kind, str(r.n), f"{100 * r.accuracy:.1f}", str(r.undecided),
                      str(r.abstained), str(r.failures), _pct(None if r.flip_rate is None else 100 * r.flip_rate),
                      _pct(None if r.longer_wins is None else 100 * r.longer_wins),
                      _pct(None if r.longer_is_better is None else 100 * r.longer_is_better),
                      f"{d['prompt_tokens']}/{d['completion_tokens']}", f"{d['cost_usd']:.4f}",
                      f"{r.wall_s:.1f}")
    con.print(table)
    cats = Table("judge", "category", "pairs", "accuracy %")
    for r in reports:
        for cat, (n, acc) in r.by_category().items():
            cats.add_row(r.judge, cat, str(n), f"{100 * acc:.1f}")
    con.print(cats)
    info("accuracy counts an undecided verdict, an abstention (a pair the judge cannot "
         "judge: no tests, no reference answer) or a failure as half; flip rate: share of "
         "pairs whose verdict changes when the answers swap places (– when position cannot "
         "matter); longer better: share of pairs whose better answer is the longer one")


@judges_app.command("report")
def report_cmd(
    judge: Annotated[str | None, typer.Option("--judge", help="Only this judge (the stored name, e.g. ufb/readability).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Answer judges' scores per model and preference (failures count as 0 in 'mean', the
    CODAL-Bench rule; 'mean ok' leaves them out), execution outcomes, and past evals."""
    from arena.services.judge_report import answer_scores, eval_runs

    if fmt not in ("table", "json"):
        fail("--format: choose table or json")
    ctx = state.context()
    scores = answer_scores(ctx.store, judge)
    evals = eval_runs(ctx.store, judge)
    if fmt == "json":
        print(json.dumps({"scores": [s.as_dict() for s in scores], "evals": evals}, indent=2,
                         ensure_ascii=False, default=str))
        return
    if not scores and not evals:
        info("nothing to report: no answer judge has scored anything and no `arena judges "
             "eval` has run" + (f" for {judge!r}" if judge else ""))
        return
    from rich.table import Table

    con = table_console(highlight=False)
    for s in scores:
        prefs = s.preferences()
        table = Table("model", *prefs, "overall", "mean ok", "n", "failures",
                      title=f"{s.judge} ({s.kind}, scale 0–{s.scale_max})"
                      if s.kind == "execution" else f"{s.judge} ({s.kind}, 1–{s.scale_max})")
        for m in s.models():
            total = s.overall(m)
            cells = [_num(s.cells[(m, p)].mean) if (m, p) in s.cells else "–" for p in prefs]
            table.add_row(m, *cells, _num(total.mean), _num(total.mean_ok), str(total.n),
                          str(total.failures))
        con.print(table)
        if s.statuses:
            outcomes = sorted({k for c in s.statuses.values() for k in c})
            st = Table("model", *outcomes, title=f"{s.judge}: what the code did")
            for m, c in sorted(s.statuses.items()):
                st.add_row(m, *(str(c.get(k, 0)) for k in outcomes))
            con.print(st)
    if evals:
        table = Table("run", "judge", "pairs file", "pairs", "accuracy %", "flip %", "failures",
                      title="judge evaluations (arena judges eval)")
        for e in evals:
            flip = e.get("position_flip_rate")
            table.add_row(str(e["run_id"]), e["judge"], e["pairs_file"], str(e["pairs"]),
                          f"{100 * e['accuracy']:.1f}", _pct(None if flip is None else 100 * flip),
                          str(e["failures"]))
        con.print(table)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
