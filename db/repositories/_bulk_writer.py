"""The raw DB-API side of bulk imports: one transaction, timestamps, multi-row inserts, ids.

:func:`raw_transaction` opens a DB-API transaction on the engine's connection (on SQLite
under the write lock, with foreign-key checks off and a large page cache, both restored
afterwards); :class:`_Writer` writes through it with each dialect's SQL: timestamps in the
form the ORM would store them, hundred-row ``INSERT OR IGNORE`` statements on SQLite,
``ON CONFLICT DO NOTHING`` on PostgreSQL, and ids reserved before the rows are written.
:mod:`db.repositories.bulk` decides what to write.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from arena.domain import ArenaError

_SQLITE_CACHE_KIB = 256 * 1024  # page cache for the import connection, then restored
VECTOR_MIN = 2000  # from this many times on, their text is built with numpy
_ROWS = 100  # rows per INSERT statement on SQLite

if sys.version_info < (3, 12):
    _naive_utc = datetime.utcfromtimestamp  # the fast path; deprecated from 3.12 on
else:  # pragma: no cover - exercised on newer Pythons only
    def _naive_utc(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


_NP: Any = None
_STAMP_TABLES: tuple[Any, Any] | None = None
_MIN_US, _MAX_US = -62135596800 * 10**6, 253402300800 * 10**6  # years 1 to 9999


def _numpy() -> Any:
    """numpy, imported on the first large batch (0.1 s); False without it."""
    global _NP
    if _NP is None:
        try:
            import numpy

            _NP = numpy
        except ImportError:  # pragma: no cover - numpy is a dependency
            _NP = False
    return _NP


def _sqlite_texts(times: list[float], np: Any) -> list[str] | None:
    """``datetime.utcfromtimestamp(t).isoformat(" ", "microseconds")`` for every t, computed
    on arrays (a few times faster than one datetime a time); None when one falls outside years
    1 to 9999, for the per-item path and its error. Microseconds are rounded as the datetime
    constructor rounds them: the fraction times 1e6, half to even."""
    global _STAMP_TABLES
    if _STAMP_TABLES is None:
        sod = np.arange(86400)
        h, rest = np.divmod(sod, 3600)
        m, s = np.divmod(rest, 60)
        clock = np.empty((86400, 10), np.uint8)  # " HH:MM:SS."
        clock[:, 0], clock[:, 3], clock[:, 6], clock[:, 9] = 32, 58, 58, 46
        for col, v in ((1, h), (4, m), (7, s)):
            clock[:, col], clock[:, col + 1] = v // 10 + 48, v % 10 + 48
        k = np.arange(1000)
        digits3 = np.stack([k // 100, k // 10 % 10, k % 10], axis=1).astype(np.uint8) + 48
        _STAMP_TABLES = (clock, digits3)
    clock, digits3 = _STAMP_TABLES
    frac, whole = np.modf(np.array(times, dtype=np.float64))
    total = whole.astype(np.int64) * 1_000_000 + np.rint(frac * 1e6).astype(np.int64)
    if int(total.min()) < _MIN_US or int(total.max()) >= _MAX_US:
        return None
    sec, us = np.divmod(total, 1_000_000)
    days, sod = np.divmod(sec, 86400)
    first, last = int(days.min()), int(days.max())
    if last - first < 400_000:  # a table of every day in the range
        span, index = np.arange(first, last + 1), days - first
    else:
        span, index = np.unique(days, return_inverse=True)
    dates = np.datetime_as_string(span.astype("datetime64[D]"), unit="D").astype("S10")
    hi, lo = np.divmod(us, 1000)
    buf = np.empty((len(total), 27), np.uint8)  # "YYYY-MM-DD HH:MM:SS.ffffff\n"
    buf[:, 0:10] = dates.view(np.uint8).reshape(-1, 10)[index]
    buf[:, 10:20] = clock[sod]
    buf[:, 20:23] = digits3[hi]
    buf[:, 23:26] = digits3[lo]
    buf[:, 26] = 10
    out = buf.tobytes().decode("ascii").split("\n")
    out.pop()
    return out


class _Writer:
    """One open transaction on the raw DBAPI connection, with the dialect's quirks."""

    def __init__(self, dbapi_conn: Any, dialect: str) -> None:
        self.conn = dbapi_conn
        self.sqlite = dialect == "sqlite"
        self.cur = dbapi_conn.cursor()
        self.now = self._format(datetime.now(UTC))

    def _format(self, value: datetime) -> Any:
        if self.sqlite:  # what SQLAlchemy's SQLite DateTime stores
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def stamps(self, times: list[float | None]) -> list[Any]:
        """The column values for POSIX times (None: now), in order."""
        now = self.now
        if not self.sqlite:
            utc = UTC
            return [now if ts is None else datetime.fromtimestamp(ts, utc) for ts in times]
        np = _numpy() if len(times) >= VECTOR_MIN else None
        if np:
            known: list[float] = (times if None not in times  # type: ignore[assignment]
                                  else [ts for ts in times if ts is not None])
            texts = _sqlite_texts(known, np) if known else []
            if texts is not None:
                if known is times:
                    return texts
                it = iter(texts)
                return [now if ts is None else next(it) for ts in times]
        cache: dict[float | None, Any] = {None: now}
        utc_ = _naive_utc
        for ts in set(times).difference(cache):
            cache[ts] = utc_(ts).isoformat(" ", "microseconds")  # type: ignore[arg-type]
        return [cache[ts] for ts in times]

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("%", "%%").replace("?", "%s")

    def all(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cur.execute(self.sql(text), tuple(params))
        return [tuple(r) for r in self.cur.fetchall()]

    def insert(self, into: str, values: str, rows: list[tuple[Any, ...]]) -> int:
        """``INSERT INTO ... VALUES ... ON CONFLICT DO NOTHING`` for every row, as one
        executemany (psycopg pipelines it); how many rows were written."""
        if not rows:
            return 0
        self.cur.executemany(self.sql(f"{into} VALUES {values} ON CONFLICT DO NOTHING"), rows)
        return int(self.cur.rowcount)

    def insert_flat(self, into: str, values: str, flat: list[Any], width: int) -> int:
        """:meth:`insert` for rows of ``width`` values laid end to end in ``flat`` (a
        million rows cost less so: no tuple per row to build, then to take apart).

        On SQLite, _ROWS rows go in one statement, which spares the driver and SQLite most
        of their per-statement work, and as ``INSERT OR IGNORE``: for our rows the same as
        DO NOTHING (their NOT NULL columns all get values; no table has a CHECK), but a
        statement that cannot fail half-way needs no statement journal, and with one every
        page a statement touches is copied first (for a million battles that land at random
        places in uq_battle_slot, twice the time)."""
        n = len(flat) // width
        if not self.sqlite or n < 2 * _ROWS:
            return self.insert(into, values, list(zip(*[iter(flat)] * width, strict=False)))
        into = into.replace("INSERT INTO ", "INSERT OR IGNORE INTO ", 1)
        k = max(1, min(_ROWS, _sqlite_max_params() // width))
        step = k * width
        full = (n - n % k) * width
        self.cur.executemany(f"{into} VALUES {', '.join([values] * k)}",
                             (flat[i:i + step] for i in range(0, full, step)))
        written = self.cur.rowcount
        if full < len(flat):
            self.cur.execute(f"{into} VALUES {', '.join([values] * (n % k))}", flat[full:])
            written += self.cur.rowcount
        return int(written)

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


@contextmanager
def raw_transaction(engine: Engine) -> Iterator[_Writer]:
    """A raw DBAPI transaction: committed on success, rolled back on any error. On
    SQLite, with foreign-key checks off and a large page cache, both restored after."""
    raw = engine.raw_connection()
    conn: Any = raw.driver_connection
    sqlite = engine.dialect.name == "sqlite"
    restore: list[str] = []
    try:
        if sqlite:
            if conn.in_transaction:  # pragma: no cover - the pool hands back clean ones
                conn.rollback()
            cache = conn.execute("PRAGMA cache_size").fetchone()[0]
            fk = conn.execute("PRAGMA foreign_keys").fetchone()[0]
            restore = [f"PRAGMA cache_size={int(cache)}", f"PRAGMA foreign_keys={int(fk)}"]
            conn.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
            # only outside a transaction does this take effect; the ids written are all
            # looked up or reserved below, under the write lock
            conn.execute("PRAGMA foreign_keys=OFF")
            try:
                conn.execute("BEGIN IMMEDIATE")  # the write lock, before reading max(id)
            except sqlite3.OperationalError as exc:
                raise ArenaError(f"the database is busy ({exc}): another command is "
                                 "writing to it; try again when it is done") from None
        try:
            yield _Writer(conn, engine.dialect.name)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        try:
            for pragma in restore:
                conn.execute(pragma)
        except Exception:  # never hand a connection without its checks back to the pool:
            raw.invalidate()  # a new one gets them from the engine's connect hook
        raw.close()


def _sqlite_max_params() -> int:
    """Parameters one SQLite statement may take: 32766 from SQLite 3.32 on, 999 before."""
    return 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _literal(value: Any, sqlite: bool) -> str:
    """A timestamp as an SQL literal (the same for every row: cheaper than a parameter)."""
    text = value if sqlite else value.isoformat()
    return "'" + str(text).replace("'", "''") + "'"
