"""Training on exported preference data: TRL's DPO and SFT runs (``arena train dpo|sft``).

The package reads files written by ``arena export`` (JSONL, parquet or a ``datasets``
save_to_disk folder), never the database. It is split along the line that keeps the CLI fast
and its errors early:

* light modules, importable without torch, transformers, trl or datasets:
  :mod:`trainers.data` (validate a data file with plain json / pyarrow),
  :mod:`trainers.fields` (the names a DPOConfig/SFTConfig accepts, read from the installed
  sources), :mod:`trainers.presets` (presets and the TOML config file),
  :mod:`trainers.plan` (everything resolved into a :class:`~trainers.plan.TrainPlan`),
  :mod:`trainers.progress` (terminal lines and ``train_log.jsonl``) and
  :mod:`trainers.sidecar` (``arena_train.json``);
* heavy modules, imported only once a plan is valid: :mod:`trainers.run` (load, train, save),
  :mod:`trainers.dpo`, :mod:`trainers.sft` and :mod:`trainers.callbacks`.

So a bad data file or config key is reported before the first heavy import, and importing
this package costs nothing.
"""

from __future__ import annotations

from arena.domain import ArenaError


class TrainError(ArenaError):
    """A training input the user can fix (data file, config file, model or output folder);
    the message names the file, line or key and says what was expected."""


__all__ = ["TrainError"]
