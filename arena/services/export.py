"""Exports: verdicts and ratings as TRL training data (DPO pairs, SFT examples), with a sidecar.

``arena export dpo`` writes TRL's preference format, one record per pair:

* standard: ``{"prompt": str, "chosen": str, "rejected": str, "metadata": {...}}``;
* conversational: ``prompt`` is the list of role/content messages, ``chosen`` and
  ``rejected`` are one-message assistant lists (TRL applies the chat template).

``arena export sft`` takes the chosen answers only: ``{"prompt", "completion"}`` strings, or
``{"messages": [..., assistant]}``. A multi-turn battle's prompt is the whole conversation
before the answers (standard records render it as ``[role]`` blocks).

Which pairs come from :mod:`arena.services.export_filters`. Here: records are de-duplicated
(a DPO record per prompt + chosen text + rejected text, an SFT record per prompt +
completion; a duplicate's battle id joins the kept record's ``metadata.battle_ids``), capped
per prompt (``max_per_prompt``, a seeded choice), and written as JSONL, parquet or a
``datasets`` folder (``save_to_disk``), next to ``<out>.meta.json`` saying how the export was
made. Everything goes to temporary names in the destination folder first and is renamed at
the end, so a failed export leaves nothing half-written; an export with no record writes
nothing. ``datasets`` is imported only for parquet and folders.

Model output is untrusted: it is written as JSON / Arrow string data only, never rendered
or interpreted (lone surrogates, which no UTF-8 file can hold, become U+FFFD).
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from arena.domain import ArenaError
from arena.services.export_filters import (
    NO_WINNER_NOTE,
    ExportFilters,
    Pair,
    describe_drops,
    select_pairs,
)
from db.repositories import Store

Kind = Literal["dpo", "sft"]
Format = Literal["jsonl", "parquet", "hf"]
SUFFIXES: dict[str, Format] = {".jsonl": "jsonl", ".parquet": "parquet"}
META_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class ExportRequest:
    """One export: what kind, where, which shape, and the filters. ``fmt`` None means by
    the file suffix (.jsonl or .parquet); ``hf`` writes a ``datasets`` folder."""

    kind: Kind
    out: Path
    conversational: bool = False
    fmt: Format | None = None
    filters: ExportFilters = field(default_factory=ExportFilters)

    def command_line(self) -> str:
        """The ``arena export`` command that makes this export (for the sidecar)."""
        f = self.filters
        parts = ["arena", "export", self.kind, "--out", str(self.out)]
        parts += ["--conversational"] if self.conversational else []
        parts += ["--format", self.fmt] if self.fmt else []
        for flag, value in (("--judges", ",".join(f.judges) if f.judges is not None else None),
                            ("--min-agree", f.min_agree), ("--min-margin", f.min_margin),
                            ("--max-per-prompt", f.max_per_prompt), ("--category", f.category),
                            ("--language", f.language), ("--set", f.set_name),
                            ("--rubric", f.rubric), ("--seed", f.seed or None)):
            if value is not None:
                parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return shlex.join(parts)


@dataclass(frozen=True)
class ExportResult:
    """What was written: the data path, the sidecar path, the record count, the sidecar."""

    out: Path
    meta_path: Path
    written: int
    meta: dict[str, Any]


# -- destination -------------------------------------------------------------------------
def meta_path_for(out: Path) -> Path:
    """The sidecar of an export: ``<out>.meta.json``."""
    return out.with_name(out.name + META_SUFFIX)


def resolve_format(out: Path, fmt: Format | None) -> Format:
    """The format to write. Raises ArenaError on an unsupported suffix or a format that
    contradicts it."""
    if fmt == "hf":
        return fmt
    if fmt is not None and fmt not in SUFFIXES.values():
        raise ArenaError(f"--format {fmt!r}: choose jsonl, parquet or hf")
    by_suffix = SUFFIXES.get(out.suffix.lower())
    if by_suffix is None:
        raise ArenaError(f"--out {out}: unsupported suffix {out.suffix or '(none)'!r}; use "
                         ".jsonl or .parquet, or --format hf for a datasets folder")
    if fmt is not None and fmt != by_suffix:
        raise ArenaError(f"--format {fmt} does not match --out {out.name} (a .{by_suffix} name)")
    return by_suffix


def check_destination(out: Path, fmt: Format) -> None:
    """Raises ArenaError when ``out`` cannot be written: its folder does not exist, or it
    is a folder (for a file) / a file or a non-dataset folder (for ``hf``)."""
    folder = out.parent
    if not folder.is_dir():
        raise ArenaError(f"--out {out}: folder {folder} does not exist")
    if fmt != "hf":
        if out.is_dir():
            raise ArenaError(f"--out {out} is a folder; name a file (or use --format hf)")
        return
    if out.exists() and not (out.is_dir() and (_is_saved_dataset(out) or not any(out.iterdir()))):
        raise ArenaError(f"--out {out} exists and is not a saved dataset folder; "
                         "name a new folder")


def _is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_info.json").is_file() or (folder / "state.json").is_file()


# -- records -------------------------------------------------------------------------------
def render_chat(messages: list[dict[str, str]]) -> str:
    """A conversation as one prompt string: a single user message is its text; anything
    longer is ``[role]`` blocks separated by blank lines."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def metadata(pair: Pair) -> dict[str, Any]:
    """Provenance of one record (the same keys for every record, so Arrow sees one schema)."""
    p = pair.prompt
    return {
        "source": "battle" if pair.battle_id is not None else "rubric",
        "battle_ids": [pair.battle_id] if pair.battle_id is not None else [],
        "prompt_id": p.external_id, "prompt_set": p.set_name,
        "category": p.category, "language": p.language,
        "turns": sum(1 for m in pair.conversation if m["role"] == "user"),
        "chosen_model": pair.chosen.model, "rejected_model": pair.rejected.model,
        "chosen_generation_id": pair.chosen.id, "rejected_generation_id": pair.rejected.id,
        "chosen_side": pair.chosen_side,
        "verdicts": [asdict(v) for v in pair.verdicts],
        "ratings": [asdict(r) for r in pair.ratings],
        "answers_rated": pair.answers_rated,
        "context_differs": pair.context_differs,
    }


