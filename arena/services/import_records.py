"""Reading and checking imported records, and building the batch to write.

The machinery the format parsers of :mod:`arena.services.battle_formats` share: the file
reader (:class:`Source`: gzip, JSON lines or a JSON array, orjson with json as the judge of
any doubt, ``FILE:LINE`` errors), the batch builder (:class:`Builder`: prompts, battles and
votes deduplicated as they come) and the precise field checks.
"""


from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from arena.domain import ArenaError
from db.repositories.bulk import BattleBatch

try:  # about three times faster than json on records like these
    from orjson import dumps as _fast_dumps
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency; json does the same, slower
    _fast_dumps = _fast_loads = None  # type: ignore[assignment]

NO_TEXT = "(prompt text not in the import)"
SLOT_MAX = 64
NAME_MAX = 200  # model, judge and voter names, external ids (the columns' lengths)
LABEL_MAX = 100  # categories and languages
TS_MIN, TS_MAX = -62135596800, 253402300800  # years 1 to 9999
MISSING = object()
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def _repr_by_orjson() -> bool:
    """Whether orjson writes a float from 1 to 1e16 as repr() does (the shortest text that
    reads back the same, in plain notation): a third of the time of repr, which the slots
    of earlier imports were made with. Checked on a sample, in case a release changes it."""
    if _fast_dumps is None:
        return False
    sample = [1.0, -1.0, 1.5, 1700000000.0, 1700000000.25, 1680000026.7073, 1700000200.5,
              123456789.12345679, 9999999999999998.0, 2.0 ** 53, 1234.5678, -62135596800.0,
              253402300799.99997, 1683000000.1234567, 4.35, 0.1 + 1]
    return all(_fast_dumps(x).decode() == repr(x) for x in sample)


FLOAT_TEXT = _fast_dumps if _repr_by_orjson() else None
# -- reading ---------------------------------------------------------------------------------
class Source:
    """The file's records with their line numbers (or indexes, for one JSON array)."""

    def __init__(self, path: Path, fast: bool = True) -> None:
        self.path = path
        self.array = False
        self.fast = fast and _fast_loads is not None  # decode with orjson, json as referee
        self._lines: list[str] = []
        self._array: str | list[Any] | None = None  # the array's text, then json's items

    def exact(self, n: int) -> Any:
        """Record ``n`` as json decodes it, where orjson may have decoded it otherwise (it
        makes floats of integers beyond 64 bits: a line with 19 digits in a row); MISSING
        when the record already is json's. Called on the rare paths (a record that fails a
        check, a record hashed for its slot), never for every record."""
        if not self.fast:
            return MISSING
        if self.array:
            if isinstance(self._array, str):
                self._array = json.loads(self._array) if _LONG_DIGITS.search(self._array) \
                    else None
            return MISSING if self._array is None else self._array[n]
        line = self._lines[n - 1]
        if not _LONG_DIGITS.search(line):
            return MISSING
        try:
            _fast_loads(line)  # type: ignore[misc]
        except ValueError:  # json decoded this one already
            return MISSING
        try:
            return json.loads(line)
        except ValueError:  # pragma: no cover - orjson is the stricter of the two
            return MISSING

    def where(self, n: int) -> str:
        return f"{self.path}:record {n}" if self.array else f"{self.path}:{n}"

    def fail(self, n: int, message: str) -> NoReturn:
        raise ArenaError(f"{self.where(n)}: {message}")

    def _text(self) -> str:
        path = self.path
        if not path.is_file():
            raise ArenaError(f"{path}: no such file")
        try:
            if path.name.endswith(".gz"):
                with gzip.open(path, "rb") as fh:
                    data = fh.read()
            else:
                data = path.read_bytes()
        except (OSError, EOFError, zlib.error) as exc:
            raise ArenaError(f"{path}: cannot read the file ({exc})") from None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ArenaError(f"{path}:{line}: not UTF-8 text") from None

    def raw(self) -> tuple[list[Any], int, Any]:
        """(items, number of the first, decode): for one JSON array its records, numbered
        from 0, and decode None; else the lines, numbered from 1, and the function that
        turns a line into its record (MISSING for a blank line). The loop over them is the
        caller's: a generator's frame switch a record costs a tenth of a second a million."""
        text = self._text()
        start = re.match(r"\s*", text).end()  # type: ignore[union-attr]
        if text.startswith("[", start):
            self.array = True
            try:
                if not self.fast:
                    raise ValueError
                items = _fast_loads(text)  # type: ignore[misc]
                self._array = text
            except ValueError:  # orjson refuses NaN, lone surrogates...: json's call
                self.fast = False
                try:
                    items = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ArenaError(f"{self.path}:{exc.lineno}: not valid JSON ({exc.msg} at "
                                     f"column {exc.colno})") from None
            if not isinstance(items, list):
                raise ArenaError(f"{self.path}: expected one JSON array or one object a line")
            return items, 0, None
        self._lines = lines = text.split("\n")
        del text
        if lines and not lines[-1]:
            lines.pop()  # the end of the last line
        fast = _fast_loads if self.fast else None
        slow = self._decode

        def decode(n: int, line: str) -> Any:
            if fast is not None:
                try:
                    return fast(line)
                except ValueError:  # json decides, and words the error
                    pass
            return slow(n, line)

        return lines, 1, decode

    def _decode(self, n: int, line: str) -> Any:
        """Line ``n`` decoded by json; MISSING when it is blank."""
        if not line:
            return MISSING
        try:
            rec, end = _SCAN(line, 0)  # the C scanner json.loads ends in
            if end != len(line) and not line[end:].isspace():
                raise ValueError
        except (StopIteration, ValueError):
            if line.isspace():
                return MISSING
            try:  # leading blanks, or a proper error message
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ArenaError(f"{self.path}:{n}: not valid JSON ({exc.msg} at column "
                                 f"{exc.colno})") from None
        return rec

    def records(self) -> Iterator[tuple[int, Any]]:
        items, first, decode = self.raw()
        if decode is None:
            yield from enumerate(items, first)
            return
        for n, line in enumerate(items, first):
            rec = decode(n, line)
            if rec is not MISSING:
                yield n, rec


