"""The leaderboard, history, battle detail, models and audit screens, driven with Pilot.

A deterministic fixture database: three prompts (with categories and languages), two
configured fake models and two stored-only models, three ready batch battles with the
two-game votes of two pairwise judges and human votes, every ``created_at`` fixed, and
the local time zone set to UTC so that time columns are stable.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ANSWER_A, ANSWER_B, config, fixed_clock
from rich.text import Text
from test_battle_screen import fakes, settle
from textual.widgets import DataTable, Input, Markdown, Static

from arena.config import ArenaConfig, ModelSpec
from arena.domain import Outcome, Usage, Vote
from arena.tui.app import ArenaApp, make_app
from db.engine import open_database
from db.repositories import PromptIn, Store

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HOSTILE = "[bold red]x[/] and \x1b[31mred\x1b[0m"
PROMPTS = [
    PromptIn("dedupe", "Remove duplicates from a Python list, keeping the order.",
             category="algorithms", language="python", difficulty="easy"),
    PromptIn("reverse", "Reverse a UTF-8 string in Rust without allocating twice.",
             category="strings", language="rust", difficulty="medium"),
    PromptIn("top-sql", "Write a SQL query for the three best-paid people per department.",
             category="databases", language="sql", difficulty="medium"),
]
ANSWERS = {  # (prompt, model) -> the stored answer
    ("dedupe", "left-model"): ANSWER_A,
    ("dedupe", "right-model"): ANSWER_B,
    ("reverse", "right-model"): "Collect `chars().rev()` into a `String` with capacity.",
    ("reverse", "archive-model"): "Use `s.chars().rev().collect::<String>()`.",
    ("top-sql", "archive-model"): "Use a window function: " + HOSTILE,
    ("top-sql", "left-model"): "```sql\nSELECT * FROM (SELECT *, RANK() OVER "
                               "(PARTITION BY dept ORDER BY pay DESC) r FROM staff) WHERE r <= 3\n```",
    ("dedupe", "archive-model"): "`list(set(xs))` loses the order; use `dict.fromkeys`.",
}
BATTLES = [  # (prompt, model A, model B), oldest first
    ("dedupe", "left-model", "right-model"),
    ("reverse", "right-model", "archive-model"),
    ("top-sql", "archive-model", "left-model"),
]
JUDGE_GAMES = {  # battle index -> judge -> [(outcome, strength, rationale)] for games 0 and 1
    0: {"judge-one": [(Outcome.A, 2, "A keeps the order in one line."),
                      (Outcome.A, 1, "A is shorter and correct.")],
        "judge-two": [(Outcome.TIE, 1, "Both work."), (Outcome.A, 1, "A is idiomatic.")]},
    1: {"judge-one": [(Outcome.B, 1, "B is simpler."), (Outcome.TIE, 1, "Both are fine.")]},
    2: {"judge-one": [(Outcome.B, 1, "B answers with real SQL; A says " + HOSTILE),
                      (Outcome.B, 2, "A is not an answer.")],
        "judge-two": [(Outcome.B, 1, "B is runnable."), (Outcome.B, 1, "B again.")]},
}
HUMAN_VOTES = {0: [("alice", Outcome.A)], 2: [("bob", Outcome.B)]}  # battle -> (voter, vote)
STORED_ONLY = {"archive-model": "replay", "old-api-model": "openai"}


def stamp(minutes: int) -> str:
    """A fixed time as SQLite stores it (UTC, no offset)."""
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S.%f")


def build_store(path: Path) -> Store:
    """The fixture database described in the module docstring."""
    from sqlalchemy import text

    store = Store(open_database(f"sqlite:///{path}"))
    store.import_prompts("tui", "test", PROMPTS)
    for name in ("left-model", "right-model"):
        store.ensure_model(name, "openai", name, {})
    for name, provider in STORED_ONLY.items():
        store.ensure_model(name, provider, None, {})
    prompts = {p.external_id: p for p in store.prompts("tui")}
    gens = {}
    for i, ((ext, model), answer) in enumerate(sorted(ANSWERS.items())):
        usage = Usage(prompt_tokens=20 + i, completion_tokens=40 + 10 * i, ttft_s=0.2,
                      latency_s=1.0 + i / 10, cost_usd=0.0001 * (i + 1))
        gens[(ext, model)] = store.save_generation(prompts[ext].id, model, answer, usage, {},
                                                   None, "stop")
    store.save_generation(prompts["reverse"].id, "old-api-model", "", Usage(prompt_tokens=5),
                          {}, "HTTP 500: upstream error", None)
    battles = store.ensure_battles([(prompts[p].id, a, b) for p, a, b in BATTLES], None)
    for n, (battle, (ext, a, b)) in enumerate(zip(battles, BATTLES, strict=True)):
        store.set_battle_generations(battle.id, gens[(ext, a)].id, gens[(ext, b)].id, "ready",
                                     style=(40, 0, 0, 0, 50, 0, 1, 0))
        for judge, games in JUDGE_GAMES.get(n, {}).items():
            for game, (outcome, strength, rationale) in enumerate(games):
                store.add_vote(Vote(battle_id=battle.id, judge_kind="pairwise",
                                    judge_name=judge, outcome=outcome, strength=strength,
                                    game=game, rationale=rationale,
                                    usage=Usage(prompt_tokens=300, completion_tokens=60),
                                    created_at=T0 + timedelta(hours=1, minutes=n)))
        for voter, outcome in HUMAN_VOTES.get(n, []):
            store.add_vote(Vote(battle_id=battle.id, judge_kind="human", judge_name="human",
                                outcome=outcome, voter=voter,
                                created_at=T0 + timedelta(hours=2, minutes=n)))
    with store.engine.begin() as conn:
        for n, battle in enumerate(battles):
            conn.execute(text("UPDATE battles SET created_at = :t WHERE id = :id"),
                         {"t": stamp(10 * n), "id": battle.id})
        conn.execute(text("UPDATE generations SET created_at = :t"), {"t": stamp(-5)})
        for table in ("models", "prompts", "prompt_sets"):
            conn.execute(text(f"UPDATE {table} SET created_at = :t"), {"t": stamp(-60)})
    return store


@contextmanager
def utc_zone() -> Iterator[None]:
    """Local time is UTC inside, so "time (local)" columns are stable."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def copy_store(template: Path, tmp_path: Path) -> Store:
    """A fresh copy of the fixture database (built once per module: migrations cost time)."""
    path = tmp_path / "screens.db"
    shutil.copyfile(template, path)
    return Store(open_database(f"sqlite:///{path}"))


