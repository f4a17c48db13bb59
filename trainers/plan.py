"""Turn what the user asked for into a complete, checked :class:`TrainPlan` — cheaply.

Everything that can be wrong with a training request (the data file, the config file, the
preset, the model path, the output folder) is found here, before torch, transformers, trl or
datasets are imported, so a typo costs a fraction of a second rather than a model load. The
plan then carries every decision (the merged config fields, LoRA settings, which checkpoint
to resume from) to :func:`trainers.run.run_plan`, which only has to execute it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainers import TrainError
from trainers.data import DataSummary, Kind, inspect_data
from trainers.presets import (
    BASE_ARGS,
    DEFAULT_LORA,
    ConfigFile,
    check_keys,
    get_preset,
    load_config_file,
)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: Files that mark a folder as the output of an earlier run (so writing into it is safe).
_RUN_MARKERS = ("arena_train.json", "train_log.jsonl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class TrainRequest:
    """The options of ``arena train dpo|sft``; ``None`` means "not given"."""

    kind: Kind
    model: str
    data: Path
    out: Path
    lora: bool | None = None
    config: Path | None = None
    preset: str | None = None
    max_steps: int | None = None
    epochs: float | None = None
    lr: float | None = None
    batch_size: int | None = None
    beta: float | None = None
    save_steps: int | None = None
    resume: bool | None = None


@dataclass(frozen=True)
class TrainPlan:
    """A checked request: every config field and path decided, nothing imported yet."""

    kind: Kind
    model: str
    model_is_local: bool
    data: DataSummary
    out: Path
    preset: str
    config_file: Path | None
    args: dict[str, Any]
    lora: dict[str, Any] | None
    resume_from: Path | None
    stale_checkpoints: tuple[Path, ...] = ()
    notes: tuple[str, ...] = field(default=())


def checkpoints(out: Path) -> list[Path]:
    """``checkpoint-N`` folders in ``out`` that hold a trainer state, oldest first."""
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir()
             if p.is_dir() and (m := _CHECKPOINT.match(p.name)) and (p / "trainer_state.json").is_file()]
    return [p for _, p in sorted(found)]


def _check_model(model: str) -> tuple[str, bool]:
    """A local model folder (made absolute) or a hub id; raises for a path that is neither."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TrainError(f"{path}: not a transformers model folder (no config.json)")
        return str(path.resolve()), True
    if path.exists():
        raise TrainError(f"--model {model}: expected a model folder, got a file")
    if _HUB_ID.match(model) and not model.startswith((".", "/", "~")):
        return model, False
    raise TrainError(f"model folder not found: {model}")


def _check_out(out: Path, model: str, data: Path) -> None:
    """Refuse an output folder that would overwrite the base model, the data or someone's files."""
    resolved = out.resolve()
    if resolved == Path(model).resolve() or resolved == data.resolve():
        raise TrainError(f"--out {out} is the base model or data folder; choose a new folder")
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not checkpoints(out) \
            and not any((out / m).exists() for m in _RUN_MARKERS):
        raise TrainError(f"--out {out} is not empty and holds no earlier training run; "
                         "choose a new or empty folder")


def _cli_args(req: TrainRequest) -> dict[str, Any]:
    flags = {"max_steps": req.max_steps, "num_train_epochs": req.epochs,
             "learning_rate": req.lr, "per_device_train_batch_size": req.batch_size,
             "save_steps": req.save_steps}
    if req.kind == "dpo":
        flags["beta"] = req.beta
    elif req.beta is not None:
        raise TrainError("--beta is a DPO setting; SFT has no beta")
    return {k: v for k, v in flags.items() if v is not None}


def _lora(req: TrainRequest, preset_lora: dict[str, Any] | None,
          config: ConfigFile | None) -> dict[str, Any] | None:
    """LoRA is on with --lora, a preset that uses it, or a [lora] table; --no-lora wins."""
    file_lora = config.lora if config else None
    wanted = req.lora if req.lora is not None else (preset_lora is not None or file_lora is not None)
    if not wanted:
        return None
    settings = {**DEFAULT_LORA, **(preset_lora or {}), **(file_lora or {})}
    settings.setdefault("task_type", "CAUSAL_LM")
    return settings


def _resume(req: TrainRequest, out: Path) -> tuple[Path | None, tuple[Path, ...], list[str]]:
    found = checkpoints(out)
    if req.resume is False:
        if found:
            names = ", ".join(p.name for p in found)
            return None, tuple(found), [f"--no-resume: removing earlier checkpoints ({names}) "
                                        "and training from the base model"]
        return None, (), []
    if found:
        return found[-1], (), [f"resuming from {found[-1].name} in {out}"]
    if req.resume:
        return None, (), [f"--resume: no checkpoint in {out}; training from the base model"]
    return None, (), []


def make_plan(req: TrainRequest) -> TrainPlan:
    """Check every input of ``req`` and resolve the layered settings (see
    :mod:`trainers.presets`). Imports nothing heavy.

    Raises :class:`~trainers.TrainError` for a bad data file (see
    :func:`~trainers.data.inspect_data`), config file (see
    :func:`~trainers.presets.load_config_file`), unknown preset, missing model folder, an
    output folder that is not ours to write, or an option that does not fit the kind.
    """
    data = inspect_data(req.data, req.kind)
    preset = get_preset(req.preset)
    config = load_config_file(req.config, req.kind) if req.config is not None else None
    model, local = _check_model(req.model)
    out = Path(req.out).expanduser().resolve()
    _check_out(out, model, req.data)
    cli = _cli_args(req)
    check_keys(cli, req.kind, "command line")
    args = {**BASE_ARGS, **preset.args_for(req.kind), **(config.args if config else {}), **cli}
    if req.save_steps is not None:
        args.setdefault("save_strategy", "steps")
    lora = _lora(req, dict(preset.lora) if preset.lora is not None else None, config)
    resume_from, stale, notes = _resume(req, out)
    if data.dropped:
        notes.insert(0, f"dropping columns not used in training: {', '.join(data.dropped)}")
    return TrainPlan(
        kind=req.kind, model=model, model_is_local=local, data=data, out=out,
        preset=preset.name, config_file=config.path.resolve() if config else None,
        args=args, lora=lora, resume_from=resume_from, stale_checkpoints=stale, notes=tuple(notes),
    )
