"""Settings and the models/judges file.

Two layers: :class:`Settings` (where state lives, who votes; from ``ARENA_*`` variables and
CLI flags) and :class:`ArenaConfig` (the ``arena.toml`` file that names models and judges).
Both are built once by a front end and passed down; nothing here reads global state later.
Every validation problem becomes one :class:`ConfigError` naming the file, the table and the
field, so a user can fix it without reading a traceback.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from arena.domain import CRITERIA, PREFERENCES, ArenaError


class ConfigError(ArenaError):
    """The settings or the config file are wrong; the message says where and how."""


class Settings(BaseSettings):
    """Where Arena keeps its state. Every field can be set as ``ARENA_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="ARENA_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".arena",
        description="Folder for the database, logs and the default arena.toml.",
    )
    config: Path | None = Field(
        default=None, description="Path of the models/judges TOML file (default HOME/arena.toml)."
    )
    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database (default sqlite:///HOME/arena.db); "
        "postgresql+psycopg://... for a team server.",
    )
    voter: str = Field(
        default_factory=lambda: os.environ.get("USER", "anonymous"),
        description="Name recorded with human votes.",
    )

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.home / 'arena.db'}"

    @property
    def config_path(self) -> Path:
        return self.config if self.config is not None else self.home / "arena.toml"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6


class ServeOptions(BaseModel):
    """How ``arena serve`` starts ``vllm serve`` for a model with a local path."""

    model_config = ConfigDict(extra="forbid")
    executable: str = "vllm"
    host: str = "127.0.0.1"
    port: int = 8000
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    extra_args: list[str] = Field(default_factory=list)
    startup_timeout: float = 600.0


class ModelSpec(BaseModel):
    """One ``[models.NAME]`` table."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    provider: Literal["openai", "vllm", "replay", "hf"] = "openai"
    model: str | None = Field(default=None, description="Name sent to the endpoint.")
    base_url: str | list[str] | None = None
    api_key_env: str | None = None
    path: str | None = Field(default=None, description="Local weights: for `arena serve`, or "
                             "loaded in process by provider hf.")
    device: str | None = Field(default=None, description="hf: torch device (default cuda "
                               "when available, else cpu).")
    dtype: str | None = Field(default=None, description="hf: torch dtype, e.g. bfloat16.")
    file: str | None = Field(default=None, description="Recorded answers, for replay.")
    system_prompt: str | None = None
    temperature: float = Field(default=0.0, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int = Field(default=2048, gt=0)
    concurrency: int = Field(default=16, gt=0)
    timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    price: Price | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    serve: ServeOptions = Field(default_factory=ServeOptions)

    @field_validator("base_url")
    @classmethod
    def _urls_not_empty(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and not v:
            raise ValueError("give at least one URL")
        return v

    @property
    def base_urls(self) -> list[str]:
        if self.base_url is None:
            return []
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)

    @property
    def endpoint_model(self) -> str:
        return self.model or self.name

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters recorded with each generation."""
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.system_prompt:
            params["system_prompt"] = self.system_prompt
        params.update(self.extra_body)
        return params


JudgeKind = Literal["pairwise", "rubric", "reference", "preference-model", "execution",
                   "cascade", "majority"]
LLM_JUDGES = ("pairwise", "rubric", "reference", "preference-model")


class JudgeSpec(BaseModel):
    """One ``[judges.NAME]`` table. Which fields apply depends on ``kind``; see the README."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    kind: JudgeKind = "pairwise"
    model: str | None = None
    temperature: float = Field(default=0.0, ge=0)
    max_tokens: int = Field(default=4096, gt=0)
    max_attempts: int = Field(default=3, gt=0)
    # rubric / reference: the coding preference judged (rubric: required here or by --preference)
    preference: str | None = None
    # rubric: answers rated in one call (CodeUltraFeedback rates 4)
    max_answers: int = Field(default=4, ge=2, le=8)
    # preference-model: criterion, classification (next-token A/B) or generative mode
    criterion: str = "correctness"
    mode: Literal["classification", "generative"] = "classification"
    top_logprobs: int = Field(default=20, ge=2, le=20)
    # execution: limits per answer, and the judge asked when both pass or both fail
    timeout: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=1024, ge=64)
    fallback: str | None = None
    # cascade / majority: member judges, in order
    judges: list[str] = Field(default_factory=list)

    @field_validator("preference")
    @classmethod
    def _known_preference(cls, v: str | None) -> str | None:
        if v is not None and v not in PREFERENCES:
            raise ValueError(f"unknown preference {v!r}; choose one of {', '.join(PREFERENCES)}")
        return v

    @field_validator("criterion")
    @classmethod
    def _known_criterion(cls, v: str) -> str:
        if v not in CRITERIA:
            raise ValueError(f"unknown criterion {v!r}; choose one of {', '.join(CRITERIA)}")
        return v


class ArenaConfig(BaseModel):
    """The whole file: models and judges by name."""

    model_config = ConfigDict(extra="forbid")
    source: str = "<defaults>"
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    judges: dict[str, JudgeSpec] = Field(default_factory=dict)

    def model(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(
                f"{self.source}: no model named {name!r} in [models] (configured: {known})"
            ) from None

    def judge(self, name: str) -> JudgeSpec:
        try:
            return self.judges[name]
        except KeyError:
            known = ", ".join(sorted(self.judges)) or "none"
            raise ConfigError(
                f"{self.source}: no judge named {name!r} in [judges] (configured: {known})"
            ) from None

    def api_key(self, spec: ModelSpec) -> str:
        """Read the model's key from its environment variable; never stored anywhere."""
        if spec.api_key_env is None:
            if spec.provider == "openai" and not _is_local(spec.base_urls):
                raise ConfigError(
                    f"{self.source}: [models.{spec.name}] api_key_env: not set; name the "
                    "environment variable that holds the key, e.g. api_key_env = \"OPENAI_API_KEY\""
                )
            return "EMPTY"
        value = os.environ.get(spec.api_key_env)
        if not value:
            raise ConfigError(
                f"{self.source}: [models.{spec.name}] api_key_env: the environment variable "
                f"{spec.api_key_env} is not set; export it before running"
            )
        return value


