"""Reading prompt sets from files, strictly: a bad line stops the whole import.

Two formats:

* ``jsonl`` (ours): one object a line with ``id`` and ``prompt`` (or ``messages``), and
  optionally ``category``, ``language``, ``difficulty``, ``reference``, ``tests``,
  ``entry_point``. A line may also carry ``answers``: ``{model: response}``, recorded
  answers imported as replay models (the demo pack uses this).
* ``codearena``: the CodeArena dataset file: ``id``, ``messages``, ``difficulty``,
  ``programming_language``, a task-type field, and one ``<model>_response`` column per
  baseline model, imported as a replay model named ``<model>``.

Every problem is reported as ``FILE:LINE: what is wrong`` and nothing from that file is
imported (the caller imports only after the whole file parsed).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Literal

from arena.domain import ArenaError
from arena.jsonl import json_lines
from db.repositories import AnswerIn, PromptIn

Format = Literal["jsonl", "codearena"]
OUR_FIELDS = {"id", "prompt", "messages", "category", "language", "difficulty", "reference",
              "tests", "entry_point", "answers"}
ROLES = {"system", "user", "assistant"}
CODEARENA_CATEGORY_FIELDS = ("category", "main_category", "task_type", "type", "subtask")


def _open(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.exists():
        raise ArenaError(f"{path}: no such file")
    with _open(path) as fh:
        out = list(json_lines(fh, lambda n: f"{path}:{n}"))
    if not out:
        raise ArenaError(f"{path}: the file has no records")
    return out


def _opt_str(rec: dict[str, Any], key: str, where: str) -> str | None:
    value = rec.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ("id", "difficulty"):
        return str(value)
    if not isinstance(value, str):
        raise ArenaError(f"{where}: field {key} must be a string")
    return value


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ArenaError(f"{where}: field messages must be a non-empty list of {{role, content}}")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in ROLES:
            raise ArenaError(f"{where}: messages[{i}] must be {{\"role\": system|user|assistant, \"content\": str}}")
        out.append({"role": m["role"], "content": m["content"]})
    if out[-1]["role"] != "user":
        raise ArenaError(f"{where}: the last message must be the user's")
    return out


def _check_unique(ids: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for ext, where in ids:
        if ext in seen:
            raise ArenaError(f"{where}: id {ext!r} is used twice (first at {seen[ext]})")
        seen[ext] = where


def load_jsonl(path: Path) -> tuple[list[PromptIn], list[AnswerIn]]:
    prompts: list[PromptIn] = []
    answers: list[AnswerIn] = []
    for lineno, rec in _records(path):
        where = f"{path}:{lineno}"
        unknown = sorted(set(rec) - OUR_FIELDS)
        if unknown:
            raise ArenaError(f"{where}: unknown field(s) {', '.join(unknown)}; "
                             f"allowed: {', '.join(sorted(OUR_FIELDS))} (is this --format codearena?)")
        ext = _opt_str(rec, "id", where)
        if not ext:
            raise ArenaError(f"{where}: field id is missing")
        if ("prompt" in rec) == ("messages" in rec):
            raise ArenaError(f"{where}: give exactly one of the fields prompt and messages")
        messages = _messages(rec["messages"], where) if "messages" in rec else None
        text = messages[-1]["content"] if messages else _opt_str(rec, "prompt", where)
        if not text or not text.strip():
            raise ArenaError(f"{where}: the prompt is empty")
        prompts.append(PromptIn(
            external_id=ext, text=text, messages=messages,
            category=_opt_str(rec, "category", where), language=_opt_str(rec, "language", where),
            difficulty=_opt_str(rec, "difficulty", where), reference=_opt_str(rec, "reference", where),
            tests=_opt_str(rec, "tests", where), entry_point=_opt_str(rec, "entry_point", where),
            where=where))
        recorded = rec.get("answers") or {}
        if not isinstance(recorded, dict) or not all(isinstance(v, str) for v in recorded.values()):
            raise ArenaError(f"{where}: field answers must map model names to response strings")
        answers += [AnswerIn(ext, model, resp, where) for model, resp in recorded.items()]
    _check_unique([(p.external_id, p.where) for p in prompts])
    return prompts, answers


def load_codearena(path: Path) -> tuple[list[PromptIn], list[AnswerIn]]:
    prompts: list[PromptIn] = []
    answers: list[AnswerIn] = []
    for lineno, rec in _records(path):
        where = f"{path}:{lineno}"
        ext = _opt_str(rec, "id", where)
        if not ext:
            raise ArenaError(f"{where}: field id is missing")
        if "messages" not in rec:
            raise ArenaError(f"{where}: field messages is missing (is this --format jsonl?)")
        messages = _messages(rec["messages"], where)
        category = next((str(rec[k]) for k in CODEARENA_CATEGORY_FIELDS if rec.get(k)), None)
        language = rec.get("programming_language") or rec.get("language")
        prompts.append(PromptIn(
            external_id=ext, text=messages[-1]["content"],
            messages=messages if len(messages) > 1 else None, category=category,
            language=str(language).lower() if language else None,
            difficulty=_opt_str(rec, "difficulty", where), where=where))
        for key, value in rec.items():
            if key.endswith("_response") and key != "_response":
                if not isinstance(value, str):
                    raise ArenaError(f"{where}: field {key} must be a string")
                answers.append(AnswerIn(ext, key[: -len("_response")], value, where))
    _check_unique([(p.external_id, p.where) for p in prompts])
    return prompts, answers


def load_prompt_file(path: Path, fmt: Format | None = None) -> tuple[list[PromptIn], list[AnswerIn]]:
    """Parse the whole file; raises ArenaError naming FILE:LINE at the first problem."""
    if fmt is None:
        fmt = "codearena" if "codearena" in path.name.lower() else "jsonl"
    if fmt == "codearena":
        return load_codearena(path)
    return load_jsonl(path)


def demo_pack_path() -> Path:
    """The bundled demo pack (assets/demo/prompts.jsonl in the source tree)."""
    here = Path(__file__).resolve()
    for base in (here.parents[2], here.parents[1]):
        candidate = base / "assets" / "demo" / "prompts.jsonl"
        if candidate.exists():
            return candidate
    raise ArenaError("the demo pack (assets/demo/prompts.jsonl) is missing from this installation")
