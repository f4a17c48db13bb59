"""`arena demo` in a real terminal: tmux runs it, send-keys types, capture-pane reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True, check=True).stdout


def _wait_for(session: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


def test_arena_demo_in_tmux(tmp_path: Path) -> None:
    session = "arena-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "ARENA_HOME": str(tmp_path), "ARENA_VOTER": "tmux-tester",
           "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
    cmd = f"{sys.executable} -m arena.cli.main demo --keep"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   env=env, check=True, cwd=ROOT)
    try:
        _wait_for(session, "Model A")
        _wait_for(session, "your vote:")
        subprocess.run(["tmux", "send-keys", "-t", session, "b"], check=True)
        screen = _wait_for(session, "you voted: B is better")
        assert "Model A: sample-" in screen and "Model B: sample-" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "n"], check=True)
        _wait_for(session, "your vote:")  # the next battle streamed and is ready
        subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(
                ["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    from db.engine import open_database
    from db.repositories import Store

    votes = Store(open_database(f"sqlite:///{tmp_path / 'demo' / 'arena.db'}")).votes()
    assert [(v.outcome.value, v.voter, v.judge_kind) for v in votes] == [("b", "tmux-tester", "human")]
