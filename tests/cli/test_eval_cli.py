"""``arena eval humaneval|mbpp`` as users run it: a model behind the OpenAI-protocol test
server, three tasks, results in the database and a pass@1 column on the leaderboard; bad
input ends with one ``error:`` line and exit code 2, storing nothing."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.domain import Outcome, Usage, Vote
from arena.testing.openai_server import Fault, OpenAITestServer
from db.engine import open_database
from db.repositories import PromptIn, Store

pytest.importorskip("evalplus.sanitize", reason="arena eval needs the eval extra (evalplus)")

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
HUMANEVAL = SHARED / "humanevalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"
MBPP = SHARED / "mbppplus" / "MbppPlus-v0.2.0.jsonl.gz"
pytestmark = [pytest.mark.skipif(not (HUMANEVAL.exists() and MBPP.exists()),
                                 reason=f"evalplus datasets not found under {SHARED} (see its README)"),
              pytest.mark.timeout(300)]


def answers() -> dict[str, str]:
    """The canonical solution of the first three tasks of each benchmark, by prompt text."""
    from arena.services.evaluation_data import task_prompt

    out = {}
    for benchmark, path in (("humaneval", HUMANEVAL), ("mbpp", MBPP)):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line, _ in zip(fh, range(3), strict=False):
                task = json.loads(line)
                code = task["prompt"] + task["canonical_solution"]
                out[task_prompt(benchmark, task)] = f"Sure.\n\n```python\n{code}\n```\n"
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAITestServer]:
    table = answers()
    with OpenAITestServer(responder=lambda model, messages: table.get(
            messages[-1]["content"], "no idea")) as srv:
        yield srv


@pytest.fixture
def home(tmp_path: Path, server: OpenAITestServer) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    models = "".join(f'[models.{m}]\nprovider = "openai"\nbase_url = "{server.url}"\nmax_retries = 0\n\n'
                     for m in ("alpha", "beta"))
    (home / "arena.toml").write_text(models)
    return home


def arena(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("ARENA_") and k not in ("HUMANEVAL_OVERRIDE_PATH", "MBPP_OVERRIDE_PATH")}
    environ.update(ARENA_HOME=str(home), NO_COLOR="1", COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "arena.cli.main", *args], env=environ, capture_output=True,
                          text=True, timeout=240, cwd=home)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


def store(home: Path) -> Store:
    return Store(open_database(f"sqlite:///{home / 'arena.db'}"))


def battles(home: Path) -> None:
    """A few judged battles between alpha and beta, so both are on the leaderboard."""
    s = store(home)
    s.import_prompts("s", "f.jsonl", [PromptIn(f"p{i}", f"question {i}") for i in range(4)])
    for m in ("alpha", "beta"):
        s.ensure_model(m, "openai", m, {})
    pairs = [(p.id, "alpha", "beta") for p in s.prompts("s")]
    for i, b in enumerate(s.ensure_battles(pairs, None)):
        ga = s.save_generation(b.prompt_id, "alpha", "a", Usage(), {}, None, "stop")
        gb = s.save_generation(b.prompt_id, "beta", "b", Usage(), {}, None, "stop")
        s.set_battle_generations(b.id, ga.id, gb.id, "ready")
        s.add_vote(Vote(battle_id=b.id, judge_kind="pairwise", judge_name="j",
                        outcome=Outcome.A if i % 3 else Outcome.B))
    s.engine.dispose()


def leaderboard(home: Path) -> dict[str, dict]:
    out = ok(arena(home, "leaderboard", "--format", "json", "--method", "none")).stdout
    return {row["model"]: row for row in json.loads(out)}


def test_eval_stores_results_and_the_leaderboard_shows_pass_at_1(home: Path,
                                                                  server: OpenAITestServer) -> None:
    battles(home)
    assert "humaneval_plus_pass_at_1" not in leaderboard(home)["alpha"]  # no results: no column

    proc = ok(arena(home, "eval", "humaneval", "--model", "alpha", "--limit", "3",
                    "--dataset", str(HUMANEVAL)))
    assert "HumanEval+ · alpha" in proc.stdout and "base + plus" in proc.stdout
    assert proc.stdout.count("100.0") == 2 and "dataset v0.1.10 (md5 fe585eb4)" in proc.stdout
    assert "expected outputs of 3 tasks computed" in proc.stderr

    # one model call fails for good: recorded, counted as a failed sample
    server.set_faults([Fault("500", model="alpha", times=1)])
    proc = ok(arena(home, "eval", "humaneval", "--model", "alpha", "--limit", "3", "--json",
                    "--dataset", str(HUMANEVAL)))
    server.set_faults(None)
    result = json.loads(proc.stdout)
    assert result["generation_failures"] == 1 and result["tasks"] == 3
    assert result["scores"]["plus"]["pass_at_1"] == pytest.approx(2 / 3)
    assert sum("errors" in t for t in result["per_task"]) == 1
    assert "1 of 3 model calls failed; they count as failed samples" in proc.stderr
    assert "expected outputs" not in proc.stderr  # cached by the first run

    # MBPP+, base tests only, dataset from evalplus's variable
    proc = ok(arena(home, "eval", "mbpp", "--model", "beta", "--limit", "3", "--base",
                    MBPP_OVERRIDE_PATH=str(MBPP)))
    assert "MBPP+ · beta" in proc.stdout and "base + plus" not in proc.stdout

    s = store(home)
    rows = s.eval_results()
    assert [(r.model, r.benchmark, r.variant) for r in rows[:1]] == [("beta", "mbpp", "base")]
    assert sorted((r.model, r.benchmark, r.variant, round(r.pass_at_1, 4)) for r in rows) == [
        ("alpha", "humaneval", "base", 0.6667), ("alpha", "humaneval", "base", 1.0),
        ("alpha", "humaneval", "plus", 0.6667), ("alpha", "humaneval", "plus", 1.0),
        ("beta", "mbpp", "base", 1.0)]
    assert rows[0].config["limit"] == 3 and rows[0].config["temperature"] == 0.0
    assert rows[0].dataset_hash == "ee43ecabebf20deef4bb776a405ac5b1"
    s.engine.dispose()

    board = leaderboard(home)
    assert board["alpha"]["humaneval_plus_pass_at_1"] == 0.6667  # the latest result
    assert board["beta"]["humaneval_plus_pass_at_1"] is None  # no HumanEval+ result
    table = ok(arena(home, "leaderboard", "--method", "none")).stdout
    assert "HE+ pass@1" in table and "66.7" in table


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--model", "nobody"], {}, "no model named 'nobody' in [models] (configured: alpha, beta)"),
    (["--model", "alpha", "--dataset", "missing.jsonl"], {}, "--dataset: missing.jsonl: no such file"),
    (["--model", "alpha"], {"HUMANEVAL_OVERRIDE_PATH": "gone.jsonl.gz"},
     "HUMANEVAL_OVERRIDE_PATH=gone.jsonl.gz: no such file"),
    (["--model", "alpha", "--samples", "0"], {}, "--samples: must be at least 1, got 0"),
    (["--model", "alpha", "--limit", "0"], {}, "--limit: must be at least 1, got 0"),
])
def test_bad_input_is_one_error_line_and_exit_2(home: Path, args: list[str], env: dict[str, str],
                                               message: str) -> None:
    proc = arena(home, "eval", "humaneval", *args, **env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert proc.stdout == ""
    assert not (home / "arena.db").exists() or store(home).eval_results() == []


def test_a_run_where_every_call_fails_stores_nothing(home: Path, server: OpenAITestServer) -> None:
    server.set_faults([Fault("500", model="beta")])
    try:
        proc = arena(home, "eval", "mbpp", "--model", "beta", "--limit", "2", "--dataset", str(MBPP))
    finally:
        server.set_faults(None)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: every model call failed (2), so there is no score to store")
    assert "500" in last
    assert store(home).eval_results() == []
