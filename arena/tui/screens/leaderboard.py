"""The leaderboard screen: the rating engine's table for a chosen vote source and filters.

Thin: a thread worker calls :func:`arena.services.leaderboard.compute` (a pure function of
the vote log and the options shown in the caption) and posts the result; the handler fills
the table, the caption and the interval chart. Keys switch the vote source (human votes,
each LLM judge in turn, all votes) and cycle the category and language filters. The
board is recomputed whenever the screen is shown, so a vote just cast counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from arena.domain import ArenaError
from arena.safety import printable
from arena.tui.widgets.bars import Bar, RatingBars

if TYPE_CHECKING:
    from arena.services.leaderboard import Leaderboard
    from arena.tui.app import ArenaApp

ANY = "any"
COLUMNS = ("#", "model", "rating", "interval", "battles", "W-T-L")


def _count(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


class BoardReady(Message):
    """A computed leaderboard (or the reason there is none) for the screen to show."""

    def __init__(self, request: int, board: Leaderboard | None, error: str | None,
                 judges: list[str], categories: list[str], languages: list[str]) -> None:
        super().__init__()
        self.request = request
        self.board = board
        self.error = error
        self.judges = judges
        self.categories = categories
        self.languages = languages


class LeaderboardScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.show('battle')", "Back to battle"),
        Binding("h", "source('human')", "Human votes"),
        Binding("j", "next_judge", "Next judge"),
        Binding("a", "source('all')", "All votes"),
        Binding("c", "next_category", "Category"),
        Binding("g", "next_language", "Language"),
        Binding("r", "reload", "Recompute", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.source = "all"  # "all", "human" or an LLM judge's name
        self.category: str | None = None
        self.language: str | None = None
        self.judges: list[str] = []
        self.categories: list[str] = []
        self.languages: list[str] = []
        self._request = 0  # answers to an older request (a thread cannot be stopped) are dropped

    @property
    def arena_app(self) -> ArenaApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="lb-state", markup=False)
        with Vertical(id="lb-body"):
            yield DataTable(id="lb-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="lb-caption", markup=False)
            with VerticalScroll(id="lb-chart"):
                yield RatingBars(id="lb-bars")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#lb-table", DataTable).add_columns(*COLUMNS)

    def on_screen_resume(self) -> None:
        self.action_reload()

    # -- choosing votes ----------------------------------------------------------------
    def action_source(self, source: str) -> None:
        self.source = source
        self.action_reload()

    def action_next_judge(self) -> None:
        if not self.judges:
            self.notify("no LLM judge has voted yet: `arena judge run --judge NAME` adds votes")
            return
        i = self.judges.index(self.source) + 1 if self.source in self.judges else 0
        self.action_source(self.judges[i % len(self.judges)])

    @staticmethod
    def _cycle(current: str | None, options: list[str]) -> str | None:
        choices: list[str | None] = [None, *options]
        return choices[(choices.index(current) + 1) % len(choices)] if current in choices else None

    def action_next_category(self) -> None:
        self.category = self._cycle(self.category, self.categories)
        self.action_reload()

    def action_next_language(self) -> None:
        self.language = self._cycle(self.language, self.languages)
        self.action_reload()

    def describe(self) -> str:
        votes = {"all": "all votes", "human": "human votes"}.get(self.source,
                                                                f"judge {self.source}")
        return (f"votes: {votes} · category: {self.category or ANY} · "
                f"language: {self.language or ANY}")

    # -- computing ---------------------------------------------------------------------
    def action_reload(self) -> None:
        self.add_class("-loading")
        self.query_one("#lb-state", Static).update(printable(self.describe() + " · computing…"))
        self._request += 1
        self.compute_board(self._request, self.source, self.category, self.language)

    @work(thread=True, exclusive=True, group="leaderboard")
    def compute_board(self, request: int, source: str, category: str | None,
                      language: str | None) -> None:
        from arena.services.leaderboard import RatingOptions, compute
        from db.repositories.stats import VoteFilter

        store = self.arena_app.store
        judges = list(dict.fromkeys(n for n, kind, _ in store.judge_names() if kind != "human"))
        categories, languages = store.vote_facets()
        chosen = None if source == "all" else (source,)
        board, error = None, None
        try:
            board = compute(store, VoteFilter(judges=chosen, category=category, language=language),
                            RatingOptions())
        except ArenaError as exc:
            error = str(exc)
        self.post_message(BoardReady(request, board, error, judges, categories, languages))

    @on(BoardReady)
    def _show(self, message: BoardReady) -> None:
        if message.request != self._request:
            return
        self.judges, self.categories, self.languages = (
            message.judges, message.categories, message.languages)
        self.remove_class("-loading")
        table = self.query_one("#lb-table", DataTable)
        table.clear()
        board = message.board
        rows = board.rows if board is not None else []
        self.set_class(not rows, "-empty")
        self.set_class(message.error is not None, "-error")
        for r in rows:
            interval = ("–" if r.ci_low is None or r.ci_high is None
                        else f"{r.ci_low:.0f} – {r.ci_high:.0f}")
            table.add_row(Text(str(r.rank)), Text(printable(r.model)), Text(f"{r.rating:.0f}"),
                          Text(interval), Text(str(r.battles)),
                          Text(f"{_count(r.wins)}-{_count(r.ties)}-{_count(r.losses)}"))
        self.query_one("#lb-bars", RatingBars).show(
            [Bar(r.model, r.rating, r.ci_low, r.ci_high) for r in rows])
        state = self.describe()
        if message.error is not None:
            state += f" · {message.error}"
        elif not rows and (self.source, self.category, self.language) == ("all", None, None):
            state += " · no votes yet: vote in the battle screen (esc)"
        elif not rows:
            state += " · no counted votes match (h, j, a choose the votes; c, g cycle the filters)"
        self.query_one("#lb-state", Static).update(printable(state))
        caption = board.caption() if board is not None else ""
        self.query_one("#lb-caption", Static).update(printable(
            f"{caption}; category: {self.category or ANY}, language: {self.language or ANY}"
            if caption else ""))
