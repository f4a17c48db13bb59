"""Screens reachable from the app's navigation keys."""

from __future__ import annotations

from textual.screen import Screen

from arena.tui.screens.audit import AuditScreen
from arena.tui.screens.battle import BattleScreen
from arena.tui.screens.history import HistoryScreen
from arena.tui.screens.leaderboard import LeaderboardScreen
from arena.tui.screens.models import ModelsScreen

SCREENS: dict[str, type[Screen[None]]] = {"battle": BattleScreen}
SCREENS["audit"] = AuditScreen
SCREENS.update(leaderboard=LeaderboardScreen, history=HistoryScreen, models=ModelsScreen)
