"""State shared by the commands of one invocation, and small printing helpers."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
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
