"""The leaderboard as a pure function of the vote log, on SQLite and on PostgreSQL.

Every test writes a small vote log through the repository (prompt sets, models, ready
battles with style features, votes with chosen judges, games, strengths and times) and
checks the counted comparisons, the leaderboard rows, the breakdowns and the captions
against values worked out by hand. The rating math itself is tested in tests/unit/rating.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import update

from arena.domain import ArenaError, Outcome, Vote
from arena.services.breakdowns import by_group, matrices, versus_baseline
from arena.services.leaderboard import RatingOptions, compute
from arena.services.report import render_rows
from db.repositories import PromptIn, Store
from db.repositories.stats import CountRow, VoteFilter
from db.tables import VoteRow

A, B, TIE, BAD = Outcome.A, Outcome.B, Outcome.TIE, Outcome.BOTH_BAD
NONE = RatingOptions(method="none")


# -- building vote logs --------------------------------------------------------------------
def prompt_set(store: Store, name: str, specs: list[tuple[str, str | None, str | None]]) -> list[int]:
    """Import (external id, category, language) prompts; their ids in the given order."""
    store.import_prompts(name, f"{name}.jsonl", [
        PromptIn(ext, f"question {ext}", category=cat, language=lang) for ext, cat, lang in specs])
    ids = {p.external_id: p.id for p in store.prompts(name)}
    return [int(ids[ext] or 0) for ext, _, _ in specs]


def models(store: Store, *names: str) -> None:
    for name in names:
        store.ensure_model(name, "openai", name, {})


def battle(store: Store, prompt_id: int, left: str, right: str, *,
           style: tuple[int, ...] | None = None, status: str = "ready") -> int:
    """A battle (left on side A) in the given status; ``style`` = 4 counts of A, then of B."""
    b = store.ensure_battles([(prompt_id, left, right)], None)[0]
    assert (b.model_a, b.model_b) == (left, right)
    store.set_battle_generations(b.id, None, None, status, style=style)
    return b.id


def vote(store: Store, battle_id: int, outcome: Outcome, *, judge: str = "pw",
         kind: str = "pairwise", voter: str | None = None, game: int = 0, strength: int = 1,
         at: datetime | None = None) -> None:
    assert store.add_vote(Vote(battle_id=battle_id, judge_kind=kind, judge_name=judge,
                               outcome=outcome, strength=strength, game=game, voter=voter))
    if at is not None:  # the repository stamps votes with the current time
        t = VoteRow.__table__.c  # type: ignore[attr-defined]
        with store.engine.begin() as conn:
            conn.execute(update(VoteRow.__table__).where(  # type: ignore[arg-type, attr-defined]
                t.battle_id == battle_id, t.judge_name == judge, t.voter == (voter or ""),
                t.game == game).values(created_at=at))


def human(store: Store, battle_id: int, outcome: Outcome, voter: str, game: int = 0) -> None:
    vote(store, battle_id, outcome, judge=f"human:{voter}", kind="human", voter=voter, game=game)


def counts(store: Store, f: VoteFilter = VoteFilter(), **kw: object) -> list[tuple[str, str, str, float]]:
    return [(r.model_a, r.model_b, r.outcome, r.weight) for r in store.comparison_counts(f, **kw)]  # type: ignore[arg-type]


def record(board, model: str) -> tuple[int, float, float, float]:  # type: ignore[no-untyped-def]
    """(battles, wins, ties, losses) of one model's row."""
    row = next(r for r in board.rows if r.model == model)
    return row.battles, row.wins, row.ties, row.losses


