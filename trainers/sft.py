"""Supervised fine-tuning with TRL's ``SFTTrainer``.

Takes ``{"prompt", "completion"}`` records (loss on the completion only, TRL's default for
that format), ``{"messages"}`` conversations or ``{"text"}``. Imports trl: only
:mod:`trainers.run` imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trl.trainer.sft_config import SFTConfig
from trl.trainer.sft_trainer import SFTTrainer

CONFIG_CLASS = SFTConfig


def build_trainer(model: Any, tokenizer: Any, dataset: Any, config: SFTConfig,
                  peft_config: Any | None, load_model: Callable[[], Any]) -> SFTTrainer:
    """An ``SFTTrainer`` for ``model`` (``load_model`` is unused: SFT has no reference)."""
    del load_model
    return SFTTrainer(
        model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
