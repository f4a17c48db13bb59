"""Importing prompt sets (files and the bundled demo pack)."""

from __future__ import annotations

from pathlib import Path

from arena.prompts.loaders import Format, demo_pack_path, load_prompt_file
from db.repositories import ImportResult, Store

DEMO_SET = "demo"


def import_prompt_file(store: Store, path: Path, fmt: Format | None = None,
                       set_name: str | None = None) -> ImportResult:
    """Parse the whole file first, then import it in one transaction."""
    prompts, answers = load_prompt_file(path, fmt)
    name = set_name or path.name.split(".")[0]
    return store.import_prompts(name, str(path), prompts, answers)


def ensure_demo_pack(store: Store) -> ImportResult:
    """Import the demo pack as set "demo" (a no-op when it is already there)."""
    return import_prompt_file(store, demo_pack_path(), "jsonl", DEMO_SET)
