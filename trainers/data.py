"""Training data: check an exported file before anything heavy happens, then load it.

``arena export`` writes TRL's formats: preference pairs ``{"prompt", "chosen", "rejected"}``
(strings, or lists of ``{"role", "content"}`` messages) for DPO, and ``{"prompt",
"completion"}`` or ``{"messages"}`` for SFT, plus a ``metadata`` column that training drops.
They come as JSONL, parquet or a ``datasets`` save_to_disk folder.

:func:`inspect_data` checks such a file with plain :mod:`json` (JSONL, every line) or pyarrow
(parquet and arrow: the schema and row count), so a missing file, a broken line or a missing
column is reported in a fraction of a second, naming the file and line, without importing
torch or datasets. :func:`load_dataset` (which imports ``datasets``) runs only after that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from arena.jsonl import json_lines
from trainers import TrainError

if TYPE_CHECKING:
    import pyarrow as pa
    from datasets import Dataset

Kind = Literal["dpo", "sft"]
Source = Literal["jsonl", "parquet", "arrow"]
Style = Literal["standard", "conversational"]

#: Column sets each kind accepts, the first being the one to name in messages.
SCHEMAS: dict[Kind, tuple[tuple[str, ...], ...]] = {
    "dpo": (("prompt", "chosen", "rejected"), ("chosen", "rejected")),
    "sft": (("prompt", "completion"), ("messages",), ("text",)),
}
_FORMAT_NAMES = {
    ("prompt", "chosen", "rejected"): "preference", ("chosen", "rejected"): "implicit-prompt preference",
    ("prompt", "completion"): "prompt-completion", ("messages",): "messages", ("text",): "text",
}


@dataclass(frozen=True)
class DataSummary:
    """What :func:`inspect_data` found: where, which columns train, which are dropped."""

    path: Path
    kind: Kind
    source: Source
    columns: tuple[str, ...]
    style: Style
    records: int
    dropped: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        """E.g. ``"preference (conversational)"``."""
        return f"{_FORMAT_NAMES[self.columns]} ({self.style})"


def _expected(kind: Kind) -> str:
    return " or ".join(f"({', '.join(cols)})" for cols in SCHEMAS[kind])


def _pick_schema(kind: Kind, found: list[str], where: str) -> tuple[str, ...]:
    """The column set ``found`` satisfies; else an error naming what is missing."""
    present = set(found)
    for cols in SCHEMAS[kind]:
        if present.issuperset(cols):
            return cols
    best = max(SCHEMAS[kind], key=lambda cols: (len(present & set(cols)), -len(cols)))
    missing = [c for c in best if c not in present]
    plural = "s" if len(missing) > 1 else ""
    raise TrainError(
        f"{where}: missing column{plural} {', '.join(repr(m) for m in missing)}; "
        f"{kind.upper()} data needs {_expected(kind)}; found: {', '.join(found) or 'none'}")


def _value_style(value: Any, column: str, where: str) -> Style:
    """``standard`` for a string, ``conversational`` for a list of role/content messages."""
    if isinstance(value, str):
        return "standard"
    if isinstance(value, list) and value:
        for i, message in enumerate(value):
            if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                    and isinstance(message.get("content"), str)):
                raise TrainError(f"{where}: {column!r} message {i} is not a "
                                 '{"role": str, "content": str} object')
        return "conversational"
    got = "an empty list" if value == [] else type(value).__name__
    raise TrainError(f"{where}: {column!r} must be a string or a list of role/content "
                     f"messages, got {got}")


def _record_style(record: dict[str, Any], columns: tuple[str, ...], where: str) -> Style:
    styles = {c: _value_style(record[c], c, where) for c in columns if c != "text"}
    if "text" in columns and not isinstance(record["text"], str):
        raise TrainError(f"{where}: 'text' must be a string")
    if "messages" in columns and styles["messages"] != "conversational":
        raise TrainError(f"{where}: 'messages' must be a list of role/content messages")
    kinds = set(styles.values()) or {"standard"}
    if len(kinds) > 1:
        detail = ", ".join(f"{c} is {s}" for c, s in styles.items())
        raise TrainError(f"{where}: mixes plain strings and message lists ({detail}); "
                         "use one format per record")
    return kinds.pop()


def _inspect_jsonl(path: Path, kind: Kind) -> DataSummary:
    columns: tuple[str, ...] | None = None
    style: Style | None = None
    extra: dict[str, None] = {}
    records = 0
    with path.open(encoding="utf-8") as f:
        for n, record in json_lines(f, lambda n: f"{path} line {n}", error=TrainError):
            where = f"{path} line {n}"
            if columns is None:
                columns = _pick_schema(kind, list(record), where)
            missing = [c for c in columns if c not in record]
            if missing:
                raise TrainError(
                    f"{where}: missing column {missing[0]!r}; expected {', '.join(columns)} "
                    f"like the first record; found: {', '.join(record) or 'none'}")
            this = _record_style(record, columns, where)
            if style is None:
                style = this
            elif this != style:
                raise TrainError(f"{where}: {this} record in a file of {style} records; "
                                 "use one format for the whole file")
            extra.update(dict.fromkeys(k for k in record if k not in columns))
            records += 1
    if columns is None or style is None:
        raise TrainError(f"{path}: empty, no records; export some pairs first")
    return DataSummary(path, kind, "jsonl", columns, style, records, tuple(extra))


def _arrow_style(schema: pa.Schema, columns: tuple[str, ...], where: str) -> Style:
    import pyarrow as pa

    styles: dict[str, Style] = {}
    for column in columns:
        kind = schema.field(column).type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            styles[column] = "standard"
        elif ((pa.types.is_list(kind) or pa.types.is_large_list(kind))
              and pa.types.is_struct(kind.value_type)
              and {"role", "content"} <= {f.name for f in kind.value_type}):
            styles[column] = "conversational"
        else:
            raise TrainError(f"{where}: column {column!r} has type {kind}; expected a string "
                             "or a list of role/content messages")
    if len(set(styles.values())) > 1:
        detail = ", ".join(f"{c} is {s}" for c, s in styles.items())
        raise TrainError(f"{where}: mixes plain strings and message lists ({detail})")
    return next(iter(styles.values()))


def _arrow_files(folder: Path) -> list[Path]:
    """The ``.arrow`` files of a save_to_disk folder (a Dataset, or a DatasetDict's train)."""
    if (folder / "dataset_dict.json").is_file():
        try:
            splits = json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
        except (OSError, ValueError, KeyError, TypeError):
            raise TrainError(f"{folder}: unreadable dataset_dict.json") from None
        if "train" not in splits:
            raise TrainError(f"{folder}: no 'train' split; found: {', '.join(splits) or 'none'}")
        folder = folder / "train"
    state = folder / "state.json"
    try:
        files = [folder / f["filename"] for f in json.loads(state.read_text(encoding="utf-8"))["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise TrainError(f"{folder}: not a datasets save_to_disk folder (no readable state.json); "
                         "pass a .jsonl or .parquet file or a folder saved by Dataset.save_to_disk") from None
    return files


def _inspect_arrow(path: Path, kind: Kind, source: Source) -> DataSummary:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if source == "parquet":
            schema, rows = pq.read_schema(path), pq.ParquetFile(path).metadata.num_rows
        else:
            files = _arrow_files(path)
            rows = 0
            schema = None
            for file in files:
                with pa.memory_map(str(file)) as source_file:
                    reader = pa.ipc.open_stream(source_file)
                    schema = reader.schema
                    rows += sum(batch.num_rows for batch in reader)
            if schema is None:
                raise TrainError(f"{path}: empty, no data files")
    except (OSError, pa.ArrowInvalid) as exc:
        raise TrainError(f"{path}: unreadable {source} data ({exc})") from None
    names = list(schema.names)
    columns = _pick_schema(kind, names, str(path))
    if rows == 0:
        raise TrainError(f"{path}: empty, no records; export some pairs first")
    style = _arrow_style(schema, columns, str(path))
    return DataSummary(path, kind, source, columns, style, rows,
                       tuple(n for n in names if n not in columns))


def inspect_data(path: Path, kind: Kind) -> DataSummary:
    """Check ``path`` holds ``kind`` training data and describe it.

    Raises :class:`~trainers.TrainError` for a missing path, an unsupported file type, a line
    that is not a JSON object (naming the line), a missing column (naming the columns expected
    and found), values that are neither strings nor role/content messages, or no records.
    """
    path = Path(path)
    if not path.exists():
        raise TrainError(f"data file not found: {path}")
    if path.is_dir():
        return _inspect_arrow(path, kind, "arrow")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _inspect_jsonl(path, kind)
    if suffix in (".parquet", ".pq"):
        return _inspect_arrow(path, kind, "parquet")
    raise TrainError(f"{path}: unsupported data file type {suffix or '(none)'!r}; "
                     "expected .jsonl, .parquet or a datasets save_to_disk folder")


def _read_jsonl(path: Path, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [{c: record[c] for c in columns}
                for record in (json.loads(line) for line in f if line.strip())]


def load_dataset(summary: DataSummary) -> Dataset:
    """The checked data as an in-memory ``datasets.Dataset`` holding only the training
    columns (``metadata`` and other extras dropped). Imports ``datasets``; writes no cache."""
    from datasets import Dataset, DatasetDict, load_from_disk

    if summary.source == "jsonl":
        return Dataset.from_list(_read_jsonl(summary.path, summary.columns))
    if summary.source == "parquet":
        import pyarrow.parquet as pq

        return Dataset(pq.read_table(summary.path, columns=list(summary.columns)))
    loaded = load_from_disk(str(summary.path))
    if isinstance(loaded, DatasetDict):
        loaded = loaded["train"]
    return loaded.select_columns(list(summary.columns))
