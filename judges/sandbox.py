"""Run one untrusted solution and its tests in a child process the kernel walls in.

The execution judge hands us code a model wrote and the tests it must pass. That code may loop,
eat memory, fork, delete files, phone home, read API keys or fake a pass. The parent starts a
fresh interpreter on ``_sandbox_child.py`` (``python -s -P -B _sandbox_child.py CONFIG``); the child walls itself
in, then reads code and tests from stdin (JSON, never argv or files), runs them and reports
on a pipe of its own. Isolation is done there, not in a ``preexec_fn`` (unsafe in a parent
with threads). Layers, in the order the child applies them; a layer the machine cannot do is
skipped, and ``ExecResult.isolation`` names those in force:

``process``  New session (own process group); the parent SIGKILLs the group on timeout and
    after every exit. Minimal environment (PATH, LANG, HOME = TMPDIR = cwd = a fresh scratch
    dir, hash seed 0; never the parent's, which may hold API keys). No ``-E``/``-I``: the
    environment is ours, and ``-E`` would drop PYTHONHASHSEED.
``netns`` (+ ``userns`` when not root)  ``unshare(CLONE_NEWNET)``: a namespace whose loopback is
    down, so every connect fails (ENETUNREACH). First, while root still has CAP_SYS_ADMIN.
``disk`` (root)  A mount namespace of its own (made private) and a tmpfs of ``disk_mb`` and
    ``disk_files`` inodes mounted over the scratch dir: writes fill that, never the host's
    disk, and are gone when the child dies. A full disk reads "blocked: the sandbox's disk is
    full". Without root the scratch dir is a plain dir, bounded only by RLIMIT_FSIZE per file.
``user:nobody``  As root: setgroups([]), setgid and setuid 65534; the parent chowned the scratch
    dir to 65534. When nobody cannot read the interpreter's own files (a pyenv under /root),
    the child keeps CAP_DAC_READ_SEARCH only (``user:nobody+dac_read_search``: it may read,
    never write, what root can) and Landlock then confines reads (``landlock-read``).
``rlimits``  RLIMIT_AS, CPU (ceil(timeout)+1 s, then SIGXCPU), FSIZE, CORE 0, NOFILE 256.
``nproc``  RLIMIT_NPROC = 1, set *after* setuid, and only when not uid 0 (which the kernel
    exempts). The limit counts all processes of the real uid; set before the switch, setuid
    into a uid already over it (other runs as nobody) fails (old kernels) or flags the process
    so that its next execve fails with EAGAIN. As nobody every fork, clone and thread fails
    with EAGAIN, so a fork bomb stops at its first fork.
``landlock``  prctl(NO_NEW_PRIVS), then a ruleset that handles every write/modify right of the
    ABI and allows them only beneath the scratch dir and on /dev/null. Reads stay unhandled
    unless ``landlock-read`` (interpreter, system dirs, a few /etc files, /proc/self).
``landlock-net`` (ABI >= 4)  TCP bind and connect handled with no allow rule: a second barrier.
``landlock-scope`` (ABI >= 6)  no signals to, no abstract unix sockets of, processes outside.

Verdicts: ``passed`` only when the harness reached its end and wrote a message carrying the
run's nonce on the result pipe (``pass_fds``); an early ``sys.exit``/``os._exit``, or "passed"
printed to stdout, is not that. The nonce is held by the harness's frames, so code that
deliberately walks them could still forge a pass: it is a guard against accidents and naive
cheating; the kernel layers above are the boundary against harm. An audit hook remembers the
last file, socket or process call, so that a denied one reads "blocked: <what>" in the detail.
"""

from __future__ import annotations

import functools
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    import asyncio

Status = Literal["passed", "failed", "error", "timeout", "memory", "blocked", "crashed"]
NOBODY = 65534
_SETUP_FAILED = 70  # the child's exit code when a layer that must hold could not be set
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_child.py")
_GRACE_S = 0.25  # wall-clock slack past timeout_s for interpreter start-up
_DRAIN_S = 0.5  # how long to keep reading output after the child has exited


