"""``arena train dpo|sft``: fine-tune a model on exported preference data with TRL.

Thin by design: the options become a :class:`trainers.plan.TrainRequest`, the light
:func:`trainers.plan.make_plan` checks the data file, config file and folders (exit 2 with a
message naming the file, line or key, before torch is imported), and only then
:func:`trainers.run.run_plan` imports the training stack. Progress goes to stderr; the final
summary is one JSON object on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from arena.cli.common import fail, info

train_app = typer.Typer(
    help="Fine-tune a model on exported data with TRL (DPO on preference pairs, or SFT).",
    no_args_is_help=True,
)

Model = Annotated[str, typer.Option("--model", help="Base model: a local transformers folder (or a hub id).")]
Data = Annotated[Path, typer.Option("--data", help="Training data from `arena export`: .jsonl, .parquet or a datasets save_to_disk folder.")]
Out = Annotated[Path, typer.Option("--out", help="Output folder: checkpoints, final model, train_log.jsonl, arena_train.json.")]
Lora = Annotated[bool | None, typer.Option("--lora/--no-lora", help="Train a LoRA adapter (saved in OUT, merged copy in OUT/merged). Default: as the preset or config says; off otherwise.")]
Config = Annotated[Path | None, typer.Option("--config", help="TOML file of DPOConfig/SFTConfig fields (and a [lora] table) overriding the preset.")]
Preset = Annotated[str | None, typer.Option("--preset", help="Named defaults: 'default' (TRL's) or 'codeultrafeedback' (beta 0.1, lr 5e-5, 3 epochs, LoRA r 64 / alpha 128).")]
MaxSteps = Annotated[int | None, typer.Option("--max-steps", min=1, help="Stop after N optimizer steps (overrides --epochs).")]
Epochs = Annotated[float | None, typer.Option("--epochs", min=0.0, help="Number of epochs.")]
Lr = Annotated[float | None, typer.Option("--lr", min=0.0, help="Learning rate.")]
BatchSize = Annotated[int | None, typer.Option("--batch-size", min=1, help="Per-device train batch size.")]
SaveSteps = Annotated[int | None, typer.Option("--save-steps", min=1, help="Save a checkpoint every N steps (default 500).")]
Resume = Annotated[bool | None, typer.Option("--resume/--no-resume", help="Resume from the last checkpoint in OUT (default when there is one); --no-resume removes OUT's checkpoints and starts over.")]


def _train(**options: object) -> None:
    from trainers import TrainError
    from trainers.plan import TrainRequest, make_plan

    try:
        plan = make_plan(TrainRequest(**options))  # type: ignore[arg-type]
    except TrainError as exc:
        fail(str(exc))
    from trainers.run import run_plan  # the heavy part: torch, transformers, trl

    try:
        result = run_plan(plan, info)
    except TrainError as exc:
        fail(str(exc))
    typer.echo(json.dumps(result.summary, default=str))


@train_app.command("dpo")
def dpo_cmd(
    model: Model, data: Data, out: Out, lora: Lora = None, config: Config = None,
    preset: Preset = None, max_steps: MaxSteps = None, epochs: Epochs = None, lr: Lr = None,
    batch_size: BatchSize = None,
    beta: Annotated[float | None, typer.Option("--beta", min=0.0, help="DPO beta: how far the policy may move from the reference.")] = None,
    save_steps: SaveSteps = None, resume: Resume = None,
) -> None:
    """DPO (TRL DPOTrainer) on {"prompt", "chosen", "rejected"} pairs."""
    _train(kind="dpo", model=model, data=data, out=out, lora=lora, config=config, preset=preset,
           max_steps=max_steps, epochs=epochs, lr=lr, batch_size=batch_size, beta=beta,
           save_steps=save_steps, resume=resume)


@train_app.command("sft")
def sft_cmd(
    model: Model, data: Data, out: Out, lora: Lora = None, config: Config = None,
    preset: Preset = None, max_steps: MaxSteps = None, epochs: Epochs = None, lr: Lr = None,
    batch_size: BatchSize = None, save_steps: SaveSteps = None, resume: Resume = None,
) -> None:
    """SFT (TRL SFTTrainer) on {"prompt", "completion"} or {"messages"} records."""
    _train(kind="sft", model=model, data=data, out=out, lora=lora, config=config, preset=preset,
           max_steps=max_steps, epochs=epochs, lr=lr, batch_size=batch_size,
           save_steps=save_steps, resume=resume)
