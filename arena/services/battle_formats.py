"""Reading battle logs for import: the three formats, checked record by record.

Parsing only, no writing: :func:`parse_battle_file` turns a whole file into a
:class:`db.repositories.bulk.BattleBatch` or raises ArenaError naming ``FILE:LINE`` (or
``FILE:record N``) at the first problem. :mod:`arena.services.importing` writes the batch.
The formats, the slots and the placeholder prompts are described there.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from arena.domain import ArenaError, Outcome, Verdict
from db.repositories.bulk import BattleBatch, shared_prompt_id

try:  # about three times faster than json on records like these
    from orjson import dumps as _fast_dumps
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency; json does the same, slower
    _fast_dumps = _fast_loads = None  # type: ignore[assignment]

Format = Literal["fastchat", "arena-hard", "jsonl"]
FORMATS: tuple[str, ...] = ("fastchat", "arena-hard", "jsonl")
NO_TEXT = "(prompt text not in the import)"
FASTCHAT_WINNERS = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "both_bad"}
OUR_FIELDS = frozenset({"prompt_id", "prompt", "model_a", "model_b", "outcome", "judge",
                        "judge_kind", "voter", "game", "strength", "tstamp", "category",
                        "language", "battle_id"})
OUTCOMES = frozenset(o.value for o in Outcome)
VERDICTS = {v.value: v for v in Verdict}
SLOT_MAX = 64
NAME_MAX = 200  # model, judge and voter names, external ids (the columns' lengths)
LABEL_MAX = 100  # categories and languages
_TS_MIN, _TS_MAX = -62135596800, 253402300800  # years 1 to 9999
_MISSING = object()
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


_FLOAT_TEXT = _fast_dumps if _repr_by_orjson() else None
_AH_QUESTION = re.compile(r"<\|User Prompt\|>\n(.*?)\n\n<\|The Start of Assistant A's Answer\|>",
                          re.S)


@dataclass
class ParsedBattles:
    batch: BattleBatch
    records: int = 0
    duplicates: int = 0
    failed_games: list[str] = field(default_factory=list)


def parse_battle_file(path: Path, fmt: Format, baseline: str | None = None) -> ParsedBattles:
    """Read and check the whole file; raises ArenaError at the first problem."""
    # orjson for fastchat, which checks every field inline and asks json where a check
    # fails (see _Source.exact); the other formats read with json alone
    src = _Source(path, fast=fmt == "fastchat")
    builder = _Builder(src)
    if fmt == "fastchat":
        try:
            _parse_fastchat(src, builder)
        except _RepeatedSlot:  # records repeat: again, merging them (and reporting in order)
            src = _Source(path, fast=True)
            builder = _Builder(src)
            _parse_fastchat(src, builder, general=True)
    elif fmt == "arena-hard":
        assert baseline
        _parse_arena_hard(src, builder, baseline)
    else:
        _parse_ours(src, builder)
    if builder.records == 0:
        raise ArenaError(f"{path}: the file has no records")
    return ParsedBattles(builder.batch, builder.records, builder.duplicates, builder.failed)


# -- reading ---------------------------------------------------------------------------------
class _Source:
    """The file's records with their line numbers (or indexes, for one JSON array)."""

    def __init__(self, path: Path, fast: bool = True) -> None:
        self.path = path
        self.array = False
        self.fast = fast and _fast_loads is not None  # decode with orjson, json as referee
        self._lines: list[str] = []
        self._array: str | list[Any] | None = None  # the array's text, then json's items

    def exact(self, n: int) -> Any:
        """Record ``n`` as json decodes it, where orjson may have decoded it otherwise (it
        makes floats of integers beyond 64 bits: a line with 19 digits in a row); _MISSING
        when the record already is json's. Called on the rare paths (a record that fails a
        check, a record hashed for its slot), never for every record."""
        if not self.fast:
            return _MISSING
        if self.array:
            if isinstance(self._array, str):
                self._array = json.loads(self._array) if _LONG_DIGITS.search(self._array) \
                    else None
            return _MISSING if self._array is None else self._array[n]
        line = self._lines[n - 1]
        if not _LONG_DIGITS.search(line):
            return _MISSING
        try:
            _fast_loads(line)  # type: ignore[misc]
        except ValueError:  # json decoded this one already
            return _MISSING
        try:
            return json.loads(line)
        except ValueError:  # pragma: no cover - orjson is the stricter of the two
            return _MISSING

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
        turns a line into its record (_MISSING for a blank line). The loop over them is the
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
        """Line ``n`` decoded by json; _MISSING when it is blank."""
        if not line:
            return _MISSING
        try:
            rec, end = _SCAN(line, 0)  # the C scanner json.loads ends in
            if end != len(line) and not line[end:].isspace():
                raise ValueError
        except (StopIteration, ValueError):
            if line.isspace():
                return _MISSING
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
            if rec is not _MISSING:
                yield n, rec


