"""Headless judging throughput: how close does ``BattleRunner.judge_battles`` get to ideal?

The judge model is the local OpenAI-protocol test server (``arena.testing.openai_server``),
by default in a separate process so that its CPU is not the client's. Every answer arrives
as ``--latency`` seconds of silence and then the whole short verdict in one SSE chunk, so
one call costs ``latency`` of wall time and the ideal throughput at concurrency C is
``C / latency`` calls per second (320 calls/s for 64 / 0.2 s).

Setup (not timed): a temporary SQLite database, ``--calls / 2`` prompts with stored answers
of two replay models, and ``BattleRunner.run`` without a judge to make the battles ready.
Then, ``--repeat`` times, three clients in turn send the same ``--calls`` judge requests
with at most ``--concurrency`` in flight:

* ``bare asyncio HTTP``: a few lines of asyncio over keep-alive sockets, no HTTP library:
  what the server and the machine allow (the harness floor);
* ``raw openai SDK``: ``AsyncOpenAI.chat.completions.create(stream=True)`` under an
  asyncio.Semaphore, no DB, no verdict parsing: the floor for any client on the SDK;
* ``arena``: ``BattleRunner.judge_battles`` with a fresh judge name, so every game is new:
  DB reads, prompts, the provider's streaming path, verdict parsing, one committed vote per
  game; afterwards the DB must hold exactly ``--calls`` votes of that judge.

Reported: wall time, calls/s, ratio to ideal, client CPU per call (``time.process_time``,
this process, all threads), the server's CPU per call, mean call latency, garbage-collector
pauses, and for arena a breakdown (time before the first call, synchronous Store calls,
when each wave of votes landed). Target (the issue): arena at concurrency 64 within 15 %
of ideal. ``--profile`` adds one cProfile'd arena repetition, summed by package.

Run: ``.venv/bin/python bench/judging_throughput.py [--calls 1920] [--concurrency 64]
[--latency 0.2] [--repeat 3] [--no-server-process] [--no-gc-freeze] [--profile]``.
Exit status 0 whatever the verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import json
import logging
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from arena.config import ArenaConfig, JudgeSpec, ModelSpec  # noqa: E402
from arena.services.battles import BattleRunner, Progress  # noqa: E402
from arena.services.planning import make_plan  # noqa: E402
from db.engine import open_database  # noqa: E402
from db.repositories import AnswerIn, PromptIn, Store  # noqa: E402
from judges.pairwise import PairwiseJudge  # noqa: E402

SET = "bench"
MODELS = ("replay-x", "replay-y")
JUDGE_MODEL = "bench-judge-model"
TARGET = 0.85  # throughput / ideal
CLK_TCK = os.sysconf("SC_CLK_TCK")
WHOLE_ANSWER = 100_000  # server chunk size in tokens: the verdict comes in one SSE chunk
# Store methods that run synchronously on the event loop during judge_battles.
STORE_METHODS = ("battles", "voted_games", "battle_detail", "start_run", "finish_run",
                 "add_vote", "add_judge_failure")


# -- fixtures ------------------------------------------------------------------------------
def make_answer(i: int, model: str, chars: int) -> str:
    """A plausible code answer of about ``chars`` characters (deterministic)."""
    head = f"Here is a solution ({model}, variant {i}):\n\n```python\ndef solve_{i}(data):\n"
    lines, n = [], 0
    while len(head) + n < chars - 60:
        line = f"    acc_{n % 7} = sum(x * {n + i % 5} for x in data if x % {n % 3 + 2})\n"
        lines.append(line)
        n += len(line)
    return head + "".join(lines) + "    return data\n```\n\nIt runs in linear time."


def make_fixture(store: Store, battles: int, answer_chars: int) -> None:
    prompts = [PromptIn(external_id=f"p{i:05d}",
                        text=f"Write a Python function that handles case {i}: parse the input, "
                             f"validate it and return the aggregated result. Explain briefly.",
                        category="code", language="python") for i in range(battles)]
    answers = [AnswerIn(external_id=p.external_id, model=m, text=make_answer(i, m, answer_chars))
               for i, p in enumerate(prompts) for m in MODELS]
    store.import_prompts(SET, "bench", prompts, answers)


def judge_config(url: str, concurrency: int, judge_names: list[str]) -> ArenaConfig:
    spec = ModelSpec(name=JUDGE_MODEL, provider="vllm", base_url=url, concurrency=concurrency,
                     max_tokens=4096, timeout=30.0)
    return ArenaConfig(source="bench", models={JUDGE_MODEL: spec},
                       judges={n: JudgeSpec(name=n, model=JUDGE_MODEL) for n in judge_names})


def judge_payloads(store: Store, calls: int) -> list[list[dict[str, str]]]:
    """The same request bodies the judge sends, for the raw-SDK baseline."""
    judge = PairwiseJudge("payloads", provider=None)  # type: ignore[arg-type]
    out = []
    for b in store.battles(set_name=SET, status="ready"):
        d = store.battle_detail(b.id)
        assert d.generation_a and d.generation_b
        out.append(judge.messages(d.prompt, d.generation_a.text, d.generation_b.text))
        out.append(judge.messages(d.prompt, d.generation_b.text, d.generation_a.text))
    return out[:calls]


# -- the judge server ----------------------------------------------------------------------
class Server:
    def __init__(self, latency: float, separate: bool) -> None:
        self.separate = separate
        self.proc: subprocess.Popen[str] | None = None
        self.inproc: Any = None
        self.errors = tempfile.TemporaryFile("w+")  # a file: a full pipe would stall it
        if separate:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "arena.testing.openai_server", "--port", "0",
                 "--latency", str(latency), "--chunk-tokens", str(WHOLE_ANSWER)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=self.errors, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            m = re.search(r"(http://\S+/v1)", line)
            if not m:
                self.errors.seek(0)
                err = self.errors.read()
                raise RuntimeError(f"test server did not start: {line!r} {err[-2000:]}")
            self.url = m.group(1)
        else:
            from arena.testing.openai_server import OpenAITestServer

            self.inproc = OpenAITestServer(latency=latency, chunk_tokens=WHOLE_ANSWER)
            self.inproc.start()
            self.url = self.inproc.url

    def cpu_s(self) -> float | None:
        """CPU seconds the server process has used (None when it runs in this process)."""
        if self.proc is None:
            return None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.inproc is not None:
            self.inproc.stop()
        self.errors.close()


# -- measurements --------------------------------------------------------------------------
@dataclass
class Result:
    name: str
    calls: int
    wall_s: float
    cpu_s: float
    server_cpu_s: float | None
    ok: int
    mean_latency_s: float
    gc_pause_s: float
    gc_runs: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.calls / self.wall_s

    @property
    def cpu_ms_per_call(self) -> float:
        return 1000 * self.cpu_s / self.calls


class Meter:
    """Wall clock, this process's CPU, the server's CPU and this process's garbage-collector
    pauses between start and stop."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.gc_pause = 0.0
        self.gc_runs = [0, 0, 0]
        self._gc_t = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_t = time.perf_counter()
            self.gc_runs[info["generation"]] += 1
        else:
            self.gc_pause += time.perf_counter() - self._gc_t

    def __enter__(self) -> Meter:
        gc.callbacks.append(self._on_gc)
        self.s0 = self.server.cpu_s()
        self.c0 = time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        gc.callbacks.remove(self._on_gc)
        s1 = self.server.cpu_s()
        self.server_cpu = None if s1 is None or self.s0 is None else s1 - self.s0

    def result(self, name: str, calls: int, ok: int, latency: float,
               extra: dict[str, Any] | None = None) -> Result:
        return Result(name, calls, self.wall, self.cpu, self.server_cpu, ok, latency,
                      self.gc_pause, tuple(self.gc_runs), extra or {})


