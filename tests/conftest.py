"""Shared fixtures: temp state folders, stores on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os

# torch's OpenMP threads spin-wait by default: with an event loop beside a generating
# thread that made local generation ~50x slower on 2 cores (see arena/providers/transformers_local.py)
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from pgserver import PostgresServer, find_bindir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the user's ~/.arena or inherits their ARENA_* variables."""
    for key in list(os.environ):
        if key.startswith("ARENA_"):
            monkeypatch.delenv(key)
    home = tmp_path / "arena-home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _arena_logger_reset() -> Iterator[None]:
    """A command run in process (Typer's CliRunner) points the ``arena`` logger at a file
    and stops it propagating; undo that, so later tests' caplog sees Arena's records."""
    yield
    log = logging.getLogger("arena")
    for handler in [h for h in log.handlers if isinstance(h, logging.FileHandler)]:
        log.removeHandler(handler)
        handler.close()
    log.propagate = True
    log.setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing; scripts/ensure-postgres.sh installs them")
        pytest.skip("no PostgreSQL server binaries (scripts/ensure-postgres.sh installs them)")
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'arena.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
def store(db_url: str):  # type: ignore[no-untyped-def]
    from db.engine import open_database
    from db.repositories import Store

    engine = open_database(db_url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama and its locally trained tokenizer in a folder (built once per
    session, no network); skipped where the ``train`` extra is not installed."""
    for module in ("torch", "transformers", "tokenizers"):
        pytest.importorskip(module, reason=f"{module} is missing: install the train extra "
                                           "(EXTRAS=dev,train bash scripts/setup.sh)")
    from arena.testing.tiny_model import tiny_llama_cached

    return tiny_llama_cached(tmp_path_factory.mktemp("tiny-llama"))
