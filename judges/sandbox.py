"""Run one untrusted solution and its tests in a child process the kernel walls in.

The execution judge hands us code a model wrote and the tests it must pass. That code may loop,
eat memory, fork, delete files, phone home, read API keys or fake a pass. The parent starts a
fresh interpreter on *this file* (``python -s -P -B sandbox.py CONFIG``); the child walls itself
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

import builtins
import ctypes
import errno
import functools
import json
import linecache
import math
import os
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import weakref
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn, get_args

if TYPE_CHECKING:
    import asyncio

Status = Literal["passed", "failed", "error", "timeout", "memory", "blocked", "crashed"]
NOBODY = 65534
_GRACE_S = 0.25  # wall-clock slack past timeout_s for interpreter start-up
_DRAIN_S = 0.5  # how long to keep reading output after the child has exited


@dataclass(frozen=True)
class Limits:
    """What one run may use. Memory is address space, so it bounds allocations, not RSS."""

    timeout_s: float = 10.0  # wall clock for the whole child run
    memory_mb: int = 1024  # RLIMIT_AS of the child
    file_size_mb: int = 16  # RLIMIT_FSIZE
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
            [sys.executable, "-s", "-P", "-B", os.path.abspath(__file__), config],
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


# --- The child: everything below runs inside the sandboxed interpreter. -------------------

_SETUP_FAILED = 70  # exit code when a layer that must hold (rlimits, capset) could not be set
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_PR_SET_KEEPCAPS, _PR_SET_NO_NEW_PRIVS, _CAP_DAC_READ_SEARCH = 8, 38, 2
_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT = 444, 445, 446  # syscall numbers (x86_64 and arm64)
_FS_READ = (1 << 2) | (1 << 3)  # READ_FILE, READ_DIR
# WRITE_FILE, REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG, MAKE_SOCK, MAKE_FIFO,
# MAKE_BLOCK, MAKE_SYM (ABI 1); then REFER (2), TRUNCATE (3), IOCTL_DEV (5)
_FS_WRITE = {1: sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12)), 2: 1 << 13, 3: 1 << 14,
             5: 1 << 15}
_FS_FILE_ONLY = 1 | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # rights a file rule may hold
_READ_ROOTS = (
    "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/localtime",
    "/etc/timezone", "/etc/ssl", "/etc/ca-certificates", "/etc/passwd", "/etc/group",
    "/etc/nsswitch.conf", "/etc/hosts", "/etc/resolv.conf", "/etc/mime.types",
    "/etc/os-release", "/etc/locale.alias", "/dev/zero", "/dev/urandom", "/dev/random",
    "/dev/full", "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat",
    "/sys/devices/system/cpu",
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _child_main(config_json: str) -> NoReturn:
    """Wall in, say which layers hold, then read the payload, close stdin and run it."""
    config = json.loads(config_json)
    fd = int(config["fd"])
    os.set_inheritable(fd, False)  # a program the code execs must not get the result pipe
    try:
        layers = _isolate(config)
    except Exception as exc:  # a layer that must hold did not: run nothing
        print(f"sandbox setup failed: {exc!r}", file=sys.stderr, flush=True)
        os._exit(_SETUP_FAILED)
    os.write(fd, json.dumps({"layers": layers}).encode() + b"\n")
    chunks = []
    while chunk := os.read(0, 1 << 20):
        chunks.append(chunk)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # stdin is closed: input() sees EOF
    os.close(null)
    _harness(json.loads(b"".join(chunks)), fd)


def _isolate(config: dict[str, Any]) -> list[str]:
    import resource  # Unix only, and only the child needs it

    libc = ctypes.CDLL(None, use_errno=True)
    layers, root = ["process"], os.geteuid() == 0
    unshare = getattr(libc, "unshare", None)  # Linux only, like prctl, capset and Landlock
    if unshare and unshare(_CLONE_NEWNET if root else _CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        layers += ["netns"] if root else ["userns", "netns"]
    restrict_reads = root and not all(map(_nobody_can_read, _interpreter_paths()))
    if root:
        layers += _become_nobody(libc, keep_read=restrict_reads)
    mb = 1024 * 1024
    cpu = math.ceil(config["timeout_s"]) + 1
    resource.setrlimit(resource.RLIMIT_AS, (config["memory_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (config["file_size_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    layers.append("rlimits")
    if os.getuid() != 0:  # uid 0 is exempt from RLIMIT_NPROC: only worth it once not root
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
        layers.append("nproc")
    return layers + _landlock(libc, config["scratch"], restrict_reads)


def _interpreter_paths() -> set[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return {os.path.realpath(p) for p in paths | set(sys.path) if os.path.isdir(p)}


def _nobody_can_read(path: str) -> bool:
    """Whether "other" may list ``path`` and search every directory above it."""
    needed = stat.S_IROTH | stat.S_IXOTH
    while True:
        if os.stat(path).st_mode & needed != needed:
            return False
        if path == "/":
            return True
        path, needed = os.path.dirname(path), stat.S_IXOTH


def _become_nobody(libc: ctypes.CDLL, *, keep_read: bool) -> list[str]:
    """setuid to nobody; with ``keep_read``, keep CAP_DAC_READ_SEARCH alone (and fail closed
    if the other capabilities cannot be dropped). Returns the layer, or none if setuid failed."""
    if keep_read and (
        not hasattr(libc, "capset") or libc.prctl(_PR_SET_KEEPCAPS, ctypes.c_ulong(1), 0, 0, 0)
    ):
        keep_read = False
    try:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    except OSError:
        return []
    if not keep_read:
        return ["user:nobody"]
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = 1 << _CAP_DAC_READ_SEARCH
    if libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    return ["user:nobody+dac_read_search"]


def _landlock(libc: ctypes.CDLL, scratch: str, restrict_reads: bool) -> list[str]:
    """no_new_privs, then a Landlock domain; returns the Landlock layers in force."""
    syscall = getattr(libc, "syscall", None)
    prctl = getattr(libc, "prctl", None)
    if not (syscall and prctl) or prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0):
        return []
    syscall.restype = ctypes.c_long
    abi = syscall(ctypes.c_long(_LL_CREATE), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return []
    write = sum(bits for version, bits in _FS_WRITE.items() if abi >= version)
    read = _FS_READ if restrict_reads else 0
    attr = _RulesetAttr(write | read, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = syscall(ctypes.c_long(_LL_CREATE), ctypes.byref(attr), ctypes.c_size_t(size),
                      ctypes.c_uint32(0))
    if ruleset < 0:
        return []
    try:
        if not _allow(syscall, ruleset, scratch, write | read):
            return []
        _allow(syscall, ruleset, os.devnull, write | read)
        for path in (_READ_ROOTS + tuple(_interpreter_paths())) if read else ():
            _allow(syscall, ruleset, path, read)
        if syscall(ctypes.c_long(_LL_RESTRICT), ctypes.c_long(ruleset), ctypes.c_uint32(0)):
            return []
    finally:
        os.close(ruleset)
    names = {"landlock": True, "landlock-read": bool(read), "landlock-net": abi >= 4,
             "landlock-scope": abi >= 6}
    return [name for name, on in names.items() if on]


def _allow(syscall: Any, ruleset: int, path: str, access: int) -> bool:
    """Add a path-beneath rule (file rules may only hold file rights); False if it failed."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FS_FILE_ONLY
        rule = _PathBeneath(access, fd)
        added = syscall(ctypes.c_long(_LL_ADD_RULE), ctypes.c_long(ruleset), ctypes.c_long(1),
                        ctypes.byref(rule), ctypes.c_uint32(0))
        return bool(added == 0)
    finally:
        os.close(fd)


