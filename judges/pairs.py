"""Labelled answer pairs for measuring a judge: which of two answers is the better one.

``arena judges eval --judge NAME --pairs FILE`` shows a judge pairs whose better side is
known and counts how often it agrees. This module turns such a file into pairs, strictly:
a bad record stops the whole load, with a message ``FILE:LINE: field NAME: ...`` saying
what to fix, and nothing is returned half-loaded.

Two formats, told apart by the first record:

* ``codeprefbench``: CodePrefBench's ``{task_id, instruction, choices: [a, b], gt_choice}``
  as JSONL or as one JSON array. ``gt_choice`` is 0/1 or "A"/"B". Optional: ``category``
  (or ``criterion``), ``tests``, ``entry_point``. Without a category, the task id's prefix
  before the first "/" or ":" is used (``correctness/12`` -> ``correctness``). Other
  fields are ignored.
* ``humanevalpack``: HumanEvalPack (Python) records, which hold a ``canonical_solution``
  and a ``buggy_solution`` for one ``prompt`` (imports, helper functions, signature and
  docstring). Each choice is the whole program ``prompt + solution``; the correct one's
  position is drawn per task from ``random.Random(f"{seed}:{task_id}")``, so it does not
  depend on the order of the file or on ``limit``.

Files ending in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from arena.domain import ArenaError
from arena.jsonl import json_lines

PairsFormat = Literal["codeprefbench", "humanevalpack"]
CODEPREFBENCH_FIELDS = ("task_id", "instruction", "choices", "gt_choice")
HUMANEVALPACK_FIELDS = ("task_id", "prompt", "canonical_solution", "buggy_solution", "test",
                        "entry_point")
FORMAT_FIELDS = {"CodePrefBench": CODEPREFBENCH_FIELDS, "HumanEvalPack": HUMANEVALPACK_FIELDS}
GT_VALUES = {"A": 0, "B": 1}


class PairsError(ArenaError):
    """A pairs file that cannot be used; the message names FILE:LINE, the field and the fix."""


@dataclass(frozen=True)
class LabelledPair:
    """Two answers to one instruction, and which of them is the better one."""

    task_id: str
    instruction: str  # what the user asked
    choices: tuple[str, str]  # two candidate answers (code, possibly with prose)
    gt_choice: int  # 0 or 1: the better one
    category: str | None = None  # CodePrefBench criterion or our category; HumanEvalPack: bug_type
    tests: str | None = None  # Python test code defining check(candidate), when known
    entry_point: str | None = None
    source: str = ""  # "FILE:LINE"


def load_pairs(path: Path, *, seed: int = 0, limit: int | None = None
               ) -> tuple[PairsFormat, list[LabelledPair]]:
    """Read a pairs file; returns its format name and its pairs, in file order.

    ``seed`` decides, for HumanEvalPack, which position holds the correct solution.
    ``limit`` keeps the first N pairs (the whole file is still checked).

    Raises PairsError when the file cannot be read, is empty, is not JSON, when its first
    record matches neither format, when any record lacks a field or has one of the wrong
    type, or when a task id repeats.
    """
    if limit is not None and limit < 1:
        raise PairsError(f"--limit must be a positive number of pairs, got {limit}")
    records = _records(path)
    fmt = _detect(path, *records[0])
    build = _codeprefbench_pair if fmt == "codeprefbench" else _humanevalpack_pair
    pairs: list[LabelledPair] = []
    first_line: dict[str, int] = {}
    for line, rec in records:
        where = f"{path}:{line}"
        pair = build(rec, where, seed)
        if pair.task_id in first_line:
            raise PairsError(f"{where}: field task_id: {pair.task_id!r} already appears at line "
                             f"{first_line[pair.task_id]}; task ids must be unique, so remove "
                             "or rename one of them")
        first_line[pair.task_id] = line
        pairs.append(pair)
    return fmt, pairs if limit is None else pairs[:limit]


# ----------------------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except FileNotFoundError:
        raise PairsError(f"{path}: no such file; check the --pairs path") from None
    except (OSError, EOFError) as exc:  # a directory, no permission, a broken .gz
        raise PairsError(f"{path}: cannot read the file ({exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PairsError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8") from None


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Every record with the line it starts on: JSONL, or one JSON array."""
    text = _read_text(path)
    stripped = text.lstrip()
    records = _array_records(path, text) if stripped.startswith("[") else _jsonl_records(path, text)
    if not records:
        raise PairsError(f"{path}: the file has no records; expected JSONL (one JSON object a "
                         "line) or a JSON array of objects")
    for line, rec in records:
        if not isinstance(rec, dict):
            raise PairsError(f"{path}:{line}: expected a JSON object, got "
                             f"{type(rec).__name__}; each record must be {{\"task_id\": ...}}")
    return records


def _jsonl_records(path: Path, text: str) -> list[tuple[int, Any]]:
    return list(json_lines(text.splitlines(), lambda n: f"{path}:{n}", error=PairsError,
                           objects=False,  # checked by the caller, with the record's shape
                           hint="; expected one JSON object a line (JSONL) or a JSON array"))


