"""vLLM's offline backend against a stand-in ``vllm`` module (vLLM itself cannot be installed
here: CUDA builds only). The stand-in keeps the real API's names and shapes (LLM(model=...),
LLM.chat(conversations, sampling_params, use_tqdm=...), RequestOutput.prompt_token_ids,
.outputs[0].text / .token_ids / .finish_reason, SamplingParams(temperature, top_p,
max_tokens, ...)) and records every call."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from arena.config import ConfigError, ModelSpec, parse_config
from arena.domain import Prompt
from arena.providers import vllm_offline
from arena.providers.base import ChatRequest, ProviderError, complete
from arena.providers.registry import build_provider
from arena.providers.vllm_offline import (
    BatchAnswers,
    OfflineVLLMProvider,
    batch_provider,
    generate_batch,
)


class SamplingParams:
    """Like vLLM's: keyword arguments only; unknown ones are a TypeError."""

    KNOWN = {"temperature", "top_p", "max_tokens", "top_k", "seed", "repetition_penalty"}

    def __init__(self, **kw: Any) -> None:
        unknown = set(kw) - self.KNOWN
        if unknown:
            raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
        self.temperature = kw.get("temperature", 1.0)
        self.top_p = kw.get("top_p", 1.0)
        self.max_tokens = kw.get("max_tokens", 16)
        self.kw = kw


class LLM:
    made: list[LLM] = []

    def __init__(self, model: str, **kw: Any) -> None:
        if "broken" in model:
            raise RuntimeError("CUDA out of memory")
        self.model, self.kw = model, kw
        self.calls: list[dict[str, Any]] = []
        LLM.made.append(self)

    def chat(self, messages: list[list[dict[str, str]]], sampling_params: SamplingParams | None = None,
             use_tqdm: bool = True, **kw: Any) -> list[Any]:
        self.calls.append({"messages": messages, "sampling": sampling_params, "use_tqdm": use_tqdm, **kw})
        limit = sampling_params.max_tokens if sampling_params else 16
        outs = []
        for conv in messages:
            last = conv[-1]["content"]
            words = [] if "SILENT" in last else f"answer to: {last}".split()
            cut = words[:limit]
            prompt_ids = list(range(sum(len(m["content"].split()) for m in conv) + 2 * len(conv)))
            done = types.SimpleNamespace(index=0, text=" ".join(cut), token_ids=list(range(len(cut))),
                                         finish_reason="length" if len(words) > limit else "stop")
            outs.append(types.SimpleNamespace(prompt_token_ids=prompt_ids, outputs=[done]))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[LLM]:
    module = types.ModuleType("vllm")
    module.LLM = LLM  # type: ignore[attr-defined]
    module.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    LLM.made = []
    monkeypatch.setattr(vllm_offline, "_ENGINES", {})
    monkeypatch.setattr(vllm_offline, "_RUN_LOCKS", {})
    return LLM


@pytest.fixture
def no_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError


def spec(**kw: Any) -> ModelSpec:
    return ModelSpec(**{"name": "local", "provider": "vllm", "path": "/models/coder-dpo",
                        "max_tokens": 8, **kw})


