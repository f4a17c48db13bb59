"""Screens reachable from the app's navigation keys."""

from __future__ import annotations

from textual.screen import Screen

from arena.tui.screens.battle import BattleScreen

SCREENS: dict[str, type[Screen[None]]] = {"battle": BattleScreen}
