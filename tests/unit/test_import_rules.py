"""The import rules of ARCHITECTURE.md, checked in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["torch", "transformers", "trl", "datasets", "vllm"]
CORE = ["arena.domain", "arena.config", "arena.rating.elo", "arena.providers.base",
        "arena.providers.openai_compat", "arena.providers.replay", "arena.providers.registry",
        "arena.providers.vllm_server", "db.engine", "db.tables", "db.repositories",
        "judges.base", "judges.verdict", "judges.pairwise", "judges.registry", "judges.rubric",
        "judges.reference", "judges.preference_model", "judges.combine", "judges.execution",
        "judges.sandbox", "judges.pairs", "judges.extraction", "arena.providers.transformers_local"]


def _loaded_after(code: str) -> list[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_headless_packages_do_not_import_front_ends_or_textual() -> None:
    mods = _loaded_after("\n".join(f"import {m}" for m in CORE))
    assert "arena.domain" in mods
    offenders = [m for m in mods if m.startswith(("arena.services", "arena.tui", "arena.cli", "textual"))]
    assert offenders == []


def test_domain_is_stdlib_only() -> None:
    mods = _loaded_after("import arena.domain")
    assert not [m for m in mods if m.split(".")[0] in {"pydantic", "sqlmodel", "sqlalchemy", "openai", "numpy"}]


def test_help_imports_no_heavy_modules() -> None:
    code = ("from arena.cli.main import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass")
    mods = _loaded_after(code)
    assert "typer" in mods
    assert [m for m in mods if m.split(".")[0] in HEAVY] == []
    # --help stays light: no database layer, no HTTP client either
    assert [m for m in mods if m.split(".")[0] in {"openai", "sqlalchemy", "sqlmodel"}] == []


def test_judges_load_no_heavy_module_until_used() -> None:
    """Building every kind of judge loads neither torch/transformers (the local preference
    model loads its model on first use) nor evalplus (the execution judge imports its
    sanitizer on the first answer)."""
    code = "\n".join(f"import {m}" for m in CORE) + """
from arena.config import parse_config
from judges.registry import build_judge
cfg = parse_config({"models": {"jm": {"provider": "openai", "base_url": "http://127.0.0.1:9/v1"},
                               "local": {"provider": "hf", "path": "/nonexistent"}},
                    "judges": {"pw": {"model": "jm"}, "pm": {"kind": "preference-model", "model": "local"},
                               "ex": {"kind": "execution", "fallback": "pw"},
                               "maj": {"kind": "majority", "judges": ["pw", "pm", "ex"]}}}, "t")
for name in cfg.judges:
    build_judge(cfg, name)
"""
    mods = _loaded_after(code)
    assert [m for m in mods if m.split(".")[0] in {*HEAVY, "evalplus"}] == []
