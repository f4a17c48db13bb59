"""Execute a checked :class:`~trainers.plan.TrainPlan`: load, train, save, describe.

This is where torch, transformers, peft, datasets and trl are imported — after
:func:`trainers.plan.make_plan` has vetted every input. The steps:

1. build the ``DPOConfig`` / ``SFTConfig`` from the plan's fields plus what the device calls
   for (CPU: no bf16, no activation checkpointing; GPU: bf16 where supported, activation
   checkpointing as TRL does) unless the user set those fields;
2. load the data, the tokenizer (pad token and left padding ensured) and the model from the
   local folder (``local_files_only``), so nothing is fetched from the hub;
3. train, resuming from the plan's checkpoint, with a progress line per logging step;
4. save the model and tokenizer in ``DIR`` (with LoRA: the adapter in ``DIR`` and a merged
   full model in ``DIR/merged``), then the summary line and ``DIR/arena_train.json``.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from trainers import TrainError
from trainers.data import load_dataset
from trainers.fields import unknown_key_message
from trainers.plan import TrainPlan
from trainers.progress import Echo, TrainLog
from trainers.sidecar import SIDECAR, describe_data, write_json_atomic

_DTYPES = ("float32", "bfloat16", "float16")
#: Settings recorded in the sidecar whatever their source (TRL default, preset, file, flag).
_EFFECTIVE = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
              "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "seed",
              "max_length", "beta", "loss_type", "bf16", "activation_checkpointing")


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced; ``summary`` is also the log's last line."""

    out: Path
    model_dir: Path
    adapter_dir: Path | None
    summary: dict[str, Any]


def _trainer_module(kind: str) -> ModuleType:
    if kind == "dpo":
        from trainers import dpo

        return dpo
    from trainers import sft

    return sft


def _device_args(torch: Any, args: dict[str, Any]) -> dict[str, Any]:
    """bf16 and activation checkpointing for this machine, for the fields the user left unset."""
    cuda = bool(torch.cuda.is_available())
    extra: dict[str, Any] = {}
    if "bf16" not in args and "fp16" not in args:
        extra["bf16"] = cuda and bool(torch.cuda.is_bf16_supported())
    if "activation_checkpointing" not in args and "gradient_checkpointing" not in args:
        extra["activation_checkpointing"] = cuda
    if not cuda:
        extra.setdefault("dataloader_pin_memory", False)
    return {k: v for k, v in extra.items() if k not in args}


def _build_config(plan: TrainPlan, config_class: Any, fields: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(config_class) if f.init}
    where = str(plan.config_file or "command line")
    for key in fields:
        if key not in known:
            raise TrainError(unknown_key_message(key, plan.kind, known, where))
    try:
        return config_class(output_dir=str(plan.out), **fields)
    except (TypeError, ValueError) as exc:
        raise TrainError(f"{where}: invalid {config_class.__name__} settings: {exc}") from None


def _model_loader(plan: TrainPlan, init_kwargs: dict[str, Any], trust_remote_code: bool) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = dict(init_kwargs)
    dtype = kwargs.pop("dtype", kwargs.pop("torch_dtype", "float32"))
    if isinstance(dtype, str) and dtype in _DTYPES:
        dtype = getattr(torch, dtype)
    kwargs.setdefault("trust_remote_code", trust_remote_code)

    def load() -> Any:
        try:
            return AutoModelForCausalLM.from_pretrained(
                plan.model, dtype=dtype, local_files_only=plan.model_is_local, **kwargs)
        except (OSError, ValueError) as exc:
            raise TrainError(f"cannot load model {plan.model}: {exc}") from None

    return load