async def raw_sdk(url: str, payloads: list[list[dict[str, str]]], concurrency: int) -> tuple[int, float]:
    """(calls that ended with a verdict label, mean call latency)."""
    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=30.0)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(messages: list[dict[str, str]]) -> bool:
        async with gate:
            t0 = time.perf_counter()
            stream = await client.chat.completions.create(  # type: ignore[call-overload]
                model=JUDGE_MODEL, messages=messages, stream=True,
                stream_options={"include_usage": True}, temperature=0.0, max_tokens=4096)
            parts = []
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        parts.append(choice.delta.content)
            latencies.append(time.perf_counter() - t0)
            return "".join(parts).rstrip().endswith("]]")

    try:
        done = await asyncio.gather(*(one(m) for m in payloads))
    finally:
        await client.close()
    return sum(done), statistics.fmean(latencies)


async def bare_http(url: str, payloads: list[list[dict[str, str]]], concurrency: int) -> tuple[int, float]:
    """The harness floor: the same requests over keep-alive sockets with a few lines of
    asyncio and no HTTP library. Shows what the server and the machine allow."""
    u = urlsplit(url)
    host, port, path = u.hostname or "127.0.0.1", u.port or 80, u.path + "/chat/completions"
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened: list[asyncio.StreamWriter] = []
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(messages: list[dict[str, str]]) -> bool:
        async with gate:
            t0 = time.perf_counter()
            if pool:
                reader, writer = pool.pop()
            else:
                reader, writer = await asyncio.open_connection(host, port)
                opened.append(writer)
            body = json.dumps({"model": JUDGE_MODEL, "messages": messages, "stream": True,
                               "stream_options": {"include_usage": True}, "temperature": 0.0,
                               "max_tokens": 4096}).encode()
            writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (path.encode(), host.encode(), len(body), body))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            data = await reader.readuntil(b"\r\n0\r\n\r\n")  # end of the chunked body
            pool.append((reader, writer))
            latencies.append(time.perf_counter() - t0)
            return head.startswith(b"HTTP/1.1 200") and b"]]" in data and b"[DONE]" in data

    try:
        done = await asyncio.gather(*(one(m) for m in payloads))
    finally:
        for w in opened:
            w.close()
    return sum(done), statistics.fmean(latencies)


