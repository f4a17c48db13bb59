"""State shared by the commands of one invocation, and small printing helpers."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from arena.config import Settings
    from arena.services.context import Context


@dataclass
class _State:
    settings: Settings | None = None
    config_path: Path | None = None
    _ctx: Context | None = None

    def context(self) -> Context:
        from arena.config import Settings
        from arena.services.context import Context, setup_logging

        if self._ctx is None:
            settings = self.settings or Settings()
            setup_logging(settings)
            self._ctx = Context(settings, self.config_path)
        return self._ctx


state = _State()


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(code)


def info(message: str) -> None:
    """A diagnostic line on stderr (never mixed into data on stdout)."""
    print(message, file=sys.stderr)


def split_csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def table_console(*, highlight: bool = True) -> Console:
    """A console for tables on stdout: markup off (model and judge text stays literal), and
    output that goes to a pipe or a file is laid out 200 columns wide (unless COLUMNS says
    otherwise) rather than squeezed into Rich's default 80, which cuts numbers to "10…"."""
    from rich.console import Console

    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
    return Console(markup=False, highlight=highlight, width=width, file=sys.stdout)
