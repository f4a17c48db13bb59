"""What a run tells its user while it trains: one terminal line and one JSON line per logging
step, plus a start line and a final summary in ``DIR/train_log.jsonl``.

The trainer's own printers (tqdm bars, printed dicts on stdout) are switched off by
:mod:`trainers.run`; these lines go to stderr, so stdout stays free for the final summary
JSON. Pure Python: the transformers callback that feeds it lives in :mod:`trainers.callbacks`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from trainers.data import Kind

LOG_FILE = "train_log.jsonl"

#: The metrics shown on the terminal, in order; every metric goes to the log file.
TERMINAL_METRICS: dict[Kind, tuple[str, ...]] = {
    "dpo": ("loss", "rewards/margins", "rewards/accuracies", "rewards/chosen",
            "rewards/rejected", "learning_rate"),
    "sft": ("loss", "mean_token_accuracy", "learning_rate"),
}
_SHORT = {"learning_rate": "lr", "mean_token_accuracy": "token_acc"}

Echo = Callable[[str], None]


def _number(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if value == 0 or (1e-3 <= abs(value) < 1e5):
        return f"{value:.4f}"
    return f"{value:.3e}"


def format_step(kind: Kind, step: int, max_steps: int, logs: Mapping[str, Any]) -> str:
    """``"dpo step 2/3 epoch 0.50 loss 0.6928 rewards/margins 0.0008 ..."``."""
    parts = [f"{kind} step {step}/{max_steps}"]
    if "epoch" in logs:
        parts.append(f"epoch {logs['epoch']:.2f}")
    parts += [f"{_SHORT.get(k, k)} {_number(logs[k])}" for k in TERMINAL_METRICS[kind] if k in logs]
    return "  ".join(parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN/inf are not JSON
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class TrainLog:
    """Appends JSON lines to ``DIR/train_log.jsonl`` and echoes terminal lines.

    ``fresh=True`` starts a new file (a run from the base model); a resumed run appends, so
    the file tells the whole story of the folder. Each line is flushed as it is written, so
    an interrupted run leaves every step it logged.
    """

    def __init__(self, out: Path, kind: Kind, echo: Echo, *, fresh: bool) -> None:
        self.kind = kind
        self.echo = echo
        self.path = out / LOG_FILE
        out.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = self.path.open("w" if fresh else "a", encoding="utf-8")
        self._started = time.perf_counter()
        self.last_metrics: dict[str, Any] = {}

    def write(self, event: str, **fields: Any) -> None:
        """One JSON line: ``{"event": ..., "time": <unix time>, **fields}``."""
        line = {"event": event, "time": round(time.time(), 3), **_jsonable(fields)}
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()

    def step(self, step: int, max_steps: int, logs: Mapping[str, Any]) -> None:
        """A logging step: the log line, the terminal line, and remember the metrics."""
        metrics = {k: v for k, v in logs.items() if k != "epoch"}
        self.last_metrics = dict(metrics)
        elapsed = round(time.perf_counter() - self._started, 3)
        self.write("log", step=step, max_steps=max_steps, epoch=logs.get("epoch"),
                   elapsed_s=elapsed, **metrics)
        self.echo(format_step(self.kind, step, max_steps, logs))

    def close(self) -> None:
        self._file.close()