@pytest.fixture
def mixed(store: Store) -> dict[str, int]:
    """x and y on five prompts: judge games that add up, humans, both-bad, a second judge.

    b1 (x, y): pw game 0 A>>B (a, strength 2), game 1 B>A (b, strength 1)  -> a (2 - 1 > 0)
    b2 (x, y): pw game 0 A>B, game 1 B>A (strength 1 each)                 -> tie
    b3 (x, y): human alice a, human bob b                                  -> a and b
    b4 (y, x): human carol both_bad (one vote)                             -> both_bad
    b5 (x, y): other judge, one game, b                                    -> b
    b6 (x, y): pending (not ready): its vote never counts
    """
    models(store, "x", "y")
    p = prompt_set(store, "s", [(f"p{i}", "algo", "python") for i in range(6)])
    ids = {
        "b1": battle(store, p[0], "x", "y"), "b2": battle(store, p[1], "x", "y"),
        "b3": battle(store, p[2], "x", "y"), "b4": battle(store, p[3], "y", "x"),
        "b5": battle(store, p[4], "x", "y"), "b6": battle(store, p[5], "x", "y", status="pending"),
    }
    vote(store, ids["b1"], A, game=0, strength=2)
    vote(store, ids["b1"], B, game=1, strength=1)
    vote(store, ids["b2"], A, game=0, strength=1)
    vote(store, ids["b2"], B, game=1, strength=1)
    human(store, ids["b3"], A, "alice")
    human(store, ids["b3"], B, "bob")
    human(store, ids["b4"], BAD, "carol")
    vote(store, ids["b5"], B, judge="other")
    vote(store, ids["b6"], A, judge="other")
    return ids


# -- combining games and judges ------------------------------------------------------------
def test_combine_battle_sums_a_judges_games_and_counts_each_human_vote(
        store: Store, mixed: dict[str, int]) -> None:
    assert counts(store) == [
        ("x", "y", "a", 2.0),    # b1 (pw: +2 - 1) and alice on b3
        ("x", "y", "b", 2.0),    # bob on b3, other on b5
        ("x", "y", "tie", 1.0),  # b2 (pw: +1 - 1)
        ("y", "x", "both_bad", 1.0),  # carol's single both-bad vote on b4
    ]
    board = compute(store, VoteFilter(), NONE)
    assert board.comparisons == 6.0
    assert record(board, "x") == (6, 2.0, 2.0, 2.0)
    assert record(board, "y") == (6, 2.0, 2.0, 2.0)


def test_a_single_both_bad_pairwise_vote_stays_both_bad(store: Store) -> None:
    models(store, "x", "y")
    p = prompt_set(store, "s", [("p0", None, None), ("p1", None, None)])
    vote(store, battle(store, p[0], "x", "y"), BAD, strength=0)
    b = battle(store, p[1], "x", "y")
    vote(store, b, BAD, game=0, strength=0)
    vote(store, b, A, game=1, strength=1)  # two games: the sum decides (+1)
    assert counts(store) == [("x", "y", "a", 1.0), ("x", "y", "both_bad", 1.0)]


def test_combine_game_counts_each_game_with_strong_weight(store: Store, mixed: dict[str, int]) -> None:
    f = VoteFilter(combine="game", strong_weight=3.0)
    # a: b1 game 0 (strong, 3) + b2 game 0 + alice; b: b1 game 1, b2 game 1, bob, other
    assert counts(store, f) == [("x", "y", "a", 5.0), ("x", "y", "b", 4.0),
                                ("y", "x", "both_bad", 1.0)]
    board = compute(store, f, NONE)
    assert board.comparisons == 10.0
    assert record(board, "x") == (10, 5.0, 1.0, 4.0)
    assert record(board, "y") == (10, 4.0, 1.0, 5.0)
    assert "each game counted (strong verdicts ×3)" in board.caption()
    # strong weight 1: every game weighs the same
    assert counts(store, VoteFilter(combine="game")) == [
        ("x", "y", "a", 3.0), ("x", "y", "b", 4.0), ("y", "x", "both_bad", 1.0)]


