"""The ``arena`` command. Heavy modules are imported inside commands, so --help is instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from arena.cli import battle, data, serve
from arena.cli.common import fail, state
from arena.cli.evaluate import eval_app
from arena.cli.export import export_app
from arena.cli.importing import import_app
from arena.cli.judges import judges_app
from arena.cli.leaderboard import leaderboard_app
from arena.cli.train import train_app

app = typer.Typer(
    name="arena",
    help="Head-to-head battles, judges and leaderboards for code LLMs. Without a command, opens the TUI.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.prompts_app, name="prompts")
app.add_typer(battle.battle_app, name="battle")
app.add_typer(battle.judge_app, name="judge")
app.add_typer(data.battles_app, name="battles")
app.add_typer(data.models_app, name="models")
app.add_typer(import_app, name="import")
app.add_typer(leaderboard_app, name="leaderboard")
app.add_typer(judges_app, name="judges")
app.add_typer(export_app, name="export")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
app.command("serve")(serve.serve_cmd)
app.command("fake-server")(serve.fake_server_cmd)
app.command("demo")(battle.demo_cmd)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="Models/judges TOML file (default: $ARENA_CONFIG or $ARENA_HOME/arena.toml).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: $ARENA_DB_URL or sqlite:///$ARENA_HOME/arena.db).")] = None,
    home: Annotated[Path | None, typer.Option("--home", help="State folder (default: $ARENA_HOME or ~/.arena).")] = None,
) -> None:
    """Arena: put code models head to head, judge them, rank them.

    Without a command, opens the TUI on the configured models (or the demo pack).
    """
    from arena.config import Settings

    overrides: dict[str, Any] = {}
    if home is not None:
        overrides["home"] = home
    if db is not None:
        overrides["db_url"] = db
    try:
        state.settings = Settings(**overrides)
    except Exception as exc:  # pydantic validation of ARENA_* variables
        fail(f"settings: {exc}")
    state.config_path = config
    if ctx.invoked_subcommand is None:
        from arena.cli.tui import open_tui

        open_tui(state.context())


def main() -> None:
    from arena.domain import ArenaError

    try:
        app()
    except ArenaError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted: finished work is saved; run the same command to resume",
                    err=True, fg="yellow")
        sys.exit(130)


if __name__ == "__main__":
    main()