def measure_bare(server: Server, payloads: list[list[dict[str, str]]], concurrency: int) -> Result:
    with Meter(server) as m:
        ok, lat = asyncio.run(bare_http(server.url, payloads, concurrency))
    return m.result("bare asyncio HTTP", len(payloads), ok, lat)


def measure_raw(server: Server, payloads: list[list[dict[str, str]]], concurrency: int) -> Result:
    with Meter(server) as m:
        ok, lat = asyncio.run(raw_sdk(server.url, payloads, concurrency))
    return m.result("raw openai SDK", len(payloads), ok, lat)


class StoreTimer:
    """Wraps the store's methods (on the instance) to add up their wall and CPU time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.count: dict[str, int] = {}
        for name in STORE_METHODS:
            setattr(store, name, self._wrap(name, getattr(store, name)))

    def _wrap(self, name: str, fn: Any) -> Any:
        def timed(*a: Any, **kw: Any) -> Any:
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - t0
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c0
                self.count[name] = self.count.get(name, 0) + 1
        return timed

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.count.clear()


class RetryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.n += 1


def measure_arena(server: Server, store: Store, timer: StoreTimer, judge_name: str,
                  concurrency: int, expected: int, retries: RetryCounter,
                  profile: cProfile.Profile | None = None) -> Result:
    config = judge_config(server.url, concurrency, [judge_name])
    marks: dict[str, float] = {}
    votes: list[float] = []

    def on_progress(p: Progress) -> None:
        if p.kind == "total":
            marks["dispatch_t"], marks["dispatch_c"] = time.perf_counter(), time.process_time()
        elif p.kind == "vote":
            votes.append(time.perf_counter())

    runner = BattleRunner(store, config, on_progress=on_progress)
    timer.reset()
    retries.n = 0
    with Meter(server) as m:
        if profile is not None:
            profile.enable()
        summary = asyncio.run(runner.judge_battles(judge_name, set_name=SET,
                                                   concurrency=concurrency))
        if profile is not None:
            profile.disable()
    stored = store.votes(judge_names=[judge_name])
    games = {(v.battle_id, v.game) for v in stored}
    calls = summary.votes_new + summary.judge_failures
    problems = []
    if len(stored) != expected or len(games) != expected:
        problems.append(f"DB holds {len(stored)} votes ({len(games)} distinct games), "
                        f"expected {expected}")
    if summary.judge_failures:
        problems.append(f"{summary.judge_failures} judge failures: {dict(summary.errors)}")
    if retries.n:
        problems.append(f"{retries.n} provider retries")
    prep_wall = marks.get("dispatch_t", m.t0) - m.t0
    prep_cpu = marks.get("dispatch_c", m.c0) - m.c0
    extra = {
        "summary": summary, "problems": problems,
        "prep_wall_s": prep_wall, "prep_cpu_s": prep_cpu,
        "call_phase_s": (votes[-1] - marks["dispatch_t"]) if votes and "dispatch_t" in marks else None,
        "tail_s": (m.t0 + m.wall - votes[-1]) if votes else None,
        "vote_times": [t - m.t0 for t in votes],
        "store_wall": dict(timer.wall), "store_cpu": dict(timer.cpu), "store_n": dict(timer.count),
    }
    mean_lat = (summary.usage.latency_s or 0.0) / max(1, summary.votes_new)
    return m.result("arena judge_battles", max(calls, 1), len(stored), mean_lat, extra)


async def warm_up(url: str, payloads: list[list[dict[str, str]]]) -> None:
    """Import the SDK's lazy modules and build its pydantic models before anything is timed."""
    await raw_sdk(url, payloads[:8], 8)


