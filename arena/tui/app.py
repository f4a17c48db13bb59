"""The Arena TUI: one app factory used by the CLI and the tests.

The app holds the services (built by the caller's loader and handed in) and screens;
screens call the services in workers and never hold clients or database sessions
themselves. The loader runs in a thread after the first frame is painted, so the screen
appears at once and the database stack (a second of imports, migrations, the demo pack)
loads behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message

from arena.domain import ArenaError, Prompt, RatingRow

if TYPE_CHECKING:
    from arena.config import ArenaConfig
    from arena.providers.base import Provider
    from arena.services.live import LiveArena
    from db.repositories import Store


class Loaded(Message):
    """The services are ready (or could not be built: ``error``)."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__()
        self.error = error


class ArenaApp(App[None]):
    CSS_PATH = Path(__file__).with_name("arena.tcss")
    TITLE = "Arena"
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+b", "show('battle')", "Battle", show=False, priority=True),
        Binding("ctrl+l", "show('leaderboard')", "Leaderboard", priority=True),
        Binding("ctrl+o", "show('history')", "History", priority=True),
        Binding("ctrl+j", "show('audit')", "Judge audit", priority=True),
        Binding("ctrl+e", "show('models')", "Models", priority=True),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, loader: Callable[[], LiveArena], *, prompt_set: str | None,
                 voter: str, notice: str | None = None, category: str | None = None,
                 language: str | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__()
        self._loader = loader
        self._live: LiveArena | None = None
        self.clock = clock
        self.prompt_set = prompt_set
        self.category = category
        self.language = language
        self.notice = notice
        self.sub_title = f"prompts: {prompt_set or 'type one (p)'} · voter: {voter}"

    @property
    def ready(self) -> bool:
        return self._live is not None

    @property
    def live(self) -> LiveArena:
        if self._live is None:
            raise ArenaError("still loading")
        return self._live

    @property
    def store(self) -> Store:
        return self.live.store

    @property
    def config(self) -> ArenaConfig:
        return self.live.config

    def on_mount(self) -> None:
        from arena.tui.screens.battle import BattleScreen

        self.push_screen(BattleScreen())
        self._load()

    @work(thread=True, exclusive=True, group="load")
    def _load(self) -> None:
        try:
            live = self._loader()
        except Exception as exc:  # shown on screen: a bad database URL, a broken config
            self.post_message(Loaded(f"{type(exc).__name__}: {exc}"))
            return
        self._live = live
        self.post_message(Loaded())

    def on_loaded(self, message: Loaded) -> None:
        for screen in self.screen_stack:
            if hasattr(screen, "on_services_ready"):
                screen.on_services_ready(message.error)

    async def on_unmount(self) -> None:
        if self._live is not None:
            await self._live.aclose()

    # -- what screens ask the app for ------------------------------------------------
    def next_prompt(self) -> Prompt:
        if self.prompt_set is None:
            raise ArenaError("no prompt set: press p to type a prompt, or import one with "
                             "`arena prompts import FILE`")
        return self.live.random_prompt(self.prompt_set, category=self.category,
                                       language=self.language)

    def ratings(self) -> dict[str, RatingRow]:
        """Current ratings over every vote (Bradley-Terry, bootstrap intervals)."""
        from arena.services.leaderboard import RatingOptions, compute
        from db.repositories.stats import VoteFilter

        try:
            board = compute(self.store, VoteFilter(), RatingOptions(rounds=100))
        except ArenaError:
            return {}
        return {r.model: r for r in board.rows}

    # -- actions -----------------------------------------------------------------------
    def action_help(self) -> None:
        from arena.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.screen))

    def action_show(self, name: str) -> None:
        if not self.ready:
            self.notify("still loading…")
            return
        from arena.tui.screens import registry

        factory = registry.SCREENS.get(name)
        if factory is None:
            return
        if name == "battle":
            while len(self.screen_stack) > 2:
                self.pop_screen()
            return
        if type(self.screen).__name__ == factory.__name__:
            return
        while len(self.screen_stack) > 2:  # the default screen, then the battle screen
            self.pop_screen()
        self.push_screen(factory())


def make_app(store: Store, config: ArenaConfig, *, voter: str, prompt_set: str | None,
             notice: str | None = None, category: str | None = None,
             language: str | None = None, seed: int | None = None,
             replay_chunk_delay: float = 0.01,
             provider_factory: Callable[[ArenaConfig, str], Provider] | None = None,
             clock: Callable[[], float] = time.perf_counter) -> ArenaApp:
    """The app as users get it; tests call this too, with a temp store, fake providers
    and a fixed clock."""

    def loader() -> LiveArena:
        from arena.services.live import LiveArena

        return LiveArena(store, config, voter=voter, seed=seed,
                         replay_chunk_delay=replay_chunk_delay, provider_factory=provider_factory)

    return ArenaApp(loader, prompt_set=prompt_set, voter=voter, notice=notice,
                    category=category, language=language, clock=clock)