# -- which judges count --------------------------------------------------------------------
def test_judge_selection(store: Store, mixed: dict[str, int]) -> None:
    humans = [("x", "y", "a", 1.0), ("x", "y", "b", 1.0), ("y", "x", "both_bad", 1.0)]
    assert counts(store, VoteFilter(judges=("human",))) == humans
    assert counts(store, VoteFilter(judges=("human:alice",))) == [("x", "y", "a", 1.0)]
    assert counts(store, VoteFilter(judges=("pw",))) == [("x", "y", "a", 1.0), ("x", "y", "tie", 1.0)]
    assert counts(store, VoteFilter(judges=("other",))) == [("x", "y", "b", 1.0)]
    assert counts(store, VoteFilter(judges=("pw", "other"))) == [
        ("x", "y", "a", 1.0), ("x", "y", "b", 1.0), ("x", "y", "tie", 1.0)]
    assert counts(store, VoteFilter(judges=("human", "pw"))) == [
        ("x", "y", "a", 2.0), ("x", "y", "b", 1.0), ("x", "y", "tie", 1.0),
        ("y", "x", "both_bad", 1.0)]
    assert counts(store, VoteFilter(judges=("nobody",))) == []
    board = compute(store, VoteFilter(judges=("nobody",)))
    assert board.rows == [] and board.comparisons == 0
    caption = compute(store, VoteFilter(judges=("human", "pw")), NONE).caption()
    assert "votes: human, pw, games of a judge combined per battle; 5 comparisons" in caption
    assert "votes: all judges" in compute(store, VoteFilter(), NONE).caption()


def test_elo_replays_each_selected_game_in_time_order(store: Store, mixed: dict[str, int]) -> None:
    from arena.rating.elo import online_elo

    board = compute(store, VoteFilter(), RatingOptions(algorithm="elo"))
    games = [("x", "y", "a"), ("x", "y", "b"), ("x", "y", "a"), ("x", "y", "b"),
             ("x", "y", "a"), ("x", "y", "b"), ("y", "x", "both_bad"), ("x", "y", "b")]
    expected = online_elo(games)
    assert {r.model: r.rating for r in board.rows} == {m: round(v, 2) for m, v in expected.items()}
    assert board.comparisons == 8.0
    assert record(board, "x") == (8, 3.0, 1.0, 4.0)
    assert all(r.ci_low is None and r.ci_high is None for r in board.rows)
    assert [r.rank for r in board.rows] == [1, 2]
    assert board.caption().startswith("online Elo (K=4, base 10, scale 400, initial 1000; no intervals); "
                                      "votes: all judges, each game counted; 8 comparisons")
    # the judge selection is the Bradley-Terry one: `human` means every human vote
    humans = compute(store, VoteFilter(judges=("human",)), RatingOptions(algorithm="elo"))
    expected = online_elo([("x", "y", "a"), ("x", "y", "b"), ("y", "x", "both_bad")])
    assert {r.model: r.rating for r in humans.rows} == {m: round(v, 2) for m, v in expected.items()}
    assert record(humans, "y") == (3, 1.0, 1.0, 1.0)
    only = compute(store, VoteFilter(judges=("other",)), RatingOptions(algorithm="elo"))
    assert record(only, "x") == (1, 0.0, 0.0, 1.0)
    assert compute(store, VoteFilter(category="nope"), RatingOptions(algorithm="elo")).rows == []


# -- filters -------------------------------------------------------------------------------
@pytest.fixture
def dated(store: Store) -> None:
    """Three x-y battles, one verdict each, on two sets, two categories, three dates."""
    models(store, "x", "y")
    s1 = prompt_set(store, "s1", [("p0", "algo", "python"), ("p1", "web", "javascript")])
    s2 = prompt_set(store, "s2", [("q0", "algo", "python")])
    vote(store, battle(store, s1[0], "x", "y"), A, at=datetime(2024, 1, 10, 12, tzinfo=UTC))
    vote(store, battle(store, s1[1], "x", "y"), B, at=datetime(2024, 2, 10, 12, tzinfo=UTC))
    vote(store, battle(store, s2[0], "x", "y"), TIE, at=datetime(2024, 3, 10, 12, tzinfo=UTC))


def outcomes(store: Store, **kw: object) -> list[str]:
    return [o for _, _, o, _ in counts(store, VoteFilter(**kw))]  # type: ignore[arg-type]


