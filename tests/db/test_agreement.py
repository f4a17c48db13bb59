"""Judge audit: agreement and Cohen's kappa between raters, the audit queue, ``arena judges
agreement`` and the TUI's audit screen.

The service tests run on SQLite and PostgreSQL (the ``store`` fixture); the CLI and the TUI
tests use one small SQLite database each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena.domain import ArenaError, Outcome, Usage, Vote
from arena.services import agreement as svc
from db.repositories import PromptIn, Store

A, B, T, X = Outcome.A, Outcome.B, Outcome.TIE, Outcome.BOTH_BAD
REPO = Path(__file__).resolve().parents[2]
ARENA = Path(sys.executable).parent / "arena"
if not ARENA.exists():
    ARENA = REPO / ".venv" / "bin" / "arena"


# -- building small arenas -----------------------------------------------------------------
def make_battles(store: Store, n: int, categories: list[str | None] | None = None,
                 *, status: str = "ready", set_name: str = "s") -> list[int]:
    """``n`` battles x vs y, one per prompt, with both answers stored; their ids in order."""
    cats = categories or [None] * n
    store.import_prompts(set_name, "test", [
        PromptIn(f"p{i}", f"question {i}: reverse a list", category=cats[i], language="python")
        for i in range(n)])
    for m in ("x", "y"):
        store.ensure_model(m, "openai", m, {})
    prompts = store.prompts(set_name)
    battles = store.ensure_battles([(p.id, "x", "y") for p in prompts], None)  # type: ignore[misc]
    for p, b in zip(prompts, battles, strict=True):
        assert p.id is not None
        ga = store.save_generation(p.id, "x", f"answer **x** {p.external_id}", Usage(), {}, None, "stop")
        gb = store.save_generation(p.id, "y", f"answer *y* {p.external_id}", Usage(), {}, None, "stop")
        store.set_battle_generations(b.id, ga.id, gb.id, status)
    return [b.id for b in battles]


def judge_vote(store: Store, name: str, battle_id: int, *games: tuple[Outcome, int],
               rationale: str | None = None) -> None:
    for game, (outcome, strength) in enumerate(games):
        store.add_vote(Vote(battle_id=battle_id, judge_kind="pairwise", judge_name=name,
                            outcome=outcome, strength=strength, game=game,
                            rationale=rationale and f"{rationale} (game {game})"))


def human_vote(store: Store, voter: str, battle_id: int, outcome: Outcome) -> None:
    assert svc.record_human_vote(store, battle_id, voter, outcome)


def one_game(store: Store, name: str, ids: list[int], outcomes: list[Outcome]) -> None:
    for battle_id, o in zip(ids, outcomes, strict=True):
        judge_vote(store, name, battle_id, (o, 1 if o in (A, B) else 0))


# -- the arithmetic, without a database --------------------------------------------------------
def test_kappa_textbook_two_by_two() -> None:
    # Cohen's example as in most textbooks (Wikipedia): 50 items, both yes 20, both no 15,
    # 5 and 10 disagreements: p_o = 0.7, p_e = 0.5, kappa = 0.4
    pairs = [(A, A)] * 20 + [(A, B)] * 5 + [(B, A)] * 10 + [(B, B)] * 15
    n, agree, kappa, confusion = svc.cohen_kappa(pairs)
    assert (n, agree) == (50, 35)
    assert kappa == pytest.approx(0.4, abs=1e-12)
    assert confusion == ((20, 5, 0), (10, 15, 0), (0, 0, 0))


def test_kappa_edge_cases() -> None:
    assert svc.cohen_kappa([])[2] is None  # no shared battle: undefined
    assert svc.cohen_kappa([(A, A)] * 4)[2] == 1.0  # both constant and equal: defined as 1
    assert svc.cohen_kappa([(X, T), (T, X)])[2] == 1.0  # both_bad is a tie
    assert svc.cohen_kappa([(A, B)] * 4)[2] == 0.0  # both constant, never equal
    assert svc.cohen_kappa([(A, B), (B, A)])[2] == pytest.approx(-1.0)


def test_combine_and_majority() -> None:
    assert svc.combine([(A, 1), (B, 1)])[0] is T  # equal strength, opposite sides: a tie
    assert svc.combine([(A, 2), (B, 1)])[:2] == (A, 1)
    assert svc.combine([(B, 2), (T, 0)])[:2] == (B, -2)
    assert svc.combine([(A, 0)])[:2] == (A, 1)  # a win counts at least 1
    assert svc.combine([(X, 0), (X, 0)])[0] is X
    assert svc.combine([(X, 0), (A, 1)])[0] is A
    assert svc.majority([A, A, B]) is A
    assert svc.majority([A, B]) is T  # a tie for the most is a tie
    assert svc.majority([X, T, A]) is T  # both_bad counts as tie
    with pytest.raises(ValueError):
        svc.combine([])


# -- over the store (SQLite and PostgreSQL) --------------------------------------------------
def test_three_by_three_table_with_both_bad(store: Store) -> None:
    # x\y   a  b  tie       n = 10, agree = 7, marginals (4, 3, 3) and (4, 3, 3):
    # a     3  1  0         kappa = (10·7 − 34) / (100 − 34) = 6/11
    # b     0  2  1         "tie" for jx is "both bad" on two battles: it still agrees
    # tie   1  0  2
    ids = make_battles(store, 10)
    jx = [A, A, A, A, B, B, B, X, X, T]
    jy = [A, A, A, B, B, B, T, A, T, T]
    one_game(store, "jx", ids, jx)
    one_game(store, "jy", ids, jy)
    [row] = svc.agreement(store, "jx", "jy")
    assert (row.n, row.agree, row.category) == (10, 7, None)
    assert row.percent == pytest.approx(70.0)
    assert row.kappa == pytest.approx(6 / 11, abs=1e-12)
    assert row.confusion == ((3, 1, 0), (0, 2, 1), (1, 0, 2))
    assert svc.verdicts(store, "jx")[ids[7]].outcome is X  # kept for display
    [back] = svc.agreement(store, "jy", "jx")
    assert back.kappa == pytest.approx(row.kappa)


def test_games_combine_per_battle(store: Store) -> None:
    ids = make_battles(store, 4)
    judge_vote(store, "j2", ids[0], (A, 1), (B, 1))  # equal strength: tie
    judge_vote(store, "j2", ids[1], (A, 2), (B, 1))  # much better beats better: a
    judge_vote(store, "j2", ids[2], (B, 1), (T, 0))  # b
    judge_vote(store, "j2", ids[3], (X, 0), (X, 0))  # both bad
    got = svc.verdicts(store, "j2")
    assert [(got[i].outcome, got[i].score, got[i].games) for i in ids] == [
        (T, 0, 2), (A, 1, 2), (B, -1, 2), (X, 0, 2)]
    for i, o in zip(ids, [T, A, B, T], strict=True):
        human_vote(store, "alice", i, o)
    [row] = svc.agreement(store, "human:alice", "j2")
    assert (row.n, row.agree, row.kappa) == (4, 4, 1.0)


def test_agreement_by_category(store: Store) -> None:
    ids = make_battles(store, 6, ["sql", "sql", "sql", "web", "web", None])
    one_game(store, "jx", ids, [A, B, A, A, B, T])
    one_game(store, "jy", ids, [A, B, B, B, A, T])
    rows = svc.agreement(store, "jx", "jy", by="category")
    assert [(r.category, r.n, r.agree) for r in rows] == [
        (None, 6, 3), ("(none)", 1, 1), ("sql", 3, 2), ("web", 2, 0)]
    by = {r.category: r for r in rows}
    # sql: x (a, b, a), y (a, b, b): p_o 6/9, p_e (2·1 + 1·2)/9 = 4/9 → kappa 2/5
    assert by["sql"].kappa == pytest.approx(0.4)
    assert by["web"].kappa == pytest.approx(-1.0)
    assert by["(none)"].kappa == 1.0  # one shared battle, same label
    with pytest.raises(ArenaError, match="category"):
        svc.agreement(store, "jx", "jy", by="language")  # type: ignore[arg-type]


def test_humans_pooled_by_majority_and_per_voter(store: Store) -> None:
    ids = make_battles(store, 3)
    for voter, outcomes in (("alice", [A, A, B]), ("bob", [A, B, X]), ("carol", [B, B, T])):
        for i, o in zip(ids, outcomes, strict=True):
            human_vote(store, voter, i, o)
    pooled = svc.verdicts(store, "human")
    assert [pooled[i].outcome for i in ids] == [A, B, T]  # 2-1, 2-1, (b, both_bad→tie, tie) 1-2
    assert [pooled[i].games for i in ids] == [3, 3, 3]
    assert [svc.verdicts(store, "human:bob")[i].outcome for i in ids] == [A, B, X]
    [row] = svc.agreement(store, "human:alice", "human:bob")
    assert (row.n, row.agree) == (3, 1)
    assert svc.agreement(store, "human:alice", "human:carol")[0].agree == 0


def test_undefined_and_unknown(store: Store) -> None:
    ids = make_battles(store, 4)
    one_game(store, "jx", ids[:2], [A, B])
    one_game(store, "jy", ids[2:], [A, B])
    [row] = svc.agreement(store, "jx", "jy")  # no battle in common
    assert (row.n, row.percent, row.kappa) == (0, None, None)
    assert row.as_dict()["kappa"] is None
    [row] = svc.agreement(store, "human:nobody", "jx")
    assert row.n == 0
    with pytest.raises(ArenaError, match="no votes by judge 'nope'.*jx, jy"):
        svc.agreement_table(store, ["jx", "nope"])
    with pytest.raises(ArenaError, match="two raters"):
        svc.agreement_table(store, ["jx"])
    # default raters: every judge that voted; human joins once somebody voted
    assert [(r.rater_x, r.rater_y) for r in svc.agreement_table(store)] == [("jx", "jy")]
    human_vote(store, "alice", ids[0], A)
    assert [(r.rater_x, r.rater_y) for r in svc.agreement_table(store)] == [
        ("jx", "jy"), ("jx", "human"), ("jy", "human")]


def test_only_ready_battles_count(store: Store) -> None:
    ids = make_battles(store, 2)
    store.set_battle_generations(ids[1], None, None, "void")
    one_game(store, "jx", ids, [A, A])
    one_game(store, "jy", ids, [A, B])
    [row] = svc.agreement(store, "jx", "jy")
    assert (row.n, row.agree) == (1, 1)


def test_audit_queue(store: Store) -> None:
    ids = make_battles(store, 5)
    one_game(store, "jx", ids[:4], [A, B, T, A])
    store.set_battle_generations(ids[3], None, None, "void")  # judged, but not ready
    one_game(store, "jy", [ids[4]], [A])  # another judge's battle
    human_vote(store, "alice", ids[1], B)
    human_vote(store, "bob", ids[0], A)  # another voter's vote does not take it off
    assert svc.audit_queue(store, "jx", "alice") == [ids[0], ids[2]]
    assert svc.audit_queue(store, "jx", "bob") == [ids[1], ids[2]]
    assert svc.audit_queue(store, "jy", "alice") == [ids[4]]
    assert svc.audit_queue(store, "nobody", "alice") == []
    item = svc.audit_item(store, ids[0], "jx")
    assert item.verdict is not None and item.verdict.outcome is A
    assert [v.judge_name for v in item.judge_votes] == ["jx"]
    assert not svc.record_human_vote(store, ids[1], "alice", A)  # the first vote stands
    human_vote(store, "alice", ids[4], A)
    human_vote(store, "alice", ids[3], A)  # on a battle that is not ready: not counted
    for judge in ("jx", "jy"):  # the audit screen's shortcut gives the same rows
        assert svc.voter_agreement(store, "alice", [judge]) == svc.agreement(
            store, "human:alice", judge)
    assert [r.n for r in svc.voter_agreement(store, "alice", ["jx", "jy"])] == [1, 1]


# -- the command line --------------------------------------------------------------------------
def _small_db(tmp_path: Path) -> str:
    from db.engine import open_database

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = open_database(url)
    store = Store(engine)
    ids = make_battles(store, 4, ["sql", "sql", "web", "web"])
    one_game(store, "jx", ids, [A, B, A, T])
    one_game(store, "jy", ids, [A, B, B, X])
    for i, o in zip(ids, [A, B, A, A], strict=True):
        human_vote(store, "alice", i, o)
    engine.dispose()
    return url


def _arena(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_HOME=str(tmp_path / "home"), NO_COLOR="1", COLUMNS="200")
    return subprocess.run([str(ARENA), "--db", url, *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(not ARENA.exists(), reason="the arena console script is not installed")
def test_cli_agreement(tmp_path: Path) -> None:
    url = _small_db(tmp_path)
    res = _arena(tmp_path, url, "judges", "agreement", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)  # stdout is data only
    assert "both_bad counts as tie" in res.stderr
    got = {(r["rater_x"], r["rater_y"]): r for r in rows}
    assert set(got) == {("jx", "jy"), ("jx", "human"), ("jy", "human")}
    assert (got["jx", "jy"]["n"], got["jx", "jy"]["agree"]) == (4, 3)  # tie = both bad
    # jx (a, b, a, t) vs jy (a, b, b, t): p_o 3/4, p_e (2·1 + 1·2 + 1·1)/16 = 5/16 → 7/11
    assert got["jx", "jy"]["kappa"] == pytest.approx(7 / 11)
    assert got["jx", "human"]["percent"] == pytest.approx(75.0)

    res = _arena(tmp_path, url, "judges", "agreement", "--judges", "jx,jy", "--by", "category")
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.splitlines() if "jx" in line]
    assert len(lines) == 3  # all, sql, web
    assert any("sql" in line and "100.0" in line and "1.000" in line for line in lines)
    assert any("web" in line and "50.0" in line for line in lines)

    res = _arena(tmp_path, url, "judges", "agreement", "--judges", "jx,nope")
    assert res.returncode == 2 and "no votes by judge 'nope'" in res.stderr and not res.stdout


# -- the TUI ---------------------------------------------------------------------------------
def _text(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    from textual.widgets import Static

    return str(app.screen.query_one(selector, Static).content)


async def _settle(pilot, until) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if until():
            return
    raise AssertionError("the screen did not settle")


async def test_audit_screen_hides_the_verdict_until_the_vote(tmp_path: Path) -> None:
    from arena.config import ArenaConfig
    from arena.tui.app import make_app
    from arena.tui.screens.audit import AuditScreen
    from db.engine import open_database

    engine = open_database(f"sqlite:///{tmp_path / 'tui.db'}")
    store = Store(engine)
    ids = make_battles(store, 2, ["sql", "web"])
    judge_vote(store, "jx", ids[0], (A, 2), (A, 1), rationale="A handles the empty list")
    judge_vote(store, "jx", ids[1], (B, 1), (B, 1), rationale="B is shorter")
    judge_vote(store, "jy", ids[0], (B, 1), (T, 0), rationale="B names things well")
    app = make_app(store, ArenaConfig(), voter="alice", prompt_set=None)
    async with app.run_test(size=(120, 40)) as pilot:
        # the services load in a thread after the first frame
        await _settle(pilot, lambda: getattr(app, "ready", True))
        await pilot.press("ctrl+j")
        await _settle(pilot, lambda: isinstance(app.screen, AuditScreen)
                      and app.screen.item is not None and "(n 0)" in _text(app, "#audit-agreement"))
        screen = app.screen
        assert "judge jx · battle" in _text(app, "#audit-info")
        assert screen.query_one("#audit-verdict-box").has_class("-hidden")
        assert _text(app, "#audit-verdict") == ""
        shown = " ".join(str(w.content) for w in screen.query("Static"))
        assert "empty list" not in shown and "much better" not in shown and "Model A: x" not in shown
        assert "jx – κ – (n 0)" in _text(app, "#audit-agreement")

        await pilot.press("a")
        await _settle(pilot, lambda: "(n 1)" in _text(app, "#audit-agreement"))
        [vote] = [v for v in store.votes(battle_ids=[ids[0]]) if v.judge_kind == "human"]
        assert (vote.judge_name, vote.voter, vote.outcome, vote.game) == ("human", "alice", A, 0)
        assert not screen.query_one("#audit-verdict-box").has_class("-hidden")
        verdict = _text(app, "#audit-verdict")
        assert "judge jx: A is better" in verdict and "you agree" in verdict
        assert "game 0: A is much better" in verdict and "A handles the empty list" in verdict
        assert "jx 100% κ 1.00 (n 1)" in _text(app, "#audit-agreement")
        assert "jy 0% κ 0.00 (n 1)" in _text(app, "#audit-agreement")
        assert "stored as a human vote by alice" in _text(app, "#audit-status")

        await pilot.press("b")  # one vote per battle
        assert len([v for v in store.votes() if v.judge_kind == "human"]) == 1

        await pilot.press("n")
        await _settle(pilot, lambda: screen.item is not None and screen.item.detail.battle.id == ids[1])
        assert screen.query_one("#audit-verdict-box").has_class("-hidden")
        await pilot.press("x")
        await _settle(pilot, lambda: "(n 2)" in _text(app, "#audit-agreement"))
        # you (a, tie) vs jx (a, b): p_o 1/2, p_e 1/4 → kappa 1/3
        assert "jx 50% κ 0.33 (n 2)" in _text(app, "#audit-agreement")
        await pilot.press("n")
        await _settle(pilot, lambda: "queue is empty" in _text(app, "#audit-status"))
        assert screen.has_class("-empty") and "voted on every battle" in _text(app, "#audit-empty")

        await pilot.press("j")  # the other judge: its battle is already voted on
        await _settle(pilot, lambda: "queue is empty" in _text(app, "#audit-status")
                      and "judge jy" in _text(app, "#audit-status"))
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "BattleScreen"
    engine.dispose()


async def test_audit_screen_without_judges(tmp_path: Path) -> None:
    from arena.config import ArenaConfig
    from arena.tui.app import make_app
    from db.engine import open_database

    engine = open_database(f"sqlite:///{tmp_path / 'tui.db'}")
    app = make_app(Store(engine), ArenaConfig(), voter="alice", prompt_set=None)
    async with app.run_test(size=(120, 40)) as pilot:
        # the services load in a thread after the first frame
        await _settle(pilot, lambda: getattr(app, "ready", True))
        await pilot.press("ctrl+j")
        await _settle(pilot, lambda: app.screen.has_class("-empty"))
        assert "no judge has voted yet" in _text(app, "#audit-empty")
        assert "no judge has voted yet" in _text(app, "#audit-agreement")
        await pilot.press("a", "n", "j")  # nothing to vote on, nothing breaks
        await pilot.pause()
        assert app.screen.has_class("-empty")
    engine.dispose()
