"""Building what a command needs from the settings: the store and the config, once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from arena.config import ArenaConfig, Settings, load_config, resolve_config_path

if TYPE_CHECKING:
    from db.repositories import Store


@dataclass
class Context:
    """Settings plus lazily opened state; the CLI builds one per invocation."""

    settings: Settings
    config_override: Path | None = None

    @cached_property
    def config(self) -> ArenaConfig:
        path, explicit = resolve_config_path(self.config_override, self.settings)
        return load_config(path, required=explicit)

    @cached_property
    def store(self) -> Store:
        from db.engine import open_database
        from db.repositories import Store

        return Store(open_database(self.settings.database_url))


def setup_logging(settings: Settings) -> Path:
    """Send Arena's log records to HOME/logs/arena.log (never to the terminal)."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    path = settings.log_dir / "arena.log"
    root = logging.getLogger("arena")
    if not any(isinstance(h, logging.FileHandler) for h in root.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return path
