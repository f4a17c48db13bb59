"""Every judge kind end to end through the installed ``arena`` command.

The LLM judges talk to the OpenAI-protocol test server (the preference model through
``top_logprobs``), the local preference model is a tiny transformers model built on the
spot, and the execution judge runs the demo pack's real tests and the HumanEvalPack pairs.
Malformed judge output of every kind ends as recorded failures, never as votes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import assert_clean_error

from arena.testing.openai_server import OpenAITestServer
from db.engine import open_database
from db.repositories import Store

REPO = Path(__file__).resolve().parents[2]
ARENA = Path(sys.executable).parent / "arena"
if not ARENA.exists():
    ARENA = REPO / ".venv" / "bin" / "arena"
DEMO = REPO / "assets" / "demo" / "prompts.jsonl"
HEP = REPO.parent / "shared" / "data" / "humanevalpack" / "humanevalpack-python.jsonl.gz"
MODELS = "sample-strong,sample-solid,sample-sloppy"

pytestmark = [pytest.mark.skipif(not ARENA.exists(), reason=f"console script {ARENA} not installed"),
              pytest.mark.timeout(300)]
pytest.importorskip("evalplus.sanitize", reason="the execution judge needs the eval extra")


def config_text(url: str, *, local_model: Path | None = None) -> str:
    text = f"""
[models.jm]
provider = "openai"
base_url = "{url}"
max_retries = 0

[judges.pw]
model = "jm"
max_attempts = 2

[judges.ufb]
kind = "rubric"
model = "jm"
max_attempts = 2

[judges.ref]
kind = "reference"
model = "jm"
max_attempts = 2

[judges.pm]
kind = "preference-model"
model = "jm"
max_attempts = 2

[judges.pmgen]
kind = "preference-model"
model = "jm"
mode = "generative"
max_attempts = 2

[judges.exec]
kind = "execution"
timeout = 5

[judges.exec-then-pw]
kind = "execution"
fallback = "pw"

[judges.maj]
kind = "majority"
judges = ["pw", "pm", "exec"]

[judges.ufb-read]
kind = "rubric"
model = "jm"
preference = "readability"
max_attempts = 2

[judges.read-then-pw]
kind = "cascade"
judges = ["ufb-read", "pw"]
"""
    if local_model is not None:
        text += f"""
[models.tinypm]
provider = "hf"
path = "{local_model}"
device = "cpu"

