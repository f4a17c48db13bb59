"""`arena models add`: a trained model folder becomes a battling model with one command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import assert_clean_error

from db.engine import open_database
from db.repositories import Store

ARENA = Path(sys.executable).parent / "arena"
if not ARENA.exists():
    ARENA = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "arena"
pytestmark = pytest.mark.skipif(not ARENA.exists(), reason=f"console script {ARENA} not installed")

EXISTING = '# my models\n[models.remote]  # a server\nbase_url = "http://127.0.0.1:9/v1"\n'
PROMPTS = [{"id": "p1", "prompt": "Reverse a list."}, {"id": "p2", "prompt": "Parse a date."},
           {"id": "p3", "prompt": "Sort a dict by value."}]


def arena(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(ARENA_HOME=str(home), NO_COLOR="1", COLUMNS="200")
    return subprocess.run([str(ARENA), *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=home)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "arena.toml").write_text(EXISTING, encoding="utf-8")
    return home


def test_add_two_hf_models_and_battle_them(home: Path, tiny_llama: Path) -> None:
    prompts = home / "mini.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS), encoding="utf-8")
    proc = arena(home, "prompts", "import", str(prompts))
    assert proc.returncode == 0, proc.stderr
    proc = arena(home, "models", "add", "tinyA", "--path", str(tiny_llama), "--device", "cpu",
                 "--max-tokens", "12")
    assert proc.returncode == 0, proc.stderr
    assert f"added [models.tinyA] (provider hf, {tiny_llama}) to {home / 'arena.toml'}" in proc.stderr
    assert proc.stdout == ""
    proc = arena(home, "models", "add", "tinyB", "--path", str(tiny_llama), "--device", "cpu",
                 "--max-tokens", "12", "--temperature", "0.7", "--dtype", "float32", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    text = (home / "arena.toml").read_text(encoding="utf-8")
    assert text == EXISTING + (
        f'\n[models.tinyA]\nprovider = "hf"\npath = "{tiny_llama}"\ndevice = "cpu"\n'
        f'max_tokens = 12\n\n[models.tinyB]\nprovider = "hf"\npath = "{tiny_llama}"\n'
        'device = "cpu"\ndtype = "float32"\nmax_tokens = 12\ntemperature = 0.7\n'
        'extra_body = { seed = 7 }\n')
    store = Store(open_database(f"sqlite:///{home / 'arena.db'}"))
    assert {(n, p) for n, p, _ in store.list_models()} == {("tinyA", "hf"), ("tinyB", "hf")}

    proc = arena(home, "battle", "run", "--models", "tinyA,tinyB", "--prompts", "mini",
                 "--limit", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["battles"], summary["ready"], summary["generated"]) == (2, 2, 4)
    assert 0 < summary["completion_tokens"] <= 4 * 12
    battles = store.battles(set_name="mini")
    assert len(battles) == 2 and {b.status for b in battles} == {"ready"}
    gens = store.generations(sorted({b.prompt_id for b in battles}), ["tinyA", "tinyB"])
    assert len(gens) == 4 and all(g.ok and g.text.strip() for g in gens.values())


def test_vllm_model_without_server_says_what_to_run(tmp_path: Path, tiny_llama: Path) -> None:
    home = tmp_path / "fresh"  # no arena.toml yet: it is created
    home.mkdir()
    proc = arena(home, "models", "add", "coder", "--path", str(tiny_llama), "--provider", "vllm",
                 "--dtype", "bfloat16")
    assert proc.returncode == 0, proc.stderr
    assert (home / "arena.toml").read_text(encoding="utf-8") == (
        f'[models.coder]\nprovider = "vllm"\npath = "{tiny_llama}"\ndtype = "bfloat16"\n')
    assert "arena serve coder" in proc.stderr and "offline engine" in proc.stderr


@pytest.fixture
def folders(tmp_path: Path, tiny_llama: Path, home: Path) -> dict[str, Path]:
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    shutil.copy(tiny_llama / "config.json", no_tokenizer / "config.json")
    return {"missing": tmp_path / "missing", "empty": home, "no_tok": no_tokenizer,
            "ok": tiny_llama, "home": home}


@pytest.mark.parametrize(("args", "expected"), [
    (["x", "--path", "{missing}"], "error: --path {missing}: no such folder"),
    (["remote", "--path", "{ok}"], "error: {home}/arena.toml: [models.remote] already exists"),
    (["x", "--path", "{ok}", "--temperature", "-1"],  # appended, invalid, rolled back
     "error: {home}/arena.toml: [models.x] temperature: Input should be greater than or equal to 0"),
])
def test_bad_input_is_one_error_line_and_changes_nothing(home: Path, folders: dict[str, Path],
                                                         args: list[str], expected: str) -> None:
    proc = arena(home, "models", "add", *[a.format(**folders) for a in args])
    assert assert_clean_error(proc).startswith(expected.format(**folders)), proc.stderr
    assert (home / "arena.toml").read_text(encoding="utf-8") == EXISTING


@pytest.mark.parametrize(("name", "path", "kw", "expected"), [
    ("x", "missing", {}, "--path {missing}: no such folder"),
    ("x", "empty", {}, "--path {empty}: no config.json"),
    ("x", "no_tok", {}, "--path {no_tok}: no tokenizer"),
    ("x", "ok", {"provider": "tgi"}, "--provider: choose hf or vllm"),
    ("x", "ok", {"dtype": "float8"}, "--dtype 'float8': choose one of float32,"),
    ("x", "ok", {"provider": "vllm", "dtype": "float64"}, "--dtype 'float64': choose one of auto,"),
    ("x", "ok", {"provider": "vllm", "device": "cuda"}, "--device: applies to provider hf only"),
    ("x", "ok", {"device": "gpu0"}, "--device 'gpu0': use cpu"),
    ("a,b", "ok", {}, "model name 'a,b':"),
    ("two words", "ok", {}, "model name 'two words':"),
    ("org/coder-1.5b:dpo", "ok", {"device": "cuda:1", "dtype": "bfloat16"}, None),
    ("v", "ok", {"provider": "vllm", "dtype": "auto"}, None),
])
def test_argument_checks(folders: dict[str, Path], name: str, path: str, kw: dict[str, str],
                         expected: str | None) -> None:
    from arena.cli.data import _check_new_model

    got = _check_new_model(name, folders[path], kw.get("provider", "hf"), kw.get("device"),
                           kw.get("dtype"))
    if expected is None:
        assert got is None
    else:
        assert got is not None and got.startswith(expected.format(**folders)), got


def test_names_that_need_quotes_round_trip(tmp_path: Path) -> None:
    from arena.cli.data import _model_table
    from arena.config import load_config

    path = tmp_path / 'dir "quoted" \\ back'
    (tmp_path / "arena.toml").write_text(
        _model_table("org/coder-1.5b:dpo", path, "hf", "cuda:1", "bfloat16", 64, 0.25))
    spec = load_config(tmp_path / "arena.toml").model("org/coder-1.5b:dpo")
    assert (spec.provider, spec.path, spec.device, spec.dtype) == ("hf", str(path), "cuda:1", "bfloat16")
    assert (spec.max_tokens, spec.temperature) == (64, 0.25)


def test_a_broken_config_is_left_alone(home: Path, tiny_llama: Path) -> None:
    (home / "arena.toml").write_text("[models.x\n", encoding="utf-8")
    proc = arena(home, "models", "add", "y", "--path", str(tiny_llama))
    assert "not valid TOML" in assert_clean_error(proc)
    assert (home / "arena.toml").read_text(encoding="utf-8") == "[models.x\n"


def test_a_name_the_database_knows_is_taken(home: Path, tiny_llama: Path) -> None:
    assert arena(home, "models", "add", "first", "--path", str(tiny_llama)).returncode == 0
    (home / "arena.toml").write_text(EXISTING, encoding="utf-8")  # the table is gone, the answers stay
    proc = arena(home, "models", "add", "first", "--path", str(tiny_llama))
    assert "model 'first' already exists in the database" in assert_clean_error(proc)
    assert (home / "arena.toml").read_text(encoding="utf-8") == EXISTING
