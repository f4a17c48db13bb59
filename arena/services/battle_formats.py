"""Reading battle logs for import: the three formats, checked record by record.

Chatbot Arena's (fastchat) logs are parsed here; Arena-Hard judgments and our own JSONL in
:mod:`arena.services.battle_formats_jsonl`.

The shared reader, batch builder and field checks live in :mod:`arena.services.import_records`.

Parsing only, no writing: :func:`parse_battle_file` turns a whole file into a
:class:`db.repositories.bulk.BattleBatch` or raises ArenaError naming ``FILE:LINE`` (or
``FILE:record N``) at the first problem. :mod:`arena.services.importing` writes the batch.
The formats, the slots and the placeholder prompts are described there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from arena.domain import ArenaError
from arena.services.battle_formats_jsonl import parse_arena_hard, parse_ours
from arena.services.import_records import (
    FLOAT_TEXT,
    MISSING,
    NAME_MAX,
    NO_TEXT,
    SLOT_MAX,
    TS_MAX,
    TS_MIN,
    Builder,
    Source,
    fit_slot,
    ident,
    kind_of,
    label,
    model_pair,
    opt_text,
    record_hash,
    tstamp,
)
from db.repositories.bulk import BattleBatch, shared_prompt_id

try:  # about three times faster than json on records like these
    from orjson import dumps as _fast_dumps
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency; json does the same, slower
    _fast_dumps = _fast_loads = None  # type: ignore[assignment]

Format = Literal["fastchat", "arena-hard", "jsonl"]
FORMATS: tuple[str, ...] = ("fastchat", "arena-hard", "jsonl")
FASTCHAT_WINNERS = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "both_bad"}








@dataclass
class ParsedBattles:
    batch: BattleBatch
    records: int = 0
    duplicates: int = 0
    failed_games: list[str] = field(default_factory=list)


def parse_battle_file(path: Path, fmt: Format, baseline: str | None = None) -> ParsedBattles:
    """Read and check the whole file; raises ArenaError at the first problem."""
    # orjson for fastchat, which checks every field inline and asks json where a check
    # fails (see Source.exact); the other formats read with json alone
    src = Source(path, fast=fmt == "fastchat")
    builder = Builder(src)
    if fmt == "fastchat":
        try:
            _parse_fastchat(src, builder)
        except _RepeatedSlot:  # records repeat: again, merging them (and reporting in order)
            src = Source(path, fast=True)
            builder = Builder(src)
            _parse_fastchat(src, builder, general=True)
    elif fmt == "arena-hard":
        assert baseline
        parse_arena_hard(src, builder, baseline)
    else:
        parse_ours(src, builder)
    if builder.records == 0:
        raise ArenaError(f"{path}: the file has no records")
    return ParsedBattles(builder.batch, builder.records, builder.duplicates, builder.failed)


# -- fastchat --------------------------------------------------------------------------------
def _fastchat_slow(src: Source, n: int, rec: Any) -> tuple[str, str, str, str, str, Any]:
    """The record's (question_id, model_a, model_b, winner, judge, tstamp), checked one by one
    with a precise message; for the records the fast path did not take."""
    if not isinstance(rec, dict):
        src.fail(n, f"expected a JSON object, got {kind_of(rec)}")
    qid = ident(src, n, rec, "question_id")
    a, b = model_pair(src, n, rec)
    assert qid
    winner = rec.get("winner")
    if not isinstance(winner, str) or winner not in FASTCHAT_WINNERS:
        src.fail(n, f"field winner must be one of {', '.join(FASTCHAT_WINNERS)}, got "
                    f"{winner!r}"[:300])
    judge = opt_text(src, n, rec, "judge", NAME_MAX) or ""
    return qid, a, b, winner, judge, tstamp(src, n, rec.get("tstamp"))


def _first_user_turn(src: Source, n: int, conv: Any) -> str | None:
    if not isinstance(conv, list):
        src.fail(n, f"field conversation_a must be a list of {{role, content}}, got {kind_of(conv)}")
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            src.fail(n, f"conversation_a[{i}] must be an object {{role, content}}")
        if turn.get("role") == "user":
            content = turn.get("content")
            if not isinstance(content, str):
                src.fail(n, f"conversation_a[{i}].content must be a string, got {kind_of(content)}")
            if content.strip():
                return content
    return None


def _count(src: Source, n: int, meta: dict[str, Any], key: str) -> int | None:
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


def _style(src: Source, n: int, meta: Any) -> tuple[int | None, ...] | None:
    """(tokens, headers, list items, bold spans) of side a, then of side b."""
    if not isinstance(meta, dict):
        src.fail(n, f"field conv_metadata must be an object, got {kind_of(meta)}")
    out = tuple(_count(src, n, meta, key) for side in ("a", "b")
                for key in (f"sum_assistant_{side}_tokens", f"header_count_{side}",
                            f"list_count_{side}", f"bold_count_{side}"))
    return None if all(x is None for x in out) else out


def _fastchat_checked(src: Source, n: int, rec: Any, names: set[str], langs: dict[Any, Any],
                      cats: dict[Any, Any]) -> tuple[Any, ...]:
    """(question_id, model_a, model_b, winner, judge, tstamp, language, category, style) of
    a record, every field checked one by one with a precise message: the path of the
    records the inlined checks of :func:`_parse_fastchat` do not pass."""
    qid, ma, mb, winner, judge, ts = _fastchat_slow(src, n, rec)
    for key in ("model_a", "model_b"):
        names.add(ident(src, n, rec, key))  # type: ignore[arg-type]
    lang = label(src, n, rec, "language", langs)
    cat = label(src, n, rec, "category", cats)
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


def _parse_fastchat(src: Source, b: Builder, general: bool = False) -> None:
    """The records into ``b``. Unless ``general``, each record is taken for a battle of its
    own, and _RepeatedSlot raised at the end (or at the first problem) when two were one:
    the caller then parses the file again with ``general``, where every record goes through
    Builder.battle and Builder.vote (merging repeats, refusing contradictions)."""
    try:
        _fastchat_records(src, b, general)
    except ArenaError:
        if not general and _repeated_slots(b.batch.battles):
            raise _RepeatedSlot from None  # which problem came first, the general way tells
        raise
    if not general and _repeated_slots(b.batch.battles):
        raise _RepeatedSlot


def _fastchat_records(src: Source, b: Builder, general: bool) -> None:
    winners = FASTCHAT_WINNERS
    batch = b.batch
    prompt_ids = b.prompt_ids
    float_text = FLOAT_TEXT
    battles = batch.battles
    votes_append = batch.votes.append
    battles_append = battles.append
    prompts = batch.prompts
    prompts_append = prompts.append
    prompt_lines_append = b.prompt_lines.append
    # (language, category) -> index of the placeholder prompt of the records without text
    shared: dict[tuple[str | None, str | None], int] = {}
    missing = MISSING
    last_lang: Any = missing
    last_cat: Any = missing
    last_shared = -1
    langs: dict[Any, Any] = {}
    cats: dict[Any, Any] = {}
    names: set[str] = set()
    str_, float_, int_, dict_ = str, float, int, dict
    ts_min, ts_max, name_max = TS_MIN, TS_MAX, NAME_MAX
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
                    ident(src, n, rec, "model_a" if m == ma else "model_b")
                    names.add(m)
            lang = get("language")
            if lang is not None:
                lang = langs.get(lang, missing) if type(lang) is str_ else missing
                if lang is missing:
                    lang = label(src, n, rec, "language", langs)
            cat = get("category")
            if cat is not None:
                cat = cats.get(cat, missing) if type(cat) is str_ else missing
                if cat is missing:
                    cat = label(src, n, rec, "category", cats)
            meta = get("conv_metadata")
            style = None if meta is None else _style(src, n, meta)
            if len(qid) > name_max or not qid.strip():
                ident(src, n, rec, "question_id")
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
            slot = fit_slot(f"import:{qid}:{record_hash(rec if exact is missing else exact)[:16]}")
        else:
            if float_text is not None and type(ts) is float_ and (ts >= 1.0 or ts <= -1.0):
                slot = f"import:{qid}:{float_text(ts).decode()}"  # == repr(ts), faster
            else:
                slot = f"import:{qid}:{ts!r}"
            if len(slot) > SLOT_MAX:
                slot = fit_slot(slot)
        if not general:  # a battle of its own (checked at the end)
            battles_append((pi, ma, mb, slot, ts, style, question))
            votes_append((nb, "human", "human", judge, winners[winner], 1, 0, ts))
            nb += 1
            continue
        key = (slot, ma, mb) if ma < mb else (slot, mb, ma)
        bi = b.battle(key, pi, ma, mb, slot, ts, style, n, question)
        b.vote(bi, "human", "human", judge, winners[winner], 1, 0, ts, n)
    b.records = records
