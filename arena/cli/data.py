"""Commands that read and import data: prompts, battles, models, leaderboard."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from arena.cli.common import info, state, table_console

if TYPE_CHECKING:
    from arena.config import ModelSpec

prompts_app = typer.Typer(help="Import and list prompt sets.", no_args_is_help=True)
battles_app = typer.Typer(help="Inspect stored battles.", no_args_is_help=True)
models_app = typer.Typer(help="Configured and stored models.", no_args_is_help=True)


@prompts_app.command("import")
def prompts_import(
    file: Annotated[Path, typer.Argument(help="A JSONL prompt file (our format or CodeArena's; .gz works).")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl or codearena (default: from the file name).")] = None,
    set_name: Annotated[str | None, typer.Option("--set", help="Prompt set name (default: the file's stem).")] = None,
) -> None:
    """Import a prompt set. Re-importing is a no-op; a bad line imports nothing."""
    from arena.services.prompts import import_prompt_file

    if fmt not in (None, "jsonl", "codearena"):
        from arena.cli.common import fail

        fail("--format: choose jsonl or codearena")
    ctx = state.context()
    res = import_prompt_file(ctx.store, file, fmt, set_name)  # type: ignore[arg-type]
    info(f"set {res.set_name}: {res.added} added, {res.updated} updated, {res.unchanged} unchanged"
         + (f"; recorded answers: {res.answers_added} added, {res.answers_unchanged} unchanged "
            f"(replay models: {', '.join(res.models)})" if res.models else ""))


@prompts_app.command("list")
def prompts_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List imported prompt sets with their categories and languages."""
    ctx = state.context()
    sets = ctx.store.list_sets()
    if fmt == "json":
        print(json.dumps([s.__dict__ for s in sets], indent=2))
        return
    from rich.table import Table

    table = Table("set", "prompts", "categories", "languages", "source")
    for s in sets:
        table.add_row(s.name, str(s.prompts), _counts(s.categories), _counts(s.languages), s.source or "")
    table_console().print(table)


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


