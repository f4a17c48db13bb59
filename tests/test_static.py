"""The code stays clean for ruff (lint + import order) and mypy: both run here, so a change
that breaks either fails the suite instead of piling up. The tool versions are pinned to a
minor release in pyproject.toml, so a new release cannot fail a run by itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed next to {sys.executable} (the dev extra has it)")
    return path


def test_ruff_finds_nothing() -> None:
    proc = subprocess.run([str(tool("ruff")), "check", "--no-cache", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_mypy_finds_nothing(tmp_path: Path) -> None:
    proc = subprocess.run([str(tool("mypy")), "--cache-dir", str(tmp_path / "cache"),
                           "arena", "db", "judges", "trainers"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
