"""The transformers callback that feeds :class:`trainers.progress.TrainLog`.

Kept apart because subclassing ``TrainerCallback`` imports transformers: only
:mod:`trainers.run` imports this module, after the plan has been checked.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from trainers.progress import TrainLog

#: Keys of the trainer's end-of-training log (``train_runtime``, ``train_loss``, ...); they go
#: into the summary rather than into a step line.
_END_KEYS = ("train_runtime", "train_loss")


class LogCallback(TrainerCallback):
    """Writes each logging step to the log file and the terminal; keeps the end-of-training
    figures for the summary."""

    def __init__(self, log: TrainLog) -> None:
        self.log = log
        self.end_metrics: dict[str, Any] = {}

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        if any(key in logs for key in _END_KEYS):
            self.end_metrics = {k: v for k, v in logs.items() if k not in ("total_flos", "epoch")}
            return
        self.log.step(state.global_step, state.max_steps, logs)
