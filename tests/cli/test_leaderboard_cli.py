"""``arena leaderboard`` and ``arena leaderboard matrix`` as users run them.

Three databases are prepared once per module: the demo tournament (``arena demo --keep``: four
sample models, 32 prompts, every pair on every prompt, one pairwise judge playing two games per
battle), a copy of it with a dozen human votes cast in 2020, and, when ``arena import battles``
exists, a Chatbot Arena (fastchat) battle log. Every command line the tests use is run once,
a few at a time, when its database is ready; the tests read the cached results.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import assert_clean_error

REPO = Path(__file__).resolve().parents[2]
ARENA = Path(sys.executable).parent / "arena"
if not ARENA.exists():
    ARENA = REPO / ".venv" / "bin" / "arena"

pytestmark = pytest.mark.skipif(not ARENA.exists(), reason=f"console script {ARENA} not installed")

MODELS = {"sample-sloppy", "sample-solid", "sample-strong", "sample-terse"}
FIELDS = ["model", "rating", "ci_low", "ci_high", "battles", "wins", "ties", "losses", "rank"]
CSV_HEADER = "rank,model,rating,ci_low,ci_high,battles,wins,ties,losses"
CATEGORIES = ["algorithms", "data-processing", "debugging", "explain-code", "refactoring", "sql", "web"]
HUMAN_VOTES = 12
LB = ("leaderboard",)
JSON = (*LB, "--format", "json")
PLAIN = (*JSON, "--method", "none")


# -- running the command -------------------------------------------------------------------
def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_HOME=str(home), NO_COLOR="1", COLUMNS="200")
    return env


class Arena:
    """``arena --db URL ARGS`` in one home, each distinct command line run once."""

    def __init__(self, home: Path, url: str) -> None:
        self.home, self.url = home, url
        self._done: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = {}

    def _run(self, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ARENA), "--db", self.url, *args], env=env_for(self.home),
                              capture_output=True, text=True, timeout=120, cwd=self.home)

    def prefetch(self, calls: Iterable[tuple[str, ...]]) -> None:
        todo = [c for c in dict.fromkeys(calls) if c not in self._done]
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            self._done.update(zip(todo, pool.map(self._run, todo), strict=True))

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        if args not in self._done:
            self._done[args] = self._run(args)
        return self._done[args]

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = self(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc

    def rows(self, *args: str) -> dict[str, dict[str, object]]:
        """The JSON leaderboard of ``leaderboard --format json ARGS``, keyed by model."""
        data = json.loads(self.ok(*JSON, *args).stdout)
        assert isinstance(data, list)
        return {row["model"]: row for row in data}


def caption(proc: subprocess.CompletedProcess[str]) -> str:
    """The caption line the csv and json formats write to stderr."""
    lines = [line for line in proc.stderr.splitlines() if line.startswith(("Bradley-Terry", "online Elo"))]
    assert len(lines) == 1, proc.stderr
    return lines[0]


# -- the prepared databases ----------------------------------------------------------------
DEMO_CALLS: list[tuple[str, ...]] = []
MIXED_CALLS: list[tuple[str, ...]] = []
IMPORTED_CALLS: list[tuple[str, ...]] = []


def calls(registry: list[tuple[str, ...]], *args: str) -> tuple[str, ...]:
    """Declare a command line for the module fixture to run up front; returns it."""
    registry.append(args)
    return args


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("arena-home")


@pytest.fixture(scope="module")
def demo(home: Path) -> Arena:
    proc = subprocess.run([str(ARENA), "demo", "--keep", "--headless"], env=env_for(home), capture_output=True,
                          text=True, timeout=300, cwd=home)
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"^demo database: (sqlite:///\S+)$", proc.stderr, re.M)
    assert found, proc.stderr
    arena = Arena(home, found.group(1))
    arena.prefetch(call if "{plot}" not in " ".join(call) else
                   tuple(a.format(plot=home) for a in call) for call in DEMO_CALLS)
    return arena


@pytest.fixture(scope="module")
def mixed(demo: Arena, home: Path) -> Arena:
    """The demo database plus HUMAN_VOTES human votes (voter alice), cast on 2020-06-01."""
    from sqlalchemy import update

    from arena.domain import Outcome, Vote
    from db.engine import open_database
    from db.repositories import Store
    from db.tables import VoteRow

    path = home / "mixed.db"
    with sqlite3.connect(demo.url.removeprefix("sqlite:///")) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    url = f"sqlite:///{path}"
    engine = open_database(url)
    store = Store(engine)
    outcomes = [Outcome.A, Outcome.B, Outcome.TIE, Outcome.BOTH_BAD]
    for k, battle in enumerate(store.battles(status="ready")[:HUMAN_VOTES]):
        assert store.add_vote(Vote(battle_id=battle.id, judge_kind="human", judge_name="human",
                                   voter="alice", outcome=outcomes[k % 4]))
    with engine.begin() as conn:
        conn.execute(update(VoteRow.__table__)  # type: ignore[arg-type, attr-defined]
                     .where(VoteRow.__table__.c.judge_kind == "human")  # type: ignore[attr-defined]
                     .values(created_at=datetime(2020, 6, 1, 12, tzinfo=UTC)))
    engine.dispose()
    arena = Arena(home, url)
    arena.prefetch(MIXED_CALLS)
    return arena


def votes_of(url: str, where: str = "1 = 1") -> list[tuple[str, str, str, int]]:
    """(model a, model b, outcome, strength) of the counted votes, read with sqlite3."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return conn.execute(
            "SELECT ma.name, mb.name, v.outcome, v.strength FROM votes v "
            "JOIN battles b ON b.id = v.battle_id JOIN models ma ON ma.id = b.model_a_id "
            f"JOIN models mb ON mb.id = b.model_b_id WHERE b.status = 'ready' AND {where}").fetchall()


