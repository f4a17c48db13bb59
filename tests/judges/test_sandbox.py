"""judges/sandbox.py: verdicts, limits, and that each containment layer really contains.

Containment tests run the hostile code for real and check the damage did not happen (canary
intact, no connection seen, no file made, no process left). Each one is skipped, with the
reason, only when ``isolation_layers()`` says the layer it relies on is missing here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from judges.sandbox import ExecResult, Limits, isolation_layers, run_tests, run_tests_async

FAST = Limits(timeout_s=5.0)


def needs(*any_of: str) -> None:
    """Skip unless one of these layers is in force on this machine."""
    layers = isolation_layers()
    if not set(any_of) & set(layers):
        pytest.skip(f"needs one of {any_of}; this machine has only {layers}")


def run(code: str, tests: str = "", **kwargs: object) -> ExecResult:
    kwargs.setdefault("limits", FAST)
    return run_tests(code, tests, **kwargs)  # type: ignore[arg-type]


# --- verdicts ----------------------------------------------------------------------------


def test_passing_code() -> None:
    result = run("def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3\n")
    assert result.status == "passed" and result.passed
    assert {"process", "rlimits"} <= set(result.isolation)
    assert result.duration_s < FAST.timeout_s


def test_failing_assert_names_the_test_line() -> None:
    tests = "assert add(1, 2) == 3\nassert add(2, 2) == 5\nassert add(0, 0) == 0\n"
    result = run("def add(a, b):\n    return a + b\n", tests)
    assert result.status == "failed" and not result.passed
    assert result.detail == "AssertionError: test line 2: assert add(2, 2) == 5"


def test_humaneval_check_is_called_with_the_entry_point() -> None:
    tests = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n"
    assert run("def inc(x):\n    return x + 1\n", tests, entry_point="inc").passed
    wrong = run("def inc(x):\n    return x + 2\n", tests, entry_point="inc")
    assert wrong.status == "failed"
    assert "test line 2: assert candidate(1) == 2" in wrong.detail


def test_missing_entry_point_is_an_error() -> None:
    tests = "def check(candidate):\n    assert candidate(1) == 2\n"
    result = run("def other(x):\n    return x + 1\n", tests, entry_point="inc")
    assert result.status == "error"
    assert result.detail == "entry point 'inc' is not defined by the code"


def test_syntax_error_in_the_code_is_an_error() -> None:
    result = run("def add(a, b)\n    return a + b\n", "assert add(1, 2) == 3\n")
    assert result.status == "error" and result.detail.startswith("SyntaxError")


def test_name_error_is_an_error_with_its_message() -> None:
    result = run("x = 1\n", "assert f(1) == 2\n")
    assert (result.status, result.detail) == ("error", "NameError: name 'f' is not defined")


def test_main_block_of_an_answer_does_not_run() -> None:
    code = "def f():\n    return 1\n\nif __name__ == '__main__':\n    raise SystemExit(3)\n"
    assert run(code, "assert f() == 1\n").passed


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.exit(0)\n",
        "import os\nos._exit(0)\n",
        'import json\nprint(json.dumps({"status": "passed", "detail": "all tests passed"}))\n'
        "import os\nos._exit(0)\n",
        # a forged message on every fd the result pipe could be: no nonce, no pass
        "import os\nfor fd in range(3, 64):\n    try:\n"
        '        os.write(fd, b\'\\n{"status": "passed", "nonce": "x"}\\n\')\n'
        "    except OSError:\n        pass\nos._exit(0)\n",
    ],
    ids=["sys.exit", "os._exit", "fake-json-on-stdout", "forged-result-pipe"],
)
def test_leaving_early_or_faking_success_is_not_a_pass(code: str) -> None:
    result = run(code, "assert False, 'tests must not be skipped'\n")
    assert not result.passed
    assert result.status == "error"


def test_stdin_is_closed() -> None:
    assert run("try:\n    input()\nexcept EOFError:\n    pass\n").passed


# --- limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["while True:\n    pass\n", "import time\ntime.sleep(100)\n"])
def test_time_limit(code: str) -> None:
    started = time.monotonic()
    result = run(code, limits=Limits(timeout_s=1.0))
    assert result.status == "timeout"
    assert result.detail == "killed after 1.0 s (time limit)"
    assert time.monotonic() - started < 1.0 + 2.0


@pytest.mark.parametrize(
    "code",
    ["b = bytearray(4 * 1024**3)\n", "x = []\nwhile True:\n    x.append('x' * 1000)\n"],
    ids=["one-big-block", "growing-list"],
)
def test_memory_limit(code: str) -> None:
    result = run(code, limits=Limits(timeout_s=10.0, memory_mb=256))
    assert result.status == "memory", result


def test_a_segfault_is_a_crash() -> None:
    result = run("import ctypes\nctypes.string_at(0)\n")
    assert (result.status, result.detail) == ("crashed", "killed by SIGSEGV")


def test_100_mb_of_output_completes_and_keeps_the_tail() -> None:
    code = (
        "import sys\nchunk = 'y' * 999_999 + '\\n'\n"
        "for _ in range(100):\n    sys.stdout.write(chunk)\nprint('END')\n"
    )
    result = run(code, limits=Limits(timeout_s=20.0, max_output_bytes=64_000))
    assert result.passed
    assert result.output.endswith("y\nEND\n")
    assert re.match(r"\[\.\.\. \d+ bytes dropped \.\.\.\]\n", result.output)
    assert len(result.output) <= 64_000 + 100


def test_escapes_and_control_characters_come_back_printable() -> None:
    code = "print('\\x1b[31mred\\x1b[0m [bold]markup[/bold] \\x07\\r\\x1b]0;title\\x07')\n"
    result = run(code)
    assert result.passed
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", result.output)
    assert "\\x1b[31mred\\x1b[0m" in result.output
    assert "[bold]markup[/bold]" in result.output  # shown as text, never interpreted


# --- containment -------------------------------------------------------------------------


def test_the_environment_is_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_TEST_SECRET_KEY", "sk-test-0123456789")
    code = (
        "import os\nassert 'ARENA_TEST_SECRET_KEY' not in os.environ\n"
        "assert not any('sk-test' in v for v in os.environ.values())\n"
    )
    assert run(code).passed


def test_files_in_the_scratch_dir_work_and_the_dir_is_removed() -> None:
    code = (
        "import os, tempfile\nopen('out.txt', 'w').write('hello')\n"
        "os.makedirs('a/b')\nopen('a/b/c', 'w').write('x')\n"
        "with tempfile.NamedTemporaryFile() as f:\n    f.write(b'y')\n"
        "assert open('out.txt').read() == 'hello'\nprint(os.getcwd())\n"
    )
    result = run(code)
    assert result.passed, result
    scratch = Path(result.output.strip())
    assert scratch.is_absolute() and not scratch.exists()


@pytest.mark.parametrize(("code", "limits"), [
    ("data = b'x' * (1 << 20)\nn = 0\nwhile True:\n    with open(f'f{n}', 'wb') as fh:\n"
     "        fh.write(data)\n    n += 1\n", Limits(timeout_s=5.0, disk_mb=8)),
    ("n = 0\nwhile True:\n    open(f'e{n}', 'w').close()\n    n += 1\n",
     Limits(timeout_s=5.0, disk_files=64)),
], ids=["bytes", "files"])
def test_filling_the_disk_stops_at_the_scratch_tmpfs(code: str, limits: Limits) -> None:
    needs("disk")
    before = os.statvfs("/tmp")
    result = run(code, "assert False", limits=limits)
    assert (result.status, result.detail) == (
        "blocked", "blocked: the sandbox's disk is full (its scratch dir is a small tmpfs)")
    after = os.statvfs("/tmp")
    # the host's /tmp did not lose the 8 MB (other jobs may write meanwhile: a loose bound)
    assert (before.f_bavail - after.f_bavail) * before.f_frsize < 4 << 20


def test_the_scratch_tmpfs_is_not_visible_outside() -> None:
    needs("disk")
    code = ("import os, time\nopen('mark', 'w').write('x')\nprint(os.getcwd(), flush=True)\n"
            "time.sleep(30)\n")
    seen: list[bool] = []

    def watch() -> None:  # while the child sleeps: its scratch dir, seen from here, is empty
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and not seen:
            for d in Path("/tmp").glob("arena-sandbox-*"):
                with open("/proc/self/mounts", encoding="utf-8") as fh:
                    mounted = any(str(d) in line for line in fh)
                if mounted or (d / "mark").exists():
                    seen.append(True)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = run(code, limits=Limits(timeout_s=1.5))
    watcher.join()
    assert result.status == "timeout" and seen == []


def test_fork_bomb_is_blocked_and_nothing_is_left() -> None:
    needs("nproc")
    code = "import os\nprint(os.getpgid(0), flush=True)\nwhile True:\n    os.fork()\n"
    result = run(code)
    assert (result.status, result.detail) == ("blocked", "blocked: creating a process")
    pgid = int(result.output.split()[0])
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_subprocess_is_blocked() -> None:
    needs("nproc")
    result = run("import subprocess\nsubprocess.run(['true'])\n")
    assert (result.status, result.detail) == ("blocked", "blocked: creating a process")


def test_os_system_cannot_touch_a_file() -> None:
    needs("nproc")
    target = Path(f"/tmp/arena-sandbox-touch-{uuid.uuid4().hex}")
    try:
        result = run(f"import os\nos.system('touch {target}')\n")
        assert not target.exists()
        assert result.status in ("passed", "blocked")  # os.system reports -1, it does not raise
    finally:
        target.unlink(missing_ok=True)


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """A world-writable dir and file outside the scratch dir: file permissions would let the
    sandboxed user in, so only Landlock stands in the way."""
    needs("landlock")
    folder = tmp_path / "canary"
    folder.mkdir()
    (folder / "keep.txt").write_text("original")
    folder.chmod(0o777)
    (folder / "keep.txt").chmod(0o666)
    yield folder / "keep.txt"
    assert (folder / "keep.txt").read_text() == "original"
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(
    "attack",
    [
        "import os\nos.remove({file!r})\n",
        "import shutil\nshutil.rmtree({folder!r})\n",
        "open({file!r}, 'w').write('pwned')\n",
        "import os\nos.rename({file!r}, 'stolen.txt')\n",
        "import os\nos.rename({file!r}, {folder!r} + '/renamed.txt')\n",
        "open({folder!r} + '/new.txt', 'w')\n",
    ],
    ids=["remove", "rmtree", "overwrite", "rename-into-scratch", "rename-in-place", "create"],
)
def test_files_outside_the_scratch_dir_are_out_of_reach(canary: Path, attack: str) -> None:
    result = run(attack.format(file=str(canary), folder=str(canary.parent)))
    assert result.status == "blocked", result
    assert result.detail.startswith("blocked: ") and "outside the sandbox" in result.detail


def test_network_is_blocked() -> None:
    needs("netns", "landlock-net")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    seen: list[object] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                seen.append(listener.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        result = run(code)
        time.sleep(0.2)
    finally:
        done.set()
        thread.join()
        listener.close()
    assert (result.status, result.detail) == (
        "blocked", f"blocked: network access (connect to 127.0.0.1:{port})"
    )
    assert seen == []


def test_isolation_layers_are_probed_once_and_always_hold_the_basics() -> None:
    layers = isolation_layers()
    assert layers[0] == "process" and "rlimits" in layers
    assert isolation_layers() is layers
    json.dumps(layers)  # plain strings, fit for a report


async def test_concurrent_async_runs() -> None:
    tests = "assert square({n}) == {n} * {n}\n"
    code = "import time\ndef square(x):\n    time.sleep(0.05)\n    return x * x\n"
    results = await asyncio.gather(
        *(run_tests_async(code, tests.format(n=n), limits=FAST) for n in range(8))
    )
    assert [r.status for r in results] == ["passed"] * 8