@battles_app.command("show")
def battles_show(battle_id: Annotated[int, typer.Argument(help="Battle id.")],
                 fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text") -> None:
    """Print a battle: the prompt, both answers and every vote with its rationale."""
    from arena.cli.render import print_battle

    ctx = state.context()
    print_battle(ctx.store.battle_detail(battle_id), fmt)


@battles_app.command("list")
def battles_list(
    set_name: Annotated[str | None, typer.Option("--set", help="Only this prompt set.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest last).")] = 50,
) -> None:
    """List battles with their status and vote counts."""
    from rich.table import Table

    ctx = state.context()
    battles = ctx.store.battles(set_name=set_name)[-limit:]
    votes = ctx.store.votes(battle_ids=[b.id for b in battles]) if battles else []
    per: dict[int, int] = {}
    for v in votes:
        per[v.battle_id] = per.get(v.battle_id, 0) + 1
    table = Table("id", "prompt", "model A", "model B", "status", "votes")
    for b in battles:
        table.add_row(str(b.id), str(b.prompt_id), b.model_a, b.model_b, b.status, str(per.get(b.id, 0)))
    table_console().print(table)


@models_app.command("list")
def models_list() -> None:
    """Models from the config and the database, with usage totals."""
    from rich.table import Table

    ctx = state.context()
    usage = ctx.store.usage_by_model()
    stored = {name: provider for name, provider, _ in ctx.store.list_models()}
    table = Table("model", "provider", "endpoint", "answers", "failures", "tokens in", "tokens out", "cost $")
    for name in sorted(set(stored) | set(ctx.config.models)):
        spec = ctx.config.models.get(name)
        u = usage.get(name, {})
        endpoint = (", ".join(spec.base_urls) or spec.path or "") if spec else "(recorded answers)"
        table.add_row(name, spec.provider if spec else stored[name], endpoint,
                      str(u.get("generations", 0)), str(u.get("failures", 0)),
                      str(u.get("prompt_tokens", 0)), str(u.get("completion_tokens", 0)),
                      f"{u.get('cost_usd', 0.0):.4f}")
    table_console().print(table)


# -- arena models add ------------------------------------------------------------------------

HF_DTYPES = ("float32", "float16", "bfloat16", "float64", "float", "half", "double")
VLLM_DTYPES = ("auto", "float32", "float16", "bfloat16", "float", "half")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


@models_app.command("add")
def models_add(
    name: Annotated[str, typer.Argument(help="Name for the model in battles and leaderboards.")],
    path: Annotated[Path, typer.Option("--path", help="Folder the model was saved to (config.json and a tokenizer).")],
    provider: Annotated[str, typer.Option("--provider", help="hf (transformers in this process) or vllm (a vLLM server, or vLLM's offline engine).")] = "hf",
    device: Annotated[str | None, typer.Option("--device", help="hf only: torch device, e.g. cpu, cuda, cuda:1 (default: cuda when available).")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="Weights dtype, e.g. bfloat16, float16, float32.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Answer length cap (default 2048).")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Sampling temperature (default 0: greedy).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed (extra_body.seed): the same prompt gets the same sampled answer.")] = None,
) -> None:
    """Register a trained model folder: append a models.NAME table to the config file
    (created if missing) and record the model in the database, ready for `arena battle run`."""
    from arena.cli.common import fail
    from arena.config import load_config, resolve_config_path

    problem = _check_new_model(name, path, provider, device, dtype)
    if problem:
        fail(problem)
    ctx = state.context()
    config_path, _ = resolve_config_path(state.config_path, ctx.settings)
    if name in load_config(config_path).models:  # a broken file fails here, untouched
        fail(f"{config_path}: [models.{name}] already exists; choose another name")
    if ctx.store.model_id(name) is not None:
        fail(f"model {name!r} already exists in the database (answers are stored under that "
             "name); choose another name")
    table = _model_table(name, path.resolve(), provider, device, dtype, max_tokens, temperature,
                         seed)
    existed = config_path.exists()
    before = config_path.read_bytes() if existed else b""

    def undo() -> None:
        if existed:
            config_path.write_bytes(before)
        else:
            config_path.unlink(missing_ok=True)

    spec = _append_model(config_path, name, table, before, undo)
    try:
        ctx.store.ensure_model(name, spec.provider, spec.endpoint_model,
                               spec.model_dump(exclude={"name"}, mode="json"))
    except BaseException:
        undo()
        raise
    info(f"added [models.{name}] (provider {provider}, {spec.path}) to {config_path}")
    if provider == "vllm":
        from arena.providers.vllm_offline import available

        info(f"to battle it through a server, run `arena serve {name}` and set base_url = "
             f"\"http://{spec.serve.host}:{spec.serve.port}/v1\" in [models.{name}]; without "
             "base_url, vLLM's offline engine answers in batches "
             + ("(vllm is installed here)" if available() else
                "once vllm is installed (it is not installed here)"))


def _check_new_model(name: str, path: Path, provider: str, device: str | None,
                     dtype: str | None) -> str | None:
    """What is wrong with the arguments of ``arena models add`` (None when nothing)."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/:+-]*", name):
        return (f"model name {name!r}: use letters, digits and . _ - / : + (no spaces or "
                "commas), starting with a letter or digit")
    if provider not in ("hf", "vllm"):
        return f"--provider: choose hf or vllm, not {provider!r}"
    if not path.is_dir():
        return f"--path {path}: no such folder"
    if not (path / "config.json").is_file():
        return (f"--path {path}: no config.json; give the folder the model was saved to "
                "(save_pretrained / trainer.save_model)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        return (f"--path {path}: no tokenizer ({', '.join(TOKENIZER_FILES)}); save it next to "
                "the model with tokenizer.save_pretrained")
    if device is not None and provider != "hf":
        return "--device: applies to provider hf only (vLLM picks its GPUs itself)"
    if device is not None and not re.fullmatch(r"(cpu|cuda|mps|xpu|npu|hpu)(:\d+)?", device):
        return f"--device {device!r}: use cpu, cuda, cuda:N, mps or xpu"
    allowed = HF_DTYPES if provider == "hf" else VLLM_DTYPES
    if dtype is not None and dtype not in allowed:
        return f"--dtype {dtype!r}: choose one of {', '.join(allowed)}"
    return None


def _toml_key(name: str) -> str:
    import re

    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _model_table(name: str, path: Path, provider: str, device: str | None, dtype: str | None,
                 max_tokens: int | None, temperature: float | None,
                 seed: int | None = None) -> str:
    """The ``[models.NAME]`` table as TOML text (strings quoted the JSON way, which TOML
    basic strings accept)."""
    lines = [f"[models.{_toml_key(name)}]", f"provider = {json.dumps(provider)}",
             f"path = {json.dumps(str(path))}"]
    if device is not None:
        lines.append(f"device = {json.dumps(device)}")
    if dtype is not None:
        lines.append(f"dtype = {json.dumps(dtype)}")
    if max_tokens is not None:
        lines.append(f"max_tokens = {max_tokens}")
    if temperature is not None:
        lines.append(f"temperature = {temperature!r}")
    if seed is not None:
        lines.append(f"extra_body = {{ seed = {seed} }}")
    return "\n".join(lines) + "\n"


def _append_model(config_path: Path, name: str, table: str, before: bytes,
                  undo: Callable[[], None]) -> ModelSpec:
    """Append ``table`` to the config file (what is there is kept byte for byte), re-read
    the file, and undo the append if it no longer validates. Returns the new model's spec;
    exits with one error line on failure."""
    from arena.cli.common import fail
    from arena.config import ConfigError, load_config

    sep = b"" if not before or before.endswith(b"\n\n") else (
        b"\n" if before.endswith(b"\n") else b"\n\n")
    try:
        config_path.parent.mkdir(parents=True, exist_ok=True)
        with config_path.open("ab") as fh:
            fh.write(sep + table.encode("utf-8"))
    except OSError as exc:
        undo()
        fail(f"{config_path}: cannot write: {exc.strerror or exc}")
    try:
        return load_config(config_path, required=True).model(name)
    except ConfigError as exc:
        undo()
        fail(f"{exc} (nothing was added)")
