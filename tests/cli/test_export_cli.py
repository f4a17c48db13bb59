"""``arena export dpo|sft``: exit codes, one ``error:`` line per bad input, nothing written.

``export_app`` is not registered in ``arena.cli.main`` yet, so these tests drive it with
Typer's CliRunner through :func:`arena_export`, on the state folder the real command would
use. Once it is registered, ``arena_export`` can become
``test_cli_basic.arena(home, "export", *args)`` (a subprocess), with the same assertions.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from clirun import assert_clean_error
from typer.testing import CliRunner

from arena.cli.common import state
from arena.cli.export import export_app
from arena.config import Settings, parse_config
from arena.domain import Outcome, Vote
from arena.services.battles import BattleRunner
from arena.services.planning import make_plan
from arena.services.prompts import ensure_demo_pack
from db.engine import open_database
from db.repositories import Store

S, M, L = "sample-strong", "sample-solid", "sample-sloppy"


@dataclass
class Proc:
    returncode: int
    stdout: str
    stderr: str


def arena_export(home: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> Proc:
    """Run ``arena export ARGS`` on the state folder ``home`` (see the module docstring)."""
    monkeypatch.setattr(state, "settings", Settings(home=home))
    monkeypatch.setattr(state, "_ctx", None)
    result = CliRunner().invoke(export_app, list(args), catch_exceptions=False)
    return Proc(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo pack, three battles of S, M and L on one algorithms prompt (replay, no
    judge), and votes: alice on all three (S, S, M), judge jx on S vs M only (S)."""
    home = tmp_path_factory.mktemp("home")
    store = Store(open_database(Settings(home=home).database_url))
    ensure_demo_pack(store)
    config = parse_config({}, "test.toml")
    plan = make_plan(store, config, [S, M, L], "demo", None, category="algorithms", limit=1)
    asyncio.run(BattleRunner(store, config).run(plan))
    battles = store.battles(status="ready")
    assert len(battles) == 3

    def add(models: set[str], winner: str, judge: str, voter: str | None = None) -> None:
        b = next(b for b in battles if {b.model_a, b.model_b} == models)
        outcome = Outcome.A if b.model_a == winner else Outcome.B
        store.add_vote(Vote(battle_id=b.id, judge_kind="human" if judge == "human" else "pairwise",
                            judge_name=judge, outcome=outcome, voter=voter))

    add({S, M}, S, "human", "alice")
    add({S, L}, S, "human", "alice")
    add({M, L}, M, "human", "alice")
    add({S, M}, S, "jx")
    store.engine.dispose()
    return home


def test_dpo_writes_pairs_and_sidecar(home: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "pairs.jsonl"
    proc = arena_export(home, "dpo", "--out", str(out), monkeypatch=monkeypatch)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # the data goes to --out; diagnostics to stderr
    assert f"wrote 3 pairs to {out} (jsonl, standard)" in proc.stderr
    assert "3 battles considered; dropped: none" in proc.stderr
    assert "ties and both-bad verdicts are always excluded" in proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["metadata"]["chosen_model"] for r in records].count(S) == 2
    meta = json.loads((tmp_path / "pairs.jsonl.meta.json").read_text())
    assert meta["command"] == f"arena export dpo --out {out}"
    assert meta["counts"] == {"battles_considered": 3, "pairs_selected": 3, "dropped": {},
                              "written": 3}


def test_sft_conversational_with_filters(home: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "sft.jsonl"
    proc = arena_export(home, "sft", "--out", str(out), "--conversational", "--judges",
                        "human,jx", "--min-agree", "2", monkeypatch=monkeypatch)
    assert proc.returncode == 0, proc.stderr
    assert "dropped: fewer raters than --min-agree 2" in proc.stderr
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
    assert record["metadata"]["chosen_model"] == S


def test_parquet_by_suffix(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "pairs.parquet"
    proc = arena_export(home, "dpo", "--out", str(out), "--max-per-prompt", "2",
                        monkeypatch=monkeypatch)
    assert proc.returncode == 0, proc.stderr
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 2
    assert json.loads((tmp_path / "pairs.parquet.meta.json").read_text())["format"] == "parquet"


@pytest.mark.parametrize(("args", "message"), [
    (["--judges", "nobody"], "error: --judges: no votes by 'nobody'; judges with votes: jx, human"),
    (["--rubric", "ufb/readability"], "error: --rubric: no answer ratings by judge 'ufb/readability'; "
     "judges with ratings: none"),
    (["--min-agree", "3"], "error: --min-agree 3 is more than the 2 rater(s) selected (jx, human)"),
    (["--judges", "jx", "--category", "debugging"], "error: nothing to export: no pairs left from "
     "3 battles considered; dropped: other --category 3; nothing was written"),
    (["--judges", "jx", "--min-margin", "1"], "error: nothing to export: no pairs left from "
     "3 battles considered; dropped: no vote by the selected judges 2, no known rating margin 1; "
     "nothing was written"),
    (["--format", "csv"], "error: --format: choose jsonl, parquet or hf"),
    (["--min-agree", "0"], "error: --min-agree: at least 1"),
])
def test_bad_input_gives_one_error_line(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        args: list[str], message: str) -> None:
    proc = arena_export(home, "dpo", "--out", str(tmp_path / "p.jsonl"), *args,
                        monkeypatch=monkeypatch)
    assert assert_clean_error(proc).startswith(message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("out", "message"), [
    ("missing/p.jsonl", "folder {tmp}/missing does not exist"),
    ("p.csv", "unsupported suffix '.csv'; use .jsonl or .parquet, or --format hf"),
])
def test_bad_destination(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str,
                         message: str) -> None:
    proc = arena_export(home, "sft", "--out", str(tmp_path / out), monkeypatch=monkeypatch)
    assert message.format(tmp=tmp_path) in assert_clean_error(proc)
    assert list(tmp_path.iterdir()) == []


def test_help_lists_both_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(export_app, ["--help"])
    assert result.exit_code == 0 and "dpo" in result.stdout and "sft" in result.stdout
    result = CliRunner().invoke(export_app, ["dpo", "--help"])
    for flag in ("--out", "--conversational", "--format", "--judges", "--min-agree",
                 "--min-margin", "--max-per-prompt", "--category", "--language", "--set",
                 "--rubric", "--seed"):
        assert flag in result.stdout
