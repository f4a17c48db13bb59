"""Bulk writes for battle imports: a million battles in one transaction, without the ORM.

Importing another arena's log (Chatbot Arena, Arena-Hard) means writing prompts, battles and
votes by the hundred thousand. ORM objects cost tens of microseconds each, so this mixin talks
to the DBAPI connection directly: one ``executemany`` per table, every row
``INSERT ... ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL both have it; on SQLite, a
hundred rows a statement as ``INSERT OR IGNORE``, see :meth:`db.repositories._bulk_writer._Writer.insert_flat`), all in one
transaction, so that a failed import leaves nothing behind and a repeated one adds nothing.
On SQLite the connection's foreign-key checks are off for that transaction (and back on
afterwards, whatever happens): every id written is one this code has just looked up or
reserved under the write lock.

Battles and prompts get their ids before they are written (SQLite: the next free ids, taken
under the write lock of ``BEGIN IMMEDIATE``; PostgreSQL: drawn from the table's sequence), so
votes can point at their battles without reading a million rows back. Rows already stored
(same set and external id; same prompt, pair and slot) are looked up first and reused.

Records that carry no prompt text (the public Chatbot Arena battle logs) do not make a prompt
each: their battles share one placeholder prompt per (language, category) of the set (see
:func:`shared_prompt_id`) and keep their own question in the battle's slot. Such a battle
goes on the set's own prompt of that question instead when the set already has one, and a
battle stored on a placeholder is the same battle as one with the same pair and slot on any
prompt of the set, so re-importing the records with or without their text adds nothing.

What lands in the tables is what the ORM would have written: timezone-aware UTC datetimes on
PostgreSQL, and on SQLite the text SQLAlchemy stores for them (``YYYY-MM-DD HH:MM:SS.ffffff``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from arena.domain import ArenaError, Outcome
from db.repositories._base import RepositoryBase, dumps
from db.repositories._bulk_writer import VECTOR_MIN, _literal, _Writer, raw_transaction
from db.repositories.battles import pair_key

# (external id, text, category, language); external ids are distinct within a batch
PromptSpec = tuple[str, str, str | None, str | None]
# (index into prompts, model A, model B, slot, POSIX time or None, 8 style numbers or None,
# question or None); distinct by (prompt, unordered pair, slot) within a batch. The question
# is given for a battle on a placeholder prompt (external id from shared_prompt_id): the
# external id its own prompt would have, which it goes on when the set already holds it.
BattleSpec = tuple[int, str, str, str, float | None, tuple[int | None, ...] | None, str | None]
# (index into battles, judge kind, judge name, voter, outcome, strength, game, POSIX time
# or None); distinct by (battle, judge name, voter, game) within a batch
VoteSpec = tuple[int, str, str, str, str, int, int, float | None]

IMPORTED_PROVIDER = "imported"
STYLE_COLUMNS = ("a_tokens", "a_headers", "a_lists", "a_bold",
                 "b_tokens", "b_headers", "b_lists", "b_bold")
SHARED_PREFIX = "(no text):"  # external ids of the placeholder prompts
_EXT_MAX = 200  # prompts.external_id's length
_CHUNK = 500  # names per IN (...) query

def shared_prompt_id(language: str | None, category: str | None) -> str:
    """The external id of the placeholder prompt that battles without prompt text share:
    ``(no text):LANGUAGE``, or ``(no text):LANGUAGE:CATEGORY`` with a category (LANGUAGE
    empty when unknown); ``(no text):#`` and a hash when the language holds ':' or starts
    with '#', or when the id would not fit the column."""
    ext = SHARED_PREFIX + (language or "") + ("" if category is None else ":" + category)
    if len(ext) > _EXT_MAX or (language and (":" in language or language.startswith("#"))):
        body = json.dumps([language, category], ensure_ascii=False)
        ext = SHARED_PREFIX + "#" + hashlib.sha256(body.encode()).hexdigest()[:40]
    return ext


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


@dataclass
class _Prompts:
    """Where the batch's battles go: the prompt id of each batch prompt (0: not written,
    no battle left on it), the battles moved onto a stored prompt of their question, and
    what the set already held."""

    ids: list[int]
    moved: dict[int, int]  # battle index -> prompt id
    stored: int  # prompts the set held before
    shared: set[int]  # ids of the set's stored placeholder prompts


class BulkRepository(RepositoryBase):
    def import_battles(self, set_name: str, batch: BattleBatch) -> BulkImportResult:
        """Write ``batch`` into prompt set ``set_name`` (created when missing), atomically.

        Prompts are matched by external id within the set, models by name (missing ones are
        registered with provider "imported"; existing ones are left as they are), battles
        by (prompt, pair, slot) and votes by (battle, judge, voter, game): whatever is
        already stored is counted as present and not written again. A battle on a
        placeholder prompt goes on the set's prompt of its question when there is one, and
        a battle stored on a placeholder matches by (pair, slot) alone. A vote on a battle
        stored earlier with A and B the other way round is stored flipped into its frame.

        Raises ArenaError when the batch repeats a prompt or a battle, when another writer
        stored the same ones meanwhile, or when the SQLite database stays locked; nothing is
        written then. Once written, ``batch`` is emptied: a million records' worth of objects
        is freed by another thread while SQLite commits (which it does without the GIL).
        """
        result = BulkImportResult(set_name=set_name)
        battles = batch.battles
        pairs = set(zip(map(itemgetter(1), battles), map(itemgetter(2), battles), strict=True))
        freeing: threading.Thread | None = None
        try:
            with raw_transaction(self.engine) as w:
                set_id, set_existed = self._bulk_set(w, set_name, batch.source)
                model_ids = self._bulk_models(w, batch, pairs, result)
                prompts = self._bulk_prompts(w, set_id, set_existed, batch, result)
                battle_ids, flipped, stamps = self._bulk_battles(w, set_id, prompts, model_ids,
                                                                 pairs, batch, result)
                self._bulk_votes(w, battle_ids, flipped, stamps, batch, result)
                if len(battles) >= VECTOR_MIN:
                    lists = [batch.votes, battles, batch.prompts, battle_ids, stamps or []]
                    del battle_ids, stamps
                    freeing = threading.Thread(target=_empty, args=(lists,), daemon=True)
                    freeing.start()
        finally:
            if freeing is not None:
                freeing.join()
        return result

    # -- steps ---------------------------------------------------------------------------
    def _bulk_set(self, w: _Writer, name: str, source: str) -> tuple[int, bool]:
        rows = w.all("SELECT id FROM prompt_sets WHERE name = ?", (name,))
        if rows:
            return rows[0][0], True
        w.insert("INSERT INTO prompt_sets (name, source, created_at)", "(?, ?, ?)",
                 [(name, source[-1000:], w.now)])  # the column holds 1000 characters
        return w.all("SELECT id FROM prompt_sets WHERE name = ?", (name,))[0][0], False

    def _bulk_models(self, w: _Writer, batch: BattleBatch, pairs: set[tuple[str, str]],
                     result: BulkImportResult) -> dict[str, int]:
        names = sorted({p[0] for p in pairs} | {p[1] for p in pairs})
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
                      result: BulkImportResult) -> _Prompts:
        existing: dict[str, int] = {}
        if set_existed:
            existing = dict(w.all("SELECT external_id, id FROM prompts WHERE set_id = ?",
                                  (set_id,)))
        shared = {i for ext, i in existing.items() if ext.startswith(SHARED_PREFIX)}
        prompts = batch.prompts
        moved: dict[int, int] = {}
        if len(existing) > len(shared):
            # a battle without prompt text goes on the set's prompt of its question
            get = existing.get
            for bi, battle in enumerate(batch.battles):
                if battle[6] is not None:
                    pid = get(battle[6])
                    if pid is not None and pid not in shared:
                        moved[bi] = pid
        wanted: range | list[int] = range(len(prompts))
        # a placeholder left without battles (they all moved, or went on the question's own
        # prompt within the file) is not written
        if moved:
            used = {b[0] for i, b in enumerate(batch.battles) if i not in moved}
        else:
            used = set(map(itemgetter(0), batch.battles))
        if len(used) != len(prompts):
            wanted = [i for i in wanted if i in used]
        new = [i for i in wanted if prompts[i][0] not in existing] if existing else wanted
        ids = w.reserve_ids("prompts", len(new))
        hashes = {text: hashlib.sha256(text.encode()).hexdigest()
                  for text in {prompts[i][1] for i in new}}
        flat: list[Any] = []
        for pid, i in zip(ids, new, strict=True):
            ext, text, category, language = prompts[i]
            flat.extend((pid, ext, text, category, language, hashes[text]))
        stored_ids: set[int] = set()
        if existing or len(new) != len(prompts):
            out = [0] * len(prompts)
            for i in wanted:
                out[i] = existing.get(prompts[i][0], 0)
            stored_ids = {out[i] for i in wanted if out[i]}
            for pid, i in zip(ids, new, strict=True):
                out[i] = pid
        else:
            out = list(ids)
        written = w.insert_flat("INSERT INTO prompts (id, set_id, external_id, text, category, "
                                "language, content_hash, created_at)",
                                f"(?, {int(set_id)}, ?, ?, ?, ?, ?, {_literal(w.now, w.sqlite)})",
                                flat, 6)
        _check_written("prompts", written, len(new))
        result.prompts_added = len(new)
        result.prompts_present = len(wanted) - len(new)
        if moved:  # the stored prompts battles moved onto count as present too
            result.prompts_present = len({out[i] for i in wanted if out[i] in stored_ids}
                                         | set(moved.values()))
        return _Prompts(out, moved, len(existing), shared)

    def _bulk_battles(self, w: _Writer, set_id: int, prompts: _Prompts,
                      model_ids: dict[str, int], sides: set[tuple[str, str]],
                      batch: BattleBatch, result: BulkImportResult
                      ) -> tuple[list[int], set[int], list[Any] | None]:
        """The battles' ids, the indexes of those already stored with A and B swapped, and
        when every battle was new, their created_at values (their votes mostly share them)."""
        battles = batch.battles
        prompt_ids, moved = prompts.ids, prompts.moved
        # (model A, model B) -> (A's id, B's id, pair key)
        pairs: dict[tuple[str, str], tuple[int, int, str]] = {
            (a, b): (model_ids[a], model_ids[b], pair_key(a, b)) for a, b in sides}
        out: list[int] = []
        flipped: set[int] = set()
        new: range | list[int] = range(len(battles))
        if prompts.stored and (result.prompts_present or moved or prompts.shared):
            # only battles on prompts stored before can exist, or stored on a placeholder
            rows = w.all("SELECT b.id, b.prompt_id, b.pair_key, b.slot, b.model_a_id "
                         "FROM battles b JOIN prompts p ON p.id = b.prompt_id "
                         "WHERE p.set_id = ? AND b.slot LIKE 'import:%'", (set_id,))
            existing = {(p, k, s): (i, ma) for i, p, k, s, ma in rows}
            on_shared: dict[tuple[str, str], tuple[int, int]] | None = None
            shared = prompts.shared
            out = [0] * len(battles)
            new = []
            for i, (pi, a, b, slot, _, _, _) in enumerate(battles):
                pid = (moved.get(i) or prompt_ids[pi]) if moved else prompt_ids[pi]
                ida, _, key = pairs[(a, b)]
                found = existing.get((pid, key, slot))
                if found is None and shared:
                    if on_shared is None:
                        on_shared = {(k, s): (i_, ma) for i_, p, k, s, ma in rows if p in shared}
                    found = on_shared.get((key, slot))
                if found is None:
                    new.append(i)
                    continue
                out[i] = found[0]
                if found[1] != ida:  # stored with the sides the other way round
                    flipped.add(i)
            del rows, existing, on_shared
        ids = w.reserve_ids("battles", len(new))
        chosen = battles if len(new) == len(battles) else [battles[i] for i in new]
        stamps = w.stamps([b[4] for b in chosen])
        styled = any(map(itemgetter(5), chosen))
        flat: list[Any] = []
        ext = flat.extend
        none8 = (None,) * 8
        # one pass, the row's values laid end to end (see _Writer.insert_flat)
        if moved:
            pids: Any = [moved.get(i) or prompt_ids[battles[i][0]] for i in new]
            for bid, pid, (_, a, b, slot, _, style, _), stamp in zip(ids, pids, chosen, stamps,
                                                                      strict=True):
                ida, idb, key = pairs[(a, b)]
                ext((bid, pid, ida, idb, key, slot, stamp))
                if styled:
                    ext(style or none8)
        elif styled:
            for bid, (pi, a, b, slot, _, style, _), stamp in zip(ids, chosen, stamps,
                                                                 strict=True):
                ida, idb, key = pairs[(a, b)]
                ext((bid, prompt_ids[pi], ida, idb, key, slot, stamp))
                ext(style or none8)
        else:
            for bid, (pi, a, b, slot, _, _, _), stamp in zip(ids, chosen, stamps, strict=True):
                ida, idb, key = pairs[(a, b)]
                ext((bid, prompt_ids[pi], ida, idb, key, slot, stamp))
        battle_stamps: list[Any] | None = stamps  # for the votes, when every battle is new
        if chosen is battles:
            out = list(ids)
        else:
            battle_stamps = None
            for bid, i in zip(ids, new, strict=True):
                out[i] = bid
        cols = "id, prompt_id, model_a_id, model_b_id, pair_key, slot, created_at"
        width = 7
        if styled:
            cols += ", " + ", ".join(STYLE_COLUMNS)
            width += 8
        written = w.insert_flat(f"INSERT INTO battles ({cols}, status)",
                                f"({', '.join('?' * width)}, 'ready')", flat, width)
        del flat
        _check_written("battles", written, len(chosen))
        result.battles_added = len(chosen)
        result.battles_present = len(battles) - len(chosen)
        return out, flipped, battle_stamps

    def _bulk_votes(self, w: _Writer, battle_ids: list[int], flipped: set[int],
                    battle_stamps: list[Any] | None, batch: BattleBatch,
                    result: BulkImportResult) -> None:
        votes = batch.votes
        battles = batch.battles
        flat: list[Any] = []
        ext = flat.extend
        if battle_stamps is None:
            battle_stamps = [None] * len(battles)  # no time of a battle is known: none matches
        own: list[int] = []  # votes timed otherwise than their battle: their flat positions
        for (bi, kind, judge, voter, outcome, strength, game, ts) in votes:
            if flipped and bi in flipped:  # votes are stored from the stored battle's side A
                outcome = Outcome(outcome).flipped().value
            stamp = battle_stamps[bi]
            if stamp is None or ts is not battles[bi][4]:
                own.append(len(flat) + 7)
            ext((battle_ids[bi], kind, judge, voter, outcome, strength, game, stamp))
        if own:
            for at, stamp in zip(own, w.stamps([votes[at // 8][7] for at in own]), strict=True):
                flat[at] = stamp
        result.votes_added = w.insert_flat(
            "INSERT INTO votes (battle_id, judge_kind, judge_name, voter, outcome, strength, "
            "game, created_at, prompt_tokens, completion_tokens)",
            "(?, ?, ?, ?, ?, ?, ?, ?, 0, 0)", flat, 8)
        result.votes_present = len(votes) - result.votes_added


def _empty(lists: list[list[Any]]) -> None:
    for items in lists:
        items.clear()
    lists.clear()


def _check_written(table: str, written: int, expected: int) -> None:
    if written != expected:
        raise ArenaError(f"{expected - written} of the {expected} new {table} were stored by "
                         "another writer during this import (or repeat each other); nothing "
                         "was imported: run the import again")