# -- building the batch ----------------------------------------------------------------------
class _Builder:
    """Collects prompts, battles and votes, merging repeats and refusing contradictions."""

    def __init__(self, src: _Source) -> None:
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
def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _ident(src: _Source, n: int, rec: dict[str, Any], key: str, required: bool = True) -> str | None:
    """A non-empty id or name (numbers become strings), at most NAME_MAX characters."""
    value = rec.get(key)
    if value is None:
        if required:
            src.fail(n, f"field {key} is missing")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        src.fail(n, f"field {key} must be a non-empty string, got {_kind(value)} {value!r}"[:300])
    if len(value) > NAME_MAX:
        src.fail(n, f"field {key} is longer than {NAME_MAX} characters")
    return value


def _opt_text(src: _Source, n: int, rec: dict[str, Any], key: str,
              limit: int | None = None) -> str | None:
    value = rec.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        src.fail(n, f"field {key} must be a string, got {_kind(value)}")
    if limit is not None and len(value) > limit:
        src.fail(n, f"field {key} is longer than {limit} characters")
    return value or None


def _opt_int(src: _Source, n: int, rec: dict[str, Any], key: str, default: int) -> int:
    value = rec.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        src.fail(n, f"field {key} must be a whole number >= 0, got {value!r}"[:300])
    return value


def _tstamp(src: _Source, n: int, value: Any, iso: bool = False) -> float | None:
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
            or not _TS_MIN <= value < _TS_MAX:
        want = "seconds since 1970 (UTC) or an ISO 8601 time" if iso else "seconds since 1970 (UTC)"
        src.fail(n, f"field tstamp must be {want}, got {value!r}"[:300])
    return value


def _fit_slot(slot: str) -> str:
    if len(slot) <= SLOT_MAX:
        return slot
    return slot[:39] + "#" + hashlib.sha256(slot.encode()).hexdigest()[:24]


def _record_hash(rec: Any) -> str:
    body = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def _label(src: _Source, n: int, rec: dict[str, Any], key: str, cache: dict[Any, Any]) -> str | None:
    """A category or language: at most LABEL_MAX characters; languages are lowercased."""
    value = rec.get(key)
    if isinstance(value, str) and value in cache:
        return cache[value]  # type: ignore[no-any-return]
    text = _opt_text(src, n, rec, key, LABEL_MAX)
    out = (text.lower() if key == "language" else text) if text and text.strip() else None
    if isinstance(value, str):
        cache[value] = out
    return out


# -- fastchat --------------------------------------------------------------------------------
def _fastchat_slow(src: _Source, n: int, rec: Any) -> tuple[str, str, str, str, str, Any]:
    """The record's (question_id, model_a, model_b, winner, judge, tstamp), checked one by one
    with a precise message; for the records the fast path did not take."""
    if not isinstance(rec, dict):
        src.fail(n, f"expected a JSON object, got {_kind(rec)}")
    qid = _ident(src, n, rec, "question_id")
    a = _ident(src, n, rec, "model_a")
    b = _ident(src, n, rec, "model_b")
    assert qid and a and b
    if a == b:
        src.fail(n, f"model_a and model_b are the same model ({a!r})")
    winner = rec.get("winner")
    if not isinstance(winner, str) or winner not in FASTCHAT_WINNERS:
        src.fail(n, f"field winner must be one of {', '.join(FASTCHAT_WINNERS)}, got "
                    f"{winner!r}"[:300])
    judge = _opt_text(src, n, rec, "judge", NAME_MAX) or ""
    return qid, a, b, winner, judge, _tstamp(src, n, rec.get("tstamp"))


