"""``arena serve`` (a vLLM server for a local model) and ``arena fake-server``."""

from __future__ import annotations

import signal
import time
from typing import Annotated

import typer

from arena.cli.common import info, state


def serve_cmd(
    name: Annotated[str, typer.Argument(help="A [models.NAME] with provider = \"vllm\" and a local path.")],
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for /health (default: serve.startup_timeout).")] = None,
) -> None:
    """Start `vllm serve` for a model, wait until healthy, and keep it up until Ctrl-C."""
    from arena.domain import ArenaError
    from arena.providers.vllm_server import VLLMServer

    ctx = state.context()
    spec = ctx.config.model(name)
    if spec.provider != "vllm":
        raise ArenaError(f"{ctx.config.source}: [models.{name}] provider: `arena serve` needs provider = \"vllm\"")
    log_path = ctx.settings.log_dir / f"vllm-{name}.log"
    server = VLLMServer(spec, log_path)
    info(f"starting vllm for {name}; log: {log_path}")

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops vllm the same way Ctrl-C does

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.start(timeout)  # stops the server itself if interrupted while waiting
    except KeyboardInterrupt:
        info("interrupted while vllm was starting; it has been stopped")
        raise typer.Exit(130) from None
    try:
        info(f"{name} is up at {server.base_url} (served as {spec.endpoint_model!r}); Ctrl-C stops it")
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        code = server.stop()
        info(f"vllm stopped (exit code {code})")


def fake_server_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
    latency: Annotated[float, typer.Option(help="Seconds before the first token.")] = 0.2,
    tps: Annotated[float | None, typer.Option(help="Tokens per second after the first (default: all at once).")] = None,
) -> None:
    """Run the local OpenAI-protocol test server (a stand-in for OpenAI or vLLM)."""
    from arena.testing.openai_server import OpenAITestServer

    server = OpenAITestServer(port=port, latency=latency, tokens_per_second=tps).start()
    info(f"OpenAI-protocol test server at {server.url}; Ctrl-C stops it")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
