"""Bulk writes for battle imports: a million battles in one transaction, without the ORM.

Importing another arena's log (Chatbot Arena, Arena-Hard) means writing prompts, battles and
votes by the hundred thousand. ORM objects cost tens of microseconds each, so this mixin talks
to the DBAPI connection directly: one ``executemany`` of plain tuples per table, every row
``INSERT ... ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL both have it), all in one
transaction, so that a failed import leaves nothing behind and a repeated one adds nothing.

Battles and prompts get their ids before they are written (SQLite: the next free ids, taken
under the write lock of ``BEGIN IMMEDIATE``; PostgreSQL: drawn from the table's sequence), so
votes can point at their battles without reading a million rows back. Rows already stored
(same set and external id; same prompt, pair and slot) are looked up first and reused.

What lands in the tables is what the ORM would have written: timezone-aware UTC datetimes on
PostgreSQL, and on SQLite the text SQLAlchemy stores for them (``YYYY-MM-DD HH:MM:SS.ffffff``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from arena.domain import ArenaError, Outcome
from db.repositories._base import RepositoryBase, dumps
from db.repositories.battles import pair_key

# (external id, text, category, language); external ids are distinct within a batch
PromptSpec = tuple[str, str, str | None, str | None]
# (index into prompts, model A, model B, slot, POSIX time or None, 8 style numbers or None);
# distinct by (prompt, unordered pair, slot) within a batch
BattleSpec = tuple[int, str, str, str, float | None, tuple[int | None, ...] | None]
# (index into battles, judge kind, judge name, voter, outcome, strength, game, POSIX time
# or None); distinct by (battle, judge name, voter, game) within a batch
VoteSpec = tuple[int, str, str, str, str, int, int, float | None]

IMPORTED_PROVIDER = "imported"
STYLE_COLUMNS = ("a_tokens", "a_headers", "a_lists", "a_bold",
                 "b_tokens", "b_headers", "b_lists", "b_bold")
_SQLITE_CACHE_KIB = 256 * 1024  # page cache for the import connection, then restored
_CHUNK = 500  # names per IN (...) query

if sys.version_info < (3, 12):
    _naive_utc = datetime.utcfromtimestamp  # the fast path; deprecated from 3.12 on
else:  # pragma: no cover - exercised on newer Pythons only
    def _naive_utc(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


@dataclass
class BattleBatch:
    """Everything one import writes, as plain tuples: a million of them must stay cheap.

    Battles point at prompts, and votes at battles, by their index in these lists. The
    caller keeps them distinct as documented on the spec types: a repeated prompt or battle
    makes the import fail (ArenaError, nothing committed); a repeated vote is counted as
    already present.
    """

    source: str
    prompts: list[PromptSpec] = field(default_factory=list)
    battles: list[BattleSpec] = field(default_factory=list)
    votes: list[VoteSpec] = field(default_factory=list)


@dataclass
class BulkImportResult:
    set_name: str
    prompts_added: int = 0
    prompts_present: int = 0
    battles_added: int = 0
    battles_present: int = 0
    votes_added: int = 0
    votes_present: int = 0
    models_added: list[str] = field(default_factory=list)


class _Writer:
    """One open transaction on the raw DBAPI connection, with the dialect's quirks."""

    def __init__(self, dbapi_conn: Any, dialect: str) -> None:
        self.conn = dbapi_conn
        self.sqlite = dialect == "sqlite"
        self.cur = dbapi_conn.cursor()
        now = datetime.now(UTC)
        self.now = self._format(now)
        self._stamps: dict[float | None, Any] = {None: self.now}

    def _format(self, value: datetime) -> Any:
        if self.sqlite:  # what SQLAlchemy's SQLite DateTime stores
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def stamps(self, times: Iterable[float | None]) -> dict[float | None, Any]:
        """Column values for POSIX times (None: now), as a dict kept across tables."""
        cache = self._stamps
        todo = set(times).difference(cache)
        if self.sqlite:
            utc = _naive_utc
            cache.update({ts: utc(ts).isoformat(" ", "microseconds") for ts in todo})  # type: ignore[arg-type]
        else:
            cache.update({ts: datetime.fromtimestamp(ts, UTC) for ts in todo})  # type: ignore[arg-type]
        return cache

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("%", "%%").replace("?", "%s")

    def all(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cur.execute(self.sql(text), tuple(params))
        return [tuple(r) for r in self.cur.fetchall()]

    def insert(self, into: str, values: str, rows: list[tuple[Any, ...]]) -> int:
        """``INTO ... VALUES ... ON CONFLICT DO NOTHING`` for every row, as one executemany
        (psycopg pipelines it); how many rows were written."""
        if not rows:
            return 0
        self.cur.executemany(self.sql(f"{into} VALUES {values} ON CONFLICT DO NOTHING"), rows)
        return int(self.cur.rowcount)

    def reserve_ids(self, table: str, n: int) -> range | list[int]:
        """``n`` fresh primary keys for ``table`` that no other writer can take."""
        if n == 0:
            return []
        if self.sqlite:  # we hold the write lock (BEGIN IMMEDIATE): max + 1 onwards is ours
            top = self.all(f"SELECT MAX(id) FROM {table}")[0][0] or 0
            return range(top + 1, top + 1 + n)
        rows = self.all(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                        "FROM generate_series(1, ?)", (n,))
        return [r[0] for r in rows]


class BulkRepository(RepositoryBase):
    @contextmanager
    def _bulk(self) -> Iterator[_Writer]:
        """A raw DBAPI transaction: committed on success, rolled back on any error."""
        raw = self.engine.raw_connection()
        conn: Any = raw.driver_connection
        sqlite = self.dialect == "sqlite"
        cache = None
        try:
            if sqlite:
                cache = conn.execute("PRAGMA cache_size").fetchone()[0]
                conn.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
                try:
                    conn.execute("BEGIN IMMEDIATE")  # the write lock, before reading max(id)
                except sqlite3.OperationalError as exc:
                    raise ArenaError(f"the database is busy ({exc}): another command is "
                                     "writing to it; try again when it is done") from None
            try:
                yield _Writer(conn, self.dialect)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        finally:
            if cache is not None:
                conn.execute(f"PRAGMA cache_size={int(cache)}")
            raw.close()

    def import_battles(self, set_name: str, batch: BattleBatch) -> BulkImportResult:
        """Write ``batch`` into prompt set ``set_name`` (created when missing), atomically.

        Prompts are matched by external id within the set, models by name (missing ones are
        registered with provider "imported"; existing ones are left as they are), battles
        by (prompt, pair, slot) and votes by (battle, judge, voter, game): whatever is
        already stored is counted as present and not written again. A vote on a battle
        stored earlier with A and B the other way round is stored flipped into its frame.

        Raises ArenaError when the batch repeats a prompt or a battle, when another writer
        stored the same ones meanwhile, or when the SQLite database stays locked; nothing is
        written then.
        """
        result = BulkImportResult(set_name=set_name)
        with self._bulk() as w:
            set_id, set_existed = self._bulk_set(w, set_name, batch.source)
            model_ids = self._bulk_models(w, batch, result)
            prompt_ids = self._bulk_prompts(w, set_id, set_existed, batch, result)
            battle_ids, flipped = self._bulk_battles(w, set_id, prompt_ids, model_ids, batch,
                                                     result)
            self._bulk_votes(w, battle_ids, flipped, batch, result)
        return result

    # -- steps ---------------------------------------------------------------------------
    def _bulk_set(self, w: _Writer, name: str, source: str) -> tuple[int, bool]:
        rows = w.all("SELECT id FROM prompt_sets WHERE name = ?", (name,))
        if rows:
            return rows[0][0], True
        w.insert("INSERT INTO prompt_sets (name, source, created_at)", "(?, ?, ?)",
                 [(name, source[-1000:], w.now)])  # the column holds 1000 characters
        return w.all("SELECT id FROM prompt_sets WHERE name = ?", (name,))[0][0], False

    def _bulk_models(self, w: _Writer, batch: BattleBatch,
                     result: BulkImportResult) -> dict[str, int]:
        names = sorted({b[1] for b in batch.battles} | {b[2] for b in batch.battles})
        ids = self._model_rows(w, names)
        missing = [n for n in names if n not in ids]
        if missing:
            config = dumps({"source": batch.source})
            w.insert("INSERT INTO models (name, provider, endpoint_model, config_json, created_at)",
                     "(?, ?, NULL, ?, ?)", [(n, IMPORTED_PROVIDER, config, w.now) for n in missing])
            ids.update(self._model_rows(w, missing))
            result.models_added = missing
        return ids

    @staticmethod
    def _model_rows(w: _Writer, names: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(0, len(names), _CHUNK):
            chunk = names[i:i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            out.update((n, i_) for i_, n in w.all(
                f"SELECT id, name FROM models WHERE name IN ({marks})", chunk))
        return out

    def _bulk_prompts(self, w: _Writer, set_id: int, set_existed: bool, batch: BattleBatch,
                      result: BulkImportResult) -> list[int]:
        existing: dict[str, int] = {}
        if set_existed:
            existing = dict(w.all("SELECT external_id, id FROM prompts WHERE set_id = ?",
                                  (set_id,)))
        prompts = batch.prompts
        new = [p for p in prompts if p[0] not in existing] if existing else prompts
        ids = w.reserve_ids("prompts", len(new))
        hashes = {text: hashlib.sha256(text.encode()).hexdigest() for text in {p[1] for p in new}}
        rows = [(pid, ext, text, category, language, hashes[text])
                for pid, (ext, text, category, language) in zip(ids, new, strict=True)]
        if existing:
            fresh = dict(zip((p[0] for p in new), ids, strict=True))
            out = [existing.get(p[0]) or fresh[p[0]] for p in prompts]
        else:
            out = list(ids)
        written = w.insert("INSERT INTO prompts (id, set_id, external_id, text, category, "
                           "language, content_hash, created_at)",
                           f"(?, {int(set_id)}, ?, ?, ?, ?, ?, {_literal(w.now, w.sqlite)})", rows)
        _check_written("prompts", written, len(rows))
        result.prompts_added = len(rows)
        result.prompts_present = len(prompts) - len(rows)
        return out

    def _bulk_battles(self, w: _Writer, set_id: int, prompt_ids: list[int],
                      model_ids: dict[str, int], batch: BattleBatch,
                      result: BulkImportResult) -> tuple[list[int], set[int]]:
        """The battles' ids, and the indexes of those already stored with A and B swapped."""
        battles = batch.battles
        pair_keys: dict[tuple[str, str], str] = {}
        for a, b in {(b[1], b[2]) for b in battles}:
            pair_keys[(a, b)] = pair_key(a, b)
        out: list[int] = [0] * len(battles)
        flipped: set[int] = set()
        new: range | list[int] = range(len(battles))
        if result.prompts_present:  # only battles on prompts stored before can exist
            existing = {(p, k, s): (i, ma) for i, p, k, s, ma in w.all(
                "SELECT b.id, b.prompt_id, b.pair_key, b.slot, b.model_a_id FROM battles b "
                "JOIN prompts p ON p.id = b.prompt_id WHERE p.set_id = ? "
                "AND b.slot LIKE 'import:%'", (set_id,))}
            new = []
            for i, (pi, a, b, slot, _, _) in enumerate(battles):
                found = existing.get((prompt_ids[pi], pair_keys[(a, b)], slot))
                if found is None:
                    new.append(i)
                    continue
                out[i] = found[0]
                if found[1] != model_ids[a]:  # stored with the sides the other way round
                    flipped.add(i)
        ids = w.reserve_ids("battles", len(new))
        chosen = battles if len(new) == len(battles) else [battles[i] for i in new]
        styled = any(b[5] is not None for b in chosen)
        stamps = w.stamps(b[4] for b in chosen)
        if styled:
            none8 = (None,) * 8
            rows = [(bid, prompt_ids[pi], model_ids[a], model_ids[b], pair_keys[(a, b)], slot,
                     stamps[ts], *(style or none8))
                    for bid, (pi, a, b, slot, ts, style) in zip(ids, chosen, strict=True)]
        else:
            rows = [(bid, prompt_ids[pi], model_ids[a], model_ids[b], pair_keys[(a, b)], slot,
                     stamps[ts])
                    for bid, (pi, a, b, slot, ts, _) in zip(ids, chosen, strict=True)]
        if chosen is battles:
            out = list(ids)
        else:
            for bid, i in zip(ids, new, strict=True):
                out[i] = bid
        cols = "id, prompt_id, model_a_id, model_b_id, pair_key, slot, created_at"
        if styled:
            cols += ", " + ", ".join(STYLE_COLUMNS)
        marks = ", ".join("?" * len(rows[0])) if rows else ""
        written = w.insert(f"INSERT INTO battles ({cols}, status)", f"({marks}, 'ready')", rows)
        _check_written("battles", written, len(rows))
        result.battles_added = len(rows)
        result.battles_present = len(battles) - len(rows)
        return out, flipped

    def _bulk_votes(self, w: _Writer, battle_ids: list[int], flipped: set[int],
                    batch: BattleBatch, result: BulkImportResult) -> None:
        stamps = w.stamps(v[7] for v in batch.votes)
        rows = [(battle_ids[bi], kind, judge, voter, outcome, strength, game, stamps[ts])
                for bi, kind, judge, voter, outcome, strength, game, ts in batch.votes]
        if flipped:  # votes are stored from the stored battle's side A
            rows = [r if v[0] not in flipped
                    else r[:4] + (Outcome(r[4]).flipped().value,) + r[5:]
                    for r, v in zip(rows, batch.votes, strict=True)]
        result.votes_added = w.insert(
            "INSERT INTO votes (battle_id, judge_kind, judge_name, voter, outcome, strength, "
            "game, created_at, prompt_tokens, completion_tokens)",
            "(?, ?, ?, ?, ?, ?, ?, ?, 0, 0)", rows)
        result.votes_present = len(rows) - result.votes_added


def _literal(value: Any, sqlite: bool) -> str:
    """A timestamp as an SQL literal (the same for every row: cheaper than a parameter)."""
    text = value if sqlite else value.isoformat()
    return "'" + str(text).replace("'", "''") + "'"


def _check_written(table: str, written: int, expected: int) -> None:
    if written != expected:
        raise ArenaError(f"{expected - written} of the {expected} new {table} were stored by "
                         "another writer during this import (or repeat each other); nothing "
                         "was imported: run the import again")