@pytest.mark.usefixtures("dated")
def test_filters_by_set_category_and_language(store: Store) -> None:
    assert outcomes(store) == ["a", "b", "tie"]
    assert outcomes(store, set_name="s1") == ["a", "b"]
    assert outcomes(store, set_name="s2") == ["tie"]
    assert outcomes(store, category="algo") == ["a", "tie"]
    assert outcomes(store, category="web") == ["b"]
    assert outcomes(store, language="javascript") == ["b"]
    assert outcomes(store, set_name="s1", language="python") == ["a"]
    assert outcomes(store, category="nope") == []
    board = compute(store, VoteFilter(set_name="s1", category="web"), NONE)
    assert record(board, "x") == (1, 0.0, 0.0, 1.0)
    elo = compute(store, VoteFilter(set_name="s1", category="web"), RatingOptions(algorithm="elo"))
    assert record(elo, "x") == (1, 0.0, 0.0, 1.0)


@pytest.mark.usefixtures("dated")
def test_filters_by_time(store: Store) -> None:
    feb1 = datetime(2024, 2, 1, tzinfo=UTC)
    assert outcomes(store, since=feb1) == ["b", "tie"]
    assert outcomes(store, until=feb1) == ["a"]
    assert outcomes(store, since=feb1, until=datetime(2024, 3, 1, tzinfo=UTC)) == ["b"]
    # since is inclusive, until exclusive
    noon = datetime(2024, 2, 10, 12, tzinfo=UTC)
    assert outcomes(store, since=noon, until=noon + timedelta(days=1)) == ["b"]
    assert outcomes(store, since=noon - timedelta(days=1), until=noon) == []
    # the same instants written with a UTC offset select the same votes
    plus2 = timezone(timedelta(hours=2))
    assert outcomes(store, since=datetime(2024, 2, 10, 13, 30, tzinfo=plus2)) == ["b", "tie"]
    assert outcomes(store, since=datetime(2024, 2, 10, 14, 30, tzinfo=plus2)) == ["tie"]
    assert outcomes(store, until=datetime(2024, 2, 10, 14, 30, tzinfo=plus2)) == ["a", "b"]
    # Online Elo sees the same votes
    elo = compute(store, VoteFilter(since=feb1), RatingOptions(algorithm="elo"))
    assert record(elo, "x") == (2, 0.0, 1.0, 1.0)


# -- the leaderboard rows ------------------------------------------------------------------
@pytest.fixture
def three(store: Store) -> list[int]:
    """x beats y 3-1, y beats z 3-1, x beats z 3-0 with a tie; style counts on every battle."""
    models(store, "x", "y", "z")
    p = prompt_set(store, "t", [(f"p{i:02d}", "algo" if i % 2 else "web", "python")
                                for i in range(12)])
    plan = [("x", "y", A), ("x", "y", A), ("y", "x", B), ("x", "y", B),
            ("y", "z", A), ("z", "y", B), ("y", "z", A), ("y", "z", B),
            ("x", "z", A), ("z", "x", B), ("x", "z", A), ("x", "z", TIE)]
    ids = []
    for k, (left, right, outcome) in enumerate(plan):
        style = (100 + 37 * k % 90, k % 3, (2 * k) % 5, k % 2, 120 - 11 * k % 70, (k + 1) % 3, k % 4, 0)
        ids.append(battle(store, p[k], left, right, style=style))
        vote(store, ids[-1], outcome)
    return ids