def _load_tokenizer(plan: TrainPlan, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            plan.model, local_files_only=plan.model_is_local, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot load the tokenizer of {plan.model}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if plan.data.style == "conversational" and not getattr(tokenizer, "chat_template", None):
        raise TrainError(f"{plan.data.path}: conversational data, but the tokenizer of "
                         f"{plan.model} has no chat template")
    return tokenizer


def _quiet_libraries() -> None:
    """Our progress lines replace the libraries' progress bars."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]


@contextmanager
def _quiet_deprecations() -> Iterator[None]:
    """TRL 1.16 asks transformers 5 for ``is_gradient_checkpointing``, which warns on every
    run; the user can do nothing about it, so it is not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        yield


def _save(trainer: Any, tokenizer: Any, plan: TrainPlan) -> tuple[Path, Path | None]:
    """Save model + tokenizer; with LoRA the adapter in DIR and a merged model in DIR/merged.
    The merged copy is written to a temporary folder first and renamed into place."""
    trainer.save_model(str(plan.out))
    if not plan.lora:
        return plan.out, None
    merged_dir = plan.out / "merged"
    staging = plan.out / f".merged.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
    merged.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    shutil.rmtree(merged_dir, ignore_errors=True)
    staging.rename(merged_dir)
    return merged_dir, plan.out


def _versions() -> dict[str, str]:
    found = {}
    for name in ("torch", "transformers", "trl", "peft", "datasets"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _effective(config: Any) -> dict[str, Any]:
    values = {k: getattr(config, k) for k in _EFFECTIVE if hasattr(config, k)}
    return {k: getattr(v, "value", v) for k, v in values.items()}  # enums as their values


def _device(torch: Any) -> str:
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def run_plan(plan: TrainPlan, echo: Echo) -> TrainResult:
    """Train as ``plan`` says and save the results in ``plan.out``.

    Raises :class:`~trainers.TrainError` for settings the config class rejects, a model or
    tokenizer that cannot be loaded, or conversational data with no chat template.
    """
    started_at, t0 = datetime.now(UTC), time.perf_counter()
    for note in plan.notes:
        echo(note)
    import torch
    from peft import LoraConfig

    _quiet_libraries()
    module = _trainer_module(plan.kind)
    fields = dict(plan.args)
    init_kwargs = fields.pop("model_init_kwargs", None) or {}
    fields.update(_device_args(torch, fields))
    config = _build_config(plan, module.CONFIG_CLASS, fields)
    data_section = describe_data(plan.data)
    dataset = load_dataset(plan.data)
    tokenizer = _load_tokenizer(plan, config.trust_remote_code)
    load_model = _model_loader(plan, init_kwargs, config.trust_remote_code)
    try:
        peft_config = LoraConfig(**plan.lora) if plan.lora else None
    except (TypeError, ValueError) as exc:
        raise TrainError(f"{plan.config_file or 'lora'}: invalid LoRA settings: {exc}") from None
    echo(f"{plan.kind}: {plan.model} on {plan.data.records} records of {plan.data.path.name} "
         f"({plan.data.format}), {'LoRA' if plan.lora else 'full fine-tuning'}, {_device(torch)}")
    with _quiet_deprecations():
        trainer = module.build_trainer(load_model(), tokenizer, dataset, config, peft_config,
                                       load_model)
    return _train_and_save(plan, trainer, tokenizer, fields, data_section, echo,
                           started_at, t0, _device(torch))


def _train_and_save(plan: TrainPlan, trainer: Any, tokenizer: Any, fields: dict[str, Any],
                    data_section: dict[str, Any], echo: Echo, started_at: datetime, t0: float,
                    device: str) -> TrainResult:
    """Train with our log callback in place of the library printers, save, write the summary
    line and the sidecar. An earlier run's sidecar is removed before the model files are
    overwritten, so a sidecar always describes the model next to it."""
    from transformers import PrinterCallback, ProgressCallback

    from trainers.callbacks import LogCallback

    for stale in plan.stale_checkpoints:
        shutil.rmtree(stale, ignore_errors=True)
    log = TrainLog(plan.out, plan.kind, echo, fresh=plan.resume_from is None)
    callback = LogCallback(log)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(callback)
    resumed = plan.resume_from.name if plan.resume_from else None
    try:
        log.write("start", kind=plan.kind, base_model=plan.model, data=str(plan.data.path),
                  records=plan.data.records, preset=plan.preset, lora=plan.lora is not None,
                  resumed_from=resumed)
        with _quiet_deprecations():
            trainer.train(resume_from_checkpoint=str(plan.resume_from) if resumed else None)
        (plan.out / SIDECAR).unlink(missing_ok=True)
        model_dir, adapter_dir = _save(trainer, tokenizer, plan)
        state = trainer.state
        summary: dict[str, Any] = {
            "kind": plan.kind, "steps": state.global_step, "max_steps": state.max_steps,
            "epoch": state.epoch, "resumed_from": resumed,
            "final_metrics": {**log.last_metrics, **callback.end_metrics},
            "wall_time_s": round(time.perf_counter() - t0, 3),
            "model_dir": str(model_dir), "adapter_dir": str(adapter_dir) if adapter_dir else None,
        }
        log.write("summary", **summary)
    finally:
        log.close()
    sidecar = {
        "arena_train": 1, "kind": plan.kind, "base_model": plan.model, "data": data_section,
        "preset": plan.preset, "config_file": str(plan.config_file) if plan.config_file else None,
        "config": fields, "lora": plan.lora,
        "effective_config": _effective(trainer.args), "device": device, "versions": _versions(),
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **{k: summary[k] for k in ("steps", "epoch", "resumed_from", "final_metrics",
                                   "wall_time_s", "model_dir", "adapter_dir")},
    }
    write_json_atomic(plan.out / SIDECAR, sidecar)
    echo(f"saved {'merged model' if adapter_dir else 'model'} to {model_dir}"
         + (f" (LoRA adapter in {adapter_dir})" if adapter_dir else "")
         + f"; {summary['steps']} steps in {summary['wall_time_s']:.1f}s")
    return TrainResult(plan.out, model_dir, adapter_dir, summary)
