"""Build a provider for a model name from the config (or from models the database knows).

openai / vllm with base_url: OpenAI-compatible; vllm with a path and no base_url: vLLM's
offline engine when vllm is installed; hf: transformers in process; replay: recorded
answers. Provider modules with heavy dependencies are imported only when chosen.
"""

from __future__ import annotations

from pathlib import Path

from arena.config import ArenaConfig, ConfigError
from arena.providers.base import Provider
from arena.providers.replay import ReplayProvider


def build_provider(config: ArenaConfig, name: str, *, known_replay: set[str] = frozenset()) -> Provider:  # type: ignore[assignment]
    """A provider for ``name``. Replay models imported with a prompt set need no config:
    their answers are already stored, so their provider only reports missing answers.

    Raises ConfigError for an unknown model or a missing API key variable.
    """
    if name not in config.models:
        if name in known_replay:
            return ReplayProvider(name, {}, source="the imported prompt sets")
        config.model(name)  # raises with the list of configured models
    spec = config.models[name]
    if spec.provider == "replay":
        assert spec.file is not None
        return ReplayProvider.from_file(name, Path(spec.file), spec.model)
    if spec.provider == "hf":
        from arena.providers.hf import HFProvider

        return HFProvider(spec)
    if spec.provider == "vllm" and not spec.base_urls:
        from arena.providers import vllm_offline

        if spec.path and vllm_offline.available():
            return vllm_offline.OfflineVLLMProvider(spec)
        server = f"base_url = \"http://{spec.serve.host}:{spec.serve.port}/v1\""
        if spec.path:
            raise ConfigError(
                f"{config.source}: [models.{name}] base_url: not set and vllm is not installed "
                f"here; install vllm (pip install 'arena-code[vllm]') to answer offline from "
                f"{spec.path}, or start the server with `arena serve {name}` and set {server}")
        raise ConfigError(
            f"{config.source}: [models.{name}] base_url: not set; start the server with "
            f"`arena serve {name}` and set {server}")
    from arena.providers.openai_compat import OpenAICompatibleProvider

    return OpenAICompatibleProvider(spec, config.api_key(spec))