def _first_user_turn(src: _Source, n: int, conv: Any) -> str | None:
    if not isinstance(conv, list):
        src.fail(n, f"field conversation_a must be a list of {{role, content}}, got {_kind(conv)}")
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            src.fail(n, f"conversation_a[{i}] must be an object {{role, content}}")
        if turn.get("role") == "user":
            content = turn.get("content")
            if not isinstance(content, str):
                src.fail(n, f"conversation_a[{i}].content must be a string, got {_kind(content)}")
            if content.strip():
                return content
    return None


def _count(src: _Source, n: int, meta: dict[str, Any], key: str) -> int | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, dict):
        parts = list(value.values())
    else:
        parts = [value]
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in parts):
        src.fail(n, f"conv_metadata.{key} must be a count or an object of counts")
    return sum(parts)


def _style(src: _Source, n: int, meta: Any) -> tuple[int | None, ...] | None:
    """(tokens, headers, list items, bold spans) of side a, then of side b."""
    if not isinstance(meta, dict):
        src.fail(n, f"field conv_metadata must be an object, got {_kind(meta)}")
    out = tuple(_count(src, n, meta, key) for side in ("a", "b")
                for key in (f"sum_assistant_{side}_tokens", f"header_count_{side}",
                            f"list_count_{side}", f"bold_count_{side}"))
    return None if all(x is None for x in out) else out


def _fastchat_checked(src: _Source, n: int, rec: Any, names: set[str], langs: dict[Any, Any],
                      cats: dict[Any, Any]) -> tuple[Any, ...]:
    """(question_id, model_a, model_b, winner, judge, tstamp, language, category, style) of
    a record, every field checked one by one with a precise message: the path of the
    records the inlined checks of :func:`_parse_fastchat` do not pass."""
    qid, ma, mb, winner, judge, ts = _fastchat_slow(src, n, rec)
    for key in ("model_a", "model_b"):
        names.add(_ident(src, n, rec, key))  # type: ignore[arg-type]
    lang = _label(src, n, rec, "language", langs)
    cat = _label(src, n, rec, "category", cats)
    meta = rec.get("conv_metadata")
    style = None if meta is None else _style(src, n, meta)
    return qid, ma, mb, winner, judge, ts, lang, cat, style


class _RepeatedSlot(Exception):
    """Two fastchat records of a file have the same slot: parse it again, the general way."""


def _repeated_slots(battles: list[Any]) -> bool:
    """Whether two battles have the same slot (the same question and tstamp): one sort of
    the times with numpy, then the slots of equal times compared; a dict of a million slots
    costs twice that, in cache misses."""
    if len(battles) < 10_000:
        return len({b[3] for b in battles}) != len(battles)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return len({b[3] for b in battles}) != len(battles)
    untimed = [i for i, b in enumerate(battles) if b[4] is None]  # slots: a record hash
    if len({battles[i][3] for i in untimed}) != len(untimed):
        return True
    times = np.array([b[4] if b[4] is not None else np.nan for b in battles], dtype=np.float64)
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])  # NaN (untimed) equals nothing
    if not len(same):
        return False
    suspects = set(order[same].tolist()) | set(order[same + 1].tolist())
    return len({battles[i][3] for i in suspects}) != len(suspects)


def _parse_fastchat(src: _Source, b: _Builder, general: bool = False) -> None:
    """The records into ``b``. Unless ``general``, each record is taken for a battle of its
    own, and _RepeatedSlot raised at the end (or at the first problem) when two were one:
    the caller then parses the file again with ``general``, where every record goes through
    _Builder.battle and _Builder.vote (merging repeats, refusing contradictions)."""
    try:
        _fastchat_records(src, b, general)
    except ArenaError:
        if not general and _repeated_slots(b.batch.battles):
            raise _RepeatedSlot from None  # which problem came first, the general way tells
        raise
    if not general and _repeated_slots(b.batch.battles):
        raise _RepeatedSlot