[judges.pmlocal]
kind = "preference-model"
model = "tinypm"
"""
    return text


def arena(home: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_HOME=str(home), NO_COLOR="1", COLUMNS="200")
    return subprocess.run([str(ARENA), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=home)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    return proc.stdout


def store(home: Path) -> Store:
    return Store(open_database(f"sqlite:///{home / 'arena.db'}"))


@pytest.fixture(scope="module")
def arena_home(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path):  # type: ignore[no-untyped-def]
    """A home with the demo pack battled by three replay models (96 ready battles)."""
    home = tmp_path_factory.mktemp("judges-cli")
    with OpenAITestServer() as server:
        (home / "arena.toml").write_text(config_text(server.url, local_model=tiny_llama))
        ok(arena(home, "prompts", "import", str(DEMO)))
        ok(arena(home, "battle", "run", "--models", MODELS, "--prompts", "prompts"))
        yield home, server


def run_judge(home: Path, *args: str) -> dict:
    out = ok(arena(home, "judge", "run", *args, "--json"))
    return json.loads(out[out.index("{"):])


@pytest.mark.parametrize(("args", "votes", "name"), [
    (("--judge", "pw"), 192, "pw"),  # two games per battle
    (("--judge", "ufb", "--preference", "readability"), 96, "ufb/readability"),
    (("--judge", "ref"), 96, "ref"),  # every demo prompt has a reference answer
    (("--judge", "pm"), 192, "pm"),
    (("--judge", "pm", "--preference", "security"), 192, "pm/security"),
    (("--judge", "pmgen"), 192, "pmgen"),
    (("--judge", "exec"), 36, "exec"),  # the 12 prompts with tests × 3 pairs
    (("--judge", "exec-then-pw"), 96, "exec-then-pw"),
    (("--judge", "maj"), 96, "maj"),
])
def test_each_judge_kind_votes_through_the_cli(arena_home, args: tuple[str, ...], votes: int,  # type: ignore[no-untyped-def]
                                               name: str) -> None:
    home, _ = arena_home
    summary = run_judge(home, *args)
    assert summary["judge_failures"] == 0, summary
    assert summary["votes_new"] + summary["votes_existing"] == votes
    stored = store(home).votes(judge_names=[name])
    assert len(stored) == votes
    again = run_judge(home, *args)  # resuming: nothing new to do
    assert again["votes_new"] == 0 and again["scored"] == 0


def test_answer_judges_inside_a_cascade_keep_their_ratings(arena_home) -> None:  # type: ignore[no-untyped-def]
    home, _ = arena_home
    summary = run_judge(home, "--judge", "read-then-pw")
    assert summary["judge_failures"] == 0 and summary["votes_new"] == 96
    ratings = store(home).answer_ratings("ufb-read/readability")  # a rubric's name + preference
    assert len(ratings) == 96  # 32 prompts x 3 models: every answer, once
    assert all(r.ok and 1 <= r.score <= 5 and r.preference == "readability"  # type: ignore[operator]
               and r.judge_kind == "rubric" and r.rationale for r in ratings.values())
    votes = store(home).votes(judge_names=["read-then-pw"])
    assert sum(1 for v in votes if json.loads(v.raw or "{}").get("decided_by") == "ufb-read/readability") > 0
    # the rubric judge run alone reuses them: no call, one derived vote per battle
    alone = run_judge(home, "--judge", "ufb-read")
    assert (alone["scored"], alone["votes_new"], alone["judge_failures"]) == (0, 96, 0)
    cascade_said = {v.battle_id: json.loads(v.raw or "{}")["members"][0]["outcome"] for v in votes}
    alone_said = {v.battle_id: v.outcome.value for v in store(home).votes(judge_names=["ufb-read/readability"])}
    assert cascade_said == alone_said


def test_preference_model_votes_keep_the_probability(arena_home) -> None:  # type: ignore[no-untyped-def]
    home, _ = arena_home
    run_judge(home, "--judge", "pm")
    probs = [v.probability for v in store(home).votes(judge_names=["pm"])]
    assert probs and all(p is not None and 0.0 < p < 1.0 for p in probs)
    assert {round(p, 3) for p in probs if p is not None} <= {0.158, 0.842}  # 0.8 vs 0.15


def test_local_preference_model_judges_battles(arena_home) -> None:  # type: ignore[no-untyped-def]
    home, _ = arena_home
    summary = run_judge(home, "--judge", "pmlocal", "--set", "prompts")
    assert summary["judge_failures"] == 0 and summary["votes_new"] == 192
    probs = [v.probability for v in store(home).votes(judge_names=["pmlocal"])]
    assert all(p is not None and 0 < p < 1 for p in probs)


def test_report_shows_means_per_preference_and_execution_outcomes(arena_home) -> None:  # type: ignore[no-untyped-def]
    home, _ = arena_home
    run_judge(home, "--judge", "exec")
    run_judge(home, "--judge", "ref")
    data = json.loads(ok(arena(home, "judges", "report", "--format", "json")))
    by_judge = {s["judge"]: s for s in data["scores"]}
    strong = by_judge["exec"]["models"]["sample-strong"]
    assert strong["overall"] == {"n": 12, "failures": 0, "mean": 1.0, "mean_ok": 1.0}
    assert by_judge["exec"]["models"]["sample-sloppy"]["outcomes"] == {"failed": 12}
    ref = by_judge["ref"]["models"]["sample-solid"]
    assert ref["overall"]["n"] == 32 and 1 <= ref["overall"]["mean"] <= 10
    table = ok(arena(home, "judges", "report", "--judge", "exec"))
    assert "what the code did" in table and "sample-strong" in table


def write_pairs(path: Path) -> Path:
    """CodePrefBench-shaped pairs from the demo pack: the strong answer against the sloppy
    one on each prompt with tests, the better one alternating sides."""
    rows = [json.loads(x) for x in DEMO.read_text().splitlines() if x.strip()]
    with path.open("w") as fh:
        for i, r in enumerate(x for x in rows if x.get("tests")):
            good, bad = r["answers"]["sample-strong"], r["answers"]["sample-sloppy"]
            choices, gt = ([good, bad], 0) if i % 2 == 0 else ([bad, good], 1)
            fh.write(json.dumps({"task_id": f"correctness/{r['id']}", "instruction": r["prompt"],
                                 "choices": choices, "gt_choice": gt, "tests": r["tests"],
                                 "entry_point": r.get("entry_point")}) + "\n")
    return path


def test_judges_eval_on_codeprefbench_pairs(arena_home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, _ = arena_home
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    out = tmp_path / "report.json"
    reports = json.loads(ok(arena(home, "judges", "eval", "--judge", "exec,pw,pm,pmgen,maj,pmlocal",
                                  "--pairs", str(pairs), "--format", "json", "--out", str(out))))
    rows = {r["judge"]: r for r in reports}
    assert rows["exec"]["accuracy"] == 1.0 and rows["exec"]["position_flip_rate"] is None
    for name in ("pw", "pm", "pmgen", "maj", "pmlocal"):
        r = rows[name]
        assert r["pairs"] == 12 and r["failures"] == 0 and 0.0 <= r["accuracy"] <= 1.0
        assert r["by_category"]["correctness"]["n"] == 12
        assert r["position_flip_rate"] is not None
    assert rows["pm"]["prompt_tokens"] > 0 and rows["exec"]["prompt_tokens"] == 0
    detail = json.loads(out.read_text())
    assert len(detail[0]["results"]) == 12 and detail[0]["results"][0]["credit"] == 1.0
    rubric = json.loads(ok(arena(home, "judges", "eval", "--judge", "ufb", "--preference",
                                 "readability", "--pairs", str(pairs), "--format", "json")))
    assert rubric[0]["judge"] == "ufb/readability" and rubric[0]["failures"] == 0
    past = json.loads(ok(arena(home, "judges", "report", "--format", "json")))["evals"]
    assert {"exec", "pw", "ufb/readability"} <= {e["judge"] for e in past}


@pytest.mark.skipif(not HEP.exists(), reason=f"HumanEvalPack file absent: {HEP}")
def test_execution_judge_scores_at_least_99_percent_on_humanevalpack(arena_home) -> None:  # type: ignore[no-untyped-def]
    """The acceptance check, with the LLM judge's row beside it."""
    home, _ = arena_home
    reports = json.loads(ok(arena(home, "judges", "eval", "--judge", "exec,pw", "--pairs", str(HEP),
                                  "--format", "json")))
    rows = {r["judge"]: r for r in reports}
    assert rows["exec"]["pairs"] == 164 and rows["exec"]["failures"] == 0
    assert rows["exec"]["accuracy"] >= 0.99, rows["exec"]
    assert rows["pw"]["pairs"] == 164 and set(rows["pw"]["by_category"]) >= {"missing logic"}


