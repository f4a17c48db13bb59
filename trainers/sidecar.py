"""``DIR/arena_train.json``: how a trained model came to be.

The sidecar lets a model that enters the arena be traced back: base model, data file (with
its SHA-256 and, when ``arena export`` left one next to it, the export's own sidecar and its
hash), the preset and config file, every config field the run set, the final metrics, the
number of steps and the wall time. It is written last, atomically, so its presence means the
run finished and the model next to it is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from trainers.data import DataSummary

SIDECAR = "arena_train.json"
#: Where ``arena export`` leaves its description of an export ``F`` (a file or a datasets
#: folder): ``F.meta.json`` (``arena.services.export.meta_path_for``).
EXPORT_META_SUFFIX = ".meta.json"
_INLINE_LIMIT = 64 * 1024


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (relative names and bytes, in name order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def export_sidecar(data: Path) -> Path | None:
    """The export sidecar next to ``data`` (``data.meta.json``), if there is one."""
    candidate = data.with_name(data.name + EXPORT_META_SUFFIX)
    return candidate if candidate.is_file() else None


def describe_data(summary: DataSummary) -> dict[str, Any]:
    """The ``data`` section: path, format, counts, hash, and the export sidecar if any."""
    section: dict[str, Any] = {
        "path": str(summary.path.resolve()), "source": summary.source, "format": summary.format,
        "columns": list(summary.columns), "dropped_columns": list(summary.dropped),
        "records": summary.records, "sha256": sha256_of(summary.path),
    }
    meta = export_sidecar(summary.path)
    if meta is not None:
        sidecar: dict[str, Any] = {"path": str(meta.resolve()), "sha256": sha256_of(meta)}
        if meta.stat().st_size <= _INLINE_LIMIT:
            try:
                sidecar["content"] = json.loads(meta.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                pass  # not JSON: the hash still identifies it
        section["export_sidecar"] = sidecar
    return section


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
