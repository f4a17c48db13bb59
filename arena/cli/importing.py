"""``arena import``: battles and votes recorded by other arenas (or exported by ours)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli.common import fail, info, state

import_app = typer.Typer(help="Import battles and votes from other arenas.", no_args_is_help=True)

FORMATS = ("fastchat", "arena-hard", "jsonl")


@import_app.command("battles")
def import_battles_cmd(
    file: Annotated[Path, typer.Argument(help="The battle file: JSONL or one JSON array; .gz works.")],
    fmt: Annotated[str, typer.Option("--format", help="fastchat (Chatbot Arena battles), arena-hard (judgment files) or jsonl (ours).")],
    set_name: Annotated[str | None, typer.Option("--set", help="Prompt set for the battles' questions (default: imported-<file stem>; created when missing).")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="arena-hard only: the baseline model the judgments compare against.")] = None,
) -> None:
    """Import battles and their votes. Re-importing adds nothing; a bad record imports nothing."""
    from arena.services.importing import import_battles

    if fmt not in FORMATS:
        fail(f"--format: choose {', '.join(FORMATS)}")
    ctx = state.context()
    summary = import_battles(ctx.store, file, fmt, set_name, baseline)
    for line in summary.lines():
        info(line)