# -- profile summary -----------------------------------------------------------------------
def _bucket(filename: str) -> str:
    m = re.search(r"site-packages/([^/]+)", filename)
    if m:
        return m.group(1).removesuffix(".py")
    try:
        rel = Path(filename).resolve().relative_to(ROOT)
        return "/".join(rel.parts[:2]) if len(rel.parts) > 2 else str(rel)
    except ValueError:
        pass
    m = re.search(r"python3\.\d+/([^/]+)", filename)
    return f"stdlib {m.group(1).removesuffix('.py')}" if m else filename


def print_profile(prof: cProfile.Profile, calls: int) -> None:
    """Self time by package; C functions are charged to the package that called them, and
    the event loop's epoll wait (idle) is left out."""
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    buckets: dict[str, float] = {}
    idle = 0.0
    for (filename, _line, func), (_cc, _nc, tt, _ct, callers) in raw.items():
        if filename != "~":
            buckets[_bucket(filename)] = buckets.get(_bucket(filename), 0.0) + tt
        elif "poll" in func and "epoll" in func:
            idle += tt
        else:  # a C function: split its time among its callers
            shares = {k: v[2] for k, v in callers.items()} or {("~", 0, ""): tt}
            total = sum(shares.values()) or 1.0
            for (cfile, _l, _f), part in shares.items():
                b = "C (caller unknown)" if cfile == "~" else _bucket(cfile)
                buckets[b] = buckets.get(b, 0.0) + tt * part / total
    total = sum(buckets.values())
    print(f"\ncProfile of one more arena repetition (not in the table; deterministic profiling "
          f"inflates small-function-heavy code): {1000 * total / calls:.2f} ms/call busy, "
          f"epoll idle left out ({idle:.2f} s)")
    print(f"  {'package (self time, C calls charged to caller)':48} {'ms/call':>8} {'share':>6}")
    for b, tt in sorted(buckets.items(), key=lambda kv: -kv[1])[:18]:
        print(f"  {b:48} {1000 * tt / calls:8.3f} {100 * tt / total:5.1f}%")
    print("\n  top functions by internal time:")
    stats.sort_stats("tottime").print_stats(12)