@dataclass(frozen=True)
class Limits:
    """What one run may use. Memory is address space, so it bounds allocations, not RSS."""

    timeout_s: float = 10.0  # wall clock for the whole child run
    memory_mb: int = 1024  # RLIMIT_AS of the child
    file_size_mb: int = 16  # RLIMIT_FSIZE
    disk_mb: int = 64  # the scratch tmpfs (root only: layer ``disk``)
    disk_files: int = 4096  # inodes of that tmpfs
    max_output_bytes: int = 64_000  # stdout+stderr kept (tail); the rest is drained and dropped


@dataclass(frozen=True)
class ExecResult:
    """What happened to one run; ``detail`` is one short printable line."""

    status: Status
    detail: str
    duration_s: float
    output: str  # tail of the child's stdout+stderr, made printable
    isolation: tuple[str, ...]  # the layers that were in force

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def run_tests(
    code: str, tests: str, *, entry_point: str | None = None, limits: Limits = Limits()
) -> ExecResult:
    """Run ``code`` then ``tests`` (then ``check(entry_point)`` when both exist) in a contained
    child. Never raises for anything the code does; raises OSError only when no child can be
    started at all (no scratch dir, no process)."""
    nonce = secrets.token_hex(16)
    payload = json.dumps({"code": code, "tests": tests, "entry_point": entry_point, "nonce": nonce})
    scratch = tempfile.mkdtemp(prefix="arena-sandbox-")
    try:
        if os.geteuid() == 0:
            os.chown(scratch, NOBODY, NOBODY)
        return _run_child(payload.encode(), nonce, scratch, limits)
    finally:
        shutil.rmtree(scratch, onerror=_force_remove)


_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def run_tests_async(
    code: str, tests: str, *, entry_point: str | None = None, limits: Limits = Limits()
) -> ExecResult:
    """:func:`run_tests` in a worker thread; at most ``os.cpu_count()`` runs at once per event
    loop (one semaphore per loop, since an asyncio semaphore is bound to the loop it waits on)."""
    import asyncio

    loop = asyncio.get_running_loop()
    semaphore = _semaphores.setdefault(loop, asyncio.Semaphore(os.cpu_count() or 1))
    async with semaphore:
        return await asyncio.to_thread(
            run_tests, code, tests, entry_point=entry_point, limits=limits
        )


@functools.cache
def isolation_layers() -> tuple[str, ...]:
    """The layers that work on this machine, found by running an empty solution once."""
    return run_tests("", "").isolation


def _force_remove(func: Any, path: str, exc_info: Any) -> None:
    """rmtree's error hook: the child may have made a dir unwritable for its owner."""
    try:
        os.chmod(os.path.dirname(path), 0o700)
        func(path)
    except OSError:
        pass