@pytest.mark.usefixtures("three")
def test_rows_ranks_and_caption(store: Store) -> None:
    board = compute(store, VoteFilter(), RatingOptions(rounds=50, seed=7, level=0.9))
    assert [r.model for r in board.rows] == ["x", "y", "z"]
    assert record(board, "x") == (8, 6.0, 1.0, 1.0)
    assert record(board, "y") == (8, 4.0, 0.0, 4.0)
    assert record(board, "z") == (8, 1.0, 1.0, 6.0)
    ratings = [r.rating for r in board.rows]
    assert ratings == sorted(ratings, reverse=True)
    assert sum(ratings) == pytest.approx(3000, abs=0.05)  # mean 1000
    for r in board.rows:
        assert r.ci_low is not None and r.ci_high is not None
        assert r.ci_low <= r.rating <= r.ci_high
        assert r.rating_raw is None
        # rank = 1 + number of models whose lower bound is above this one's upper bound
        assert r.rank == 1 + sum(o.ci_low > r.ci_high for o in board.rows)  # type: ignore[operator]
    assert board.disconnected == [] and board.coefficients is None
    caption = board.caption()
    assert caption.startswith("Bradley-Terry (base 10, scale 400, mean 1000), 90% bootstrap CI, "
                              "50 rounds, seed 7;")
    assert caption.endswith("; 12 comparisons")
    assert "rating_raw" not in render_rows(board.rows, "json")

    plain = compute(store, VoteFilter(), NONE)
    assert all(r.ci_low is None and r.ci_high is None for r in plain.rows)
    assert [r.rank for r in plain.rows] == [1, 2, 3]
    assert "CI" not in plain.caption()
    sandwich = compute(store, VoteFilter(), RatingOptions(method="sandwich", level=0.8))
    assert "80% sandwich (robust) CI" in sandwich.caption()
    assert [r.rating for r in sandwich.rows] == [r.rating for r in plain.rows]


@pytest.fixture
def styled(store: Store) -> None:
    """36 battles among x, y, z with seeded outcomes and style counts (no separation)."""
    models(store, "x", "y", "z")
    p = prompt_set(store, "st", [(f"p{i:02d}", None, None) for i in range(36)])
    rng = random.Random(11)
    pairs = [("x", "y"), ("y", "z"), ("x", "z")]
    for k in range(36):
        left, right = pairs[k % 3] if k % 2 else pairs[k % 3][::-1]
        outcome = rng.choices([A, B, TIE], weights=[45, 40, 15])[0]
        style = tuple(rng.randrange(10, 300) if i % 4 == 0 else rng.randrange(0, 5) for i in range(8))
        vote(store, battle(store, p[k], left, right, style=style), outcome)


@pytest.mark.usefixtures("styled")
def test_style_control_adds_raw_ratings_and_coefficients(store: Store) -> None:
    board = compute(store, VoteFilter(), RatingOptions(method="none", style=True))
    plain = compute(store, VoteFilter(), NONE)
    assert board.coefficients is not None
    assert set(board.coefficients) == {"tokens", "headers", "lists", "bold"}
    raw = {r.model: r.rating_raw for r in board.rows}
    assert raw == {r.model: r.rating for r in plain.rows}  # raw = the plain fit
    assert {r.model: r.rating for r in board.rows} != raw
    assert sum(r.rating for r in board.rows) == pytest.approx(3000, abs=0.05)
    assert [r.rating for r in board.rows] == sorted((r.rating for r in board.rows), reverse=True)
    assert "style-controlled" in board.caption() and "style-controlled" not in plain.caption()
    assert all(r.rating_raw is None for r in plain.rows)
    data = json.loads(render_rows(board.rows, "json"))
    assert all("rating_raw" in d for d in data)
    assert render_rows(board.rows, "csv").splitlines()[0].endswith(",rating_raw")
    assert "rating_raw" not in render_rows(plain.rows, "csv")
    boot = compute(store, VoteFilter(), RatingOptions(style=True, rounds=20, seed=1))
    assert [r.rating for r in boot.rows] == [r.rating for r in board.rows]
    for r in boot.rows:
        assert r.ci_low is not None and r.ci_high is not None and r.ci_low <= r.ci_high
    assert render_rows(boot.rows, "json") == render_rows(
        compute(store, VoteFilter(), RatingOptions(style=True, rounds=20, seed=1)).rows, "json")
    with pytest.raises(ArenaError, match="--style"):
        compute(store, VoteFilter(), RatingOptions(method="sandwich", style=True))
    # a battle without style counts is left out of the style-controlled fit only
    models(store, "w")
    extra = prompt_set(store, "u", [("u0", None, None), ("u1", None, None)])
    vote(store, battle(store, extra[0], "w", "x"), A)
    vote(store, battle(store, extra[1], "x", "w"), A)
    styled_models = {r.model for r in compute(store, VoteFilter(), RatingOptions(method="none", style=True)).rows}
    assert styled_models == {"x", "y", "z"}
    assert "w" in {r.model for r in compute(store, VoteFilter(), NONE).rows}