# -- report --------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        return m.group(1).strip() if m else platform.processor()
    except OSError:
        return platform.processor()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1920, help="judge calls per measurement "
                    "(rounded up to an even number: two games per battle)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2, help="server seconds per answer")
    ap.add_argument("--repeat", type=int, default=3, help="measurements of each client")
    ap.add_argument("--answer-chars", type=int, default=1500,
                    help="size of each stored answer shown to the judge")
    ap.add_argument("--server-process", action=argparse.BooleanOptionalAction, default=True,
                    help="run the test server in its own process (default) or in a thread "
                         "here (its CPU then counts as the client's)")
    ap.add_argument("--gc-freeze", action=argparse.BooleanOptionalAction, default=True,
                    help="gc.freeze() after setup, so full collections skip the objects that "
                         "imports and setup left (what `arena battle run`/`judge run` do)")
    ap.add_argument("--profile", action="store_true",
                    help="after the measurements, cProfile one more arena repetition")
    a = ap.parse_args(argv)
    battles = (a.calls + 1) // 2
    calls = 2 * battles
    ideal = a.concurrency / a.latency
    ideal_wall = -(-calls // a.concurrency) * a.latency  # waves x latency

    retries = RetryCounter()
    logging.getLogger("arena.providers").addHandler(retries)
    logging.getLogger("arena.providers").propagate = False
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    server = Server(a.latency, a.server_process)
    tmp = tempfile.TemporaryDirectory(prefix="arena-bench-")
    try:
        # -- setup (not timed) --
        store = Store(open_database(f"sqlite:///{tmp.name}/bench.db"))
        make_fixture(store, battles, a.answer_chars)
        base_cfg = judge_config(server.url, a.concurrency, [])
        plan = make_plan(store, base_cfg, list(MODELS), SET, None)
        setup = asyncio.run(BattleRunner(store, base_cfg).run(plan, concurrency=a.concurrency))
        assert setup.ready == battles and setup.generated == 0, setup.as_dict()
        payloads = judge_payloads(store, calls)
        asyncio.run(warm_up(server.url, payloads))
        timer = StoreTimer(store)
        if a.gc_freeze:
            gc.collect()
            gc.freeze()
        setup_s = time.perf_counter() - t_start

        # -- measurements: the three clients in turn, --repeat times --
        runs: list[tuple[Result, Result, Result]] = []
        for i in range(a.repeat):
            runs.append((measure_bare(server, payloads, a.concurrency),
                         measure_raw(server, payloads, a.concurrency),
                         measure_arena(server, store, timer, f"bench-judge-{i}", a.concurrency,
                                       calls, retries)))
        bares, raws, arenas = (list(x) for x in zip(*runs, strict=True))

        # -- report --
        print(f"Arena judging throughput benchmark  {dt.datetime.now().isoformat(timespec='seconds')}")
        print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()},"
              f" openai {openai.__version__}; load average before "
              f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
        print(f"workload: {calls} judge calls ({battles} battles x 2 games), concurrency "
              f"{a.concurrency}, server latency {a.latency * 1000:.0f} ms then the whole verdict, "
              f"answers {a.answer_chars} chars, server "
              f"{'in a separate process' if a.server_process else 'in a thread of this process'}"
              f"; setup {setup_s:.1f} s (not timed){'; gc.freeze() after setup' if a.gc_freeze else ''}")
        print(f"ideal: {ideal:.1f} calls/s (concurrency / latency): {calls} calls in "
              f"{ideal_wall:.2f} s\n")
        hdr = (f"{'run':>3} {'client':20} {'wall s':>7} {'calls/s':>8} {'/ideal':>7} "
               f"{'CPU ms/call':>11} {'srv CPU ms':>10} {'mean lat ms':>11} {'GC ms':>6} {'ok':>5}")
        print(hdr)
        print("-" * len(hdr))
        for i, trio in enumerate(runs):
            for res in trio:
                srv = "-" if res.server_cpu_s is None else f"{1000 * res.server_cpu_s / res.calls:.2f}"
                print(f"{i + 1:>3} {res.name:20} {res.wall_s:7.3f} {res.throughput:8.1f} "
                      f"{res.throughput / ideal:7.3f} {res.cpu_ms_per_call:11.3f} {srv:>10} "
                      f"{1000 * res.mean_latency_s:11.1f} {1000 * res.gc_pause_s:6.0f} {res.ok:>5}")
        print("-" * len(hdr))
        med = statistics.median
        tp = {name: med(r.throughput for r in rs) for name, rs in
              (("bare", bares), ("raw", raws), ("arena", arenas))}
        cpu = {name: med(r.cpu_ms_per_call for r in rs) for name, rs in
               (("bare", bares), ("raw", raws), ("arena", arenas))}
        for key, label in (("bare", "bare asyncio HTTP"), ("raw", "raw openai SDK"),
                           ("arena", "arena")):
            print(f"median {label:18} {tp[key]:6.1f} calls/s = {tp[key] / ideal:.3f} of ideal, "
                  f"{cpu[key]:.3f} client CPU ms/call")
        print(f"arena / raw SDK: throughput {tp['arena'] / tp['raw']:.3f}, "
              f"CPU per call {cpu['arena'] / cpu['raw']:.2f}x "
              f"(+{cpu['arena'] - cpu['raw']:.3f} ms)")

        # where arena's time goes (the median repetition by throughput)
        mid = sorted(arenas, key=lambda x: x.throughput)[len(arenas) // 2]
        e, n = mid.extra, mid.calls
        print(f"\narena breakdown (the median run, {mid.throughput:.1f} calls/s):")
        print(f"  before the first call is sent (load {battles} battles and their texts): "
              f"{1000 * e['prep_wall_s']:.0f} ms wall, {1000 * e['prep_cpu_s']:.0f} ms CPU")
        if e["call_phase_s"] is not None:
            vt = sorted(e["vote_times"])
            waves = " ".join(f"{1000 * vt[k]:.0f}" for k in
                             range(a.concurrency - 1, len(vt), a.concurrency))
            print(f"  first call sent -> last vote stored: {e['call_phase_s']:.3f} s "
                  f"(ideal {ideal_wall:.2f} s); after the last vote: {1000 * e['tail_s']:.0f} ms")
            print(f"  every {a.concurrency}th vote stored at (ms from start): {waves} "
                  f"(ideal: every {1000 * a.latency:.0f} ms)")
        print(f"  garbage-collector pauses: {1000 * mid.gc_pause_s:.0f} ms "
              f"(gen0/1/2 collections: {'/'.join(map(str, mid.gc_runs))})")
        store_cpu = sum(e["store_cpu"].values())
        print(f"  Store calls (synchronous, on the event loop): "
              f"{1000 * sum(e['store_wall'].values()):.0f} ms wall, {1000 * store_cpu:.0f} ms CPU "
              f"= {1000 * store_cpu / n:.3f} CPU ms/call")
        for name in sorted(e["store_wall"], key=lambda k: -e["store_wall"][k]):
            k = e["store_n"][name]
            print(f"    {name:16} x{k:<5} {1000 * e['store_wall'][name]:7.1f} ms wall "
                  f"({1000 * e['store_cpu'][name]:.0f} CPU), "
                  f"{1000 * e['store_wall'][name] / k:6.3f} ms each")
        rest = mid.cpu_ms_per_call - 1000 * store_cpu / n
        print(f"  the rest (openai SDK, HTTP, asyncio, judge): {rest:.3f} CPU ms/call "
              f"(raw SDK alone: {cpu['raw']:.3f})")

        problems = [p for x in arenas for p in x.extra["problems"]]
        problems += [f"{r.name}: {r.calls - r.ok} calls without a verdict"
                     for r in bares + raws if r.ok != r.calls]
        ratio = tp["arena"] / ideal
        print()
        if problems:
            print("CHECK FAILED: " + "; ".join(problems))
        else:
            print(f"check: each arena run stored exactly {calls} votes; no failures, no retries")
        verdict = "PASS" if ratio >= TARGET and not problems else "FAIL"
        print(f"VERDICT: {verdict}: arena judged at {ratio:.3f} of ideal "
              f"({tp['arena']:.1f} of {ideal:.1f} calls/s, target >= {TARGET}); raw openai SDK "
              f"{tp['raw'] / ideal:.3f}; client CPU {cpu['arena']:.2f} ms/call "
              f"(raw SDK {cpu['raw']:.2f})")

        if a.profile:
            prof = cProfile.Profile()
            measure_arena(server, store, timer, "bench-judge-profiled", a.concurrency, calls,
                          retries, profile=prof)
            print_profile(prof, calls)
        print(f"\ntotal runtime {time.perf_counter() - t_start:.1f} s")
    finally:
        server.close()
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
