"""The battle screen, driven with Pilot: streaming, voting, reveal, void battles, safety."""

from __future__ import annotations

import asyncio

from conftest import ANSWER_A, ANSWER_B, FakeModel, config, fixed_clock
from textual.widgets import Markdown, Static

from arena.domain import Outcome
from arena.tui.app import make_app
from arena.tui.screens.battle import BattleScreen
from arena.tui.widgets.answer import MAX_VIEW_CHARS, AnswerPane
from db.repositories import Store


def app_with(store: Store, models: dict[str, FakeModel], seed: int = 0):  # type: ignore[no-untyped-def]
    return make_app(store, config(), voter="tester", prompt_set="tui", seed=seed,
                    provider_factory=lambda c, name: models[name], clock=fixed_clock)


def fakes(a: list[str] | None = None, b: list[str] | None = None, *,
          gate: asyncio.Event | None = None, fail: str | None = None) -> dict[str, FakeModel]:
    """Two fake models; ``gate`` pauses both mid-stream, ``fail`` breaks the first."""
    return {"left-model": FakeModel("left-model", a or [ANSWER_A[:20], ANSWER_A[20:]],
                                    gate=gate, fail=fail),
            "right-model": FakeModel("right-model", b or [ANSWER_B[:30], ANSWER_B[30:]], gate=gate)}


def pane_of(app, model: str) -> AnswerPane:  # type: ignore[no-untyped-def]
    """The pane showing ``model`` (sides are a coin flip)."""
    screen = app.screen
    return screen.query_one("#pane-a" if screen.models[0] == model else "#pane-b", AnswerPane)


async def settle(app, pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause(0.2)


async def test_full_battle_vote_lands_as_the_right_outcome(tui_store: Store) -> None:
    app = app_with(tui_store, fakes())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, BattleScreen) and screen.result is not None
        battle = screen.result.battle
        assert screen.check_action("vote_b", ()) is True
        await pilot.press("b")
        await pilot.pause()
        votes = tui_store.votes()
        assert [(v.outcome, v.voter, v.judge_kind, v.battle_id) for v in votes] == [
            (Outcome.B, "tester", "human", battle.id)]
        titles = [str(p.query_one(".answer-title", Static).render()) for p in app.screen.query(AnswerPane)]
        assert titles[0].startswith(f"Model A: {battle.model_a}")
        assert titles[1].startswith(f"Model B: {battle.model_b}")
        assert app.screen.query_one("#pane-b").has_class("-winner")
        # a second key press does not vote twice
        await pilot.press("a")
        assert len(tui_store.votes()) == 1


async def test_votes_are_disabled_until_both_sides_finish(tui_store: Store) -> None:
    gate = asyncio.Event()
    app = app_with(tui_store, fakes(gate=gate))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        screen = app.screen
        assert screen.query_one("#pane-a").has_class("-streaming")
        assert screen.check_action("vote_a", ()) is None
        await pilot.press("a", "t")
        assert tui_store.votes() == []
        gate.set()
        await settle(app, pilot)
        assert screen.check_action("vote_a", ()) is True
        await pilot.press("t")
        assert [v.outcome for v in tui_store.votes()] == [Outcome.TIE]