@pytest.mark.usefixtures("three")
def test_anchor_pins_one_model(store: Store) -> None:
    plain = compute(store, VoteFilter(), NONE)
    board = compute(store, VoteFilter(), RatingOptions(anchor_model="y", anchor_rating=1200,
                                                       rounds=30))
    by = {r.model: r for r in board.rows}
    assert by["y"].rating == 1200.0
    base = {r.model: r.rating for r in plain.rows}
    for m in ("x", "z"):  # the same differences, shifted
        assert by[m].rating - 1200.0 == pytest.approx(base[m] - base["y"], abs=0.02)
    assert "y pinned at 1200" in board.caption()
    with pytest.raises(ArenaError, match="nosuchmodel"):
        compute(store, VoteFilter(), RatingOptions(anchor_model="nosuchmodel"))


@pytest.mark.usefixtures("three")
def test_disconnected_models_are_listed_not_rated(store: Store) -> None:
    models(store, "d", "e")
    p = prompt_set(store, "island", [("i0", None, None), ("i1", None, None)])
    vote(store, battle(store, p[0], "d", "e"), A)
    vote(store, battle(store, p[1], "e", "d"), A)
    board = compute(store, VoteFilter(), RatingOptions(rounds=20))
    assert [r.model for r in board.rows] == ["x", "y", "z"]
    assert board.disconnected == ["d", "e"]
    assert board.caption().endswith("; not rated (no comparison with the others): d, e")
    with pytest.raises(ArenaError, match="'d'"):  # pinning an unrated model is a clear error
        compute(store, VoteFilter(), RatingOptions(anchor_model="d", method="none"))


@pytest.mark.usefixtures("three")
def test_same_input_and_seed_give_identical_output(store: Store) -> None:
    opts = RatingOptions(rounds=40, seed=3)
    first = compute(store, VoteFilter(), opts)
    second = compute(store, VoteFilter(), opts)
    assert render_rows(first.rows, "json") == render_rows(second.rows, "json")
    assert first.caption() == second.caption()
    other = compute(store, VoteFilter(), RatingOptions(rounds=40, seed=4))
    assert [r.rating for r in other.rows] == [r.rating for r in first.rows]
    assert [(r.ci_low, r.ci_high) for r in other.rows] != [(r.ci_low, r.ci_high) for r in first.rows]


# -- breakdowns ----------------------------------------------------------------------------
@pytest.fixture
def baseline_log(store: Store) -> None:
    """Against base: x 3 wins, 1 tie (both-bad), 1 loss; y 1 win, 1 loss. Sides vary."""
    models(store, "base", "x", "y")
    p = prompt_set(store, "b", [(f"p{i}", "algo" if i < 3 else "web", "python") for i in range(7)])
    vote(store, battle(store, p[0], "x", "base"), A)      # algo: x wins
    vote(store, battle(store, p[1], "base", "x"), B)      # algo: x wins
    vote(store, battle(store, p[2], "base", "x"), BAD)    # algo: both bad
    vote(store, battle(store, p[3], "x", "base"), A)      # web: x wins
    vote(store, battle(store, p[4], "base", "x"), A)      # web: x loses
    vote(store, battle(store, p[5], "y", "base"), A)      # web: y wins
    vote(store, battle(store, p[6], "base", "y"), A)      # web: y loses


