"""The battle screen: a prompt, two anonymous answers streaming side by side, the vote.

Thin: the battle runs in a worker that calls :class:`arena.services.live.LiveArena` and
posts a message per stream event; handlers update the panes. Voting keys are enabled only
once both sides have finished; a failed side makes the battle void.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown, Static

from arena.domain import ArenaError, Outcome, Prompt
from arena.providers.base import Finished, Restarted, StreamEvent, TextDelta
from arena.safety import printable
from arena.tui.widgets.answer import AnswerPane

if TYPE_CHECKING:
    from arena.services.live import LiveResult
    from arena.tui.app import ArenaApp

VOTES = {"vote_a": Outcome.A, "vote_b": Outcome.B, "vote_tie": Outcome.TIE,
         "vote_bad": Outcome.BOTH_BAD}
VOTE_TEXT = {Outcome.A: "A is better", Outcome.B: "B is better", Outcome.TIE: "a tie",
             Outcome.BOTH_BAD: "both are bad"}


class SideEvent(Message):
    def __init__(self, side: str, event: StreamEvent) -> None:
        super().__init__()
        self.side = side
        self.event = event


class BattleDone(Message):
    def __init__(self, result: LiveResult) -> None:
        super().__init__()
        self.result = result


class BattleFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class BattleScreen(Screen[None]):
    BINDINGS = [
        Binding("a", "vote_a", "A is better"),
        Binding("b", "vote_b", "B is better"),
        Binding("t", "vote_tie", "Tie"),
        Binding("x", "vote_bad", "Both bad"),
        Binding("n", "next", "Next battle"),
        Binding("r", "regenerate", "Regenerate", show=False),
        Binding("s", "stop", "Stop generating", show=False),
        Binding("p", "type_prompt", "Type a prompt"),
        Binding("f", "follow_up", "Follow up"),
        Binding("left_square_bracket", "cycle_filter('category')", "Category filter", show=False),
        Binding("right_square_bracket", "cycle_filter('language')", "Language filter", show=False),
        Binding("c", "copy('a')", "Copy A", show=False),
        Binding("C", "copy('b')", "Copy B", show=False),
        Binding("tab", "focus_next", "Switch pane", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.prompt: Prompt | None = None
        self.models: tuple[str, str] | None = None
        self.result: LiveResult | None = None
        self.voted: Outcome | None = None

    @property
    def arena_app(self) -> ArenaApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="battle-info", markup=False)
        with VerticalScroll(id="prompt-box"):
            yield Markdown("", id="prompt")
        with Horizontal(id="sides"):
            yield AnswerPane("a", clock=self.arena_app.clock, id="pane-a")
            yield AnswerPane("b", clock=self.arena_app.clock, id="pane-b")
        yield Static("", id="vote-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if self.arena_app.notice:
            self.notify(self.arena_app.notice, timeout=8)
        if self.arena_app.ready:
            self.action_next()
        else:
            self.query_one("#vote-status", Static).update("loading…")

    def on_services_ready(self, error: str | None) -> None:
        if error is not None:
            self.query_one("#vote-status", Static).update(printable(f"could not start: {error}"))
            return
        if self.result is None and self.models is None:
            self.action_next()

    # -- enabling keys ---------------------------------------------------------------
    def _both_finished(self) -> bool:
        return all(p.finished for p in self.query(AnswerPane))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in VOTES:
            ok = (self.result is not None and not self.result.void and self.voted is None)
            return True if ok else None
        if action == "stop":
            return True if self.result is None and self.models is not None else None
        if not self.arena_app.ready and action in ("next", "type_prompt", "regenerate"):
            return None
        if action == "follow_up":
            ok = self.result is not None and not self.result.void and self.voted is None
            return True if ok else None
        if action == "regenerate":
            return True if self.prompt is not None and self.voted is None else None
        return True

    # -- starting battles ---------------------------------------------------------------
    def action_next(self) -> None:
        try:
            prompt = self.arena_app.next_prompt()
            models = self.arena_app.live.draw_pair()
        except ArenaError as exc:
            self.query_one("#vote-status", Static).update(printable(str(exc)))
            return
        self.start(prompt, models)

    def action_regenerate(self) -> None:
        if self.prompt is not None and self.models is not None:
            self.start(self.prompt, self.models)

    def start(self, prompt: Prompt, models: tuple[str, str]) -> None:
        self.prompt, self.models, self.result, self.voted = prompt, models, None, None
        info = " · ".join(x for x in (prompt.set_name, prompt.category, prompt.language,
                                       prompt.difficulty) if x)
        self.query_one("#battle-info", Static).update(printable(f"prompt {prompt.external_id} · {info}"))
        self.query_one("#prompt", Markdown).update(printable(prompt.text))
        for pane in self.query(AnswerPane):
            pane.reset()
        self.query_one("#vote-status", Static).update("both models are answering…")
        self.refresh_bindings()
        self.run_battle(prompt, models)

    @work(exclusive=True, group="battle")
    async def run_battle(self, prompt: Prompt, models: tuple[str, str]) -> None:
        try:
            result = await self.arena_app.live.run(
                prompt, models[0], models[1], lambda side, ev: self.post_message(SideEvent(side, ev)))
        except ArenaError as exc:  # a model that cannot be built (bad config, missing file)
            self.post_message(BattleFailed(str(exc)))
            return
        self.post_message(BattleDone(result))

    def action_stop(self) -> None:
        self.workers.cancel_group(self, "battle")
        for pane in self.query(AnswerPane):
            if not pane.finished:
                pane.fail("stopped")
        self.query_one("#vote-status", Static).update("stopped: this battle takes no vote · n: next battle")

    # -- streaming ------------------------------------------------------------------------
    @on(SideEvent)
    def _side_event(self, message: SideEvent) -> None:
        pane = self.query_one(f"#pane-{message.side}", AnswerPane)
        ev = message.event
        if isinstance(ev, TextDelta):
            pane.append(ev.text)
        elif isinstance(ev, Restarted):
            pane.restart()
        elif isinstance(ev, Finished):
            pane.finish(ev.completion.usage.completion_tokens)

    @on(BattleFailed)
    def _battle_failed(self, message: BattleFailed) -> None:
        for pane in self.query(AnswerPane):
            if not pane.finished:
                pane.fail("not run")
        self.query_one("#vote-status", Static).update(printable(f"could not run this battle: {message.error}"))

    @on(BattleDone)
    def _battle_done(self, message: BattleDone) -> None:
        result = message.result
        self.result = result
        for side, gen in (("a", result.generation_a), ("b", result.generation_b)):
            pane = self.query_one(f"#pane-{side}", AnswerPane)
            if not gen.ok:
                pane.fail(gen.error or "failed")
            elif not pane.finished:
                pane.finish(gen.usage.completion_tokens)
        status = self.query_one("#vote-status", Static)
        if result.void:
            status.update("a side failed: this battle is void and takes no vote · n: next battle")
        else:
            status.update("your vote: a = A is better · b = B is better · t = tie · x = both bad")
        self.refresh_bindings()

    # -- voting ---------------------------------------------------------------------------
    def _vote(self, action: str) -> None:
        if self.result is None or self.voted is not None:
            return
        outcome = VOTES[action]
        self.arena_app.live.vote(self.result, outcome)
        self.voted = outcome
        self.refresh_bindings()
        self.reveal(outcome)

    def action_vote_a(self) -> None:
        self._vote("vote_a")

    def action_vote_b(self) -> None:
        self._vote("vote_b")

    def action_vote_tie(self) -> None:
        self._vote("vote_tie")

    def action_vote_bad(self) -> None:
        self._vote("vote_bad")

    def reveal(self, outcome: Outcome) -> None:
        assert self.result is not None
        ratings = self.arena_app.ratings()
        for side, model in (("a", self.result.battle.model_a), ("b", self.result.battle.model_b)):
            r = ratings.get(model)
            label = f"Model {side.upper()}: {model}"
            if r is not None:
                label += f"  ·  {r.rating:.0f}" + (f" ({r.ci_low:.0f}–{r.ci_high:.0f})" if r.ci_low is not None else "")
            winner = (outcome is Outcome.A and side == "a") or (outcome is Outcome.B and side == "b")
            self.query_one(f"#pane-{side}", AnswerPane).reveal(label, winner)
        self.query_one("#vote-status", Static).update(
            f"you voted: {VOTE_TEXT[outcome]} · stored as a human vote by {self.arena_app.live.voter} · n: next battle")

    # -- the rest -------------------------------------------------------------------------
    def action_copy(self, side: str) -> None:
        text = self.query_one(f"#pane-{side}", AnswerPane).text
        self.app.copy_to_clipboard(text)
        self.notify(f"copied answer {side.upper()} ({len(text)} characters)")

    def action_follow_up(self) -> None:
        from arena.tui.screens.prompt_input import PromptInput

        def send(text: str | None) -> None:
            if text and self.result is not None:
                previous, self.result = self.result, None
                for pane in self.query(AnswerPane):
                    pane.reset()
                self.query_one("#vote-status", Static).update(
                    printable(f"follow-up sent to both: {text[:80]}"))
                self.refresh_bindings()
                self.run_follow_up(previous, text)

        self.app.push_screen(PromptInput("Follow-up message to both models · ctrl+s: send · esc: cancel"), send)

    @work(exclusive=True, group="battle")
    async def run_follow_up(self, previous: LiveResult, text: str) -> None:
        try:
            result = await self.arena_app.live.follow_up(
                previous, text, lambda side, ev: self.post_message(SideEvent(side, ev)))
        except ArenaError as exc:
            self.post_message(BattleFailed(str(exc)))
            return
        self.post_message(BattleDone(result))

    def action_cycle_filter(self, field: str) -> None:
        """Cycle the category (or language) the next prompts are drawn from; then a new battle."""
        app = self.arena_app
        if not app.ready or app.prompt_set is None:
            return
        prompts = app.store.prompts(app.prompt_set)
        values = sorted({getattr(p, field) for p in prompts if getattr(p, field)})
        options: list[str | None] = [None, *values]
        current = getattr(app, field)
        nxt = options[(options.index(current) + 1) % len(options)] if current in options else None
        setattr(app, field, nxt)
        self.notify(f"{field}: {nxt or 'any'}")
        self.action_next()

    def action_type_prompt(self) -> None:
        from arena.tui.screens.prompt_input import PromptInput

        def use(text: str | None) -> None:
            if text:
                try:
                    prompt = self.arena_app.live.typed_prompt(text)
                    self.start(prompt, self.arena_app.live.draw_pair())
                except ArenaError as exc:
                    self.notify(str(exc), severity="error")

        self.app.push_screen(PromptInput(), use)
