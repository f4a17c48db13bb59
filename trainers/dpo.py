"""Direct Preference Optimization with TRL's ``DPOTrainer``.

The policy is trained on ``{"prompt", "chosen", "rejected"}`` pairs against a frozen
reference: with LoRA the reference is the base model with the adapter switched off (TRL does
that itself, so no second copy is loaded); without LoRA a second copy is loaded here, from
the same local folder, so that TRL never has to look the model up on the hub. Imports trl:
only :mod:`trainers.run` imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trl.trainer.dpo_config import DPOConfig
from trl.trainer.dpo_trainer import DPOTrainer

CONFIG_CLASS = DPOConfig


def build_trainer(model: Any, tokenizer: Any, dataset: Any, config: DPOConfig,
                  peft_config: Any | None, load_model: Callable[[], Any]) -> DPOTrainer:
    """A ``DPOTrainer`` for ``model``; ``load_model`` gives a fresh copy for the reference
    (called only when a separate reference model is needed)."""
    needs_ref = peft_config is None and not config.precompute_ref_log_probs
    return DPOTrainer(
        model,
        ref_model=load_model() if needs_ref else None,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