def tally(games: Iterable[tuple[str, str, str, float]]) -> dict[str, list[float]]:
    """battles, wins, ties (both-bad included), losses per model from (a, b, outcome, weight)."""
    out: dict[str, list[float]] = {}
    for a, b, outcome, w in games:
        for model, side in ((a, "a"), (b, "b")):
            t = out.setdefault(model, [0.0, 0.0, 0.0, 0.0])
            t[0] += w
            t[1 if outcome == side else 2 if outcome in ("tie", "both_bad") else 3] += w
    return out


def records(rows: dict[str, dict[str, object]]) -> dict[str, list[float]]:
    return {m: [float(r["battles"]), float(r["wins"]), float(r["ties"]), float(r["losses"])]  # type: ignore[arg-type]
            for m, r in rows.items()}


# -- formats ---------------------------------------------------------------------------------
DEFAULT_JSON = calls(DEMO_CALLS, *JSON)
CSV = calls(DEMO_CALLS, *LB, "--format", "csv")
MD = calls(DEMO_CALLS, *LB, "--format", "md")
TABLE = calls(DEMO_CALLS, *LB)


def test_json_rows(demo: Arena) -> None:
    proc = demo.ok(*DEFAULT_JSON)
    data = json.loads(proc.stdout)
    assert [list(row) for row in data] == [FIELDS] * 4
    assert {row["model"] for row in data} == MODELS
    ratings = [row["rating"] for row in data]
    assert ratings == sorted(ratings, reverse=True)
    assert sum(ratings) == pytest.approx(4000, abs=0.05)
    for row in data:
        # every pair met on all 32 prompts; the judge's two games make one outcome per battle
        assert row["battles"] == 96
        assert row["wins"] + row["ties"] + row["losses"] == 96
        assert row["ci_low"] < row["rating"] < row["ci_high"]
        assert row["rank"] == 1 + sum(o["ci_low"] > row["ci_high"] for o in data)
    assert sum(row["wins"] for row in data) == sum(row["losses"] for row in data)
    assert caption(proc) == ("Bradley-Terry (base 10, scale 400, mean 1000), 95% bootstrap CI, "
                             "100 rounds, seed 0; votes: all judges, games of a judge combined "
                             "per battle; 192 comparisons")


