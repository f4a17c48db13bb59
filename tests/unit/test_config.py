"""Settings, the arena.toml file and its error messages (file, table, field; never a key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.config import (
    ArenaConfig,
    ConfigError,
    ModelSpec,
    Settings,
    load_config,
    parse_config,
    resolve_config_path,
)

SECRET = "sk-test-DO-NOT-LEAK-1234567890"

VALID = """\
[models.gpt]
provider = "openai"
model = "gpt-4o-mini"
api_key_env = "ARENA_TEST_KEY"
temperature = 0.2
price = { input_per_mtok = 0.15, output_per_mtok = 0.60 }

[models.local]
provider = "vllm"
base_url = ["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"]
max_tokens = 512

[models.recorded]
provider = "replay"
file = "answers.jsonl"

[judges.strict]
model = "gpt"
max_attempts = 5
"""


def write(tmp_path: Path, text: str, name: str = "arena.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


# --- a valid file ---------------------------------------------------------------------------


def test_valid_config_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    config = load_config(path, required=True)

    assert config.source == str(path)
    assert sorted(config.models) == ["gpt", "local", "recorded"]

    gpt = config.model("gpt")
    assert gpt.name == "gpt"
    assert gpt.endpoint_model == "gpt-4o-mini"
    assert gpt.temperature == 0.2
    # defaults
    assert gpt.max_tokens == 2048
    assert gpt.concurrency == 16
    assert gpt.timeout == 120.0
    assert gpt.max_retries == 4
    assert gpt.top_p is None
    assert gpt.serve.port == 8000
    # an openai model without base_url talks to the OpenAI API
    assert gpt.base_urls == ["https://api.openai.com/v1"]
    assert gpt.sampling() == {"temperature": 0.2, "max_tokens": 2048}

    local = config.model("local")
    assert local.base_urls == ["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"]
    assert local.endpoint_model == "local"  # no `model`: the table name is sent
    assert local.max_tokens == 512

    # a relative replay file is resolved against the config's folder
    assert config.model("recorded").file == str(tmp_path / "answers.jsonl")

    judge = config.judge("strict")
    assert (judge.name, judge.model, judge.kind) == ("strict", "gpt", "pairwise")
    assert judge.max_attempts == 5
    assert judge.temperature == 0.0
    assert judge.max_tokens == 4096


def test_price_cost(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    price = config.model("gpt").price
    assert price is not None
    # 1M tokens in at $0.15 + 2M out at $0.60
    assert price.cost(1_000_000, 2_000_000) == pytest.approx(1.35)
    assert price.cost(1000, 500) == pytest.approx(0.00045)
    assert price.cost(0, 0) == 0.0


def test_single_base_url_string(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[models.m]\nbase_url = "http://localhost:9/v1"\n'))
    assert config.model("m").base_urls == ["http://localhost:9/v1"]


def test_missing_optional_file_gives_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml")
    assert config.models == {} and config.judges == {}
    with pytest.raises(ConfigError, match="absent.toml") as info:
        config.model("anything")
    assert "configured: none" in str(info.value)


def test_unknown_model_and_judge_name_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    config = load_config(path)
    with pytest.raises(ConfigError) as info:
        config.model("ghost")
    assert str(info.value) == (
        f"{path}: no model named 'ghost' in [models] (configured: gpt, local, recorded)"
    )
    with pytest.raises(ConfigError) as info:
        config.judge("lenient")
    assert "'lenient'" in str(info.value) and "configured: strict" in str(info.value)


# --- errors ---------------------------------------------------------------------------------


def test_unknown_key(tmp_path: Path) -> None:
    msg = config_error(tmp_path, '[models.x]\nbase_url = "http://localhost/v1"\ntemprature = 1\n')
    assert str(tmp_path / "arena.toml") in msg
    assert "[models.x]" in msg
    assert "temprature" in msg
    assert "unknown key" in msg


def test_judge_without_model(tmp_path: Path) -> None:
    msg = config_error(tmp_path, VALID + "\n[judges.empty]\nmax_attempts = 2\n")
    assert str(tmp_path / "arena.toml") in msg
    assert "[judges.empty] model" in msg
    assert "required" in msg.lower()


def test_judge_naming_a_model_not_in_models(tmp_path: Path) -> None:
    msg = config_error(tmp_path, VALID + '\n[judges.other]\nmodel = "claude"\n')
    assert msg == (
        f"{tmp_path / 'arena.toml'}: [judges.other] model: 'claude' is not a model in [models]"
    )


def test_wrong_type(tmp_path: Path) -> None:
    msg = config_error(
        tmp_path, '[models.x]\nbase_url = "http://localhost/v1"\nmax_tokens = "lots"\n'
    )
    assert msg.startswith(f"{tmp_path / 'arena.toml'}: [models.x] max_tokens: ")
    assert "integer" in msg


def test_closed_choice(tmp_path: Path) -> None:
    msg = config_error(tmp_path, '[models.x]\nprovider = "anthropic"\n')
    assert "[models.x] provider" in msg
    assert "'openai'" in msg and "'vllm'" in msg and "'replay'" in msg


def test_nested_field_path(tmp_path: Path) -> None:
    msg = config_error(
        tmp_path, "[models.x]\nprice = { input_per_mtok = -1, output_per_mtok = 1 }\n"
    )
    assert "[models.x] price.input_per_mtok" in msg


def test_empty_base_url_list(tmp_path: Path) -> None:
    msg = config_error(tmp_path, "[models.x]\nbase_url = []\n")
    assert "[models.x] base_url" in msg and "at least one URL" in msg


def test_replay_needs_file_and_vllm_needs_url(tmp_path: Path) -> None:
    msg = config_error(tmp_path, '[models.r]\nprovider = "replay"\n')
    assert msg.endswith("[models.r] file: required for provider replay")
    msg = config_error(tmp_path, '[models.v]\nprovider = "vllm"\n')
    assert msg.endswith("[models.v] base_url: required for provider vllm")
    # a vllm model with local weights gets its address from `arena serve`
    config = load_config(write(tmp_path, '[models.v]\nprovider = "vllm"\npath = "/w"\n'))
    assert config.model("v").base_urls == []


def test_invalid_toml(tmp_path: Path) -> None:
    msg = config_error(tmp_path, "[models.x\nbase_url = 1\n")
    assert msg.startswith(f"{tmp_path / 'arena.toml'}: not valid TOML")


def test_models_must_be_tables() -> None:
    with pytest.raises(ConfigError, match=r"^f\.toml: \[models\] must be a table"):
        parse_config({"models": ["a"]}, "f.toml")


def test_explicit_config_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, required=True)
    assert str(info.value) == f"{path}: no such config file"


# --- API keys -------------------------------------------------------------------------------


def test_api_key_from_named_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, VALID))
    monkeypatch.setenv("ARENA_TEST_KEY", SECRET)
    assert config.api_key(config.model("gpt")) == SECRET


def test_missing_api_key_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, VALID))
    monkeypatch.delenv("ARENA_TEST_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        config.api_key(config.model("gpt"))
    msg = str(info.value)
    assert "ARENA_TEST_KEY" in msg
    assert "[models.gpt] api_key_env" in msg
    assert str(tmp_path / "arena.toml") in msg


def test_empty_api_key_variable_counts_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(write(tmp_path, VALID))
    monkeypatch.setenv("ARENA_TEST_KEY", "")
    with pytest.raises(ConfigError, match="ARENA_TEST_KEY is not set"):
        config.api_key(config.model("gpt"))


def test_api_key_not_needed_for_local_endpoints(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.api_key(config.model("local")) == "EMPTY"
    # the OpenAI API itself without api_key_env is an error that says what to set
    remote = load_config(write(tmp_path, '[models.o]\nprovider = "openai"\n', "b.toml"))
    with pytest.raises(ConfigError, match=r"\[models\.o\] api_key_env: not set"):
        remote.api_key(remote.model("o"))


def test_key_value_never_leaks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_TEST_KEY", SECRET)
    config = load_config(write(tmp_path, VALID))
    spec = config.model("gpt")
    assert config.api_key(spec) == SECRET
    assert SECRET not in repr(spec.model_dump())
    assert SECRET not in spec.model_dump_json()
    assert SECRET not in repr(config.model_dump())
    assert spec.model_dump()["api_key_env"] == "ARENA_TEST_KEY"

    # a key pasted into the file by mistake is rejected without echoing it
    msg = config_error(
        tmp_path, f'[models.x]\nbase_url = "http://localhost/v1"\napi_key = "{SECRET}"\n'
    )
    assert "[models.x] api_key" in msg and SECRET not in msg
    # a key put where a variable name belongs: the message names the field, not the value
    msg = config_error(
        tmp_path,
        f'[models.x]\nbase_url = "http://localhost/v1"\n'
        f'api_key_env = 12\nmax_tokens = "{SECRET}"\n',
    )
    assert SECRET not in msg

    # every error path of api_key() with the variable unset
    monkeypatch.delenv("ARENA_TEST_KEY")
    with pytest.raises(ConfigError) as info:
        config.api_key(spec)
    assert SECRET not in str(info.value)


# --- where the config is --------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("ARENA_CONFIG", "ARENA_HOME", "ARENA_DB_URL", "ARENA_VOTER"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    return home


def test_resolve_default_is_home_arena_toml(clean_env: Path) -> None:
    settings = Settings()
    assert settings.home == clean_env
    assert resolve_config_path(None, settings) == (clean_env / "arena.toml", False)


def test_resolve_env_var_beats_home(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_CONFIG", str(tmp_path / "env.toml"))
    assert resolve_config_path(None, Settings()) == (tmp_path / "env.toml", True)


def test_resolve_cli_beats_env_var(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_CONFIG", str(tmp_path / "env.toml"))
    cli = tmp_path / "cli.toml"
    assert resolve_config_path(cli, Settings()) == (cli, True)


def test_settings_paths(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.database_url == f"sqlite:///{clean_env / 'arena.db'}"
    assert settings.log_dir == clean_env / "logs"
    monkeypatch.setenv("ARENA_DB_URL", "postgresql+psycopg://u@h/db")
    assert Settings().database_url == "postgresql+psycopg://u@h/db"


def test_arena_config_defaults() -> None:
    config = ArenaConfig()
    assert config.source == "<defaults>"
    assert ModelSpec(name="m").provider == "openai"