# The harness. An audit hook remembers the last call of these kinds, to name a denied one.
_PROCESS_CALLS = {"os.fork", "os.forkpty", "os.system", "os.posix_spawn", "os.spawn", "os.exec",
                  "subprocess.Popen", "pty.spawn"}
_NET_CALLS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
              "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"}
_WRITE_CALLS = {"os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.symlink", "os.link",
                "os.truncate", "os.chmod", "os.chown", "os.utime", "os.mkfifo", "os.mknod",
                "shutil.rmtree", "shutil.move", "shutil.copyfile"}
_WATCHED = frozenset(_PROCESS_CALLS | _NET_CALLS | _WRITE_CALLS
                     | {"open", "os.listdir", "os.scandir", "os.kill", "os.killpg"})
_NET_VERBS = {"socket.connect": "connect to", "socket.bind": "bind to", "socket.sendto": "send to",
              "socket.getaddrinfo": "resolve", "socket.gethostbyname": "resolve"}
_NET_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM,
               errno.EADDRNOTAVAIL, errno.ECONNREFUSED}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_last_call: list[tuple[str, tuple[Any, ...]]] = [("", ())]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _WATCHED:
        _last_call[0] = (event, args)


def _harness(payload: dict[str, Any], fd: int) -> NoReturn:
    """exec the code as module "solution" (so ``if __name__ == "__main__":`` stays quiet),
    then the tests in the same namespace, then ``check(entry_point)``; report; _exit."""
    nonce, code, tests, entry = (payload.pop("nonce"), payload["code"], payload["tests"],
                                 payload.get("entry_point"))
    dumps, write, exit_ = json.dumps, os.write, os._exit  # before the code can patch them
    linecache.cache["<tests>"] = (len(tests), None, tests.splitlines(True), "<tests>")
    sys.addaudithook(_audit)
    namespace: dict[str, Any] = {"__name__": "solution", "__builtins__": builtins}
    status: Status
    try:
        exec(compile(code, "<solution>", "exec"), namespace)
        exec(compile(tests, "<tests>", "exec"), namespace)
        if entry and entry not in namespace:
            status, detail = "error", f"entry point {entry!r} is not defined by the code"
        else:
            if entry and callable(namespace.get("check")):
                namespace["check"](namespace[entry])
            status, detail = "passed", "all tests passed"
    except BaseException as exc:  # noqa: B036 - SystemExit and friends are verdicts too
        namespace.clear()  # free what the code held before describing it (MemoryError)
        status, detail = _classify(exc, tests)
        if status != "memory":
            try:
                tb = exc.__traceback__
                traceback.print_exception(type(exc), exc, tb and tb.tb_next)  # not our frame
            except BaseException:  # noqa: B036
                pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()  # type: ignore[union-attr]
        except BaseException:  # noqa: B036
            pass
    write(fd, b"\n" + dumps({"nonce": nonce, "status": status, "detail": detail}).encode() + b"\n")
    exit_(0)