def _is_local(urls: list[str]) -> bool:
    return bool(urls) and all(("127.0.0.1" in u or "localhost" in u) for u in urls)


def _field_path(loc: tuple[Any, ...]) -> tuple[str, str]:
    """Split a pydantic error location into ("[models.NAME]", "field.sub")."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] in ("models", "judges"):
        table = f"[{parts[0]}.{parts[1]}]"
        rest = parts[2:]
    else:
        table, rest = "(top level)", parts
    return table, ".".join(rest) if rest else "(table)"


def parse_config(data: dict[str, Any], source: str) -> ArenaConfig:
    """Validate a parsed TOML document; raises :class:`ConfigError`."""
    for section in ("models", "judges"):
        tables = data.get(section, {})
        if not isinstance(tables, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of named tables")
        for name, table in tables.items():
            if isinstance(table, dict):
                table.setdefault("name", name)
    try:
        config = ArenaConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        table, fld = _field_path(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling against the README's configuration section"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{source}: {table} {fld}: {msg}{more}") from None
    for name, judge in config.judges.items():
        _check_judge(config, name, judge, source)
    for name, spec in config.models.items():
        if spec.provider in ("openai", "vllm") and not spec.base_urls:
            if spec.provider == "vllm" and spec.path:
                continue  # `arena serve` gives it an address
            if spec.provider == "openai":
                spec.base_url = "https://api.openai.com/v1"
                continue
            raise ConfigError(f"{source}: [models.{name}] base_url: required for provider vllm")
        if spec.provider == "hf" and not spec.path:
            raise ConfigError(f"{source}: [models.{name}] path: required for provider hf "
                              "(a folder saved with save_pretrained)")
        if spec.provider == "replay" and not spec.file:
            raise ConfigError(f"{source}: [models.{name}] file: required for provider replay")
    return config


def _check_judge(config: ArenaConfig, name: str, judge: JudgeSpec, source: str) -> None:
    """Cross-table checks: the judge's model exists, members exist, no judge contains itself."""
    where = f"{source}: [judges.{name}]"
    if judge.kind in LLM_JUDGES:
        if judge.model is None:
            raise ConfigError(f"{where} model: required for kind {judge.kind!r}; name a model "
                              "from [models]")
        if judge.model not in config.models:
            raise ConfigError(f"{where} model: {judge.model!r} is not a model in [models]")
        if config.models[judge.model].provider == "hf" and not (
                judge.kind == "preference-model" and judge.mode == "classification"):
            raise ConfigError(f"{where} model: {judge.model!r} is a local hf model, which this "
                              "judge kind cannot use yet; serve it with vLLM (provider vllm) instead")
    members = list(judge.judges)
    if judge.kind in ("cascade", "majority") and len(members) < 2:
        raise ConfigError(f"{where} judges: a {judge.kind} needs at least two member judges")
    if judge.fallback is not None:
        if judge.kind != "execution":
            raise ConfigError(f"{where} fallback: only an execution judge has a fallback")
        members.append(judge.fallback)
    for member in members:
        if member not in config.judges:
            raise ConfigError(f"{where} judges: {member!r} is not a judge in [judges]")
    seen = [name]

    def walk(current: str) -> None:
        spec = config.judges[current]
        for m in [*spec.judges, *([spec.fallback] if spec.fallback else [])]:
            if m in seen:
                raise ConfigError(f"{where} judges: {m!r} contains itself "
                                  f"({' -> '.join([*seen, m])})")
            seen.append(m)
            walk(m)
            seen.pop()

    walk(name)


def load_config(path: Path | None, *, required: bool = False) -> ArenaConfig:
    """Read ``arena.toml``; a missing optional file gives an empty config."""
    if path is None or not path.exists():
        if required and path is not None:
            raise ConfigError(f"{path}: no such config file")
        # name the file that was looked for, so "no model named X" says where to add it
        return ArenaConfig(source=f"{path} (not found)") if path is not None else ArenaConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    config = parse_config(data, str(path))
    base = path.parent
    for spec in config.models.values():
        if spec.file and not Path(spec.file).is_absolute():
            spec.file = str(base / spec.file)
        if spec.provider == "hf" and spec.path and not Path(spec.path).is_absolute() \
                and (base / spec.path).exists():
            spec.path = str(base / spec.path)
    return config


def resolve_config_path(cli_path: Path | None, settings: Settings) -> tuple[Path, bool]:
    """Where the config file is, and whether the user named it explicitly."""
    if cli_path is not None:
        return cli_path, True
    if settings.config is not None:
        return settings.config, True
    return settings.config_path, False
