"""Named training presets and the ``--config`` TOML file, resolved into plain dicts.

Settings are layered, each layer overriding the one before:

1. :data:`BASE_ARGS` — what every arena run sets (log every step, keep two checkpoints, no
   experiment trackers, our own progress lines instead of tqdm);
2. the preset (``--preset``; ``default`` adds nothing to TRL's own defaults);
3. the config file (``--config FILE``): top-level keys are ``DPOConfig`` / ``SFTConfig``
   fields, an optional ``[lora]`` table holds peft ``LoraConfig`` fields;
4. the command-line flags (``--lr``, ``--epochs``, ...).

Device-dependent settings (bf16, activation checkpointing) are filled in at run time by
:mod:`trainers.run` for whatever the layers above left unset. Nothing here imports trl: field
names are checked against the installed sources by :mod:`trainers.fields`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainers import TrainError
from trainers.data import Kind
from trainers.fields import FieldSet, config_fields, unknown_key_message

#: Set for every run; any layer above may override them.
BASE_ARGS: dict[str, Any] = {
    "logging_steps": 1,
    "save_total_limit": 2,
    "report_to": "none",
    "disable_tqdm": True,
}

#: LoRA settings when LoRA is on and nothing else says otherwise: TRL's ``ModelConfig``
#: defaults (r 16, alpha 32, dropout 0.05); peft picks the target modules for the model type.
DEFAULT_LORA: dict[str, Any] = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05}

#: Keys the command line owns; a config file that sets them is told which flag to use.
RESERVED: dict[str, str] = {
    "output_dir": "--out",
    "resume_from_checkpoint": "--resume / --no-resume",
}


@dataclass(frozen=True)
class Preset:
    """A named set of training defaults; ``lora`` not ``None`` turns LoRA on by default."""

    name: str
    description: str
    args: Mapping[str, Any] = field(default_factory=dict)
    dpo_args: Mapping[str, Any] = field(default_factory=dict)
    lora: Mapping[str, Any] | None = None

    def args_for(self, kind: Kind) -> dict[str, Any]:
        """The config fields this preset sets for a ``kind`` run."""
        return {**self.args, **(self.dpo_args if kind == "dpo" else {})}


PRESETS: dict[str, Preset] = {
    "default": Preset("default", "TRL's defaults (DPO: beta 0.1, lr 1e-6; SFT: lr 2e-5; "
                      "3 epochs), full fine-tuning"),
    # CodeUltraFeedback (Weyssow et al.): SFT then DPO of CodeLlama-7B-Instruct with these
    # settings (see REFERENCE.md). The paper gives them for its DPO runs; SFT takes the same
    # learning rate, epochs and LoRA shape, beta being DPO's alone.
    "codeultrafeedback": Preset(
        "codeultrafeedback",
        "CodeUltraFeedback paper: lr 5e-5, 3 epochs, LoRA r 64 / alpha 128 (DPO: beta 0.1)",
        args={"learning_rate": 5e-5, "num_train_epochs": 3},
        dpo_args={"beta": 0.1},
        lora={"r": 64, "lora_alpha": 128},
    ),
}


@dataclass(frozen=True)
class ConfigFile:
    """A parsed ``--config`` file: config fields, and the ``[lora]`` table if present."""

    path: Path
    args: dict[str, Any]
    lora: dict[str, Any] | None


def get_preset(name: str | None) -> Preset:
    """The preset called ``name`` (``None``: ``default``); raises :class:`TrainError` naming
    the presets there are."""
    if name is None:
        return PRESETS["default"]
    try:
        return PRESETS[name]
    except KeyError:
        raise TrainError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None


def check_keys(keys: Mapping[str, Any], which: FieldSet, where: str) -> None:
    """Raise :class:`TrainError` for the first key the config class does not have (skipped
    when the installed sources cannot be read; :mod:`trainers.run` checks again)."""
    known = config_fields(which)
    if known is None:
        return
    for key in keys:
        if key not in known:
            raise TrainError(unknown_key_message(key, which, known, where))


def load_config_file(path: Path, kind: Kind) -> ConfigFile:
    """Read a TOML file of ``DPOConfig``/``SFTConfig`` fields (and a ``[lora]`` table).

    Raises :class:`TrainError` when the file is missing or not TOML, when a key is not a
    field of the config class (naming the key and the file), or sets what a flag owns.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainError(f"{path}: unreadable config file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TrainError(f"{path}: not valid TOML ({exc})") from None
    lora = data.pop("lora", None)
    if lora is not None and not isinstance(lora, dict):
        raise TrainError(f"{path}: 'lora' must be a table ([lora]) of LoraConfig fields")
    for key, flag in RESERVED.items():
        if key in data:
            raise TrainError(f"{path}: {key!r} is set on the command line ({flag}), not in the config file")
    check_keys(data, kind, str(path))
    if lora is not None:
        check_keys(lora, "lora", f"{path} [lora]")
    return ConfigFile(path, data, lora)