# -- building the batch ----------------------------------------------------------------------
class Builder:
    """Collects prompts, battles and votes, merging repeats and refusing contradictions."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.batch = BattleBatch(source=str(src.path))
        self.prompt_ids: dict[str, int] = {}
        self.prompt_lines: list[int] = []
        # battle key -> battle index; the line of each battle's first record
        self.battle_keys: dict[Any, int] = {}
        self.battle_lines: list[int] = []
        # (battle, judge, voter, game) -> (line, outcome, strength); built on the first
        # battle that gets a second record (until then no vote can repeat another)
        self.vote_keys: dict[tuple[int, str, str, int], tuple[int, str, int]] | None = None
        self.records = 0
        self.duplicates = 0
        self.failed: list[str] = []

    def prompt(self, ext: str, text: str | None, category: str | None, language: str | None,
               n: int, strict_text: bool = False) -> int:
        pi = self.prompt_ids.get(ext)
        if pi is None:
            pi = self.prompt_ids[ext] = len(self.batch.prompts)
            self.batch.prompts.append((ext, text or NO_TEXT, category, language))
            self.prompt_lines.append(n)
            return pi
        old = self.batch.prompts[pi]
        if text and old[1] != text:
            if old[1] == NO_TEXT:
                self.batch.prompts[pi] = (ext, text, old[2], old[3])
            elif strict_text:
                self.src.fail(n, f"prompt {ext!r} has a different text at "
                                 f"{self.src.where(self.prompt_lines[pi])}")
        return pi

    def battle(self, key: Any, pi: int, a: str, b: str, slot: str, ts: float | None,
               style: tuple[int | None, ...] | None, n: int, question: str | None = None) -> int:
        """The battle's index; a key seen before must name the same prompt and sides. A
        battle on a placeholder prompt (``question`` given) is the same battle as one on
        another prompt: it ends on the question's own prompt if either record has one."""
        bi = self.battle_keys.get(key)
        if bi is None:
            bi = self.battle_keys[key] = len(self.batch.battles)
            self.battle_lines.append(n)
            self.batch.battles.append((pi, a, b, slot, ts, style, question))
            return bi
        first = self.battle_lines[bi]
        old = self.batch.battles[bi]
        if old[0] != pi and (question is not None or old[6] is not None):
            if question is None:  # the first record had no text, this one has
                old = self.batch.battles[bi] = (pi, *old[1:6], None)  # type: ignore[assignment]
            else:
                pi = old[0]
        if (old[0], old[1], old[2]) != (pi, a, b):
            p_old, p_new = self.batch.prompts[old[0]][0], self.batch.prompts[pi][0]
            self.src.fail(n, f"battle {slot[len('import:'):]!r} is also at "
                             f"{self.src.where(first)} with another prompt or other sides "
                             f"({p_old!r}: {old[1]} vs {old[2]}; here {p_new!r}: {a} vs {b})")
        if self.vote_keys is None:  # until now each battle's votes came from its first record
            lines = self.battle_lines
            self.vote_keys = {(v[0], v[2], v[3], v[6]): (lines[v[0]], v[4], v[5])
                              for v in self.batch.votes}
        return bi

    def vote(self, bi: int, kind: str, judge: str, voter: str, outcome: str, strength: int,
             game: int, ts: float | None, n: int) -> None:
        if self.vote_keys is not None:
            key = (bi, judge, voter, game)
            seen = self.vote_keys.get(key)
            if seen is not None:
                if seen[1:] != (outcome, strength):
                    self.src.fail(n, f"contradicts an earlier vote at {self.src.where(seen[0])} "
                                     f"on the same battle by the same judge ({judge!r}, voter "
                                     f"{voter!r}, game {game})")
                self.duplicates += 1
                return
            self.vote_keys[key] = (n, outcome, strength)
        self.batch.votes.append((bi, kind, judge, voter, outcome, strength, game, ts))