def _run_child(payload: bytes, nonce: str, scratch: str, limits: Limits) -> ExecResult:
    from arena.safety import printable  # here, so that the child imports nothing of ours

    result_r, result_w = os.pipe()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": scratch,
           "TMPDIR": scratch, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    config = json.dumps({**asdict(limits), "scratch": scratch, "fd": result_w})
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-s", "-P", "-B", CHILD, config],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=scratch, env=env, pass_fds=(result_w,), start_new_session=True,
        )
    except BaseException:
        os.close(result_r)
        raise
    finally:
        os.close(result_w)
    try:
        deadline = started + limits.timeout_s + _GRACE_S
        out, dropped, report, timed_out = _pump(
            proc, result_r, payload, deadline, limits.max_output_bytes
        )
    finally:
        _kill_group(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        _kill_group(proc.pid)  # strays keep the group (and its id) alive: kill them too
        os.close(result_r)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
    duration = time.monotonic() - started
    text = out.decode("utf-8", "replace")
    output = printable((f"[... {dropped} bytes dropped ...]\n" if dropped else "") + text)
    layers, message = _parse_report(report, nonce)
    cpu = usage.ru_utime + usage.ru_stime
    state, detail = _verdict(proc.returncode, message, timed_out, cpu, text, limits)
    detail = printable(" ".join(detail.split()))[:300]
    return ExecResult(state, detail, round(duration, 3), output, layers)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pump(
    proc: subprocess.Popen[bytes], result_r: int, payload: bytes, deadline: float, max_out: int
) -> tuple[bytes, int, bytes, bool]:
    """Feed stdin, drain the output and the result pipe together (so a chatty child never
    blocks and a silent one never hangs us) until the child has exited and both pipes are
    closed, or the deadline passes. Keeps the output's tail only. Returns (tail, bytes
    dropped, result-pipe bytes, timed out)."""
    assert proc.stdin is not None and proc.stdout is not None
    sel = selectors.DefaultSelector()
    out_fd, in_fd = proc.stdout.fileno(), proc.stdin.fileno()
    os.set_blocking(in_fd, False)
    for fd, event in ((out_fd, selectors.EVENT_READ), (result_r, selectors.EVENT_READ),
                      (in_fd, selectors.EVENT_WRITE)):
        sel.register(fd, event)
    try:
        pidfd = os.pidfd_open(proc.pid)
        sel.register(pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):  # no pidfds: poll for the exit instead
        pidfd = -1
    tail, report, total, pending = bytearray(), bytearray(), 0, memoryview(payload)
    exited = False
    try:
        while not exited or {out_fd, result_r} & set(sel.get_map()):
            if not exited and pidfd < 0 and os.waitid(
                os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT
            ):
                exited, deadline = True, min(deadline, time.monotonic() + _DRAIN_S)
                _kill_group(proc.pid)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in sel.select(remaining if pidfd >= 0 else min(remaining, 0.05)):
                if key.fd == in_fd:
                    try:
                        pending = pending[os.write(in_fd, pending[:65536]) :]
                    except BlockingIOError:
                        continue
                    except OSError:  # the child is gone or closed stdin: stop feeding
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(in_fd)
                        proc.stdin.close()
                elif key.fd == pidfd:  # exited (a zombie, so its pgid stays ours): kill strays
                    sel.unregister(pidfd)
                    exited, deadline = True, min(deadline, time.monotonic() + _DRAIN_S)
                    _kill_group(proc.pid)
                elif not (chunk := os.read(key.fd, 65536)):
                    sel.unregister(key.fd)
                elif key.fd == result_r:
                    report += chunk[: max(0, 1_000_000 - len(report))]
                else:
                    total += len(chunk)
                    tail += chunk
                    if len(tail) > 2 * max_out:
                        del tail[: len(tail) - max_out]
    finally:
        sel.close()
        if pidfd >= 0:
            os.close(pidfd)
    del tail[: max(0, len(tail) - max_out)]
    return bytes(tail), total - len(tail), bytes(report), not exited


def _parse_report(report: bytes, nonce: str) -> tuple[tuple[str, ...], dict[str, Any] | None]:
    """The layers line (the child's first, written before any untrusted code ran) and the
    last message that carries this run's nonce and a known status."""
    layers: tuple[str, ...] = ("process",)
    message = None
    for number, line in enumerate(report.split(b"\n")):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if number == 0 and isinstance(obj.get("layers"), list):
            layers = tuple(str(layer) for layer in obj["layers"])
        elif obj.get("nonce") == nonce and obj.get("status") in get_args(Status):
            message = obj
    return layers, message


def _verdict(
    code: int, message: dict[str, Any] | None, timed_out: bool, cpu_s: float, text: str,
    limits: Limits,
) -> tuple[Status, str]:
    """The status from what the parent saw; the harness's message wins unless we killed it."""
    if timed_out:
        return "timeout", f"killed after {limits.timeout_s:.1f} s (time limit)"
    if message is not None:
        return message["status"], str(message.get("detail", ""))
    lines = text.strip().splitlines()
    oom = any(s in text for s in ("MemoryError", "Cannot allocate memory", "out of memory"))
    if code == _SETUP_FAILED:
        return "error", f"sandbox setup failed: {lines[-1] if lines else code}"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        if -code == signal.SIGXCPU or (-code == signal.SIGKILL and cpu_s >= _cpu_limit(limits)):
            return "timeout", f"killed by {name} after {cpu_s:.1f} s of CPU (time limit)"
        if oom:
            return "memory", f"killed by {name} at the memory limit ({limits.memory_mb} MB)"
        return "crashed", f"killed by {name}"
    if oom:
        return "memory", f"out of memory ({limits.memory_mb} MB limit)"
    return "error", f"exited with code {code} before the tests finished"


def _cpu_limit(limits: Limits) -> int:
    return math.ceil(limits.timeout_s) + 1
