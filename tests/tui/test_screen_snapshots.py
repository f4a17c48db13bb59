"""Snapshot tests of the leaderboard, history, battle detail, models and audit screens.

Deterministic: the fixture database of ``test_screens`` (fixed times, local time UTC), no
live battle (no prompt set), fake providers, a fixed terminal size, and every worker done
before the picture is taken. The models screen shows only stored models ("recorded
answers", "no endpoint to check") and configured ones on a closed port ("unreachable"):
never a health check's timing. After an intended change, review `snapshot_report.html`
and update with `--snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from test_screens import build_app, build_template, copy_store, go, ready, utc_zone

from db.repositories import Store

SIZE = (110, 34)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("snapshots"))


@pytest.fixture
def arena_store(template: Path, tmp_path: Path) -> Iterator[Store]:
    with utc_zone():
        yield copy_store(template, tmp_path)


def keys(*pressed: str) -> Callable[[object], Awaitable[None]]:
    """A ``run_before`` that waits for the app to load, then presses ``pressed`` one at
    a time, waiting for every worker and message after each."""

    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await ready(pilot)
        await go(pilot, *pressed)

    return before


def test_leaderboard(snap_compare, arena_store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(build_app(arena_store), run_before=keys("ctrl+l"), terminal_size=SIZE)


def test_history(snap_compare, arena_store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(build_app(arena_store), run_before=keys("ctrl+o"), terminal_size=SIZE)


def test_battle_detail(snap_compare, arena_store) -> None:  # type: ignore[no-untyped-def]
    # the newest battle: an answer and a rationale with markup and an escape, shown as text
    assert snap_compare(build_app(arena_store), run_before=keys("ctrl+o", "enter"),
                        terminal_size=SIZE)


def test_models(snap_compare, arena_store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(build_app(arena_store), run_before=keys("ctrl+e"), terminal_size=SIZE)


def test_audit_before_vote(snap_compare, arena_store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(build_app(arena_store), run_before=keys("ctrl+j"), terminal_size=SIZE)


def test_audit_after_vote(snap_compare, arena_store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(build_app(arena_store), run_before=keys("ctrl+j", "b"),
                        terminal_size=SIZE)


def test_leaderboard_small_terminal(snap_compare, arena_store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(build_app(arena_store), run_before=keys("ctrl+l", "j"),
                        terminal_size=(80, 24))