def conv(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_available_follows_the_import(fake_vllm: type[LLM]) -> None:
    assert vllm_offline.available()


def test_not_available_without_vllm(no_vllm: None) -> None:
    assert not vllm_offline.available()
    assert not vllm_offline.batch_ready(spec())


def test_which_specs_use_the_offline_engine(fake_vllm: type[LLM]) -> None:
    assert vllm_offline.batch_ready(spec())
    assert not vllm_offline.uses_offline(spec(base_url="http://127.0.0.1:8000/v1"))
    assert not vllm_offline.uses_offline(spec(path=None, base_url="http://x/v1"))
    assert not vllm_offline.uses_offline(ModelSpec(name="h", provider="hf", path="/m"))


def test_one_engine_one_chat_call_for_the_whole_batch(fake_vllm: type[LLM]) -> None:
    s = spec(temperature=0.2, top_p=0.9, dtype="bfloat16", system_prompt="Be terse.",
             serve={"max_model_len": 4096, "gpu_memory_utilization": 0.5})
    items = [("p1", conv("Reverse a list.")), ("p2", conv("Parse a date please now in ISO")),
             ("p3", conv("Sort"))]
    answers = generate_batch(s, items)

    assert len(fake_vllm.made) == 1
    llm = fake_vllm.made[0]
    assert llm.model == "/models/coder-dpo"
    assert llm.kw == {"dtype": "bfloat16", "max_model_len": 4096, "gpu_memory_utilization": 0.5}
    assert len(llm.calls) == 1
    call = llm.calls[0]
    assert call["use_tqdm"] is False
    assert [c[-1]["content"] for c in call["messages"]] == ["Reverse a list.",
                                                          "Parse a date please now in ISO", "Sort"]
    assert all(c[0] == {"role": "system", "content": "Be terse."} for c in call["messages"])
    sp = call["sampling"]
    assert (sp.temperature, sp.top_p, sp.max_tokens) == (0.2, 0.9, 8)

    assert set(answers) == {"p1", "p2", "p3"}
    assert answers["p1"].text == "answer to: Reverse a list."
    assert answers["p1"].completion_tokens == 5 and answers["p1"].finish_reason == "stop"
    assert answers["p1"].prompt_tokens == 2 + 2 + 3 + 2  # system + user words, 2 per message
    assert answers["p2"].finish_reason == "length" and answers["p2"].completion_tokens == 8
    assert answers["p2"].usage.completion_tokens == 8 and answers["p2"].error is None
    assert vllm_offline._ENGINES == {}  # released after the batch


def test_max_tokens_is_always_sent_and_top_p_only_when_set(fake_vllm: type[LLM]) -> None:
    generate_batch(spec(max_tokens=2048), [("p", conv("x"))])
    assert fake_vllm.made[-1].calls[0]["sampling"].kw == {"temperature": 0.0, "max_tokens": 2048}


def test_extra_body_splits_between_sampling_and_chat(fake_vllm: type[LLM]) -> None:
    s = spec(extra_body={"top_k": 20, "seed": 7, "chat_template_kwargs": {"enable_thinking": False}})
    generate_batch(s, [("p", conv("x"))])
    call = fake_vllm.made[-1].calls[0]
    assert call["sampling"].kw["top_k"] == 20 and call["sampling"].kw["seed"] == 7
    assert call["chat_template_kwargs"] == {"enable_thinking": False}


def test_a_failed_load_fails_every_answer_without_raising(fake_vllm: type[LLM]) -> None:
    answers = generate_batch(spec(path="/models/broken"), [("p1", conv("a")), ("p2", conv("b"))])
    assert {k: a.error for k, a in answers.items()} == {
        "p1": "local: vLLM cannot load /models/broken: RuntimeError: CUDA out of memory",
        "p2": "local: vLLM cannot load /models/broken: RuntimeError: CUDA out of memory"}


def test_bad_sampling_option_fails_the_batch(fake_vllm: type[LLM]) -> None:
    answers = generate_batch(spec(extra_body={"best_of_bad": 3}), [("p", conv("a"))])
    assert "bad sampling parameters" in (answers["p"].error or "")


def test_without_vllm_every_answer_says_what_to_do(no_vllm: None) -> None:
    answers = generate_batch(spec(), [("p", conv("a"))])
    assert "vllm is not installed" in (answers["p"].error or "")
    assert "arena serve local" in (answers["p"].error or "")


def test_empty_answer_is_an_error_and_keys_must_be_unique(fake_vllm: type[LLM]) -> None:
    answers = generate_batch(spec(), [("p", conv("SILENT"))])
    assert answers["p"].error == "local: empty answer"
    with pytest.raises(ValueError, match="unique"):
        generate_batch(spec(), [("p", conv("a")), ("p", conv("b"))])
    assert generate_batch(spec(), []) == {}


async def test_batch_provider_serves_answers_by_prompt_key(fake_vllm: type[LLM]) -> None:
    provider = await batch_provider(spec(), [("p1", conv("Reverse a list.")), ("p2", conv("SILENT"))])
    assert isinstance(provider, BatchAnswers) and provider.name == "local"
    done = await complete(provider, ChatRequest(conv("ignored"), prompt_key="p1"))
    assert done.text == "answer to: Reverse a list." and done.usage.completion_tokens == 5
    with pytest.raises(ProviderError, match="empty answer"):
        await complete(provider, ChatRequest(conv("x"), prompt_key="p2"))
    with pytest.raises(ProviderError, match="no answer for prompt 'p9'"):
        await complete(provider, ChatRequest(conv("x"), prompt_key="p9"))
    await provider.aclose()


# -- the registry and the single-request provider ---------------------------------------------

def config(**model: Any):  # type: ignore[no-untyped-def]
    return parse_config({"models": {"loc": {"provider": "vllm", "path": "/models/x",
                                            "serve": {"port": 8123}, **model}}}, "arena.toml")


def test_registry_without_vllm_says_install_or_serve(no_vllm: None) -> None:
    with pytest.raises(ConfigError, match=r"install vllm .*arena serve loc.*127\.0\.0\.1:8123/v1"):
        build_provider(config(), "loc")


async def test_registry_with_vllm_gives_the_offline_provider(fake_vllm: type[LLM]) -> None:
    provider = build_provider(config(temperature=0.5, max_tokens=4), "loc")
    assert isinstance(provider, OfflineVLLMProvider)
    done = await complete(provider, ChatRequest(conv("one two three four five"), max_tokens=3,
                                                temperature=0.0))
    assert done.text == "answer to: one" and done.finish_reason == "length"
    assert done.usage.latency_s is not None
    sp = fake_vllm.made[0].calls[0]["sampling"]
    assert (sp.temperature, sp.max_tokens) == (0.0, 3)  # the request wins over the spec
    await complete(provider, ChatRequest(conv("again")))
    assert len(fake_vllm.made) == 1 and len(fake_vllm.made[0].calls) == 2  # one engine, kept
    assert fake_vllm.made[0].calls[1]["sampling"].temperature == 0.5
    await provider.aclose()


def test_registry_with_a_server_address_stays_openai_compatible(fake_vllm: type[LLM]) -> None:
    from arena.providers.openai_compat import OpenAICompatibleProvider

    provider = build_provider(config(base_url="http://127.0.0.1:8123/v1"), "loc")
    assert isinstance(provider, OpenAICompatibleProvider)


async def test_a_battle_run_uses_the_offline_backend(fake_vllm: type[LLM], tmp_path: Path) -> None:
    """Through BattleRunner as it is: every answer of two offline vLLM models is stored and
    every battle is ready (one chat call per answer until the runner gains the batch step,
    then one per model)."""
    from arena.services.battles import BattleRunner
    from arena.services.planning import make_plan
    from db.engine import open_database
    from db.repositories import PromptIn, Store

    store = Store(open_database(f"sqlite:///{tmp_path / 'arena.db'}"))
    store.import_prompts("s", "test", [PromptIn("p1", "Reverse a list."),
                                       PromptIn("p2", "Parse a date.")])
    cfg = parse_config({"models": {
        "va": {"provider": "vllm", "path": "/models/a"},
        "vb": {"provider": "vllm", "path": "/models/b", "max_tokens": 3}}}, "arena.toml")
    plan = make_plan(store, cfg, ["va", "vb"], "s", None)
    summary = await BattleRunner(store, cfg).run(plan)
    assert (summary.ready, summary.generated, summary.generation_failures) == (2, 4, 0)
    gens = store.generations([p.id for p in store.prompts("s")], ["va", "vb"])  # type: ignore[misc]
    assert all(g.ok and g.text.startswith("answer to:") for g in gens.values())
    assert {g.finish_reason for (_, m), g in gens.items() if m == "vb"} == {"length"}
    assert isinstance(store.prompts("s")[0], Prompt)