def _fastchat_records(src: _Source, b: _Builder, general: bool) -> None:
    winners = FASTCHAT_WINNERS
    batch = b.batch
    prompt_ids = b.prompt_ids
    float_text = _FLOAT_TEXT
    battles = batch.battles
    votes_append = batch.votes.append
    battles_append = battles.append
    prompts = batch.prompts
    prompts_append = prompts.append
    prompt_lines_append = b.prompt_lines.append
    # (language, category) -> index of the placeholder prompt of the records without text
    shared: dict[tuple[str | None, str | None], int] = {}
    missing = _MISSING
    last_lang: Any = missing
    last_cat: Any = missing
    last_shared = -1
    langs: dict[Any, Any] = {}
    cats: dict[Any, Any] = {}
    names: set[str] = set()
    str_, float_, int_, dict_ = str, float, int, dict
    ts_min, ts_max, name_max = _TS_MIN, _TS_MAX, NAME_MAX
    items, first, decode = src.raw()
    loads = _fast_loads if decode is not None and src.fast else None
    records = 0
    nb = 0
    for n, rec in enumerate(items, first):
        if decode is not None:
            if loads is not None:
                try:
                    rec = loads(rec)
                except ValueError:
                    rec = decode(n, rec)
            else:
                rec = decode(n, rec)
            if rec is missing:
                continue
        records += 1
        try:  # the checks, inlined for the common case (and no state changed until done)
            if type(rec) is not dict_:
                _fastchat_slow(src, n, rec)
            get = rec.get
            qid = get("question_id")
            ma = get("model_a")
            mb = get("model_b")
            winner = get("winner")
            judge = get("judge")
            ts = get("tstamp")
            if judge is None:
                judge = ""
            if (type(qid) is not str_ or type(ma) is not str_ or type(mb) is not str_
                    or type(winner) is not str_ or winner not in winners or ma == mb
                    or type(judge) is not str_ or len(judge) > name_max
                    or not (ts is None or ((type(ts) is float_ or type(ts) is int_)
                                           and ts_min <= ts < ts_max))):
                qid, ma, mb, winner, judge, ts = _fastchat_slow(src, n, rec)
            if ma not in names or mb not in names:
                for m in (ma, mb):
                    _ident(src, n, rec, "model_a" if m == ma else "model_b")
                    names.add(m)
            lang = get("language")
            if lang is not None:
                lang = langs.get(lang, missing) if type(lang) is str_ else missing
                if lang is missing:
                    lang = _label(src, n, rec, "language", langs)
            cat = get("category")
            if cat is not None:
                cat = cats.get(cat, missing) if type(cat) is str_ else missing
                if cat is missing:
                    cat = _label(src, n, rec, "category", cats)
            meta = get("conv_metadata")
            style = None if meta is None else _style(src, n, meta)
            if len(qid) > name_max or not qid.strip():
                _ident(src, n, rec, "question_id")
        except ArenaError:  # a field orjson read otherwise? json's reading decides
            exact = src.exact(n)
            if exact is missing:
                raise
            rec = exact
            qid, ma, mb, winner, judge, ts, lang, cat, style = _fastchat_checked(
                src, n, rec, names, langs, cats)
        question = None
        # the question's own prompt, when a record gave its text
        pi = prompt_ids.get(qid) if prompt_ids else None
        if pi is None:
            conv = rec.get("conversation_a")
            text = None if conv is None else _first_user_turn(src, n, conv)
            if text is None:  # the placeholder of its language and category
                question = qid
                if lang is last_lang and cat is last_cat:
                    pi = last_shared
                else:
                    pi = shared.get((lang, cat))
                    if pi is None:
                        pi = shared[(lang, cat)] = len(prompts)
                        prompts_append((shared_prompt_id(lang, cat), NO_TEXT, cat, lang))
                        prompt_lines_append(n)
                    last_lang, last_cat, last_shared = lang, cat, pi
            else:
                pi = prompt_ids[qid] = len(prompts)
                prompts_append((qid, text, cat, lang))
                prompt_lines_append(n)
        if ts is None:
            exact = src.exact(n)
            slot = _fit_slot(f"import:{qid}:{_record_hash(rec if exact is missing else exact)[:16]}")
        else:
            if float_text is not None and type(ts) is float_ and (ts >= 1.0 or ts <= -1.0):
                slot = f"import:{qid}:{float_text(ts).decode()}"  # == repr(ts), faster
            else:
                slot = f"import:{qid}:{ts!r}"
            if len(slot) > SLOT_MAX:
                slot = _fit_slot(slot)
        if not general:  # a battle of its own (checked at the end)
            battles_append((pi, ma, mb, slot, ts, style, question))
            votes_append((nb, "human", "human", judge, winners[winner], 1, 0, ts))
            nb += 1
            continue
        key = (slot, ma, mb) if ma < mb else (slot, mb, ma)
        bi = b.battle(key, pi, ma, mb, slot, ts, style, n, question)
        b.vote(bi, "human", "human", judge, winners[winner], 1, 0, ts, n)
    b.records = records