@pytest.mark.usefixtures("baseline_log")
def test_versus_baseline_overall_and_per_category(store: Store) -> None:
    rows = versus_baseline(store, VoteFilter(), "base", rounds=200, seed=5)
    assert [(r.model, r.group, r.battles, r.wins, r.ties, r.losses, r.win_rate, r.tie_rate, r.score)
            for r in rows] == [("x", "all", 5.0, 3.0, 1.0, 1.0, 0.6, 0.2, 0.7),
                               ("y", "all", 2.0, 1.0, 0.0, 1.0, 0.5, 0.0, 0.5)]
    for r in rows:
        assert r.score_low <= r.score <= r.score_high
    assert versus_baseline(store, VoteFilter(), "base", rounds=200, seed=5) == rows

    per = versus_baseline(store, VoteFilter(), "base", by="category", rounds=200, seed=5)
    assert [(r.model, r.group, r.wins, r.ties, r.losses, r.score) for r in per] == [
        ("x", "algo", 2.0, 1.0, 0.0, round(2.5 / 3, 4)),
        ("x", "web", 1.0, 0.0, 1.0, 0.5),
        ("y", "web", 1.0, 0.0, 1.0, 0.5),
    ]
    for r in per:
        assert r.score_low <= r.score <= r.score_high
    assert per[0].as_dict()["group"] == "algo"

    with pytest.raises(ArenaError, match="nobody"):
        versus_baseline(store, VoteFilter(), "nobody")


@pytest.mark.usefixtures("baseline_log")
def test_by_group_fits_each_category_on_its_own_votes(store: Store) -> None:
    boards = by_group(store, VoteFilter(), NONE, "category")
    assert list(boards) == ["algo", "web"]
    algo, web = boards["algo"], boards["web"]
    assert algo.comparisons == 3.0 and web.comparisons == 4.0
    assert {r.model for r in algo.rows} == {"base", "x"}
    assert record(algo, "x") == (3, 2.0, 1.0, 0.0)
    assert record(web, "x") == (2, 1.0, 0.0, 1.0)
    assert record(web, "base") == (4, 2.0, 0.0, 2.0)
    languages = by_group(store, VoteFilter(), NONE, "language")
    assert list(languages) == ["python"] and languages["python"].comparisons == 7.0
    assert by_group(store, VoteFilter(judges=("nobody",)), NONE, "category") == {}


@pytest.mark.usefixtures("baseline_log")
def test_matrices_count_ties_as_half(store: Store) -> None:
    names, frac, battles = matrices(store, VoteFilter())
    assert names == ("base", "x", "y")
    assert battles.tolist() == [[0, 5, 2], [5, 0, 0], [2, 0, 0]]
    assert frac[1, 0] == pytest.approx(3.5 / 5) and frac[0, 1] == pytest.approx(1.5 / 5)
    assert frac[2, 0] == pytest.approx(0.5) and frac[0, 2] == pytest.approx(0.5)
    assert np.isnan(frac[1, 2]) and np.isnan(frac[0, 0])
    assert matrices(store, VoteFilter(judges=("nobody",)))[0] == ()


def test_count_rows_carry_groups_and_style(store: Store) -> None:
    models(store, "x", "y")
    p = prompt_set(store, "g", [("p0", "algo", "go"), ("p1", None, None)])
    vote(store, battle(store, p[0], "x", "y", style=(10, 1, 2, 3, 20, 0, 0, 1)), A)
    vote(store, battle(store, p[1], "x", "y"), A)
    assert sorted(store.comparison_counts(VoteFilter(), by="category"), key=lambda r: r.category or "") == [
        CountRow("x", "y", "a", 1.0, category=None), CountRow("x", "y", "a", 1.0, category="algo")]
    assert sorted(str(r.language) for r in store.comparison_counts(VoteFilter(), by="language")) == [
        "None", "go"]
    # with style, only battles whose style is known count, and they carry the eight counts
    assert store.comparison_counts(VoteFilter(), style=True) == [
        CountRow("x", "y", "a", 1.0, style=(10, 1, 2, 3, 20, 0, 0, 1))]
    assert store.comparison_counts(VoteFilter(combine="game"), style=True) == [
        CountRow("x", "y", "a", 1.0, style=(10, 1, 2, 3, 20, 0, 0, 1))]
    # prompts without a category form their own group
    assert list(by_group(store, VoteFilter(), NONE, "category")) == ["(none)", "algo"]