def _text(value: object) -> str:
    try:
        return str(value)
    except BaseException:  # noqa: B036
        return "?"


def _classify(exc: BaseException, tests: str) -> tuple[Status, str]:
    link: BaseException | None = exc
    for _ in range(5):  # the denial may sit under a wrapper the code raised
        if link is None:
            break
        if (hit := _blocked(link)) is not None:
            return "blocked", f"blocked: {hit}"
        link = link.__cause__ or link.__context__
    name = type(exc).__name__
    if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
        return "memory", name
    if isinstance(exc, AssertionError):
        line, tb = 0, exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<tests>":
                line = tb.tb_lineno
            tb = tb.tb_next
        lines = tests.splitlines()
        where = f": test line {line}: {lines[line - 1].strip()}" if 0 < line <= len(lines) else ""
        message = _text(exc)
        return "failed", f"{name}{where}" + (f" ({message})" if message else "")
    if isinstance(exc, SystemExit | KeyboardInterrupt | GeneratorExit):
        return "error", f"{name}({_text(exc)}) before the tests finished"
    return "error", f"{name}: {_text(exc)}"


def _blocked(exc: BaseException) -> str | None:
    """What a containment layer denied, if ``exc`` is such a denial; else None."""
    event, args = _last_call[0]
    if isinstance(exc, RuntimeError) and "can't start new thread" in _text(exc):
        return "creating a thread"
    if not isinstance(exc, OSError):
        return None
    code = exc.errno
    if event in _PROCESS_CALLS and code in (errno.EAGAIN, errno.EPERM, errno.EACCES):
        return "creating a process"
    if event in ("os.kill", "os.killpg") and code == errno.EPERM:
        return "signalling a process outside the sandbox"
    if event in _NET_CALLS and (code in _NET_ERRNOS or type(exc).__name__ == "gaierror"):
        target = args[1] if event in ("socket.connect", "socket.bind", "socket.sendto") else args[0]
        if isinstance(target, tuple) and len(target) >= 2:
            target = f"{target[0]}:{target[1]}"
        verb = _NET_VERBS.get(event, event.removeprefix("socket."))
        return f"network access ({verb} {_text(target)})"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EXDEV) and exc.filename is not None:
        flags = args[2] if event == "open" and len(args) > 2 else 0
        writing = event in _WRITE_CALLS or (isinstance(flags, int) and flags & _WRITE_FLAGS)
        return f"{'writing' if writing else 'reading'} outside the sandbox ({exc.filename})"
    return None


if __name__ == "__main__":
    _child_main(sys.argv[1])