# -- arena-hard ------------------------------------------------------------------------------
def _arena_hard_question(games: list[Any]) -> str | None:
    for game in games:
        prompt = game.get("user_prompt") if isinstance(game, dict) else None
        if isinstance(prompt, str):
            found = _AH_QUESTION.search(prompt)
            if found and found.group(1).strip():
                return found.group(1)
    return None


def _parse_arena_hard(src: _Source, b: _Builder, baseline: str) -> None:
    for n, rec in src.records():
        b.records += 1
        if not isinstance(rec, dict):
            src.fail(n, f"expected a JSON object, got {_kind(rec)}")
        qid = _ident(src, n, rec, "question_id")
        model = _ident(src, n, rec, "model")
        judge = _ident(src, n, rec, "judge")
        assert qid and model and judge
        if model == baseline:
            src.fail(n, f"model {model!r} is the baseline itself")
        games = rec.get("games")
        if not isinstance(games, list) or len(games) != 2:
            src.fail(n, "field games must be a list of two games (the second with A and B "
                        "swapped)")
        pi = b.prompt(qid, _arena_hard_question(games), None, None, n)
        slot = _fit_slot(f"import:arena-hard:{qid}:{model}:{judge}")
        bi = b.battle((slot, baseline, model), pi, baseline, model, slot, None, None, n)
        for g, game in enumerate(games):
            if game is not None and not isinstance(game, dict):
                src.fail(n, f"games[{g}] must be an object with a score, got {_kind(game)}")
            score = None if game is None else game.get("score")
            if score is None:
                b.failed.append(f"{src.where(n)} game {g + 1}")
                continue
            verdict = VERDICTS.get(score) if isinstance(score, str) else None
            if verdict is None:
                src.fail(n, f"games[{g}].score must be one of {', '.join(VERDICTS)} or null, "
                            f"got {score!r}"[:300])
            if g == 1:  # game 2 showed the model as A: back into the battle's frame
                verdict = verdict.flipped()
            b.vote(bi, "pairwise", judge, "", verdict.outcome.value, verdict.strength, g, None, n)


# -- ours ------------------------------------------------------------------------------------
def _parse_ours(src: _Source, b: _Builder) -> None:
    langs: dict[Any, Any] = {}
    cats: dict[Any, Any] = {}
    for n, rec in src.records():
        b.records += 1
        if not isinstance(rec, dict):
            src.fail(n, f"expected a JSON object, got {_kind(rec)}")
        unknown = sorted(set(rec) - OUR_FIELDS)
        if unknown:
            src.fail(n, f"unknown field(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(sorted(OUR_FIELDS))} (is this --format fastchat?)")
        ext = _ident(src, n, rec, "prompt_id")
        ma = _ident(src, n, rec, "model_a")
        mb = _ident(src, n, rec, "model_b")
        assert ext and ma and mb
        if ma == mb:
            src.fail(n, f"model_a and model_b are the same model ({ma!r})")
        outcome = rec.get("outcome")
        if not isinstance(outcome, str) or outcome not in OUTCOMES:
            src.fail(n, f"field outcome must be one of {', '.join(sorted(OUTCOMES))}, got "
                        f"{outcome!r}"[:300])
        text = _opt_text(src, n, rec, "prompt")
        judge = _ident(src, n, rec, "judge", required=False) or "human"
        kind = _opt_text(src, n, rec, "judge_kind", 40) or (
            "human" if judge == "human" else "pairwise")
        voter = _opt_text(src, n, rec, "voter", NAME_MAX) or ""
        game = _opt_int(src, n, rec, "game", 0)
        strength = _opt_int(src, n, rec, "strength", 1)
        ts = _tstamp(src, n, rec.get("tstamp"), iso=True)
        cat = _label(src, n, rec, "category", cats)
        lang = _label(src, n, rec, "language", langs)
        battle_id = _ident(src, n, rec, "battle_id", required=False)
        pi = b.prompt(ext, text if text and text.strip() else None, cat, lang, n,
                      strict_text=True)
        slot = _fit_slot("import:" + (battle_id or _record_hash(rec)))
        bi = b.battle(slot, pi, ma, mb, slot, ts, None, n)
        b.vote(bi, kind, judge, voter, outcome, strength, game, ts, n)
