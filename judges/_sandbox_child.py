"""The child half of :mod:`judges.sandbox`: runs inside the sandboxed interpreter.

The parent starts ``python -s -P -B _sandbox_child.py CONFIG``; this file walls the process
in (see the layers in :mod:`judges.sandbox`'s docstring), then reads code and tests from
stdin, runs them and reports on its result pipe. It imports nothing of the project, so
that nothing of ours is loaded into the walled-in process.
"""

from __future__ import annotations

import builtins
import ctypes
import errno
import json
import linecache
import math
import os
import resource
import stat
import sys
import traceback
from typing import Any, Literal, NoReturn

Status = Literal["passed", "failed", "error", "timeout", "memory", "blocked", "crashed"]
NOBODY = 65534

_SETUP_FAILED = 70  # exit code when a layer that must hold (rlimits, capset) could not be set
_CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_NEWNS = 0x10000000, 0x40000000, 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 2, 4, 1 << 14, 1 << 18
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

    libc = ctypes.CDLL(None, use_errno=True)
    layers, root = ["process"], os.geteuid() == 0
    unshare = getattr(libc, "unshare", None)  # Linux only, like prctl, capset and Landlock
    if unshare and unshare(_CLONE_NEWNET if root else _CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        layers += ["netns"] if root else ["userns", "netns"]
    if root and unshare and _scratch_on_tmpfs(libc, unshare, config):
        layers.append("disk")
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


def _scratch_on_tmpfs(libc: ctypes.CDLL, unshare: Any, config: dict[str, Any]) -> bool:
    """A mount namespace of our own, and in it a tmpfs of ``disk_mb`` (and at most
    ``files`` inodes) over the scratch dir: the code's writes fill that, not the host's disk,
    and vanish with the namespace when the child dies. The mount is private (nothing
    propagates to the parent's namespace). False (layer skipped) where the kernel says no."""
    scratch = config["scratch"]
    if unshare(_CLONE_NEWNS) != 0:
        return False
    mount = libc.mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                      ctypes.c_char_p]
    if mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    options = (f"size={int(config['disk_mb'])}m,nr_inodes={int(config['disk_files'])},"
               f"mode=0700,uid={NOBODY},gid={NOBODY}")
    if mount(b"arena-sandbox", scratch.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV,
             options.encode()) != 0:
        return False
    os.chdir(scratch)  # the old cwd is the directory underneath the new mount
    return True


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
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the sandbox's disk is full (its scratch dir is a small tmpfs)"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EXDEV) and exc.filename is not None:
        flags = args[2] if event == "open" and len(args) > 2 else 0
        writing = event in _WRITE_CALLS or (isinstance(flags, int) and flags & _WRITE_FLAGS)
        return f"{'writing' if writing else 'reading'} outside the sandbox ({exc.filename})"
    return None


if __name__ == "__main__":
    _child_main(sys.argv[1])
