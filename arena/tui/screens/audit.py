"""The judge audit: a person votes on battles a judge already judged, blind to its verdict.

Pick a judge (``j`` cycles among the judges that voted); the battles it judged that this
voter has not voted on come one at a time, models anonymous and the judge's verdict hidden
until the person votes. The vote is stored as an ordinary human vote; then the verdict,
each game's rationale and the models are shown, and the top line tracks this voter's
agreement with every judge (per cent and Cohen's kappa, from
:mod:`arena.services.agreement`).

Thin: database reads run in thread workers that call the service and post a message;
handlers update widgets. Judge and model text goes through :func:`arena.safety.printable`
and is never parsed as Rich markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown, Static

from arena.domain import ArenaError, Generation, Outcome, Vote
from arena.safety import printable
from arena.services import agreement as svc

if TYPE_CHECKING:
    from arena.services.agreement import AgreementRow, AuditItem
    from arena.tui.app import ArenaApp

KEYS = {"a": Outcome.A, "b": Outcome.B, "t": Outcome.TIE, "x": Outcome.BOTH_BAD}
SAID = {Outcome.A: "A is better", Outcome.B: "B is better", Outcome.TIE: "a tie",
        Outcome.BOTH_BAD: "both are bad"}
ASK = "your vote: a = A is better · b = B is better · t = tie · x = both bad (the judge's verdict shows after)"


class JudgesLoaded(Message):
    def __init__(self, judges: list[str]) -> None:
        super().__init__()
        self.judges = judges


class QueueLoaded(Message):
    def __init__(self, judge: str, queue: list[int]) -> None:
        super().__init__()
        self.judge = judge
        self.queue = queue


class ItemLoaded(Message):
    def __init__(self, item: AuditItem) -> None:
        super().__init__()
        self.item = item


class AgreementLoaded(Message):
    def __init__(self, rows: list[AgreementRow]) -> None:
        super().__init__()
        self.rows = rows


class AuditFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class AuditSide(Vertical):
    """One read-only answer: a title (the model, once revealed) and the Markdown body."""

    def __init__(self, side: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes="answer audit-side")
        self.side = side

    def compose(self) -> ComposeResult:
        yield Static(f"Model {self.side.upper()}", classes="answer-title", markup=False)
        with VerticalScroll(classes="answer-scroll"):
            yield Markdown("", classes="answer-body")

    def show(self, generation: Generation | None) -> None:
        self.remove_class("-revealed")
        self.query_one(".answer-title", Static).update(f"Model {self.side.upper()}")
        if generation is None:
            body = "*(no answer stored for this side)*"
        elif not generation.ok:
            body = printable(f"*(failed: {generation.error})*")
        else:
            body = printable(generation.text)
        self.query_one(".answer-body", Markdown).update(body)
        self.query_one(".answer-scroll", VerticalScroll).scroll_home(animate=False)

    def reveal(self, model: str) -> None:
        self.add_class("-revealed")
        self.query_one(".answer-title", Static).update(printable(f"Model {self.side.upper()}: {model}"))


def game_text(vote: Vote) -> str:
    if vote.outcome in (Outcome.A, Outcome.B) and vote.strength >= 2:
        return f"{vote.outcome.value.upper()} is much better"
    return SAID[vote.outcome]


def agreement_text(voter: str, rows: list[AgreementRow]) -> str:
    if not rows:
        return f"agreement of {voter}: no judge has voted yet"
    parts = []
    for r in rows:
        pct = "–" if r.percent is None else f"{r.percent:.0f}%"
        kappa = "–" if r.kappa is None else f"{r.kappa:.2f}"
        parts.append(f"{r.rater_y} {pct} κ {kappa} (n {r.n})")
    return f"agreement of {voter} with: " + " · ".join(parts)


class AuditScreen(Screen[None]):
    BINDINGS = [
        Binding("a", "vote('a')", "A is better"),
        Binding("b", "vote('b')", "B is better"),
        Binding("t", "vote('t')", "Tie"),
        Binding("x", "vote('x')", "Both bad"),
        Binding("n", "next", "Next battle"),
        Binding("j", "next_judge", "Next judge"),
        Binding("escape", "back", "Back to battle"),
        Binding("tab", "focus_next", "Switch pane", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.judges: list[str] = []
        self.judge: str | None = None
        self.queue: list[int] = []
        self.pos = 0
        self.item: AuditItem | None = None
        self.voted: Outcome | None = None

    @property
    def arena_app(self) -> ArenaApp:
        return self.app  # type: ignore[return-value]

    @property
    def voter(self) -> str:
        return self.arena_app.live.voter

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"agreement of {self.voter}: loading…", id="audit-agreement", markup=False)
        yield Static("", id="audit-info", markup=False)
        with VerticalScroll(id="audit-prompt-box"):
            yield Markdown("", id="audit-prompt")
        with Horizontal(id="audit-sides"):
            yield AuditSide("a", id="audit-a")
            yield AuditSide("b", id="audit-b")
        yield Static("", id="audit-empty", markup=False)
        with VerticalScroll(id="audit-verdict-box", classes="-hidden"):
            yield Static("", id="audit-verdict", markup=False)
        yield Static("loading the judges…", id="audit-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.load_judges()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "vote":
            return True if self.item is not None and self.voted is None else None
        if action == "next_judge":
            return True if len(self.judges) > 1 else None
        return True

    def _status(self, text: str) -> None:
        self.query_one("#audit-status", Static).update(printable(text))

    def _empty(self, text: str | None) -> None:
        """Nothing to audit (``text`` says why) or, with None, a battle on screen."""
        self.set_class(text is not None, "-empty")
        self.query_one("#audit-empty", Static).update(printable(text or ""))

    # -- workers: every database read runs off the event loop ------------------------------
    @work(thread=True, exclusive=True, group="audit-judges")
    def load_judges(self) -> None:
        self.post_message(JudgesLoaded(svc.judges(self.arena_app.store)))

    @work(thread=True, exclusive=True, group="audit-queue")
    def load_queue(self, judge: str) -> None:
        self.post_message(QueueLoaded(judge, svc.audit_queue(self.arena_app.store, judge,
                                                             self.voter)))

    @work(thread=True, exclusive=True, group="audit-item")
    def load_item(self, battle_id: int, judge: str) -> None:
        try:
            self.post_message(ItemLoaded(svc.audit_item(self.arena_app.store, battle_id, judge)))
        except ArenaError as exc:
            self.post_message(AuditFailed(str(exc)))

    @work(thread=True, exclusive=True, group="audit-agreement")
    def load_agreement(self, judges: list[str]) -> None:
        self.post_message(AgreementLoaded(svc.voter_agreement(self.arena_app.store, self.voter,
                                                              judges)))

    # -- handlers ------------------------------------------------------------------------
    @on(JudgesLoaded)
    def _judges_loaded(self, message: JudgesLoaded) -> None:
        self.judges = message.judges
        self.refresh_bindings()
        self.load_agreement(self.judges)
        if not self.judges:
            self._empty("no judge has voted yet: run `arena judge run --judge NAME` "
                        "(or `arena demo --headless`) to have battles judged")
            self._status("nothing to audit · esc: back")
            return
        self.select_judge(self.judges[0])

    def select_judge(self, judge: str) -> None:
        self.judge, self.item, self.voted = judge, None, None
        self.refresh_bindings()
        self._status(f"loading the battles judge {judge} voted on…")
        self.load_queue(judge)

    @on(QueueLoaded)
    def _queue_loaded(self, message: QueueLoaded) -> None:
        if message.judge != self.judge:
            return  # a stale answer for a judge no longer selected
        self.queue, self.pos = message.queue, 0
        self.show_current()

    def show_current(self) -> None:
        self.item, self.voted = None, None
        self.refresh_bindings()
        self._hide_verdict()
        if not self.queue:
            self.query_one("#audit-info", Static).update(printable(f"judge {self.judge}"))
            self._empty(f"the queue is empty: you ({self.voter}) have voted on every battle "
                        f"judge {self.judge} judged")
            self._status(f"the queue is empty for judge {self.judge}"
                         + (" · j: next judge" if len(self.judges) > 1 else "")
                         + " · n: look again · esc: back")
            return
        self._status("loading the battle…")
        self.load_item(self.queue[self.pos], self.judge or "")

    @on(ItemLoaded)
    def _item_loaded(self, message: ItemLoaded) -> None:
        item = message.item
        if item.judge != self.judge or not self.queue or item.detail.battle.id != self.queue[self.pos]:
            return
        self.item, self.voted = item, None
        self._empty(None)
        d = item.detail
        where = " · ".join(x for x in (d.prompt.set_name, d.prompt.category, d.prompt.language) if x)
        self.query_one("#audit-info", Static).update(printable(
            f"judge {item.judge} · battle {d.battle.id} ({self.pos + 1} of {len(self.queue)} "
            f"in the queue) · prompt {d.prompt.external_id} · {where}"))
        self.query_one("#audit-prompt", Markdown).update(printable(d.prompt.text))
        self.query_one("#audit-a", AuditSide).show(d.generation_a)
        self.query_one("#audit-b", AuditSide).show(d.generation_b)
        self._hide_verdict()
        self._status(ASK)
        self.refresh_bindings()

    @on(AgreementLoaded)
    def _agreement_loaded(self, message: AgreementLoaded) -> None:
        self.query_one("#audit-agreement", Static).update(
            printable(agreement_text(self.voter, message.rows)))

    @on(AuditFailed)
    def _failed(self, message: AuditFailed) -> None:
        self._status(f"{message.error} · n: next battle")

    # -- the verdict -------------------------------------------------------------------------
    def _hide_verdict(self) -> None:
        # the text is removed too, not just hidden: nothing of the verdict exists before a vote
        self.query_one("#audit-verdict", Static).update("")
        self.query_one("#audit-verdict-box").add_class("-hidden")

    def _reveal(self, item: AuditItem, mine: Outcome) -> None:
        b = item.detail.battle
        self.query_one("#audit-a", AuditSide).reveal(b.model_a)
        self.query_one("#audit-b", AuditSide).reveal(b.model_b)
        lines = []
        if item.verdict is None:
            lines.append(f"judge {item.judge}: no vote on this battle")
        else:
            v = item.verdict
            agree = svc.agreement_label(v.outcome) is svc.agreement_label(mine)
            lines.append(f"judge {item.judge}: {SAID[v.outcome]} ({v.games} game"
                         f"{'s' if v.games != 1 else ''}, score {v.score:+d}) · you: {SAID[mine]} · "
                         + ("you agree" if agree else "you disagree"))
        for vote in item.judge_votes:
            lines.append("")
            lines.append(f"game {vote.game}: {game_text(vote)}")
            if vote.rationale:
                lines.append(vote.rationale.strip())
        self.query_one("#audit-verdict", Static).update(printable("\n".join(lines)))
        box = self.query_one("#audit-verdict-box", VerticalScroll)
        box.remove_class("-hidden")
        box.scroll_home(animate=False)

    # -- actions ---------------------------------------------------------------------------
    def action_vote(self, key: str) -> None:
        item = self.item
        if item is None or self.voted is not None:
            return
        outcome = KEYS[key]
        stored = svc.record_human_vote(self.arena_app.store, item.detail.battle.id, self.voter,
                                       outcome)
        self.voted = outcome
        self.refresh_bindings()
        self._reveal(item, outcome)
        verdict = SAID[item.verdict.outcome] if item.verdict else "no verdict"
        self._status(f"you voted: {SAID[outcome]} · judge {item.judge}: {verdict} · "
                     + (f"stored as a human vote by {self.voter}" if stored
                        else "you had already voted on this battle: the first vote stands")
                     + " · n: next battle")
        self.load_agreement(self.judges)

    def action_next(self) -> None:
        if self.judge is None:
            return
        if self.queue and self.voted is not None:
            self.queue.pop(self.pos)  # done with it
        elif self.queue:
            self.pos += 1  # skipped: it comes round again
        if self.pos >= len(self.queue):
            self.select_judge(self.judge)  # read the queue afresh
            return
        self.show_current()

    def action_next_judge(self) -> None:
        if len(self.judges) < 2 or self.judge is None:
            return
        i = self.judges.index(self.judge) if self.judge in self.judges else -1
        self.select_judge(self.judges[(i + 1) % len(self.judges)])

    def action_back(self) -> None:
        self.arena_app.action_show("battle")