def test_csv_md_and_table_show_the_same_rows(demo: Arena) -> None:
    by_model = demo.rows()
    lines = demo.ok(*CSV).stdout.splitlines()
    assert lines[0] == CSV_HEADER and len(lines) == 5
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        expected = by_model[row["model"]]
        assert float(row["rating"]) == expected["rating"] and int(row["rank"]) == expected["rank"]
        assert (float(row["ci_low"]), float(row["ci_high"])) == (expected["ci_low"], expected["ci_high"])
        assert int(row["battles"]) == expected["battles"]

    md = demo.ok(*MD).stdout.splitlines()
    assert md[0] == "| " + " | ".join(CSV_HEADER.split(",")) + " |"
    assert md[1] == "|" + "---|" * 9
    assert len([line for line in md if line.startswith("| ") and "sample-" in line]) == 4
    assert md[-1] == caption(demo(*CSV))  # the caption closes the Markdown

    table = demo.ok(*TABLE).stdout
    assert "Leaderboard" in table and "95% CI" in table and "W-T-L" in table
    for model, row in by_model.items():
        line = next(line for line in table.splitlines() if f" {model} " in line)
        assert f"{row['rating']:.1f}" in line
        assert f"{row['wins']:g}-{row['ties']:g}-{row['losses']:g}" in line
    assert "192 comparisons" in table


# -- intervals -------------------------------------------------------------------------------
SEED0 = calls(DEMO_CALLS, *JSON, "--seed", "0", "--rounds", "100")
SEED1 = calls(DEMO_CALLS, *JSON, "--seed", "1")
LEVEL = calls(DEMO_CALLS, *JSON, "--level", "0.8")
SANDWICH_PLOT = calls(DEMO_CALLS, *JSON, "--method", "sandwich", "--plot", "{plot}/ratings.png")


def test_seed_makes_the_intervals_reproducible(demo: Arena) -> None:
    assert demo.ok(*SEED0).stdout == demo.ok(*DEFAULT_JSON).stdout
    base, other = demo.rows(), demo.rows("--seed", "1")
    assert {m: r["rating"] for m, r in other.items()} == {m: r["rating"] for m, r in base.items()}
    assert ({m: (r["ci_low"], r["ci_high"]) for m, r in other.items()}
            != {m: (r["ci_low"], r["ci_high"]) for m, r in base.items()})
    assert "seed 1" in caption(demo(*SEED1))


def test_lower_level_narrows_the_intervals(demo: Arena) -> None:
    wide, narrow = demo.rows(), demo.rows("--level", "0.8")
    for m in MODELS:
        assert narrow[m]["rating"] == wide[m]["rating"]
        assert wide[m]["ci_low"] <= narrow[m]["ci_low"] < narrow[m]["rating"]  # type: ignore[operator]
        assert narrow[m]["rating"] < narrow[m]["ci_high"] <= wide[m]["ci_high"]  # type: ignore[operator]
    assert sum(narrow[m]["ci_high"] - narrow[m]["ci_low"] for m in MODELS) < sum(  # type: ignore[operator]
        wide[m]["ci_high"] - wide[m]["ci_low"] for m in MODELS)  # type: ignore[operator]
    assert "80% bootstrap CI" in caption(demo(*LEVEL))


