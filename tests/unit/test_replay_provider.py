"""Recorded answers: the replay file reader, ReplayProvider and build_provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.config import ConfigError, load_config, parse_config
from arena.domain import ArenaError
from arena.providers.base import (
    ChatRequest,
    Finished,
    Provider,
    ProviderError,
    TextDelta,
    complete,
)
from arena.providers.openai_compat import OpenAICompatibleProvider
from arena.providers.registry import build_provider
from arena.providers.replay import ReplayProvider, read_answers

LONG = "def reverse(xs):\n    return xs[::-1]\n\n" + "# explanation line\n" * 5


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def answers_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "answers.jsonl", [
        {"prompt_id": "p1", "model": "gpt-x", "response": LONG},
        {"prompt_id": "p2", "model": "gpt-x", "response": "short"},
        {"prompt_id": "p1", "model": "other", "response": "other's answer"},
        {"prompt_id": 7, "model": "gpt-x", "response": "numeric id"},
    ])


def request(key: str | None) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "Reverse a list, please."}],
                       prompt_key=key)


# -- read_answers ---------------------------------------------------------------------------


def test_read_answers_all_models(answers_file: Path):
    got = read_answers(answers_file)
    assert got == {("p1", "gpt-x"): LONG, ("p2", "gpt-x"): "short",
                   ("p1", "other"): "other's answer", ("7", "gpt-x"): "numeric id"}


def test_read_answers_one_model_and_blank_lines(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_text('\n{"prompt_id": "p1", "model": "a", "response": "x"}\n   \n'
                    '{"prompt_id": "p1", "model": "b", "response": "y"}\n', encoding="utf-8")
    assert read_answers(path, "b") == {("p1", "b"): "y"}
    assert read_answers(path, "nobody") == {}


def test_missing_file(tmp_path: Path):
    with pytest.raises(ArenaError, match="no such replay file"):
        read_answers(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(("line", "why"), [
    ('{"prompt_id": "p1", "model": "a", ', "not valid JSON"),
    ('{"prompt_id": "p1", "model": "a"}', "missing field(s) response"),
    ('{"response": "x"}', "missing field(s) prompt_id, model"),
    ('{"prompt_id": "p1", "model": "a", "response": 42}', "field response must be a string"),
    ('{"prompt_id": "p1", "model": "a", "response": null}', "field response must be a string"),
    ('5', "expected a JSON object"),
    ('null', "expected a JSON object"),
    ('["p1", "a", "x"]', "expected a JSON object"),
])
def test_bad_line_names_file_and_line(tmp_path: Path, line: str, why: str):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"prompt_id": "p0", "model": "a", "response": "fine"})
    path.write_text(f"{good}\n\n{line}\n{good}\n", encoding="utf-8")
    with pytest.raises(ArenaError) as info:
        read_answers(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:3: ")  # blank lines still count
    assert why in msg


# -- ReplayProvider ---------------------------------------------------------------------------


async def test_streams_in_chunks_and_finishes(answers_file: Path):
    provider = ReplayProvider.from_file("gpt-x", answers_file)
    assert isinstance(provider, Provider)
    events = [e async for e in provider.stream(request("p1"))]
    deltas, final = events[:-1], events[-1]
    assert all(isinstance(e, TextDelta) for e in deltas)
    assert len(deltas) == -(-len(LONG) // 24) and all(len(d.text) <= 24 for d in deltas)
    assert isinstance(final, Finished)
    c = final.completion
    assert "".join(d.text for d in deltas) == c.text == LONG
    assert c.finish_reason == "stop" and c.attempts == 1
    assert c.usage.completion_tokens == len(LONG) // 4
    assert c.usage.prompt_tokens == len("Reverse a list, please.") // 4
    assert c.usage.cost_usd == 0.0
    await provider.aclose()


async def test_only_its_own_model_and_numeric_ids(answers_file: Path):
    provider = ReplayProvider.from_file("gpt-x", answers_file)
    assert (await complete(provider, request("7"))).text == "numeric id"
    assert (await complete(provider, request("p2"))).text == "short"
    other = ReplayProvider.from_file("other", answers_file)
    assert (await complete(other, request("p1"))).text == "other's answer"
    renamed = ReplayProvider.from_file("my-name", answers_file, model="gpt-x")
    assert renamed.name == "my-name"
    assert (await complete(renamed, request("p2"))).text == "short"


async def test_chunk_size_and_delay():
    provider = ReplayProvider("r", {"k": "abcdefg"}, chunk_chars=3, delay_s=0.001)
    texts = [e.text async for e in provider.stream(request("k")) if isinstance(e, TextDelta)]
    assert texts == ["abc", "def", "g"]


@pytest.mark.parametrize("key", ["missing", None])
async def test_no_recorded_answer_is_provider_error(answers_file: Path, key):
    provider = ReplayProvider.from_file("gpt-x", answers_file)
    events = []
    with pytest.raises(ProviderError) as info:
        async for e in provider.stream(request(key)):
            events.append(e)
    assert events == []
    msg = str(info.value)
    assert msg.startswith("gpt-x: no recorded answer") and repr(key) in msg
    assert str(answers_file) in msg
    # the other model's answer to p1 is not this model's answer
    with pytest.raises(ProviderError):
        await complete(ReplayProvider.from_file("other", answers_file), request("p2"))


# -- build_provider ---------------------------------------------------------------------------


async def test_build_replay_provider_from_config_file(tmp_path: Path, answers_file: Path):
    cfg = tmp_path / "arena.toml"
    cfg.write_text('[models.rec]\nprovider = "replay"\nfile = "answers.jsonl"\nmodel = "gpt-x"\n',
                   encoding="utf-8")
    config = load_config(cfg, required=True)
    provider = build_provider(config, "rec")
    assert isinstance(provider, ReplayProvider) and provider.name == "rec"
    assert (await complete(provider, request("p1"))).text == LONG
    with pytest.raises(ProviderError, match=r"rec: no recorded answer for prompt 'zzz'"):
        await complete(provider, request("zzz"))


def test_build_replay_provider_with_bad_file(tmp_path: Path):
    (tmp_path / "bad.jsonl").write_text("{oops\n", encoding="utf-8")
    config = parse_config({"models": {"rec": {"provider": "replay",
                                              "file": str(tmp_path / "bad.jsonl")}}}, "cfg")
    with pytest.raises(ArenaError, match=r"bad.jsonl:1: not valid JSON"):
        build_provider(config, "rec")


async def test_imported_replay_model_needs_no_config():
    config = parse_config({}, "arena.toml")
    provider = build_provider(config, "imported", known_replay={"imported"})
    assert isinstance(provider, ReplayProvider) and provider.name == "imported"
    with pytest.raises(ProviderError, match="imported: no recorded answer .* imported prompt sets"):
        await complete(provider, request("p1"))


def test_unknown_model_is_config_error():
    config = parse_config({"models": {"a": {"provider": "openai", "base_url": "http://127.0.0.1:1/v1"}}},
                          "arena.toml")
    with pytest.raises(ConfigError, match=r"no model named 'zzz'.*configured: a"):
        build_provider(config, "zzz", known_replay={"imported"})


def test_vllm_without_base_url_says_how_to_serve():
    config = parse_config({"models": {"loc": {"provider": "vllm", "path": "/models/x",
                                              "serve": {"port": 8123}}}}, "arena.toml")
    with pytest.raises(ConfigError, match=r"arena serve loc.*127\.0\.0\.1:8123/v1"):
        build_provider(config, "loc")


async def test_openai_model_builds_openai_provider(monkeypatch: pytest.MonkeyPatch):
    config = parse_config({"models": {"api": {"base_url": "https://api.example.com/v1",
                                              "api_key_env": "ARENA_TEST_KEY"}}}, "arena.toml")
    monkeypatch.delenv("ARENA_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="ARENA_TEST_KEY is not set"):
        build_provider(config, "api")
    monkeypatch.setenv("ARENA_TEST_KEY", "sk-abc")
    provider = build_provider(config, "api")
    assert isinstance(provider, OpenAICompatibleProvider) and provider.name == "api"
    await provider.aclose()
