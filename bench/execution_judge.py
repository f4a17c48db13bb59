"""What the execution judge's sandbox costs: HumanEvalPack's 328 solutions (164 correct, 164
buggy) run through ``judges.sandbox`` next to the same runs in a bare ``python -c`` child
(no isolation, no limits, the evalplus-free floor), both with the machine's cores busy.

Also checks the verdicts: the sandbox must pass every correct solution and fail every buggy
one (the judge's >= 99 % accuracy on these pairs depends on it).

    .venv/bin/python bench/execution_judge.py [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judges.execution import calls_check  # noqa: E402
from judges.extraction import extract_code, names_used  # noqa: E402
from judges.pairs import load_pairs  # noqa: E402
from judges.sandbox import isolation_layers, run_tests_async  # noqa: E402

HEP = ROOT.parent / "shared" / "data" / "humanevalpack" / "humanevalpack-python.jsonl.gz"


async def sandboxed(jobs: list[tuple[str, str, str | None, bool]]) -> tuple[float, int]:
    started = time.perf_counter()
    results = await asyncio.gather(*(run_tests_async(code, tests, entry_point=entry)
                                     for code, tests, entry, _ in jobs))
    right = sum(r.passed == good for r, (_, _, _, good) in zip(results, jobs, strict=True))
    return time.perf_counter() - started, right


async def bare(jobs: list[tuple[str, str, str | None, bool]]) -> tuple[float, int]:
    gate = asyncio.Semaphore(os.cpu_count() or 1)

    async def one(code: str, tests: str, entry: str | None) -> bool:
        src = code + "\n" + tests + (f"\ncheck({entry})\n" if entry else "\n")
        async with gate:
            try:
                proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", src],
                                               capture_output=True, timeout=10)
            except subprocess.TimeoutExpired:  # the same 10 s the sandbox allows
                return False
        return proc.returncode == 0

    started = time.perf_counter()
    results = await asyncio.gather(*(one(c, t, e) for c, t, e, _ in jobs))
    right = sum(ok == good for ok, (_, _, _, good) in zip(results, jobs, strict=True))
    return time.perf_counter() - started, right


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=None)
    args = p.parse_args()
    if not HEP.exists():
        print(f"SKIP: {HEP} not found")
        return
    _, pairs = load_pairs(HEP, limit=args.limit)
    jobs = []
    for pair in pairs:
        for i, answer in enumerate(pair.choices):
            tests = pair.tests or ""
            entry = None if calls_check(tests) else pair.entry_point
            jobs.append((extract_code(answer, pair.entry_point, names_used(tests)), tests, entry, i == pair.gt_choice))
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{len(jobs)} solutions; isolation: {', '.join(isolation_layers())}")
    t_bare, ok_bare = asyncio.run(bare(jobs))
    t_box, ok_box = asyncio.run(sandboxed(jobs))
    print(f"bare python -c     : {t_bare:6.2f} s  {len(jobs) / t_bare:6.1f} runs/s  "
          f"{ok_bare}/{len(jobs)} verdicts right")
    print(f"sandbox            : {t_box:6.2f} s  {len(jobs) / t_box:6.1f} runs/s  "
          f"{ok_box}/{len(jobs)} verdicts right")
    print(f"ratio sandbox/bare : {t_box / t_bare:.2f}x the time")
    ok = ok_box == len(jobs) and t_box / t_bare <= 2.0
    print(f"VERDICT: {'PASS' if ok else 'FAIL'} (every verdict right, isolation at most 2x the "
          "bare run's time)")


if __name__ == "__main__":
    main()
