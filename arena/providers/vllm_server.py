"""Start and stop a ``vllm serve`` process for a model with local weights.

This is how users run vLLM: as an OpenAI-compatible server. ``arena serve NAME`` builds
the command line from ``[models.NAME.serve]``, streams the server's output into a log file,
waits for ``/health`` to answer 200, and on exit stops it the way vLLM likes (SIGINT, then
SIGTERM, then SIGKILL). The executable is configurable, which is also how tests stand a
small fake in for vLLM.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from arena.config import ModelSpec
from arena.domain import ArenaError


def serve_command(spec: ModelSpec) -> list[str]:
    """The argv of ``vllm serve`` for this model."""
    if not spec.path:
        raise ArenaError(f"[models.{spec.name}] path: `arena serve` needs the model's local path")
    opts = spec.serve
    argv = shlex.split(opts.executable) + [
        "serve", spec.path, "--host", opts.host, "--port", str(opts.port),
        "--served-model-name", spec.endpoint_model,
    ]
    if opts.max_model_len:
        argv += ["--max-model-len", str(opts.max_model_len)]
    if opts.gpu_memory_utilization:
        argv += ["--gpu-memory-utilization", str(opts.gpu_memory_utilization)]
    return argv + list(opts.extra_args)


class VLLMServer:
    """One running server; use as a context manager or call start()/stop()."""

    def __init__(self, spec: ModelSpec, log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.spec.serve.host}:{self.spec.serve.port}/v1"

    @property
    def health_url(self) -> str:
        return f"http://{self.spec.serve.host}:{self.spec.serve.port}/health"

    def start(self, timeout: float | None = None) -> None:
        """Launch and wait until healthy; ArenaError (with the log's tail) if it dies or stalls."""
        argv = serve_command(self.spec)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        except FileNotFoundError:
            raise ArenaError(
                f"[models.{self.spec.name}] serve.executable: {argv[0]!r} not found; install "
                "vLLM (`pip install 'arena-code[vllm]'`) or point serve.executable at it") from None
        except PermissionError:
            raise ArenaError(
                f"[models.{self.spec.name}] serve.executable: {argv[0]!r} is not executable") from None
        finally:
            log.close()
        deadline = time.monotonic() + (timeout or self.spec.serve.startup_timeout)
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ArenaError(f"vllm serve exited with code {self.proc.returncode} before it "
                                     f"was ready; see {self.log_path}:\n{self.log_tail()}")
                if self.healthy():
                    return
                time.sleep(0.2)
        except KeyboardInterrupt:  # in its own session, Ctrl-C never reaches it: stop it here
            self.stop()
            raise
        self.stop()
        raise ArenaError(f"vllm serve was not healthy after {timeout or self.spec.serve.startup_timeout:g} s; "
                         f"see {self.log_path}:\n{self.log_tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as resp:  # noqa: S310 - local URL
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGINT, then SIGTERM, then SIGKILL to the server's process group."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                return proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        return proc.poll()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> VLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
