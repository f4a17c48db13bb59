"""``arena judges``: reports on the judges themselves (agreement between judges and people)."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer

from arena.cli.common import fail, info, split_csv, state

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
    from rich.console import Console
    from rich.table import Table

    headers = ["rater X", "rater Y"] + (["category"] if by else []) + ["agree %", "kappa", "n"]
    table = Table(*headers)
    for r in rows:
        cells = [r.rater_x, r.rater_y] + ([r.category or "(all)"] if by else [])
        table.add_row(*cells, _pct(r.percent), _kappa(r.kappa), str(r.n))
    Console(markup=False, highlight=False).print(table)