async def test_a_failed_side_makes_the_battle_void(tui_store: Store) -> None:
    app = app_with(tui_store, fakes(fail="HTTP 500: boom (after 5 attempts)"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert screen.result is not None and screen.result.void
        failed = [p for p in screen.query(AnswerPane) if p.has_class("-failed")]
        assert len(failed) == 1
        assert "boom" in str(failed[0].query_one(".answer-stats", Static).render())
        await pilot.press("a", "b", "t", "x")
        assert tui_store.votes() == []
        assert "void" in str(screen.query_one("#vote-status", Static).render())
        assert tui_store.counts()["void_battles"] == 1


async def test_next_battle_and_typed_prompt(tui_store: Store) -> None:
    app = app_with(tui_store, fakes())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await settle(app, pilot)
        assert tui_store.counts()["battles"] == 2
        await pilot.press("p")
        await pilot.pause()
        await pilot.press(*"reverse a string")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen.prompt is not None and app.screen.prompt.text == "reverse a string"
        assert [s.name for s in tui_store.list_sets()] == ["tui", "typed"]


UNSAFE = [
    "[bold red]not red[/] and [link=http://evil.example]click[/link] ",
    "\x1b[31mred?\x1b[0m \x1b]0;title\x07 bell\x07 back\x08space ",
    "odd unicode: \u202eevil\u202c zero\u200bwidth e\u0301 🤖\n\n",
    "x" * 5000 + "\n",
]


async def test_untrusted_output_is_shown_literally(tui_store: Store) -> None:
    app = app_with(tui_store, fakes(a=UNSAFE))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        source = pane_of(app, "left-model").query_one(".answer-body", Markdown).source
        assert "[bold red]not red[/]" in source and "[link=http://evil.example]" in source
        assert "\x1b" not in source and "\\x1b[31m" in source
        assert "\x07" not in source and "\x08" not in source and "\u202e" not in source
        await pilot.press("a")
        assert [v.outcome for v in tui_store.votes()] == [Outcome.A]


async def test_a_megabyte_answer_does_not_freeze_the_screen(tui_store: Store) -> None:
    chunk = ("all work and no play " * 50 + "\n\n") * 10  # ~10 kB
    app = app_with(tui_store, fakes(a=[chunk] * 100))  # ~1 MB
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        pane = pane_of(app, "left-model")
        assert len(pane.text) > 1_000_000
        source = pane.query_one(".answer-body", Markdown).source
        assert len(source) < MAX_VIEW_CHARS + 200 and "stored, not shown" in source
        await pilot.press("b")
        assert [v.outcome for v in tui_store.votes()] == [Outcome.B]
        result = app.screen.result
        big = result.generation_a if result.battle.model_a == "left-model" else result.generation_b
        assert len(tui_store.generation(big.id).text) > 1_000_000


async def test_follow_up_goes_to_both_sides_and_the_vote_covers_the_conversation(tui_store: Store) -> None:
    seen: dict[str, list[list[dict[str, str]]]] = {"left-model": [], "right-model": []}

    class Recording(FakeModel):
        async def stream(self, request):  # type: ignore[no-untyped-def,override]
            seen[self.name].append(request.messages)
            async for ev in super().stream(request):
                yield ev

    models = {n: Recording(n, [f"{n} answer {i}" for i in range(2)]) for n in seen}
    app = app_with(tui_store, models)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        first = app.screen.result
        await pilot.press("f")
        await pilot.pause()
        await pilot.press(*"now add type hints")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        second = app.screen.result
        assert second.battle.id == first.battle.id and not second.void
        for name in seen:
            convo = seen[name][1]
            assert [m["role"] for m in convo] == ["user", "assistant", "user"]
            assert convo[1]["content"] == f"{name} answer 0{name} answer 1"
            assert convo[2]["content"] == "now add type hints"
        gen = tui_store.generation(second.generation_a.id)
        assert gen.messages is not None and len(gen.messages) == 3
        assert "now add type hints" in gen.transcript(1) and gen.text in gen.transcript(1)
        await pilot.press("a")
        assert [(v.battle_id, v.outcome) for v in tui_store.votes()] == [(first.battle.id, Outcome.A)]
        detail = tui_store.battle_detail(first.battle.id)
        assert detail.generation_a.id == second.generation_a.id


async def test_category_and_language_filters_pick_the_prompts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from db.engine import open_database
    from db.repositories import PromptIn

    store = Store(open_database(f"sqlite:///{tmp_path / 'f.db'}"))
    store.import_prompts("tui", "t", [
        PromptIn("py", "python task", category="algorithms", language="python"),
        PromptIn("sql", "sql task", category="sql", language="sql"),
        PromptIn("go", "go task", category="web", language="go")])
    app = app_with(store, fakes())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("left_square_bracket")  # category: algorithms
        await settle(app, pilot)
        assert app.category == "algorithms" and app.screen.prompt.external_id == "py"
        await pilot.press("left_square_bracket", "left_square_bracket")  # sql, then web
        await settle(app, pilot)
        assert app.category == "web" and app.screen.prompt.external_id == "go"
        await pilot.press("left_square_bracket")  # back to any
        await settle(app, pilot)
        assert app.category is None
        await pilot.press("right_square_bracket")  # language: go
        await settle(app, pilot)
        assert app.language == "go" and app.screen.prompt.external_id == "go"