def _array_records(path: Path, text: str) -> list[tuple[int, Any]]:
    """Decode a JSON array element by element, so each record keeps its line number."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, text.index("[") + 1)
    out: list[tuple[int, Any]] = []
    line, counted = 1, 0
    if text.startswith("]", pos):
        pos = len(text)  # an empty array: no records
    while pos < len(text):
        line, counted = line + text.count("\n", counted, pos), pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise PairsError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column "
                             f"{exc.colno}); fix the array element there") from None
        out.append((line, value))
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
        elif text.startswith("]", pos):
            if text[pos + 1:].strip():
                where = text.count("\n", 0, pos) + 1
                raise PairsError(f"{path}:{where}: not valid JSON (text after the closing ']'); "
                                 "a JSON array file must hold the array alone")
            break
        else:
            where = text.count("\n", 0, pos) + 1
            raise PairsError(f"{path}:{where}: not valid JSON (expected ',' or a final ']' "
                             "after an array element)")
    return out


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _detect(path: Path, line: int, rec: dict[str, Any]) -> PairsFormat:
    if "canonical_solution" in rec or "buggy_solution" in rec:
        return "humanevalpack"
    if "choices" in rec or "gt_choice" in rec:
        return "codeprefbench"
    raise PairsError(f"{path}:{line}: cannot tell the format from the first record (fields: "
                     f"{', '.join(sorted(rec)) or 'none'}); expected CodePrefBench "
                     f"({', '.join(CODEPREFBENCH_FIELDS)}) or HumanEvalPack "
                     f"({', '.join(HUMANEVALPACK_FIELDS)})")


# ----------------------------------------------------------------------------- fields


def _required_str(rec: dict[str, Any], key: str, where: str, fmt: str) -> str:
    if key not in rec or rec[key] is None:
        raise PairsError(f"{where}: missing field {key}; every {fmt} record needs "
                         f"{', '.join(FORMAT_FIELDS[fmt])}")
    value = rec[key]
    if key == "task_id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise PairsError(f"{where}: field {key} must be a non-empty string, got {_show(value)}")
    return value


def _optional_str(rec: dict[str, Any], key: str, where: str) -> str | None:
    value = rec.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PairsError(f"{where}: field {key} must be a string when present, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _choices(rec: dict[str, Any], where: str) -> tuple[str, str]:
    if "choices" not in rec:
        raise PairsError(f"{where}: missing field choices; add \"choices\": [answer_a, answer_b]")
    value = rec["choices"]
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(c, str) for c in value)):
        raise PairsError(f"{where}: field choices must be a list of exactly two strings "
                         f"[answer_a, answer_b], got {_show(value)}")
    return value[0], value[1]


def _gt_choice(rec: dict[str, Any], where: str) -> int:
    if "gt_choice" not in rec:
        raise PairsError(f"{where}: missing field gt_choice; add \"gt_choice\": 0 or 1 "
                         "(the index of the better choice)")
    value = rec["gt_choice"]
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return value
    if isinstance(value, str) and value in GT_VALUES:
        return GT_VALUES[value]
    raise PairsError(f"{where}: field gt_choice must be 0, 1, \"A\" or \"B\", got {_show(value)}")


def _category_from_id(task_id: str) -> str | None:
    cuts = [i for i in (task_id.find("/"), task_id.find(":")) if i > 0]
    return task_id[: min(cuts)] if cuts else None


# ----------------------------------------------------------------------------- formats


def _codeprefbench_pair(rec: dict[str, Any], where: str, seed: int) -> LabelledPair:
    task_id = _required_str(rec, "task_id", where, "CodePrefBench")
    instruction = _required_str(rec, "instruction", where, "CodePrefBench")
    choices = _choices(rec, where)
    gt = _gt_choice(rec, where)
    category = _optional_str(rec, "category", where)
    if category is None:
        category = _optional_str(rec, "criterion", where)
    return LabelledPair(
        task_id=task_id, instruction=instruction, choices=choices, gt_choice=gt,
        category=category if category is not None else _category_from_id(task_id),
        tests=_optional_str(rec, "tests", where),
        entry_point=_optional_str(rec, "entry_point", where),
        source=where,
    )


def _humanevalpack_pair(rec: dict[str, Any], where: str, seed: int) -> LabelledPair:
    fields = {k: _required_str(rec, k, where, "HumanEvalPack") for k in HUMANEVALPACK_FIELDS}
    prompt = fields["prompt"]
    correct = prompt + fields["canonical_solution"]
    buggy = prompt + fields["buggy_solution"]
    if correct == buggy:
        raise PairsError(f"{where}: field buggy_solution is the same as canonical_solution; "
                         "such a pair has no better side, so drop the record")
    task_id = fields["task_id"]
    gt = 1 if random.Random(f"{seed}:{task_id}").random() < 0.5 else 0
    return LabelledPair(
        task_id=task_id,
        instruction=_optional_str(rec, "instruction", where) or prompt,
        choices=(buggy, correct) if gt == 1 else (correct, buggy),
        gt_choice=gt,
        category=_optional_str(rec, "bug_type", where),
        tests=fields["test"],
        entry_point=fields["entry_point"],
        source=where,
    )
