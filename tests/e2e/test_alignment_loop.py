"""The alignment loop end to end, through the installed ``arena`` command, on CPU.

Demo tournament judged by the test server → ``arena export dpo`` and ``export sft`` →
``arena train dpo`` (2 steps) and ``arena train sft`` (2 steps) on a tiny Llama built on the
spot → ``arena models add`` the trained folder → it answers a battle → ``arena eval
humaneval --limit 3`` runs through. No network, no hub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena.testing.openai_server import OpenAITestServer
from db.engine import open_database
from db.repositories import Store

REPO = Path(__file__).resolve().parents[2]
ARENA = Path(sys.executable).parent / "arena"
if not ARENA.exists():
    ARENA = REPO / ".venv" / "bin" / "arena"
DEMO = REPO / "assets" / "demo" / "prompts.jsonl"
HUMANEVAL = REPO.parent / "shared" / "data" / "humanevalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.skipif(not ARENA.exists(), reason=f"{ARENA} not installed")]
pytest.importorskip("trl", reason="the training loop needs the train extra")


def arena(home: Path, *args: str, timeout: int = 300) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_HOME=str(home), NO_COLOR="1", COLUMNS="200", OMP_NUM_THREADS="1",
               HUMANEVAL_OVERRIDE_PATH=str(HUMANEVAL))
    proc = subprocess.run([str(ARENA), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=home)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-4000:])
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_votes_to_pairs_to_trained_model_to_battle_and_eval(tmp_path: Path,
                                                             tiny_llama: Path) -> None:
    home = tmp_path
    with OpenAITestServer() as server:
        (home / "arena.toml").write_text(
            f'[models.jm]\nprovider = "openai"\nbase_url = "{server.url}"\n\n'
            '[judges.pw]\nmodel = "jm"\n')
        arena(home, "prompts", "import", str(DEMO))
        arena(home, "battle", "run", "--models", "sample-strong,sample-sloppy,sample-terse",
              "--prompts", "prompts", "--judge", "pw")
    dpo_data, sft_data = home / "dpo.jsonl", home / "sft.jsonl"
    arena(home, "export", "dpo", "--out", str(dpo_data), "--conversational", "--judges", "pw")
    arena(home, "export", "sft", "--out", str(sft_data), "--conversational", "--judges", "pw")
    pairs = [json.loads(x) for x in dpo_data.read_text().splitlines()]
    assert len(pairs) > 10 and {"prompt", "chosen", "rejected", "metadata"} <= set(pairs[0])
    assert json.loads((home / "dpo.jsonl.meta.json").read_text())["counts"]["written"] == len(pairs)

    dpo_out, sft_out = home / "dpo-run", home / "sft-run"
    arena(home, "train", "dpo", "--model", str(tiny_llama), "--data", str(dpo_data),
          "--out", str(dpo_out), "--max-steps", "2")
    log = [json.loads(x) for x in (dpo_out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r.get("event") == "log"]
    assert [r["step"] for r in steps] == [1, 2]
    assert all("rewards/margins" in r and "rewards/accuracies" in r for r in steps)
    arena(home, "train", "sft", "--model", str(dpo_out), "--data", str(sft_data),
          "--out", str(sft_out), "--max-steps", "2")
    assert (sft_out / "config.json").exists() and (sft_out / "arena_train.json").exists()

    arena(home, "models", "add", "tiny-sft", "--path", str(sft_out), "--provider", "hf",
          "--max-tokens", "24", "--device", "cpu")
    out = arena(home, "battle", "run", "--models", "tiny-sft,sample-strong", "--prompts", "prompts",
                "--limit", "2", "--json")
    summary = json.loads(out[out.index("{"):])
    assert summary["ready"] == 2 and summary["generation_failures"] == 0
    store = Store(open_database(f"sqlite:///{home / 'arena.db'}"))
    answers = [g for g in store.generations([b.prompt_id for b in store.battles()], ["tiny-sft"]).values()]
    assert len(answers) == 2 and all(g.ok and g.text for g in answers)

    if not HUMANEVAL.exists():
        pytest.skip(f"HumanEval+ file absent: {HUMANEVAL}")
    out = arena(home, "eval", "humaneval", "--model", "tiny-sft", "--limit", "3", "--json")
    result = json.loads(out[out.index("{"):])
    assert (result["model"], result["benchmark"], result["tasks"]) == ("tiny-sft", "humaneval", 3)
    assert result["generation_failures"] == 0
    assert set(result["scores"]) == {"base", "plus"}
    assert all(0.0 <= s["pass_at_1"] <= 1.0 for s in result["scores"].values())
    stored = store.eval_results(model="tiny-sft")
    assert {r.variant for r in stored} == {"base", "plus"}
