"""Commands that read and import data: prompts, battles, models, leaderboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from arena.cli.common import info, state

prompts_app = typer.Typer(help="Import and list prompt sets.", no_args_is_help=True)
battles_app = typer.Typer(help="Inspect stored battles.", no_args_is_help=True)
models_app = typer.Typer(help="Configured and stored models.", no_args_is_help=True)


@prompts_app.command("import")
def prompts_import(
    file: Annotated[Path, typer.Argument(help="A JSONL prompt file (our format or CodeArena's; .gz works).")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl or codearena (default: from the file name).")] = None,
    set_name: Annotated[str | None, typer.Option("--set", help="Prompt set name (default: the file's stem).")] = None,
) -> None:
    """Import a prompt set. Re-importing is a no-op; a bad line imports nothing."""
    from arena.services.prompts import import_prompt_file

    if fmt not in (None, "jsonl", "codearena"):
        from arena.cli.common import fail

        fail("--format: choose jsonl or codearena")
    ctx = state.context()
    res = import_prompt_file(ctx.store, file, fmt, set_name)  # type: ignore[arg-type]
    info(f"set {res.set_name}: {res.added} added, {res.updated} updated, {res.unchanged} unchanged"
         + (f"; recorded answers: {res.answers_added} added, {res.answers_unchanged} unchanged "
            f"(replay models: {', '.join(res.models)})" if res.models else ""))


@prompts_app.command("list")
def prompts_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List imported prompt sets with their categories and languages."""
    ctx = state.context()
    sets = ctx.store.list_sets()
    if fmt == "json":
        print(json.dumps([s.__dict__ for s in sets], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("set", "prompts", "categories", "languages", "source")
    for s in sets:
        table.add_row(s.name, str(s.prompts), _counts(s.categories), _counts(s.languages), s.source or "")
    Console(markup=False).print(table)


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


@battles_app.command("show")
def battles_show(battle_id: Annotated[int, typer.Argument(help="Battle id.")],
                 fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text") -> None:
    """Print a battle: the prompt, both answers and every vote with its rationale."""
    from arena.cli.render import print_battle

    ctx = state.context()
    print_battle(ctx.store.battle_detail(battle_id), fmt)


@battles_app.command("list")
def battles_list(
    set_name: Annotated[str | None, typer.Option("--set", help="Only this prompt set.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest last).")] = 50,
) -> None:
    """List battles with their status and vote counts."""
    from rich.console import Console
    from rich.table import Table

    ctx = state.context()
    battles = ctx.store.battles(set_name=set_name)[-limit:]
    votes = ctx.store.votes(battle_ids=[b.id for b in battles]) if battles else []
    per: dict[int, int] = {}
    for v in votes:
        per[v.battle_id] = per.get(v.battle_id, 0) + 1
    table = Table("id", "prompt", "model A", "model B", "status", "votes")
    for b in battles:
        table.add_row(str(b.id), str(b.prompt_id), b.model_a, b.model_b, b.status, str(per.get(b.id, 0)))
    Console(markup=False).print(table)


@models_app.command("list")
def models_list() -> None:
    """Models from the config and the database, with usage totals."""
    from rich.console import Console
    from rich.table import Table

    ctx = state.context()
    usage = ctx.store.usage_by_model()
    stored = {name: provider for name, provider, _ in ctx.store.list_models()}
    table = Table("model", "provider", "endpoint", "answers", "failures", "tokens in", "tokens out", "cost $")
    for name in sorted(set(stored) | set(ctx.config.models)):
        spec = ctx.config.models.get(name)
        u = usage.get(name, {})
        endpoint = ", ".join(spec.base_urls) if spec else "(recorded answers)"
        table.add_row(name, spec.provider if spec else stored[name], endpoint,
                      str(u.get("generations", 0)), str(u.get("failures", 0)),
                      str(u.get("prompt_tokens", 0)), str(u.get("completion_tokens", 0)),
                      f"{u.get('cost_usd', 0.0):.4f}")
    Console(markup=False).print(table)