def build_template(directory: Path) -> Path:
    store = build_store(directory / "template.db")
    store.engine.dispose()  # the last connection closed: the WAL is checked in
    return directory / "template.db"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("screens"))


@pytest.fixture
def arena_store(template: Path, tmp_path: Path) -> Iterator[Store]:
    with utc_zone():
        yield copy_store(template, tmp_path)


def build_app(store: Store, *, prompt_set: str | None = None,
              cfg: ArenaConfig | None = None) -> ArenaApp:
    """The app as users get it, with the fake models of ``test_battle_screen``. Without
    ``prompt_set`` no live battle starts, so the database holds only the fixture's rows."""
    fake = fakes()
    return make_app(store, cfg or config(), voter="tester", prompt_set=prompt_set, seed=0,
                    provider_factory=lambda c, name: fake[name], clock=fixed_clock)


def cells(app: ArenaApp, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(table_id, DataTable)
    return [[c.plain if isinstance(c, Text) else str(c) for c in row]
            for row in (table.get_row_at(i) for i in range(table.row_count))]


def static_text(app: ArenaApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait until the services are loaded, no worker runs and every message is handled
    (a handler may start the next worker: models, then their health; judges, then a queue)."""
    app = pilot.app
    for _ in range(200):
        await pilot.pause()
        if app.ready and all(w.is_finished for w in app.workers):
            return
        await app.workers.wait_for_complete()
    raise AssertionError("the app did not settle")


async def go(pilot, *keys: str) -> None:  # type: ignore[no-untyped-def]
    """Press each key once the app has settled from the one before."""
    for key in keys:
        await pilot.press(key)
        await ready(pilot)


def rows_by_model(app: ArenaApp) -> dict[str, list[str]]:
    return {row[1]: row for row in cells(app, "#lb-table")}


def screen_text(app: ArenaApp) -> str:
    """What the terminal shows, as plain text (the compositor's lines)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


# -- the leaderboard ----------------------------------------------------------------------
async def test_leaderboard_counts_a_vote_cast_on_the_battle_screen(arena_store: Store) -> None:
    app = build_app(arena_store, prompt_set="tui")
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        battle = app.screen.result.battle
        assert {battle.model_a, battle.model_b} == {"left-model", "right-model"}  # seed 0: fakes
        await go(pilot, "ctrl+l")
        before = rows_by_model(app)
        assert sorted(before) == ["archive-model", "left-model", "right-model"]
        assert "7 comparisons" in static_text(app, "#lb-caption")
        await go(pilot, "escape")
        assert type(app.screen).__name__ == "BattleScreen" and len(app.screen_stack) == 2
        await pilot.press("a")
        await pilot.pause()
        assert [(v.voter, v.outcome, v.judge_kind)
                for v in arena_store.votes(battle_ids=[battle.id])] == [
            ("tester", Outcome.A, "human")]
        await go(pilot, "ctrl+l")
        after = rows_by_model(app)
        for model in (battle.model_a, battle.model_b):
            assert int(after[model][4]) == int(before[model][4]) + 1, model
        assert "8 comparisons" in static_text(app, "#lb-caption")
        wins = after[battle.model_a][5].split("-")
        assert int(wins[0]) == int(before[battle.model_a][5].split("-")[0]) + 1
        assert after[battle.model_a][2] != before[battle.model_a][2]  # the rating moved


async def test_vote_source_keys_change_the_caption_and_rows(arena_store: Store) -> None:
    app = build_app(arena_store)
    async with app.run_test(size=(110, 34)) as pilot:
        await ready(pilot)
        await go(pilot, "ctrl+l")
        assert "votes: all judges" in static_text(app, "#lb-caption")
        assert static_text(app, "#lb-state").startswith("votes: all votes")
        await go(pilot, "h")
        assert "votes: human," in static_text(app, "#lb-caption")
        assert static_text(app, "#lb-state").startswith("votes: human votes")
        # alice: left beats right; bob: left beats archive
        assert {m: r[4:] for m, r in rows_by_model(app).items()} == {
            "left-model": ["2", "2-0-0"], "right-model": ["1", "0-0-1"],
            "archive-model": ["1", "0-0-1"]}
        await go(pilot, "j")
        assert "votes: judge-one," in static_text(app, "#lb-caption")
        assert static_text(app, "#lb-state").startswith("votes: judge judge-one")
        assert len(rows_by_model(app)) == 3
        await go(pilot, "j")
        assert "votes: judge-two," in static_text(app, "#lb-caption")
        assert {m: r[4] for m, r in rows_by_model(app).items()} == {
            "left-model": "2", "right-model": "1", "archive-model": "1"}
        await go(pilot, "j")
        assert "votes: judge-one," in static_text(app, "#lb-caption")  # round again
        await go(pilot, "a")
        assert "votes: all judges" in static_text(app, "#lb-caption")


async def test_category_and_language_filters_cycle(arena_store: Store) -> None:
    app = build_app(arena_store)
    async with app.run_test(size=(110, 34)) as pilot:
        await ready(pilot)
        await go(pilot, "ctrl+l")
        seen = []
        for _ in range(4):
            await go(pilot, "c")
            seen.append((static_text(app, "#lb-caption").rsplit("; ", 1)[1],
                         sorted(rows_by_model(app))))
        assert seen == [
            ("category: algorithms, language: any", ["left-model", "right-model"]),
            ("category: databases, language: any", ["archive-model", "left-model"]),
            ("category: strings, language: any", ["archive-model", "right-model"]),
            ("category: any, language: any", ["archive-model", "left-model", "right-model"])]
        await go(pilot, "g", "g")
        assert static_text(app, "#lb-state") == (
            "votes: all votes · category: any · language: rust")
        assert sorted(rows_by_model(app)) == ["archive-model", "right-model"]
        await go(pilot, "c")  # algorithms and rust: no battle
        assert rows_by_model(app) == {}
        assert "no counted votes match" in static_text(app, "#lb-state")
        assert app.screen.has_class("-empty")


# -- history and one battle ------------------------------------------------------------
async def search(pilot, text: str, *, typed: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Search the history: ``/``, the text (typed, or set at once), enter."""
    await pilot.press("slash")
    box = pilot.app.screen.query_one("#history-search", Input)
    assert box.has_focus
    box.value = "" if typed else text
    await pilot.press(*(text if typed else ""), "enter")
    await ready(pilot)


async def test_history_search_filters_rows(arena_store: Store) -> None:
    app = build_app(arena_store)
    async with app.run_test(size=(110, 34)) as pilot:
        await ready(pilot)
        await go(pilot, "ctrl+o")
        rows = cells(app, "#history-table")
        assert [r[0] for r in rows] == ["3", "2", "1"]  # newest first
        assert [r[1] for r in rows] == ["2025-03-01 09:20", "2025-03-01 09:10",
                                        "2025-03-01 09:00"]
        assert rows[2][3:] == ["left-model", "right-model", "ready", "5 · A4 T1"]
        await search(pilot, "rust")
        assert [r[0] for r in cells(app, "#history-table")] == ["2"]
        assert static_text(app, "#history-state").startswith("1 battle matching 'rust'")
        await search(pilot, "LEFT-model", typed=False)  # model names, any case
        assert [r[0] for r in cells(app, "#history-table")] == ["3", "1"]
        await search(pilot, "100%", typed=False)  # LIKE wildcards are literal
        assert cells(app, "#history-table") == []
        assert static_text(app, "#history-state") == "no battles matching '100%'"
        await search(pilot, "", typed=False)
        assert len(cells(app, "#history-table")) == 3


async def test_enter_opens_the_detail_with_both_answers_and_every_rationale(
        arena_store: Store) -> None:
    app = build_app(arena_store)
    async with app.run_test(size=(110, 34)) as pilot:
        await ready(pilot)
        await go(pilot, "ctrl+o")
        await search(pilot, "python")
        assert [r[0] for r in cells(app, "#history-table")] == ["1"]
        await go(pilot, "enter")
        screen = app.screen
        assert type(screen).__name__ == "BattleDetailScreen" and screen.battle_id == 1
        assert len(app.screen_stack) == 4
        info = static_text(app, "#detail-info")
        assert info == "battle 1 · tui · dedupe · algorithms · python · ready · 2025-03-01 09:00"
        answers = [m.source for m in screen.query(".detail-answer").results(Markdown)]
        assert answers == [ANSWER_A, ANSWER_B]
        titles = [str(s.render()) for s in screen.query(".detail-title").results(Static)]
        assert titles[0].startswith("A · left-model · ") and titles[1].startswith("B · right-model")
        votes = static_text(app, "#detail-votes")
        assert votes.startswith("Votes (5)")
        for judge_games in JUDGE_GAMES[0].values():
            for _, _, rationale in judge_games:
                assert rationale in votes
        assert "• human · voter alice · game 0 · A is better (left-model)" in votes
        assert "• judge-one (pairwise) · game 0 · A is better (left-model) · much better" in votes
        assert screen.query_one("#detail-side-a").has_class("-winner")
        await go(pilot, "escape")
        assert type(app.screen).__name__ == "HistoryScreen" and len(app.screen_stack) == 3


async def test_hostile_answer_and_rationale_show_literally(arena_store: Store) -> None:
    app = build_app(arena_store)
    async with app.run_test(size=(110, 40)) as pilot:
        await ready(pilot)
        await go(pilot, "ctrl+o")
        await search(pilot, "sql")
        await go(pilot, "enter")
        screen = app.screen
        assert screen.battle_id == 3
        answer = screen.query_one("#detail-side-a .detail-answer", Markdown).source
        assert "[bold red]x[/]" in answer and "\\x1b[31m" in answer and "\x1b" not in answer
        votes = static_text(app, "#detail-votes")
        assert "A says [bold red]x[/] and \\x1b[31mred\\x1b[0m" in votes and "\x1b" not in votes
        shown = screen_text(app)
        assert "[bold red]x[/]" in shown and "\\x1b[31m" in shown and "\x1b" not in shown


# -- models ----------------------------------------------------------------------------
async def test_models_screen_lists_configured_and_stored_models_with_usage(
        arena_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.testing.openai_server import OpenAITestServer

    monkeypatch.setenv("ARENA_TEST_SERVED_KEY", "sk-do-not-show")
    with OpenAITestServer(models=["served"]) as srv:
        cfg = config()
        cfg.models["served-model"] = ModelSpec(name="served-model", provider="openai",
                                               model="served", base_url=srv.url,
                                               api_key_env="ARENA_TEST_SERVED_KEY")
        app = build_app(arena_store, cfg=cfg)
        async with app.run_test(size=(140, 34)) as pilot:
            await ready(pilot)
            await go(pilot, "ctrl+e")
            rows = {r[0]: r for r in cells(app, "#models-table")}
            assert list(rows) == ["left-model", "right-model", "served-model", "archive-model",
                                  "old-api-model"]  # configured first, then stored only
            assert rows["served-model"][2].startswith("ok (") and rows["served-model"][2].endswith(" ms)")
            assert rows["left-model"][2] == "unreachable"
            assert rows["left-model"][3:8] == ["2", "0", "47", "150", "0.0009"]
            assert rows["archive-model"][1:] == ["replay", "recorded answers", "3", "0", "68", "200",
                                                 "0.0011", "recorded answers"]
            assert rows["old-api-model"][2:5] == ["no endpoint to check", "0", "1"]
            assert rows["old-api-model"][-1] == "not in the config (old-api-model)"
            await go(pilot, "down", "down")
            detail = static_text(app, "#models-detail")
            assert detail == ("served-model · openai · configured · battles · key from "
                              f"$ARENA_TEST_SERVED_KEY (set)\nendpoint: {srv.url}")
            assert "sk-do-not-show" not in screen_text(app)
            assert static_text(app, "#models-state").startswith("5 models")


# -- the judge audit -------------------------------------------------------------------
async def test_audit_vote_is_stored_and_reveals_the_verdict(arena_store: Store) -> None:
    app = build_app(arena_store)
    async with app.run_test(size=(110, 34)) as pilot:
        await ready(pilot)
        await go(pilot, "ctrl+j")
        assert static_text(app, "#audit-info").startswith("judge judge-one · battle 1 (1 of 3")
        assert static_text(app, "#audit-verdict") == ""  # nothing of the verdict before a vote
        await go(pilot, "b")
        assert [(v.voter, v.outcome) for v in arena_store.votes(battle_ids=[1])
                if v.judge_kind == "human"] == [("alice", Outcome.A), ("tester", Outcome.B)]
        verdict = static_text(app, "#audit-verdict")
        assert verdict.startswith("judge judge-one: A is better (2 games, score +3) · "
                                  "you: B is better · you disagree")
        assert "A keeps the order in one line." in verdict and "A is shorter and correct." in verdict
        assert "judge-one 0% κ" in static_text(app, "#audit-agreement")
        await go(pilot, "n")
        assert static_text(app, "#audit-info").startswith("judge judge-one · battle 2 (1 of 2")


# -- navigation ------------------------------------------------------------------------
async def test_navigation_never_stacks_screens(arena_store: Store) -> None:
    app = build_app(arena_store)
    async with app.run_test(size=(110, 34)) as pilot:
        await ready(pilot)

        def where() -> tuple[str, int]:
            return type(app.screen).__name__, len(app.screen_stack)

        assert where() == ("BattleScreen", 2)
        await go(pilot, "ctrl+o")
        assert where() == ("HistoryScreen", 3)
        await go(pilot, "enter")
        assert where() == ("BattleDetailScreen", 4)
        await go(pilot, "ctrl+o")  # back to a history screen, not one more on the stack
        assert where() == ("HistoryScreen", 3)
        history = app.screen
        await go(pilot, "ctrl+o")  # already there: nothing happens
        assert where() == ("HistoryScreen", 3) and app.screen is history
        await go(pilot, "ctrl+l")
        assert where() == ("LeaderboardScreen", 3)
        await go(pilot, "question_mark")
        assert where() == ("HelpScreen", 4)
        await go(pilot, "ctrl+e")  # from the help over another screen
        assert where() == ("ModelsScreen", 3)
        await go(pilot, "ctrl+b")
        assert where() == ("BattleScreen", 2)
        await go(pilot, "escape")
        assert where() == ("BattleScreen", 2)


async def test_keys_work_at_80x24(arena_store: Store) -> None:
    app = build_app(arena_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await go(pilot, "ctrl+l", "h", "c")
        assert static_text(app, "#lb-caption").endswith(
            "votes: human, games of a judge combined per battle; 1 comparisons; "
            "category: algorithms, language: any")
        await go(pilot, "ctrl+o")
        await search(pilot, "rust")
        await go(pilot, "enter")
        assert type(app.screen).__name__ == "BattleDetailScreen" and app.screen.battle_id == 2
        await go(pilot, "ctrl+j", "t")
        assert [v.outcome for v in arena_store.votes(battle_ids=[1]) if v.voter == "tester"] == [
            Outcome.TIE]
        await go(pilot, "escape")
        assert type(app.screen).__name__ == "BattleScreen" and len(app.screen_stack) == 2