def test_sandwich_intervals_and_the_ratings_plot(demo: Arena, home: Path) -> None:
    proc = demo.ok(*(a.format(plot=home) for a in SANDWICH_PLOT))
    rows = {r["model"]: r for r in json.loads(proc.stdout)}
    base = demo.rows()
    for m in MODELS:
        assert rows[m]["rating"] == base[m]["rating"]
        assert rows[m]["ci_low"] < rows[m]["rating"] < rows[m]["ci_high"]
    assert "95% sandwich (robust) CI" in caption(proc)
    png = home / "ratings.png"
    assert f"plot saved to {png}" in proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


# -- method none, anchor, Elo, style ---------------------------------------------------------
ANCHORED = calls(DEMO_CALLS, *PLAIN, "--anchor", "sample-solid", "--anchor-rating", "1200")
ELO = calls(DEMO_CALLS, *JSON, "--algorithm", "elo")
STYLE = calls(DEMO_CALLS, *LB, "--format", "csv", "--style", "--rounds", "20")


def test_anchor_pins_a_model_without_intervals(demo: Arena) -> None:
    proc = demo.ok(*ANCHORED)
    rows = {r["model"]: r for r in json.loads(proc.stdout)}
    base = demo.rows()
    assert rows["sample-solid"]["rating"] == 1200.0
    for m in MODELS:
        assert rows[m]["ci_low"] is None and rows[m]["ci_high"] is None
        assert rows[m]["rating"] - 1200 == pytest.approx(
            base[m]["rating"] - base["sample-solid"]["rating"], abs=0.02)  # type: ignore[operator]
    assert sorted(r["rank"] for r in rows.values()) == [1, 2, 3, 4]
    assert caption(proc).startswith("Bradley-Terry (base 10, scale 400, sample-solid pinned at 1200);")


