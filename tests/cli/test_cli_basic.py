"""The installed ``arena`` command, run as users run it: exit codes, stdout data, stderr errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import assert_clean_error

REPO = Path(__file__).resolve().parents[2]
ARENA = Path(sys.executable).parent / "arena"
if not ARENA.exists():
    ARENA = REPO / ".venv" / "bin" / "arena"
HEAVY = ("torch", "transformers", "trl", "datasets", "vllm")

pytestmark = pytest.mark.skipif(not ARENA.exists(), reason=f"console script {ARENA} not installed")


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["ARENA_HOME"] = str(home)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def arena(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARENA), *args], env=env_for(home), capture_output=True, text=True, timeout=60, cwd=home
    )


def write_prompts(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {"id": "p1", "prompt": "Reverse a list.", "category": "algo", "language": "python"}
        )
        + "\n"
        + json.dumps(
            {"id": "p2", "prompt": "Parse a date.", "category": "strings", "language": "python"}
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def test_help(tmp_path: Path) -> None:
    proc = arena(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("prompts", "battle", "judge", "battles", "leaderboard", "serve", "demo"):
        assert command in proc.stdout
    assert proc.stderr == ""


def test_help_imports_no_heavy_module(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from arena.cli.main import app\n"
        "for args in (['--help'], ['battle', 'run', '--help'], ['prompts', '--help']):\n"
        "    try:\n"
        "        app(args, prog_name='arena')\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"heavy = {HEAVY!r}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print('HEAVY=' + ','.join(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env_for(tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("HEAVY=")]
    assert lines == ["HEAVY="], lines
    assert "Usage:" in proc.stdout  # the help really ran


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ARENA_HOME with set "mini" imported (each `arena` start costs ~1 s, so it is shared).

    It has no arena.toml; tests that need one pass --config.
    """
    home = tmp_path_factory.mktemp("arena-home")
    path = write_prompts(home / "mini.jsonl")
    proc = arena(home, "prompts", "import", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # diagnostics go to stderr
    assert "set mini: 2 added, 0 updated, 0 unchanged" in proc.stderr
    return home


def test_prompts_import_and_list(home: Path) -> None:
    assert (home / "arena.db").exists()
    listed = arena(home, "prompts", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {
            "name": "mini",
            "source": str(home / "mini.jsonl"),
            "prompts": 2,
            "categories": {"algo": 1, "strings": 1},
            "languages": {"python": 2},
        }
    ]


def test_bad_file_gives_one_error_line(home: Path) -> None:
    path = home / "bad.jsonl"
    path.write_text('{"id": "p1", "prompt": "ok"}\n{"id": "p2", "prompt": }\n')
    proc = arena(home, "prompts", "import", str(path))
    line = assert_clean_error(proc)
    assert line.startswith(f"error: {path}:2: not valid JSON")
    assert proc.stdout == ""


def test_leaderboard_json_without_votes(home: Path) -> None:
    proc = arena(home, "leaderboard", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    assert proc.stdout.strip() == "[]"


def test_battle_run_with_unknown_model(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "models.toml"
    config.write_text(
        '[models.alpha]\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[models.beta]\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    proc = arena(
        home,
        "--config",
        str(config),
        "battle",
        "run",
        "--models",
        "alpha,ghost",
        "--prompts",
        "mini",
    )
    line = assert_clean_error(proc)
    assert str(config) in line
    assert "'ghost'" in line
    assert "configured: alpha, beta" in line


def test_battle_run_without_config_names_where_it_looked(home: Path) -> None:
    proc = arena(home, "battle", "run", "--models", "x,y", "--prompts", "mini")
    line = assert_clean_error(proc)
    assert str(home / "arena.toml") in line
    assert "'x'" in line and "configured: none" in line


def test_explicit_config_that_does_not_exist(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    proc = arena(
        home, "--config", str(missing), "battle", "run", "--models", "a,b", "--prompts", "mini"
    )
    assert assert_clean_error(proc) == f"error: {missing}: no such config file"


def test_battles_show_unknown_id(home: Path) -> None:
    proc = arena(home, "battles", "show", "999")
    line = assert_clean_error(proc)
    assert "999" in line
    assert proc.stdout == ""