# -- field checks (the slow, precise path) -----------------------------------------------------
def kind_of(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def ident(src: Source, n: int, rec: dict[str, Any], key: str, required: bool = True) -> str | None:
    """A non-empty id or name (numbers become strings), at most NAME_MAX characters."""
    value = rec.get(key)
    if value is None:
        if required:
            src.fail(n, f"field {key} is missing")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        src.fail(n, f"field {key} must be a non-empty string, got {kind_of(value)} {value!r}"[:300])
    if len(value) > NAME_MAX:
        src.fail(n, f"field {key} is longer than {NAME_MAX} characters")
    return value


def model_pair(src: Source, n: int, rec: dict[str, Any]) -> tuple[str, str]:
    """The record's ``model_a`` and ``model_b``: two different, non-empty names."""
    a = ident(src, n, rec, "model_a")
    b = ident(src, n, rec, "model_b")
    assert a and b
    if a == b:
        src.fail(n, f"model_a and model_b are the same model ({a!r})")
    return a, b


def opt_text(src: Source, n: int, rec: dict[str, Any], key: str,
              limit: int | None = None) -> str | None:
    value = rec.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        src.fail(n, f"field {key} must be a string, got {kind_of(value)}")
    if limit is not None and len(value) > limit:
        src.fail(n, f"field {key} is longer than {limit} characters")
    return value or None


def opt_int(src: Source, n: int, rec: dict[str, Any], key: str, default: int) -> int:
    value = rec.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        src.fail(n, f"field {key} must be a whole number >= 0, got {value!r}"[:300])
    return value


def tstamp(src: Source, n: int, value: Any, iso: bool = False) -> float | None:
    """POSIX seconds (UTC) from a number, or (``iso``) an ISO 8601 string (naive = UTC)."""
    if value is None:
        return None
    if iso and isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            src.fail(n, f"field tstamp {value!r} is not an ISO 8601 time"[:300])
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not TS_MIN <= value < TS_MAX:
        want = "seconds since 1970 (UTC) or an ISO 8601 time" if iso else "seconds since 1970 (UTC)"
        src.fail(n, f"field tstamp must be {want}, got {value!r}"[:300])
    return value


def fit_slot(slot: str) -> str:
    if len(slot) <= SLOT_MAX:
        return slot
    return slot[:39] + "#" + hashlib.sha256(slot.encode()).hexdigest()[:24]


def record_hash(rec: Any) -> str:
    body = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def label(src: Source, n: int, rec: dict[str, Any], key: str, cache: dict[Any, Any]) -> str | None:
    """A category or language: at most LABEL_MAX characters; languages are lowercased."""
    value = rec.get(key)
    if isinstance(value, str) and value in cache:
        return cache[value]  # type: ignore[no-any-return]
    text = opt_text(src, n, rec, key, LABEL_MAX)
    out = (text.lower() if key == "language" else text) if text and text.strip() else None
    if isinstance(value, str):
        cache[value] = out
    return out
