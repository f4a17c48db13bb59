"""Snapshot tests of the battle screen's main states (pytest-textual-snapshot).

Deterministic: fake models, a fixed clock, a seeded pairing, a fixed terminal size. After
an intended change, review `snapshot_report.html` and update with `--snapshot-update`.
"""

from __future__ import annotations

import asyncio

from conftest import FakeModel, config, fixed_clock
from test_battle_screen import fakes

from arena.tui.app import make_app

SIZE = (110, 34)


def build(store, models: dict[str, FakeModel]):  # type: ignore[no-untyped-def]
    return make_app(store, config(), voter="tester", prompt_set="tui", seed=0,
                    provider_factory=lambda c, name: models[name], clock=fixed_clock)


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)


def test_streaming(snap_compare, tui_store) -> None:  # type: ignore[no-untyped-def]
    gate = asyncio.Event()

    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.4)

    assert snap_compare(build(tui_store, fakes(gate=gate)), run_before=before, terminal_size=SIZE)


def test_ready_to_vote(snap_compare, tui_store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(build(tui_store, fakes()), run_before=_settle, terminal_size=SIZE)


def test_revealed(snap_compare, tui_store) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press("a")
        await pilot.pause(0.3)

    assert snap_compare(build(tui_store, fakes()), run_before=before, terminal_size=SIZE)


def test_one_side_failed(snap_compare, tui_store) -> None:  # type: ignore[no-untyped-def]
    models = fakes(fail="HTTP 500: upstream error (after 5 attempts)")
    assert snap_compare(build(tui_store, models), run_before=_settle, terminal_size=SIZE)


def test_help_screen(snap_compare, tui_store) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.3)

    assert snap_compare(build(tui_store, fakes()), run_before=before, terminal_size=SIZE)


def test_small_terminal(snap_compare, tui_store) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(build(tui_store, fakes()), run_before=_settle, terminal_size=(80, 24))