def test_online_elo_counts_each_game(demo: Arena) -> None:
    proc = demo.ok(*ELO)
    rows = {r["model"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == MODELS
    for r in rows.values():
        assert r["ci_low"] is None and r["ci_high"] is None
        assert r["battles"] == 192  # two judge games per battle, each one Elo battle
    assert sorted(r["rank"] for r in rows.values()) == [1, 2, 3, 4]
    assert sum(r["rating"] for r in rows.values()) == pytest.approx(4000, abs=0.05)
    assert caption(proc).startswith("online Elo (K=4, base 10, scale 400, initial 1000; no intervals)")
    assert caption(proc).endswith("; 384 comparisons")


def test_style_control_shows_raw_and_controlled_ratings(demo: Arena) -> None:
    proc = demo.ok(*STYLE)
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(table[0]) == CSV_HEADER.split(",") + ["rating_raw"]
    base = demo.rows()
    assert {r["model"]: float(r["rating_raw"]) for r in table} == {m: r["rating"] for m, r in base.items()}
    assert any(float(r["rating"]) != float(r["rating_raw"]) for r in table)
    assert "style-controlled" in caption(proc)
    coefficients = [line for line in proc.stderr.splitlines() if line.startswith("style coefficients")]
    assert len(coefficients) == 1
    assert re.search(r"tokens [+-]\d\.\d{3}, headers [+-]\d\.\d{3}, lists [+-]\d\.\d{3}, "
                     r"bold [+-]\d\.\d{3}$", coefficients[0])


# -- breakdowns --------------------------------------------------------------------------------
BASELINE = calls(DEMO_CALLS, *JSON, "--baseline", "sample-sloppy")
BY_CATEGORY = calls(DEMO_CALLS, *LB, "--format", "csv", "--by", "category")
MATRIX_JSON = calls(DEMO_CALLS, "leaderboard", "matrix", "--format", "json", "--plot", "{plot}/matrix.png")
MATRIX_CSV = calls(DEMO_CALLS, "leaderboard", "matrix", "--format", "csv")
MATRIX_TABLE = calls(DEMO_CALLS, "leaderboard", "matrix")


def matrix(demo: Arena, home: Path) -> dict[str, object]:
    return json.loads(demo.ok(*(a.format(plot=home) for a in MATRIX_JSON)).stdout)  # type: ignore[no-any-return]


def test_baseline_win_rates(demo: Arena, home: Path) -> None:
    proc = demo.ok(*BASELINE)
    rows = json.loads(proc.stdout)
    m = matrix(demo, home)
    names: list[str] = m["models"]  # type: ignore[assignment]
    base = names.index("sample-sloppy")
    assert {r["model"] for r in rows} == MODELS - {"sample-sloppy"}
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    for r in rows:
        assert r["group"] == "all" and r["battles"] == 32 == r["wins"] + r["ties"] + r["losses"]
        assert r["win_rate"] == round(r["wins"] / 32, 4) and r["tie_rate"] == round(r["ties"] / 32, 4)
        assert r["score"] == round((r["wins"] + r["ties"] / 2) / 32, 4)
        assert r["score_low"] <= r["score"] <= r["score_high"]
        # the same record as the pairwise matrix's
        i = names.index(r["model"])
        assert m["battles"][i][base] == 32  # type: ignore[index]
        assert m["win_fraction"][i][base] == pytest.approx(r["score"], abs=1e-4)  # type: ignore[index]
    assert "against sample-sloppy: score = (wins + ½ ties) / battles, 95% bootstrap interval " \
           "(1000 rounds, seed 0)" in proc.stderr


def test_one_column_per_category(demo: Arena) -> None:
    proc = demo.ok(*BY_CATEGORY)
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(table[0]) == ["model", *CATEGORIES]
    assert {r["model"] for r in table} == MODELS
    for r in table:
        for c in CATEGORIES:
            assert re.fullmatch(r"\d+ \(\d+–\d+\)", r[c]), r[c]
    assert "fitted separately per category" in proc.stderr


def test_matrix_formats_and_heatmap(demo: Arena, home: Path) -> None:
    m = matrix(demo, home)
    names: list[str] = m["models"]  # type: ignore[assignment]
    frac: list[list[float]] = m["win_fraction"]  # type: ignore[assignment]  # None on the diagonal
    battles: list[list[float]] = m["battles"]  # type: ignore[assignment]
    assert names == sorted(MODELS)
    rows = demo.rows()
    for i, a in enumerate(names):
        assert frac[i][i] is None and battles[i][i] == 0
        for j in range(len(names)):
            if i != j:
                assert battles[i][j] == battles[j][i] == 32
                assert frac[i][j] + frac[j][i] == pytest.approx(1, abs=2e-4)
        # ties count half: the row sums give each model's wins + ½ ties
        score = sum(frac[i][j] * battles[i][j] for j in range(len(names)) if j != i)
        assert score == pytest.approx(rows[a]["wins"] + rows[a]["ties"] / 2, abs=0.02)  # type: ignore[operator]
    png = home / "matrix.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000

    blocks = demo.ok(*MATRIX_CSV).stdout.strip().split("\n\n")
    assert len(blocks) == 2
    fractions, counts = (list(csv.reader(io.StringIO(b))) for b in blocks)
    assert fractions[0] == ["win fraction (row beats column, ties half)", *names]
    assert counts[0] == ["battles", *names]
    assert [row[0] for row in fractions[1:]] == names
    assert fractions[1][1] == "" and float(fractions[1][2]) == pytest.approx(frac[0][1], abs=1e-3)
    assert counts[1][1:] == ["0", "32", "32", "32"]

    table = demo.ok(*MATRIX_TABLE).stdout
    assert "win fraction (row beats column, ties half)" in table and "battles" in table
    assert all(name in table for name in names)


# -- filters -----------------------------------------------------------------------------------
SUBSET = calls(DEMO_CALLS, *PLAIN, "--set", "demo", "--category", "algorithms", "--language", "python")


def test_set_category_and_language_filters(demo: Arena) -> None:
    rows = demo.rows("--method", "none", "--set", "demo", "--category", "algorithms", "--language", "python")
    # four python algorithm prompts, each with all six pairs: 12 battles per model
    assert set(rows) == MODELS and all(r["battles"] == 12 for r in rows.values())
    assert "24 comparisons" in caption(demo(*SUBSET))


JUDGE = calls(MIXED_CALLS, *PLAIN, "--judge", "demo-judge")
HUMAN = calls(MIXED_CALLS, *PLAIN, "--judge", "human")
UNTIL = calls(MIXED_CALLS, *PLAIN, "--until", "2021-01-01")
SINCE = calls(MIXED_CALLS, *PLAIN, "--since", "2021-01-01T00:00:00+00:00")
GAME = calls(MIXED_CALLS, *PLAIN, "--combine", "game", "--strong-weight", "3")


def test_judge_selection(mixed: Arena) -> None:
    judge = mixed.rows("--method", "none", "--judge", "demo-judge")
    assert all(r["battles"] == 96 for r in judge.values())
    assert "votes: demo-judge, games of a judge combined per battle; 192 comparisons" in caption(mixed(*JUDGE))
    humans = mixed.rows("--method", "none", "--judge", "human")
    expected = tally((a, b, o, 1.0) for a, b, o, _ in votes_of(mixed.url, "v.judge_kind = 'human'"))
    assert records(humans) == expected
    assert sum(t[0] for t in expected.values()) == 2 * HUMAN_VOTES
    assert "votes: human, games of a judge combined per battle; 12 comparisons" in caption(mixed(*HUMAN))


def test_since_and_until(mixed: Arena) -> None:
    assert mixed.ok(*UNTIL).stdout == mixed.ok(*HUMAN).stdout
    assert mixed.ok(*SINCE).stdout == mixed.ok(*JUDGE).stdout


def test_combine_game_with_strong_weight(mixed: Arena) -> None:
    proc = mixed.ok(*GAME)
    rows = {r["model"]: r for r in json.loads(proc.stdout)}
    expected = tally((a, b, o, 3.0 if s >= 2 else 1.0) for a, b, o, s in votes_of(mixed.url))
    assert {m: [r["battles"], r["wins"], r["ties"], r["losses"]] for m, r in rows.items()} == {
        m: [round(t[0]), *t[1:]] for m, t in expected.items()}
    total = sum(3.0 if s >= 2 else 1.0 for *_, s in votes_of(mixed.url))
    assert caption(proc).endswith(f"votes: all judges, each game counted (strong verdicts ×3); "
                                  f"{total:g} comparisons")


# -- bad values ----------------------------------------------------------------------------------
ERRORS = {
    calls(DEMO_CALLS, *LB, "--format", "xml"): "--format",
    calls(DEMO_CALLS, *LB, "--combine", "x"): "--combine",
    calls(DEMO_CALLS, *LB, "--since", "notadate"): "--since: 'notadate' is not a date",
    calls(DEMO_CALLS, *LB, "--anchor", "nosuchmodel"): "--anchor: 'nosuchmodel'",
}


@pytest.mark.parametrize("args", list(ERRORS), ids=lambda a: " ".join(a[1:]))
def test_bad_values_are_one_clean_error(demo: Arena, args: tuple[str, ...]) -> None:
    line = assert_clean_error(demo(*args))
    assert ERRORS[args] in line
    assert demo(*args).stdout == ""


# -- a Chatbot Arena battle log ------------------------------------------------------------------
PAIRS = [("m1", "m2"), ("m2", "m3"), ("m1", "m3")]
WINNERS = ["model_a", "model_b", "model_a", "tie", "model_b", "model_a", "tie (bothbad)"]
SIDE = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "both_bad"}
JAN_2024 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


def fastchat_records() -> list[dict[str, object]]:
    """60 battles of m1, m2, m3: python prompts (q0, q2, ...) on even k, go on odd k; the
    first 30 in May 2023, the rest in January 2024; style counts in conv_metadata."""
    out: list[dict[str, object]] = []
    for k in range(60):
        a, b = PAIRS[k % 3] if k % 2 == 0 else PAIRS[k % 3][::-1]
        out.append({
            "question_id": f"q{k % 10}", "model_a": a, "model_b": b, "winner": WINNERS[k % 7],
            "judge": f"arena_user_{k % 4}", "turn": 1, "anony": True,
            "language": "Python" if k % 2 == 0 else "Go",
            "tstamp": (1683000000 if k < 30 else JAN_2024) + 3600 * k,
            "conv_metadata": {
                "sum_assistant_a_tokens": 20 + (37 * k) % 380, "sum_assistant_b_tokens": 20 + (53 * k) % 380,
                "header_count_a": {"h1": k % 3, "h2": (k // 3) % 2}, "header_count_b": {"h1": (k + 1) % 3},
                "list_count_a": {"ordered": k % 4}, "list_count_b": {"ordered": (k * 7) % 5},
                "bold_count_a": {"**": (k // 2) % 3}, "bold_count_b": {"**": (k * 5) % 3}}})
    return out


def expected_tally(keep: Callable[[dict[str, object]], bool] = lambda r: True) -> dict[str, list[float]]:
    return tally((str(r["model_a"]), str(r["model_b"]), SIDE[str(r["winner"])], 1.0)
                 for r in fastchat_records() if keep(r))


IMP_HUMAN_STYLE = calls(IMPORTED_CALLS, *PLAIN, "--judge", "human", "--style")
IMP_GO_2024 = calls(IMPORTED_CALLS, *PLAIN, "--language", "go", "--since", "2024-01-01")
IMP_ELO_GO_2024 = calls(IMPORTED_CALLS, *JSON, "--algorithm", "elo", "--language", "go", "--since", "2024-01-01")


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Arena:
    home = tmp_path_factory.mktemp("arena-import")
    arena = Arena(home, f"sqlite:///{home / 'x.db'}")
    path = home / "battles.json"
    path.write_text(json.dumps(fastchat_records()), encoding="utf-8")
    proc = arena("import", "battles", str(path), "--format", "fastchat")
    if proc.returncode == 2 and "No such command 'import'" in proc.stderr:
        pytest.skip("`arena import battles` is not available in this checkout")
    assert proc.returncode == 0, proc.stderr
    assert "60 records" in proc.stderr
    arena.prefetch(IMPORTED_CALLS)
    return arena


def test_imported_battles_are_human_votes_with_style(imported: Arena) -> None:
    """Each record is one human vote (so ``--judge human`` selects them all) carrying the
    style counts of its conv_metadata."""
    proc = imported.ok(*IMP_HUMAN_STYLE)
    rows = {r["model"]: r for r in json.loads(proc.stdout)}
    assert records(rows) == expected_tally()
    assert all(r["battles"] == 40 for r in rows.values())
    assert all(r["rating_raw"] is not None for r in rows.values())
    assert any(r["rating"] != r["rating_raw"] for r in rows.values())
    assert caption(proc).endswith("style-controlled; votes: human, games of a judge combined per "
                                  "battle; 60 comparisons")
    assert "style coefficients" in proc.stderr


def test_imported_battles_filter_by_language_and_time(imported: Arena) -> None:
    def go_2024(r: dict[str, object]) -> bool:
        return r["language"] == "Go" and float(r["tstamp"]) >= JAN_2024  # type: ignore[arg-type]

    expected = expected_tally(go_2024)
    assert sum(t[0] for t in expected.values()) == 30  # 15 battles
    assert records(imported.rows("--method", "none", "--language", "go", "--since", "2024-01-01")) == expected
    # online Elo applies the same filters
    elo = {r["model"]: r for r in json.loads(imported.ok(*IMP_ELO_GO_2024).stdout)}
    assert records(elo) == expected
    assert caption(imported(*IMP_ELO_GO_2024)).endswith("; 15 comparisons")