def garbage(model: str, messages: list[dict]) -> str:
    return "I would rather not say. Rating: great. Verdict: maybe."


@pytest.mark.parametrize(("judge", "extra"), [
    ("pw", ()), ("ufb", ("--preference", "style")), ("ref", ()), ("pm", ()), ("pmgen", ()),
])
def test_malformed_judge_output_is_a_recorded_failure_never_a_vote(tmp_path: Path, judge: str,
                                                                     extra: tuple[str, ...]) -> None:
    with OpenAITestServer(responder=garbage) as server:
        (tmp_path / "arena.toml").write_text(config_text(server.url))
        ok(arena(tmp_path, "prompts", "import", str(DEMO)))
        ok(arena(tmp_path, "battle", "run", "--models", "sample-strong,sample-terse",
                 "--prompts", "prompts", "--limit", "3"))
        summary = run_judge(tmp_path, "--judge", judge, *extra)
        calls = server.requests["jm"]
    assert summary["votes_new"] == 0 and summary["judge_failures"] > 0
    counts = store(tmp_path).counts()
    assert counts["votes"] == 0
    assert counts["judge_failures"] + counts["failed_ratings"] > 0
    assert calls == 2 * summary["judge_failures"]  # every failed call was retried once


@pytest.mark.parametrize(("args", "message"), [
    (("judges", "eval", "--judge", "pw", "--pairs", "missing.jsonl"), "missing.jsonl"),
    (("judges", "eval", "--judge", "nobody", "--pairs", "bad.jsonl"), "no judge named 'nobody'"),
    (("judges", "eval", "--judge", "pw", "--pairs", "bad.jsonl"), "bad.jsonl:2"),
    (("judge", "run", "--judge", "ufb"), "pass --preference"),
    (("judge", "run", "--judge", "pw", "--preference", "style"), "no preference to choose"),
    (("judge", "run", "--judge", "ufb", "--preference", "speed"), "'speed' is not one of"),
])
def test_bad_input_gets_one_clear_error(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "arena.toml").write_text(config_text("http://127.0.0.1:9/v1"))
    (tmp_path / "bad.jsonl").write_text(
        json.dumps({"task_id": "t1", "instruction": "x", "choices": ["a", "b"], "gt_choice": 0})
        + "\n" + json.dumps({"task_id": "t2", "instruction": "x", "choices": ["a"], "gt_choice": 0})
        + "\n")
    assert message in assert_clean_error(arena(tmp_path, *args))
