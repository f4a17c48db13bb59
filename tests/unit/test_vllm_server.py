"""VLLMServer and `arena serve` against a stand-in for `vllm serve` (a real local process).

The stand-in is a small Python script that parses vLLM's command line, records its argv,
serves the OpenAI protocol with :class:`OpenAITestServer` (which answers /health), writes
its output to stdout/stderr like vLLM does, and records the signals it gets.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from arena.config import ModelSpec, ServeOptions
from arena.domain import ArenaError
from arena.providers.base import ChatRequest, complete
from arena.providers.openai_compat import OpenAICompatibleProvider
from arena.providers.vllm_server import VLLMServer, serve_command
from arena.testing.openai_server import default_responder

ROOT = Path(__file__).resolve().parents[2]
ARENA = ROOT / ".venv" / "bin" / "arena"
MSGS = [{"role": "user", "content": "Write a function that sums a list."}]

STANDIN = '''#!{python}
"""A stand-in for `vllm serve`; behaviour chosen by MODE."""
import argparse, json, os, signal, sys, time
from pathlib import Path

OUT = Path({out!r})
MODE = {mode!r}
OUT.mkdir(parents=True, exist_ok=True)
(OUT / "pid").write_text(str(os.getpid()))
(OUT / "argv.json").write_text(json.dumps(sys.argv[1:]))

def mark(text):
    with (OUT / "signals.txt").open("a") as fh:
        fh.write(text + "\\n")

p = argparse.ArgumentParser()
p.add_argument("command", choices=["serve"])
p.add_argument("path")
p.add_argument("--host", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--served-model-name", required=True)
args, rest = p.parse_known_args()

if MODE == "crash":
    print("INFO loading weights from", args.path, flush=True)
    print("ValueError: no config.json in", args.path, file=sys.stderr, flush=True)
    sys.exit(3)

srv = None

def on_int(signum, frame):
    mark("got SIGINT")
    if MODE == "ignore_int":
        return
    print("INFO shutting down", flush=True)
    if srv is not None:
        srv.stop()
    sys.exit(0)

def on_term(signum, frame):
    mark("got SIGTERM")
    sys.exit(143)

signal.signal(signal.SIGINT, on_int)
signal.signal(signal.SIGTERM, on_term)
print("INFO loading weights (stand-in)", flush=True)
time.sleep({startup_delay})  # loading weights: /health refuses connections meanwhile
if MODE == "unhealthy":
    from http.server import BaseHTTPRequestHandler, HTTPServer
    import threading

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503)
            self.end_headers()

    httpd = HTTPServer((args.host, args.port), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
else:
    from arena.testing.openai_server import OpenAITestServer

    srv = OpenAITestServer(host=args.host, port=args.port, models=[args.served_model_name])
    srv.start()
print(f"INFO Uvicorn running on http://{{args.host}}:{{args.port}} (stand-in)", flush=True)
print("WARNING this line went to stderr", file=sys.stderr, flush=True)
while True:
    time.sleep(0.05)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_standin(tmp_path: Path, mode: str = "ok", startup_delay: float = 0.0) -> tuple[Path, Path]:
    """The stand-in executable and the folder where it records argv and signals."""
    out = tmp_path / f"standin-{mode}"
    script = tmp_path / f"fake-vllm-{mode}"
    script.write_text(STANDIN.format(python=sys.executable, out=str(out), mode=mode,
                                     startup_delay=startup_delay), encoding="utf-8")
    script.chmod(0o755)
    return script, out


def vllm_spec(executable: str, port: int, **serve) -> ModelSpec:
    return ModelSpec(name="local", provider="vllm", model="served-local", path="/models/local-7b",
                     serve=ServeOptions(executable=executable, port=port, **serve))


def kill_standin(out: Path) -> None:
    """SIGKILL a stand-in a failed test may have left running (checked by its command line)."""
    try:
        pid = int((out / "pid").read_text())
        if str(out.parent) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def signals(out: Path) -> list[str]:
    path = out / "signals.txt"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def servers():
    """VLLMServers to stop at the end, whatever a test did."""
    started: list[VLLMServer] = []
    yield started
    for srv in started:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait(5)


# -- the command line ------------------------------------------------------------------------


def test_serve_command_with_all_options():
    spec = ModelSpec(name="coder", provider="vllm", model="org/coder-7b", path="/w/coder",
                     serve=ServeOptions(executable="uv run vllm", host="0.0.0.0", port=8123,
                                        max_model_len=16384, gpu_memory_utilization=0.85,
                                        extra_args=["--dtype", "bfloat16", "--enforce-eager"]))
    assert serve_command(spec) == [
        "uv", "run", "vllm", "serve", "/w/coder", "--host", "0.0.0.0", "--port", "8123",
        "--served-model-name", "org/coder-7b", "--max-model-len", "16384",
        "--gpu-memory-utilization", "0.85", "--dtype", "bfloat16", "--enforce-eager"]


def test_serve_command_defaults():
    spec = ModelSpec(name="coder", provider="vllm", path="/w/my model")
    assert serve_command(spec) == [
        "vllm", "serve", "/w/my model", "--host", "127.0.0.1", "--port", "8000",
        "--served-model-name", "coder"]  # no model: served under its config name


def test_serve_command_needs_a_path():
    with pytest.raises(ArenaError, match=r"\[models.coder\] path"):
        serve_command(ModelSpec(name="coder", provider="vllm", base_url="http://127.0.0.1:1/v1"))


def test_urls():
    srv = VLLMServer(vllm_spec("vllm", 8765), Path("x.log"))
    assert srv.base_url == "http://127.0.0.1:8765/v1"
    assert srv.health_url == "http://127.0.0.1:8765/health"
    assert srv.stop() is None  # never started: nothing to stop


# -- a served model ----------------------------------------------------------------------------


async def test_start_answer_stop(tmp_path: Path, servers):
    script, out = make_standin(tmp_path, startup_delay=0.6)
    port = free_port()
    spec = vllm_spec(str(script), port, max_model_len=4096, extra_args=["--seed", "1"])
    log_path = tmp_path / "logs" / "vllm-local.log"
    log_path.parent.mkdir()
    log_path.write_text("previous run\n")
    srv = VLLMServer(spec, log_path)
    servers.append(srv)
    t0 = time.monotonic()
    srv.start(timeout=20)
    assert time.monotonic() - t0 >= 0.6  # waited for the slow start, did not return early
    assert srv.healthy() and srv.proc is not None and srv.proc.poll() is None

    assert json.loads((out / "argv.json").read_text()) == serve_command(spec)[1:]
    assert serve_command(spec)[-4:] == ["--max-model-len", "4096", "--seed", "1"]

    # the process was started in its own session: Ctrl-C at our terminal does not reach it
    assert os.getpgid(srv.proc.pid) == srv.proc.pid != os.getpgid(0)

    client_spec = ModelSpec(name="local", provider="vllm", model="served-local",
                            base_url=srv.base_url, timeout=10, max_retries=0)
    provider = OpenAICompatibleProvider(client_spec, "EMPTY")
    try:
        c = await complete(provider, ChatRequest(messages=MSGS))
    finally:
        await provider.aclose()
    assert c.text == default_responder("served-local", MSGS) and c.finish_reason == "stop"

    pid = srv.proc.pid
    code = srv.stop(grace=5)
    assert code == 0 and srv.proc.returncode == 0
    assert signals(out) == ["got SIGINT"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not srv.healthy()
    log = log_path.read_text()
    assert log.startswith("previous run\n")  # appended, not truncated
    assert f"Uvicorn running on http://127.0.0.1:{port}" in log
    assert "this line went to stderr" in log  # stderr goes to the same log
    assert "shutting down" in log
    assert srv.stop() == 0  # stopping twice is harmless


def test_context_manager_and_shlex_executable(tmp_path: Path, servers):
    script, out = make_standin(tmp_path)
    spec = vllm_spec(f"{sys.executable} {script}", free_port())
    spec.serve.startup_timeout = 20
    srv = VLLMServer(spec, tmp_path / "v.log")
    servers.append(srv)
    with srv:
        assert srv.healthy()
        assert json.loads((out / "argv.json").read_text())[:2] == ["serve", "/models/local-7b"]
    assert srv.proc.returncode == 0 and signals(out) == ["got SIGINT"]


def test_stop_escalates_to_sigterm(tmp_path: Path, servers):
    script, out = make_standin(tmp_path, mode="ignore_int")
    srv = VLLMServer(vllm_spec(str(script), free_port()), tmp_path / "v.log")
    servers.append(srv)
    srv.start(timeout=20)
    t0 = time.monotonic()
    code = srv.stop(grace=0.5)
    elapsed = time.monotonic() - t0
    assert signals(out) == ["got SIGINT", "got SIGTERM"]
    assert code == 143 and srv.proc.poll() == 143
    assert 0.5 <= elapsed < 5


def test_stop_after_the_process_died(tmp_path: Path, servers):
    script, _ = make_standin(tmp_path)
    srv = VLLMServer(vllm_spec(str(script), free_port()), tmp_path / "v.log")
    servers.append(srv)
    srv.start(timeout=20)
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(5)
    assert srv.stop() == -signal.SIGKILL


# -- failures --------------------------------------------------------------------------------


def test_crash_at_startup_shows_log_tail(tmp_path: Path, servers):
    script, _ = make_standin(tmp_path, mode="crash")
    log_path = tmp_path / "v.log"
    srv = VLLMServer(vllm_spec(str(script), free_port()), log_path)
    servers.append(srv)
    t0 = time.monotonic()
    with pytest.raises(ArenaError) as info:
        srv.start(timeout=20)
    assert time.monotonic() - t0 < 10  # noticed the exit, did not wait for the timeout
    msg = str(info.value)
    assert "exited with code 3 before it was ready" in msg and str(log_path) in msg
    assert "ValueError: no config.json in /models/local-7b" in msg
    assert "loading weights from /models/local-7b" in msg


def test_never_healthy_times_out_and_stops_it(tmp_path: Path, servers):
    script, out = make_standin(tmp_path, mode="unhealthy")
    srv = VLLMServer(vllm_spec(str(script), free_port()), tmp_path / "v.log")
    servers.append(srv)
    t0 = time.monotonic()
    with pytest.raises(ArenaError) as info:
        srv.start(timeout=1.5)
    assert 1.5 <= time.monotonic() - t0 < 8
    msg = str(info.value)
    assert "not healthy after 1.5 s" in msg and "Uvicorn running" in msg
    assert srv.proc.poll() == 0 and signals(out) == ["got SIGINT"]  # not left running


def test_missing_executable(tmp_path: Path):
    spec = vllm_spec(str(tmp_path / "no-such-vllm"), free_port())
    with pytest.raises(ArenaError) as info:
        VLLMServer(spec, tmp_path / "v.log").start(timeout=5)
    msg = str(info.value)
    assert "[models.local] serve.executable" in msg and "no-such-vllm" in msg
    assert "not found" in msg


def test_executable_without_exec_permission(tmp_path: Path):
    script, _ = make_standin(tmp_path)
    script.chmod(0o644)
    with pytest.raises(ArenaError, match=r"\[models.local\] serve.executable: .* is not executable"):
        VLLMServer(vllm_spec(str(script), free_port()), tmp_path / "v.log").start(timeout=5)


# -- `arena serve` -----------------------------------------------------------------------------


def _lines(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def test_arena_serve_cli(tmp_path: Path):
    script, out = make_standin(tmp_path)
    port = free_port()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[models.m]\nprovider = "vllm"\npath = "/models/m"\nmodel = "served-m"\n'
                   f'[models.m.serve]\nexecutable = "{script}"\nport = {port}\n', encoding="utf-8")
    home = tmp_path / "home"
    env = {**os.environ, "ARENA_HOME": str(home)}
    proc = subprocess.Popen([str(ARENA), "--config", str(cfg), "serve", "m", "--timeout", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, q), daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while not any("is up" in s for s in seen):
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"arena serve exited early: {''.join(seen)}"
            seen.append(line)
        up = next(s for s in seen if "is up" in s)
        assert f"m is up at http://127.0.0.1:{port}/v1" in up and "'served-m'" in up
        argv = json.loads((out / "argv.json").read_text())
        assert argv[:2] == ["serve", "/models/m"] and argv[-2:] == ["--served-model-name", "served-m"]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the stand-in is listening
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
        while (line := q.get(timeout=5)) is not None:
            seen.append(line)
        assert proc.returncode == 0, "".join(seen)
        assert signals(out) == ["got SIGINT"]
        assert any("vllm stopped (exit code 0)" in s for s in seen)
        log = (home / "logs" / "vllm-m.log").read_text()
        assert "Uvicorn running" in log and "shutting down" in log
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        kill_standin(out)


def test_arena_serve_interrupted_while_starting(tmp_path: Path):
    """Ctrl-C during the (long) wait for /health must not leave the server running: it is in
    its own session, so the terminal's SIGINT never reaches it."""
    script, out = make_standin(tmp_path, startup_delay=30)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[models.m]\nprovider = "vllm"\npath = "/models/m"\n'
                   f'[models.m.serve]\nexecutable = "{script}"\nport = {free_port()}\n',
                   encoding="utf-8")
    home = tmp_path / "home"
    log = home / "logs" / "vllm-m.log"
    env = {**os.environ, "ARENA_HOME": str(home)}
    proc = subprocess.Popen([str(ARENA), "--config", str(cfg), "serve", "m", "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while not (log.exists() and "loading weights" in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert time.monotonic() - t0 < 10
        assert signals(out) == ["got SIGINT"], err
        pid = int((out / "pid").read_text())
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # reaped by `arena serve`, or by init once it exited
        assert not Path(f"/proc/{pid}").exists()
        assert "is up" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        kill_standin(out)


def test_interrupt_while_starting_stops_the_server(tmp_path: Path, servers):
    script, out = make_standin(tmp_path, startup_delay=30)
    srv = VLLMServer(vllm_spec(str(script), free_port()), tmp_path / "v.log")
    servers.append(srv)
    timer = threading.Timer(0.8, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            srv.start(timeout=20)
    finally:
        timer.cancel()
    assert srv.proc.poll() == 0 and signals(out) == ["got SIGINT"]


def test_arena_serve_refuses_non_vllm_model(tmp_path: Path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[models.api]\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8")
    env = {**os.environ, "ARENA_HOME": str(tmp_path / "home")}
    r = subprocess.run([str(ARENA), "--config", str(cfg), "serve", "api"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 2
    assert "[models.api] provider: `arena serve` needs provider = \"vllm\"" in r.stderr
