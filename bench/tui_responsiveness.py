"""TUI start-up and responsiveness, measured in a real terminal (tmux).

1. First paint: from launching `arena demo` to the battle screen ("Model A") being on the
   tmux pane. Target ≤ 1 s.
2. Key latency while both sides stream at 200 tokens/s each from the OpenAI-protocol test
   server: time from `send-keys ?` to the help screen being on the pane, and back with
   `esc`. Baseline, same run: the same key on an idle screen (after both answers finished).
   Target ≤ 100 ms while streaming.

The pane is polled every 5 ms with capture-pane, so every figure includes up to ~5 ms of
polling and tmux's own delay: they are upper bounds on what a person would see.

    .venv/bin/python bench/tui_responsiveness.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.testing.openai_server import OpenAITestServer  # noqa: E402

LONG = ("Here is a careful answer.\n\n```python\n" + "\n".join(
    f"def step_{i}(x):\n    return x * {i} + {i % 7}  # step {i}" for i in range(400)) + "\n```\n")


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True).stdout


def wait_for(session: str, text: str, timeout: float = 30.0, absent: bool = False) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if (text in screen(session)) != absent:
            return time.perf_counter() - t0
        time.sleep(0.005)
    raise TimeoutError(f"{text!r} {'still there' if absent else 'never appeared'}")


def start(cmd: str, env: dict[str, str]) -> str:
    session = "bench-" + uuid.uuid4().hex[:6]
    for _ in range(5):  # a tmux server that is just shutting down refuses new sessions
        done = subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                               cmd], env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode == 0:
            return session
        time.sleep(0.3)
    raise RuntimeError(f"tmux new-session failed: {done.stderr}")


def key_latency(session: str) -> float:
    subprocess.run(["tmux", "send-keys", "-t", session, "?"], check=True)
    t = wait_for(session, "Keys · Battle")
    subprocess.run(["tmux", "send-keys", "-t", session, "Escape"], check=True)
    wait_for(session, "Keys · Battle", absent=True)
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    py = str(ROOT / ".venv/bin/python")
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    paints = []
    for _ in range(args.repeat):
        home = tempfile.mkdtemp(prefix="arena-tui-bench-")
        t0 = time.perf_counter()
        s = start(f"{py} -m arena.cli.main demo", {**env, "ARENA_HOME": home})
        wait_for(s, "Model A", timeout=15)
        paints.append(time.perf_counter() - t0)
        subprocess.run(["tmux", "kill-session", "-t", s], capture_output=True)
    print(f"first paint of `arena demo`: median {statistics.median(paints) * 1000:.0f} ms, "
          f"max {max(paints) * 1000:.0f} ms over {len(paints)} starts (target ≤ 1000 ms)")

    with OpenAITestServer(latency=0.05, tokens_per_second=200, chunk_tokens=1,
                          responder=lambda model, messages: LONG) as server:
        home = Path(tempfile.mkdtemp(prefix="arena-tui-bench-"))
        (home / "arena.toml").write_text("".join(
            f'[models.{m}]\nprovider = "vllm"\nmodel = "{m}"\nbase_url = "{server.url}"\n\n'
            for m in ("stream-left", "stream-right")))
        (home / "p.jsonl").write_text('{"id": "q", "prompt": "write 400 small functions"}\n')
        subprocess.run([py, "-m", "arena.cli.main", "prompts", "import", str(home / "p.jsonl"),
                        "--set", "bench"], env={**env, "ARENA_HOME": str(home)}, check=True,
                       capture_output=True, cwd=ROOT)
        s = start(f"{py} -m arena.cli.main", {**env, "ARENA_HOME": str(home)})
        try:
            wait_for(s, "tok/s", timeout=15)
            time.sleep(1.0)
            busy = [key_latency(s) for _ in range(args.repeat)]
            assert "your vote:" not in screen(s), "the answers finished before the measurement"
            wait_for(s, "your vote:", timeout=120)
            idle = [key_latency(s) for _ in range(args.repeat)]
        finally:
            subprocess.run(["tmux", "kill-session", "-t", s], capture_output=True)
    b, i = statistics.median(busy), statistics.median(idle)
    print(f"key → help screen while both sides stream at 200 tok/s: median {b * 1000:.0f} ms, "
          f"max {max(busy) * 1000:.0f} ms")
    print(f"baseline, same key on an idle screen:                 median {i * 1000:.0f} ms, "
          f"max {max(idle) * 1000:.0f} ms  (streaming / idle = {b / i:.2f}×)")
    ok = statistics.median(paints) <= 1.0 and max(busy) <= 0.1
    print(f"VERDICT: {'PASS' if ok else 'FAIL'} (first paint ≤ 1 s; every key while streaming ≤ 100 ms)")


if __name__ == "__main__":
    main()
