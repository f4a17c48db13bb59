"""The whole headless loop against the real OpenAI-protocol test server.

Three models and a judge are all served by the local test server; a 3-model × 30-prompt
tournament must end with 90 battles and 180 judge games, survive kill -9 half way, and
turn injected faults into retried successes or recorded failures, never a vote for a
failed side.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from arena.config import ArenaConfig, load_config
from arena.providers.retry import Backoff
from arena.services.battles import BattleRunner
from arena.services.planning import make_plan
from arena.services.prompts import import_prompt_file
from arena.testing.openai_server import Fault, OpenAITestServer
from db.engine import open_database
from db.repositories import Store

ROOT = Path(__file__).resolve().parents[2]
ARENA = [sys.executable, "-m", "arena.cli.main"]
PLANTED_KEY = "sk-planted-DO-NOT-LEAK-0123456789abcdef"
LANGS = ["python", "go", "rust", "sql", "typescript", "java"]
CATS = ["debugging", "algorithms", "refactoring", "explain-code", "web", "sql"]


def write_prompts(path: Path, n: int = 30) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"q{i:02d}", "prompt": f"Task {i}: write a helper number {i}.",
                                 "category": CATS[i % 6], "language": LANGS[i % 6]}) + "\n")
    return path


def write_config(path: Path, url: str, *, max_retries: int = 4, timeout: float = 10.0) -> Path:
    models = "".join(
        f'[models.{m}]\nprovider = "openai"\nmodel = "{m}"\nbase_url = "{url}"\n'
        f'api_key_env = "ARENA_TEST_KEY"\nmax_retries = {max_retries}\ntimeout = {timeout}\n'
        'price = { input_per_mtok = 1.0, output_per_mtok = 3.0 }\n\n'
        for m in ("alpha", "bravo", "charlie", "judge-model"))
    path.write_text(models + '[judges.pw]\nkind = "pairwise"\nmodel = "judge-model"\n')
    return path


def table_counts(url: str) -> dict[str, int]:
    return Store(open_database(url)).counts()


def duplicate_rows(url: str) -> int:
    engine = open_database(url)
    queries = [
        "SELECT COUNT(*) FROM (SELECT prompt_id, model_id, sample_index FROM generations "
        "GROUP BY prompt_id, model_id, sample_index HAVING COUNT(*) > 1) d",
        "SELECT COUNT(*) FROM (SELECT prompt_id, pair_key, slot FROM battles "
        "GROUP BY prompt_id, pair_key, slot HAVING COUNT(*) > 1) d",
        "SELECT COUNT(*) FROM (SELECT battle_id, judge_name, voter, game FROM votes "
        "GROUP BY battle_id, judge_name, voter, game HAVING COUNT(*) > 1) d",
    ]
    with engine.connect() as conn:
        return sum(conn.execute(text(q)).scalar_one() for q in queries)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ARENA_HOME": str(tmp_path / "home"), "ARENA_TEST_KEY": PLANTED_KEY,
            "PYTHONPATH": str(ROOT)}


def cli(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ARENA, *args], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT, **kw)  # type: ignore[call-overload]


@pytest.mark.slow
def test_tournament_survives_kill_9_and_resumes_exactly(tmp_path: Path, env: dict[str, str]) -> None:
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    with OpenAITestServer(latency=0.03, tokens_per_second=2000, chunk_tokens=4) as server:
        cfg = write_config(tmp_path / "arena.toml", server.url)
        prompts = write_prompts(tmp_path / "prompts.jsonl")
        base = ["--config", str(cfg), "--db", db]
        assert cli([*base, "prompts", "import", str(prompts), "--set", "t30"], env).returncode == 0
        run = [*base, "battle", "run", "--models", "alpha,bravo,charlie", "--prompts", "t30",
               "--judge", "pw", "--concurrency", "4"]
        proc = subprocess.Popen([*ARENA, *run], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                votes = table_counts(db)["votes"]
            except Exception:  # the schema may not exist yet
                continue
            if votes >= 40:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        partial = table_counts(db)
        assert 0 < partial["votes"] < 180, "the kill should land half way"
        done = cli([*run, "--json"], env)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["votes_new"] + summary["votes_existing"] == 180
        assert summary["votes_new"] == 180 - partial["votes"]
        first = table_counts(db)
        assert (first["battles"], first["votes"], first["generations"]) == (90, 180, 90)
        assert first["void_battles"] == first["failed_generations"] == first["judge_failures"] == 0
        again = cli([*run, "--json"], env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["votes_new"] == 0
        assert table_counts(db) == first
        assert duplicate_rows(db) == 0
        # every battle was judged in both orders
        engine = open_database(db)
        with engine.connect() as conn:
            games = conn.execute(text("SELECT game, COUNT(*) FROM votes GROUP BY game")).all()
        assert sorted(games) == [(0, 90), (1, 90)]

        # the planted key reaches no table, log or export
        lb = cli([*base, "leaderboard", "--format", "json"], env)
        show = cli([*base, "battles", "show", "1", "--format", "json"], env)
        assert lb.returncode == 0 and show.returncode == 0
        rows = json.loads(lb.stdout)
        assert {r["model"] for r in rows} == {"alpha", "bravo", "charlie"}
        assert sum(r["battles"] for r in rows) == 2 * 90  # games of a judge combine per battle
        haystacks = [lb.stdout, show.stdout, done.stderr, done.stdout]
        for path in Path(env["ARENA_HOME"]).rglob("*"):
            if path.is_file():
                haystacks.append(path.read_bytes().decode("utf-8", "replace"))
        for path in tmp_path.glob("arena.db*"):
            haystacks.append(path.read_bytes().decode("utf-8", "replace"))
        assert all(PLANTED_KEY not in h for h in haystacks)
        assert any("models" in h for h in haystacks)  # the search did look at the database


def _config(url: str, tmp_path: Path, **kw: object) -> ArenaConfig:
    os.environ["ARENA_TEST_KEY"] = PLANTED_KEY
    return load_config(write_config(tmp_path / "arena.toml", url, **kw))  # type: ignore[arg-type]


async def test_injected_faults_end_as_retries_or_recorded_failures(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("arena.providers.openai_compat.Backoff", lambda: Backoff(base=0.01, cap=0.02))
    faults = [
        Fault("429", probability=0.08, retry_after=0.01),
        Fault("500", probability=0.06),
        Fault("cut", probability=0.05),
        Fault("malformed", probability=0.05),
        Fault("empty", probability=0.04),
        Fault("hang", probability=0.02, hang_seconds=3.0),
        # charlie is down for good on its first 12 requests: those answers fail outright
        Fault("500", model="charlie", times=12),
    ]
    with OpenAITestServer(latency=0.0, faults=faults, seed=7) as server:
        config = _config(server.url, tmp_path, max_retries=2, timeout=0.5)
        store = Store(open_database(db_url))
        import_prompt_file(store, write_prompts(tmp_path / "p.jsonl"), "jsonl", "t30")
        plan = make_plan(store, config, ["alpha", "bravo", "charlie"], "t30", "pw")
        summary = await BattleRunner(store, config).run(plan, concurrency=16)
        fired = dict(server.faults_fired)
    assert set(fired) >= {"429", "500", "cut", "malformed", "empty"}
    counts = store.counts()
    assert counts["battles"] == 90
    assert counts["failed_generations"] >= 1 and summary.generation_failures >= 1
    assert counts["void_battles"] == summary.void >= 1
    assert counts["votes"] + summary.judge_failures >= 2 * summary.ready
    # no vote is ever attached to a battle with a failed side
    engine = store.engine
    with engine.connect() as conn:
        bad = conn.execute(text(
            "SELECT COUNT(*) FROM votes v JOIN battles b ON b.id = v.battle_id "
            "LEFT JOIN generations ga ON ga.id = b.generation_a_id "
            "LEFT JOIN generations gb ON gb.id = b.generation_b_id "
            "WHERE b.status != 'ready' OR ga.error IS NOT NULL OR gb.error IS NOT NULL")).scalar_one()
        errors = [r[0] for r in conn.execute(text("SELECT error FROM generations WHERE error IS NOT NULL"))]
    assert bad == 0
    # charlie's forced 500s fail some of its answers for good; the recorded cause is the last
    # attempt's, which a random fault of the same run may have taken over
    assert any(e.startswith("charlie: ") for e in errors)
    # random faults may also exhaust a call's three attempts: recorded with model and cause
    assert all(re.match(r"^(alpha|bravo|charlie): .+ \(after 3 attempts\)$", e) for e in errors)

    # a second run with the fault gone retries what failed and completes the tournament
    with OpenAITestServer(latency=0.0) as server2:
        config2 = _config(server2.url, tmp_path)
        plan2 = make_plan(store, config2, ["alpha", "bravo", "charlie"], "t30", "pw")
        assert len(plan2.to_generate) == counts["failed_generations"]
        await BattleRunner(store, config2).run(plan2, concurrency=16)
    final = store.counts()
    assert final["void_battles"] == 0 and final["battles"] == 90 and final["votes"] == 180
    assert final["generations"] == 90


async def test_judge_run_judges_only_what_lacks_votes(tmp_path: Path, db_url: str) -> None:
    with OpenAITestServer(latency=0.0) as server:
        config = _config(server.url, tmp_path)
        store = Store(open_database(db_url))
        import_prompt_file(store, write_prompts(tmp_path / "p.jsonl", 6), "jsonl", "six")
        plan = make_plan(store, config, ["alpha", "bravo"], "six", None)
        first = await BattleRunner(store, config).run(plan)
        assert (first.ready, first.votes_new, store.counts()["votes"]) == (6, 0, 0)
        judged = await BattleRunner(store, config).judge_battles("pw", set_name="six")
        assert (judged.votes_new, judged.votes_existing) == (12, 0)
        again = await BattleRunner(store, config).judge_battles("pw")
        assert (again.votes_new, again.votes_existing) == (0, 12)
        assert server.requests["judge-model"] == 12
    votes = store.votes()
    assert {(v.judge_name, v.judge_kind) for v in votes} == {("pw", "pairwise")}
    assert all(v.raw and v.rationale is not None for v in votes)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resume_completes(tmp_path: Path, env: dict[str, str]) -> None:
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    with OpenAITestServer(latency=0.05, tokens_per_second=1000, chunk_tokens=4) as server:
        cfg = write_config(tmp_path / "arena.toml", server.url)
        base = ["--config", str(cfg), "--db", db]
        assert cli([*base, "prompts", "import", str(write_prompts(tmp_path / "p.jsonl", 12)),
                    "--set", "t"], env).returncode == 0
        run = [*base, "battle", "run", "--models", "alpha,bravo,charlie", "--prompts", "t",
               "--judge", "pw", "--concurrency", "2"]
        proc = subprocess.Popen([*ARENA, *run], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                if table_counts(db)["votes"] >= 6:
                    break
            except Exception:
                continue
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        runs = Store(open_database(db)).runs()
        assert [r["status"] for r in runs] == ["interrupted"]
        partial = table_counts(db)["votes"]
        assert 0 < partial < 72
        done = cli([*run, "--json"], env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["votes_new"] == 72 - partial
        assert [r["status"] for r in Store(open_database(db)).runs()] == ["finished"]