def to_record(pair: Pair, kind: Kind, conversational: bool) -> dict[str, Any]:
    """One TRL record (see the module docstring for the four shapes)."""
    conv = pair.conversation
    chosen = {"role": "assistant", "content": pair.chosen.text}
    rejected = {"role": "assistant", "content": pair.rejected.text}
    if kind == "dpo" and conversational:
        body: dict[str, Any] = {"prompt": conv, "chosen": [chosen], "rejected": [rejected]}
    elif kind == "dpo":
        body = {"prompt": render_chat(conv), "chosen": pair.chosen.text,
                "rejected": pair.rejected.text}
    elif conversational:
        body = {"messages": [*conv, chosen]}
    else:
        body = {"prompt": render_chat(conv), "completion": pair.chosen.text}
    return {**body, "metadata": metadata(pair)}


def build_records(pairs: list[Pair], kind: Kind, conversational: bool, *,
                  max_per_prompt: int | None, seed: int, dropped: Counter[str]) -> list[dict[str, Any]]:
    """Records in prompt order, de-duplicated, then capped per prompt; what is left out is
    counted in ``dropped`` (``duplicate``, ``max_per_prompt``)."""
    ordered = sorted(pairs, key=lambda p: (p.prompt.set_name, p.prompt.external_id,
                                           p.battle_id or 0, p.chosen.id or 0))
    kept: dict[tuple[str, ...], dict[str, Any]] = {}
    for pair in ordered:
        conv = json.dumps(pair.conversation, ensure_ascii=False, sort_keys=True)
        key = ((conv, pair.chosen.text, pair.rejected.text) if kind == "dpo"
               else (conv, pair.chosen.text))
        if key in kept:
            dropped["duplicate"] += 1
            if pair.battle_id is not None:
                kept[key]["metadata"]["battle_ids"].append(pair.battle_id)
            continue
        kept[key] = to_record(pair, kind, conversational)
    records = list(kept.values())
    if max_per_prompt is None:
        return records
    by_prompt: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_prompt[(r["metadata"]["prompt_set"], r["metadata"]["prompt_id"])].append(i)
    leave: set[int] = set()
    for (set_name, ext), idx in by_prompt.items():
        if len(idx) > max_per_prompt:
            keep = set(random.Random(f"{seed}:{set_name}:{ext}").sample(idx, max_per_prompt))
            leave.update(i for i in idx if i not in keep)
    dropped["max_per_prompt"] += len(leave)
    return [r for i, r in enumerate(records) if i not in leave]


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _clean(value: Any) -> Any:
    """``value`` with lone surrogates in its strings replaced by U+FFFD (UTF-8 cannot hold them)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


# -- writing -------------------------------------------------------------------------------
def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


@contextmanager
def _quiet_datasets() -> Iterator[Any]:
    """The ``datasets`` module with its progress bars off (restored afterwards).
    Raises ArenaError when ``datasets`` is not installed."""
    try:
        import datasets
    except ImportError as exc:
        raise ArenaError("parquet and --format hf need the datasets package: install the "
                         "train extra (pip install 'arena-code[train]') or write .jsonl") from exc
    was_off = datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield datasets
    finally:
        if not was_off:
            datasets.enable_progress_bars()


_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _one_line(line: str) -> str:
    """A JSON line with the breaks that ``str.splitlines`` honours escaped too (json.dumps
    already escapes every control character below U+0020)."""
    for raw, escaped in _LINE_BREAKS.items():
        line = line.replace(raw, escaped)
    return line


def _features(datasets: Any, records: list[dict[str, Any]]) -> Any:
    """One Arrow schema for every export of a shape, whatever its source (battles or
    ratings), so that exports concatenate; a list of one dict is a list of structs."""
    text, integer, real = (datasets.Value(t) for t in ("string", "int64", "float64"))
    special = {"battle_ids": [integer], "context_differs": datasets.Value("bool"),
               "verdicts": [{"rater": text, "outcome": text, "score": integer, "games": integer}],
               "ratings": [{"judge": text, "chosen": real, "rejected": real, "scale_max": integer}]}
    special.update(dict.fromkeys(("turns", "chosen_generation_id", "rejected_generation_id",
                                  "answers_rated"), integer))
    meta = {k: special.get(k, text) for k in records[0]["metadata"]}
    body = {k: [{"role": text, "content": text}] if isinstance(v, list) else text
            for k, v in records[0].items() if k != "metadata"}
    return datasets.Features({**body, "metadata": meta})


def write_data(records: list[dict[str, Any]], path: Path, fmt: Format) -> None:
    """Write the records to ``path`` (a file, or a folder for ``hf``) as is: no renaming."""
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for r in records:
                fh.write(_one_line(json.dumps(r, ensure_ascii=False)) + "\n")
        return
    with _quiet_datasets() as datasets:
        ds = datasets.Dataset.from_list(records, features=_features(datasets, records))
        if fmt == "parquet":
            ds.to_parquet(str(path))
        else:
            ds.save_to_disk(str(path))


def _install(temp: Path, out: Path) -> None:
    """Move a finished temp file or folder to ``out``; a saved dataset folder already
    there is swapped out and removed."""
    if temp.is_dir() and out.exists():
        old = _temp_name(out)
        out.rename(old)
        temp.rename(out)
        _remove(old)
    else:
        os.replace(temp, out)


def write_export(records: list[dict[str, Any]], out: Path, fmt: Format,
                 meta: dict[str, Any], started: float | None = None) -> Path:
    """Write data and sidecar under temporary names in the destination folder, then rename
    both into place; on any error remove the temporaries. Returns the sidecar path. With
    ``started`` (a ``time.perf_counter()`` value), ``meta["elapsed_s"]`` is set once the
    data is written."""
    meta_path = meta_path_for(out)
    data_tmp, meta_tmp = _temp_name(out), _temp_name(meta_path)
    try:
        write_data([_clean(r) for r in records], data_tmp, fmt)
        if started is not None:
            meta["elapsed_s"] = round(time.perf_counter() - started, 3)
        meta_tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
        _install(data_tmp, out)
        os.replace(meta_tmp, meta_path)
    finally:
        _remove(data_tmp)
        _remove(meta_tmp)
    return meta_path


# -- the export ------------------------------------------------------------------------------
def arena_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("arena-code")
    except PackageNotFoundError:
        return "unknown"


def _rules(request: ExportRequest) -> list[str]:
    rules = [NO_WINNER_NOTE]
    if request.filters.rubric is not None:
        rules.append("CodeUltraFeedback: per prompt, chosen = highest-rated answer, rejected "
                     "= lowest-rated, rating ties broken at random (seeded); prompts whose "
                     "ratings are all equal give no pair")
    else:
        rules.append("a battle counts when at least --min-agree of the selected raters judged "
                     "it and all of them name the same winner; a judge's games combine by "
                     "summed signed strength, human votes by majority over the voters")
    rules.append("de-duplicated per prompt + chosen text + rejected text" if request.kind == "dpo"
                 else "de-duplicated per prompt + completion")
    return rules


def run_export(store: Store, request: ExportRequest) -> ExportResult:
    """Select, shape and write one export (see the module docstring).

    Raises ArenaError on a bad destination or format, a bad filter (unknown judge, unknown
    rubric judge or set, --min-agree above the number of raters), or when no record is
    left after filtering (naming how many battles each filter dropped); nothing is
    written then.
    """
    started = time.perf_counter()
    fmt = resolve_format(request.out, request.fmt)
    check_destination(request.out, fmt)
    f = request.filters
    sel = select_pairs(store, f)
    dropped = Counter(sel.dropped)
    records = build_records(sel.pairs, request.kind, request.conversational,
                            max_per_prompt=f.max_per_prompt, seed=f.seed, dropped=dropped)
    what = "pairs" if request.kind == "dpo" else "examples"
    if not records:
        raise ArenaError(f"nothing to export: no {what} left from {sel.considered} "
                         f"{sel.unit} considered; dropped: {describe_drops(dropped)}; "
                         "nothing was written")
    meta: dict[str, Any] = {
        "arena_version": arena_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": request.command_line(),
        "kind": request.kind, "format": fmt,
        "style": "conversational" if request.conversational else "standard",
        "out": str(request.out),
        "source": "rubric" if f.rubric is not None else "battles",
        "raters": sel.raters, "filters": f.as_dict(), "rules": _rules(request),
        "counts": {f"{sel.unit}_considered": sel.considered,
                   "pairs_selected": len(sel.pairs),
                   "dropped": {k: n for k, n in sorted(dropped.items()) if n},
                   "written": len(records)},
    }
    meta_path = write_export(records, request.out, fmt, meta, started)
    return ExportResult(request.out, meta_path, len(records), meta)
