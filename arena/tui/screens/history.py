"""Past battles: a searchable list, and one battle in full with every vote on it.

Thin: thread workers run the store's read-only queries (``battle_summaries``,
``battle_detail``) and post the rows; handlers fill the widgets. Prompts, answers, model
names, rationales and errors are untrusted text: each passes through
:func:`arena.safety.printable` and is shown as plain text or Markdown, never as Rich markup
(table cells are ``Text`` objects, since a plain ``str`` cell would be parsed as markup).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Markdown, Static

from arena.domain import ArenaError, Outcome
from arena.safety import printable
from arena.tui.widgets.answer import MAX_VIEW_CHARS

if TYPE_CHECKING:
    from arena.domain import Generation, Vote
    from arena.tui.app import ArenaApp
    from db.repositories import BattleDetail
    from db.repositories.browse import BattleSummary

LIMIT = 500
EXCERPT = (16, 60)  # the prompt column takes what the other columns leave, within these
OTHER_COLUMNS_WIDTH = 76
SEARCH_DELAY_S = 0.25
COLUMNS = ("id", "time (local)", "prompt", "model A", "model B", "status", "votes")


def _when(value: datetime | None) -> str:
    if value is None:
        return "–"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # stored in UTC
    return aware.astimezone().strftime("%Y-%m-%d %H:%M")


def _line(text: str, width: int) -> str:
    """``text`` made printable, on one line, cut to ``width`` characters."""
    flat = " ".join(printable(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def votes_summary(s: BattleSummary) -> str:
    """``"3 · A2 B1"``: the number of votes, then the counts of each outcome given."""
    if not s.votes:
        return "–"
    parts = [f"{k}{n}" for k, n in (("A", s.votes_a), ("B", s.votes_b), ("T", s.votes_tie),
                                     ("X", s.votes_both_bad)) if n]
    return f"{s.votes} · " + " ".join(parts)


class HistoryLoaded(Message):
    def __init__(self, request: int, search: str, rows: list[BattleSummary]) -> None:
        super().__init__()
        self.request = request
        self.search = search
        self.rows = rows


class HistoryScreen(Screen[None]):
    AUTO_FOCUS = "#history-table"
    BINDINGS = [
        Binding("escape", "app.show('battle')", "Back to battle"),
        Binding("slash", "focus_search", "Search"),
        Binding("enter", "open", "Open battle"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._request = 0
        self._timer: Timer | None = None

    @property
    def arena_app(self) -> ArenaApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="search: model, prompt text, category, language or set  (/)",
                    id="history-search")
        yield Static("", id="history-state", markup=False)
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#history-table", DataTable).add_columns(*COLUMNS)

    def on_screen_resume(self) -> None:
        self.reload()

    # -- searching -----------------------------------------------------------------------
    @on(Input.Changed, "#history-search")
    def _search_changed(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(SEARCH_DELAY_S, self.reload)

    @on(Input.Submitted, "#history-search")
    def _search_submitted(self) -> None:
        self.reload()
        self.query_one("#history-table", DataTable).focus()

    def action_focus_search(self) -> None:
        self.query_one("#history-search", Input).focus()

    def reload(self) -> None:
        self._request += 1
        self.add_class("-loading")
        self.load(self._request, self.query_one("#history-search", Input).value.strip())

    @work(thread=True, exclusive=True, group="history")
    def load(self, request: int, search: str) -> None:
        rows = self.arena_app.store.battle_summaries(search or None, limit=LIMIT)
        self.post_message(HistoryLoaded(request, search, rows))

    @on(HistoryLoaded)
    def _loaded(self, message: HistoryLoaded) -> None:
        if message.request != self._request:
            return  # a newer search is on its way
        self.remove_class("-loading")
        self.set_class(not message.rows, "-empty")
        table = self.query_one("#history-table", DataTable)
        keep = self._cursor_key(table)
        excerpt = max(EXCERPT[0], min(EXCERPT[1], self.size.width - OTHER_COLUMNS_WIDTH))
        table.clear()
        for s in message.rows:
            table.add_row(Text(str(s.id)), Text(_when(s.created_at)),
                          Text(_line(s.prompt_excerpt, excerpt)), Text(_line(s.model_a, 28)),
                          Text(_line(s.model_b, 28)), Text(s.status), Text(votes_summary(s)),
                          key=str(s.id))
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        n = len(message.rows)
        what = f"matching {message.search!r}" if message.search else "in the database"
        more = f"the newest {LIMIT} battles" if n >= LIMIT else f"{n} battle{'s' * (n != 1)}"
        state = (f"{more} {what}, newest first · enter opens one · votes: A/B preferred, "
                 "T tie, X both bad" if n else f"no battles {what}")
        self.query_one("#history-state", Static).update(printable(state))

    # -- opening -------------------------------------------------------------------------
    @staticmethod
    def _cursor_key(table: DataTable[object]) -> str | None:
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_open(self) -> None:
        self._open(self._cursor_key(self.query_one("#history-table", DataTable)))

    @on(DataTable.RowSelected, "#history-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(event.row_key.value)

    def _open(self, key: str | None) -> None:
        if key is not None:
            self.app.push_screen(BattleDetailScreen(int(key)))


# -- one battle -----------------------------------------------------------------------------
OUTCOME_TEXT = {Outcome.A: "A is better", Outcome.B: "B is better", Outcome.TIE: "tie",
                Outcome.BOTH_BAD: "both are bad"}


class DetailLoaded(Message):
    def __init__(self, detail: BattleDetail | None, error: str | None) -> None:
        super().__init__()
        self.detail = detail
        self.error = error


def _answer(gen: Generation | None) -> str:
    if gen is None:
        return "*(no answer stored)*"
    if gen.error:
        return "*(failed)* " + printable(gen.error)
    text = gen.text if len(gen.text) <= MAX_VIEW_CHARS else (
        gen.text[:MAX_VIEW_CHARS] + "\n\n*(the rest of this long answer is stored, not shown)*")
    return printable(text) or "*(empty answer)*"


def _side_title(side: str, model: str, gen: Generation | None) -> str:
    title = f"{side} · {model}"
    if gen is not None and gen.ok and gen.usage.completion_tokens:
        title += f" · {gen.usage.completion_tokens} tokens"
        if gen.usage.latency_s is not None:
            title += f" · {gen.usage.latency_s:.1f} s"
    return printable(title)


def votes_text(detail: BattleDetail) -> str:
    """Every vote (who, game, outcome, strength, rationale) and every judge failure."""
    b = detail.battle
    names = {Outcome.A: f" ({b.model_a})", Outcome.B: f" ({b.model_b})"}
    lines = [f"Votes ({len(detail.votes)})" if detail.votes else "Votes: none yet"]
    for v in detail.votes:
        lines.append(_vote_line(v, names.get(v.outcome, "")))
        if v.rationale:
            lines += ["    " + line for line in v.rationale.strip().splitlines()]
    if detail.failures:
        lines += ["", f"Judge failures ({len(detail.failures)})"]
        lines += [f"  {judge} · game {game} · {error}" for judge, game, error in detail.failures]
    return printable("\n".join(lines))


def _vote_line(v: Vote, winner: str) -> str:
    who = f"{v.judge_name} ({v.judge_kind})" if v.judge_kind != v.judge_name else v.judge_name
    voter = f" · voter {v.voter}" if v.voter else ""
    strength = " · much better" if v.strength >= 2 else ""
    return f"• {who}{voter} · game {v.game} · {OUTCOME_TEXT[v.outcome]}{winner}{strength}"


class BattleDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back to history"),
        Binding("tab", "focus_next", "Next pane", show=False),
        Binding("shift+tab", "focus_previous", "Previous pane", show=False),
    ]

    def __init__(self, battle_id: int) -> None:
        super().__init__()
        self.battle_id = battle_id

    @property
    def arena_app(self) -> ArenaApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"battle {self.battle_id} · loading…", id="detail-info", markup=False)
        with VerticalScroll(id="detail-prompt-box"):
            yield Markdown("", id="detail-prompt")
        with Horizontal(id="detail-sides"):
            for side in ("a", "b"):
                with Vertical(id=f"detail-side-{side}", classes="detail-side"):
                    yield Static(side.upper(), classes="detail-title", markup=False)
                    with VerticalScroll(classes="detail-scroll"):
                        yield Markdown("", classes="detail-answer")
        with VerticalScroll(id="detail-votes-box"):
            yield Static("", id="detail-votes", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.load(self.battle_id)

    def action_back(self) -> None:
        self.app.pop_screen()

    @work(thread=True, exclusive=True, group="detail")
    def load(self, battle_id: int) -> None:
        try:
            self.post_message(DetailLoaded(self.arena_app.store.battle_detail(battle_id), None))
        except ArenaError as exc:
            self.post_message(DetailLoaded(None, str(exc)))

    @on(DetailLoaded)
    def _loaded(self, message: DetailLoaded) -> None:
        d = message.detail
        if d is None:
            self.add_class("-error")
            self.query_one("#detail-info", Static).update(printable(message.error or "not found"))
            return
        b, p = d.battle, d.prompt
        facts = [f"battle {b.id}", p.set_name, p.external_id, p.category, p.language, b.status,
                 _when(b.created_at)]
        self.query_one("#detail-info", Static).update(printable(" · ".join(f for f in facts if f)))
        self.query_one("#detail-prompt", Markdown).update(printable(p.text))
        for side, model, gen in (("a", b.model_a, d.generation_a), ("b", b.model_b, d.generation_b)):
            pane = self.query_one(f"#detail-side-{side}", Vertical)
            pane.query_one(".detail-title", Static).update(_side_title(side.upper(), model, gen))
            pane.query_one(".detail-answer", Markdown).update(_answer(gen))
            pane.set_class(gen is None or not gen.ok, "-failed")
            pane.set_class(_preferred(d.votes) == side, "-winner")
        self.query_one("#detail-votes", Static).update(votes_text(d))


def _preferred(votes: list[Vote]) -> str | None:
    """The side most votes preferred, if one was."""
    a = sum(v.outcome is Outcome.A for v in votes)
    b = sum(v.outcome is Outcome.B for v in votes)
    return "a" if a > b else "b" if b > a else None
