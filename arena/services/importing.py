"""Importing battles and votes recorded elsewhere: Chatbot Arena, Arena-Hard, and our own log.

Three formats (``arena import battles FILE --format ...``; FILE may be gzipped, and may be one
JSON object a line or one JSON array of objects):

* ``fastchat``: Chatbot Arena battle records (``question_id, model_a, model_b, winner, judge,
  language, tstamp``, optionally ``conversation_a``, ``conv_metadata``, ``category``). One
  battle and one human vote per record.
* ``arena-hard``: Arena-Hard-Auto judgment files, one line per (question, model, judge) with
  two games against ``--baseline``, positions swapped in the second. One battle (A = the
  baseline) and up to two pairwise votes per line; a game without a score is a failed
  judgment: skipped, counted and reported.
* ``jsonl``: ours, one vote a line (see :data:`OUR_FIELDS`); lines sharing ``battle_id`` are
  votes on one battle.

The whole file is parsed and checked first; the first problem stops the import with
``FILE:LINE: what is wrong`` (``FILE:record N`` for an array, N counted from 0) and nothing is
written. Then everything is written in one transaction by
:meth:`db.repositories.bulk.BulkRepository.import_battles`, which skips whatever is already
stored, so importing a file twice adds nothing the second time.

Each battle's slot is ``import:`` plus the record's own key (fastchat: ``question_id:tstamp``;
arena-hard: ``arena-hard:question_id:model:judge``; jsonl: ``battle_id``, else a hash of the
line); a key longer than the column's 64 characters keeps its first 39 and a hash of the rest.

A fastchat record without conversation text (the public battle logs have none) makes no
prompt of its own: its battle goes on the set's placeholder prompt of its language and
category (external id ``(no text):LANGUAGE``, text :data:`NO_TEXT`; see
:func:`db.repositories.bulk.shared_prompt_id`), its question staying in the slot; on the
question's own prompt when an earlier record of the file gave its text or the set already
holds it. A million records thus write two million rows, not three.

Speed (a million fastchat records parse and check in about 2 s): fastchat lines are decoded
with orjson, and json decides wherever the two could differ (a line orjson refuses; a record
that fails a check, when it holds a 19-digit number, which orjson reads as a float); each
record is taken for a battle of its own, and only when two records turn out to share a slot
(the same question and tstamp) is the file parsed again the general way, which merges
repeats and reports the first contradiction in file order.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from arena.domain import ArenaError
from arena.services.battle_formats import (  # noqa: F401 - NO_TEXT re-exported
    FORMATS,
    NAME_MAX,
    NO_TEXT,
    Format,
    ParsedBattles,
    parse_battle_file,
)
from db.repositories import Store
from db.repositories.bulk import BulkImportResult


@dataclass
class BattleImportSummary:
    """What an import did, for the one-line report on stderr."""

    path: Path
    fmt: str
    records: int
    result: BulkImportResult
    duplicates: int = 0  # records repeating an earlier one of the same file
    failed_games: list[str] = field(default_factory=list)  # "FILE:LINE game G"

    def lines(self) -> list[str]:
        r = self.result
        out = [f"set {r.set_name}: {self.records} records; "
               f"battles: {r.battles_added} added, {r.battles_present} already present; "
               f"votes: {r.votes_added} added, {r.votes_present} already present; "
               f"prompts: {r.prompts_added} added, {r.prompts_present} already present"
               + (f"; new models: {len(r.models_added)} ({_first(r.models_added, 10)})"
                  if r.models_added else "")]
        if self.duplicates:
            out.append(f"{self.duplicates} records repeat an earlier record of the file "
                       "(skipped)")
        if self.failed_games:
            out.append(f"{len(self.failed_games)} failed judgments (no score) skipped: "
                       f"{_first(self.failed_games, 5)}")
        return out


def _first(items: list[str], k: int) -> str:
    more = f" and {len(items) - k} more" if len(items) > k else ""
    return ", ".join(items[:k]) + more


def default_set_name(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return "imported-" + Path(name).stem


def import_battles(store: Store, path: Path, fmt: str, set_name: str | None = None,
                   baseline: str | None = None) -> BattleImportSummary:
    """Parse ``path`` whole, then write it in one transaction; re-importing adds nothing.

    Raises ArenaError naming FILE:LINE (or FILE:record N) at the first malformed record, or
    the option that is wrong; nothing is written then.
    """
    if fmt not in FORMATS:
        raise ArenaError(f"--format: choose {', '.join(FORMATS)} (got {fmt!r})")
    if fmt == "arena-hard":
        if not baseline or not baseline.strip():
            raise ArenaError("--baseline MODEL is required with --format arena-hard: the model "
                             "every judged model was compared against")
        if len(baseline) > NAME_MAX:
            raise ArenaError(f"--baseline: a model name has at most {NAME_MAX} characters")
    elif baseline is not None:
        raise ArenaError("--baseline only applies to --format arena-hard")
    name = set_name or default_set_name(path)
    if not name.strip() or len(name) > NAME_MAX:
        raise ArenaError(f"--set: a prompt set name has 1 to {NAME_MAX} characters")
    with _gc_paused():  # a million small containers: the cyclic GC would rescan them all
        parsed = parse_battle_file(path, fmt, baseline)  # type: ignore[arg-type]
        result = store.import_battles(name, parsed.batch)
        summary = BattleImportSummary(path, fmt, parsed.records, result, parsed.duplicates,
                                      parsed.failed_games)
        del parsed  # freed by reference counting, before the collector is back
    return summary


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
