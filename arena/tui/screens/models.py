"""The models screen: every configured and stored model, its endpoint, health and usage.

Thin: a thread worker reads the models and their usage totals from the store; an async
worker checks each OpenAI-compatible endpoint (``GET <base_url>/models`` with the model's
key header when its key variable is set, 3 s timeout) and posts one message per model.
The key is read through :meth:`ArenaConfig.api_key` and only ever goes into the request
header: it is never shown, logged or kept. Replay models need no check (recorded answers).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx2
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from arena.config import ConfigError
from arena.safety import printable

if TYPE_CHECKING:
    from arena.config import ArenaConfig, ModelSpec
    from arena.tui.app import ArenaApp
    from db.repositories import Store

TIMEOUT_S = 3.0
RECORDED = "recorded answers"
COLUMNS = ("model", "provider", "health", "answers", "failures", "tokens in", "tokens out",
           "cost $", "endpoint")
HEALTH = 2  # the health column's index
ENDPOINT_CELL = 48  # the whole endpoint shows in the line under the table


@dataclass(frozen=True)
class ModelInfo:
    """What the screen shows about one model (no key: only the variable's name)."""

    name: str
    provider: str
    endpoint: str
    urls: tuple[str, ...]
    role: str
    key_env: str | None
    usage: dict[str, float]


def model_infos(store: Store, config: ArenaConfig) -> list[ModelInfo]:
    """Configured models first (in the file's order), then those only in the database."""
    usage = store.usage_by_model()
    judges = {j.model for j in config.judges.values()}
    out = []
    for name, spec in config.models.items():
        urls = tuple(spec.base_urls)
        endpoint = (f"file {spec.file}" if spec.provider == "replay"
                    else " ".join(urls) or (f"local {spec.path}" if spec.provider == "hf" else
                                       "`arena serve` starts it" if spec.path else "–"))
        role = "judge model" if name in judges else "battles"
        out.append(ModelInfo(name, spec.provider, endpoint, urls, f"configured · {role}",
                             spec.api_key_env, usage.get(name, {})))
    for name, provider, endpoint_model in store.list_models():
        if name not in config.models:
            endpoint = RECORDED if provider == "replay" else f"not in the config ({endpoint_model or name})"
            out.append(ModelInfo(name, provider, endpoint, (), "stored in the database", None,
                                 usage.get(name, {})))
    return out


def _auth(config: ArenaConfig, name: str) -> dict[str, str]:
    """The header the provider would send, when its key is available; else none."""
    spec = config.models.get(name)
    if spec is None:
        return {}
    try:
        return {"Authorization": f"Bearer {config.api_key(spec)}"}
    except ConfigError:
        return {}


async def check_url(client: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> str:
    """``ok (N ms)``, ``HTTP <status>`` or ``unreachable`` for ``GET <url>/models``."""
    start = time.perf_counter()
    try:
        resp = await client.get(url.rstrip("/") + "/models", headers=headers)
    except httpx2.TimeoutException:
        return "unreachable (timed out)"
    except (httpx2.HTTPError, httpx2.InvalidURL, ValueError):
        return "unreachable"
    ms = (time.perf_counter() - start) * 1000
    return f"ok ({ms:.0f} ms)" if resp.is_success else f"HTTP {resp.status_code}"


def initial_health(info: ModelInfo) -> str:
    if info.provider == "replay":
        return RECORDED
    if not info.urls:
        return "no endpoint to check"
    return "checking…"


class ModelsLoaded(Message):
    def __init__(self, infos: list[ModelInfo]) -> None:
        super().__init__()
        self.infos = infos


class HealthResult(Message):
    def __init__(self, name: str, health: str) -> None:
        super().__init__()
        self.name = name
        self.health = health


def _spec_urls(spec: ModelSpec | None) -> list[str]:
    return spec.base_urls if spec is not None and spec.provider != "replay" else []


class ModelsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.show('battle')", "Back to battle"),
        Binding("r", "recheck", "Re-check health"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[ModelInfo] = []

    @property
    def arena_app(self) -> ArenaApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="models-state", markup=False)
        yield DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="models-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#models-table", DataTable).add_columns(*COLUMNS)

    def on_screen_resume(self) -> None:
        self.add_class("-loading")
        self.load()

    @work(thread=True, exclusive=True, group="models")
    def load(self) -> None:
        self.post_message(ModelsLoaded(model_infos(self.arena_app.store, self.arena_app.config)))

    @on(ModelsLoaded)
    def _loaded(self, message: ModelsLoaded) -> None:
        self.infos = message.infos
        self.remove_class("-loading")
        self.set_class(not self.infos, "-empty")
        table = self.query_one("#models-table", DataTable)
        table.clear()
        for info in self.infos:
            u = info.usage
            generations, failures = int(u.get("generations", 0)), int(u.get("failures", 0))
            endpoint = printable(info.endpoint)
            if len(endpoint) > ENDPOINT_CELL:
                endpoint = endpoint[: ENDPOINT_CELL - 1] + "…"
            cells = (printable(info.name), info.provider, initial_health(info),
                     str(generations - failures), str(failures),
                     f"{int(u.get('prompt_tokens', 0)):,}", f"{int(u.get('completion_tokens', 0)):,}",
                     f"{float(u.get('cost_usd', 0) or 0):.4f}", endpoint)
            table.add_row(*(Text(c) for c in cells), key=info.name)
        n = len(self.infos)
        self.query_one("#models-state", Static).update(
            f"{n} model{'s' * (n != 1)} · health: GET <base_url>/models, {TIMEOUT_S:g} s timeout"
            " · r re-checks" if n else "no models: configure them in arena.toml (see the README)")
        self._describe_cursor()
        self.action_recheck()

    def action_recheck(self) -> None:
        names = [i.name for i in self.infos if i.urls and i.provider != "replay"]
        table = self.query_one("#models-table", DataTable)
        for name in names:
            table.update_cell(name, table.ordered_columns[HEALTH].key, Text("checking…"),
                              update_width=True)
        if names:
            self.check_health(names)

    @work(exclusive=True, group="health")
    async def check_health(self, names: list[str]) -> None:
        config = self.arena_app.config

        async def one(client: httpx2.AsyncClient, name: str) -> None:
            urls = _spec_urls(config.models.get(name))
            results = await asyncio.gather(*(check_url(client, u, _auth(config, name)) for u in urls))
            self.post_message(HealthResult(name, _combine(results)))

        async with httpx2.AsyncClient(timeout=httpx2.Timeout(TIMEOUT_S)) as client:
            await asyncio.gather(*(one(client, n) for n in names))

    @on(HealthResult)
    def _health(self, message: HealthResult) -> None:
        table = self.query_one("#models-table", DataTable)
        if message.name in table.rows:
            table.update_cell(message.name, table.ordered_columns[HEALTH].key,
                              Text(printable(message.health)), update_width=True)

    @on(DataTable.RowHighlighted, "#models-table")
    def _describe_cursor(self) -> None:
        table = self.query_one("#models-table", DataTable)
        if not table.row_count:
            self.query_one("#models-detail", Static).update("")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        info = next((i for i in self.infos if i.name == key), None)
        if info is None:
            return
        if info.key_env is None:
            key_text = "no key variable"
        else:
            found = bool(_auth(self.arena_app.config, info.name))
            key_text = f"key from ${info.key_env} ({'set' if found else 'not set'})"
        lines = [f"{info.name} · {info.provider} · {info.role} · {key_text}",
                 "endpoint: " + (" ".join(info.urls) or info.endpoint)]
        self.query_one("#models-detail", Static).update(printable("\n".join(lines)))


def _combine(results: list[str]) -> str:
    """One model's health over its base URLs: the one result, or how many are up and each."""
    if len(results) == 1:
        return results[0]
    up = sum(r.startswith("ok") for r in results)
    return f"{up}/{len(results)} up: " + ", ".join(results)
