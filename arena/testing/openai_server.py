"""A real, local OpenAI-compatible chat-completions server for tests and benchmarks.

Arena talks to OpenAI and to vLLM over HTTP with the ``openai`` SDK, and most of the
ways that can go wrong (rate limits, 5xx, hung or cut streams, garbage SSE, empty
answers, logprobs for the preference judge) only show up on the wire.  Mocking the SDK
would hide them, so tests and benchmarks point the real client at this server instead:
it listens on 127.0.0.1, speaks HTTP/1.1 with keep-alive (see :mod:`._http`), streams
SSE like OpenAI/vLLM, answers deterministically, and injects faults on request.

It runs on asyncio in a background thread, so one instance serves many concurrent
streaming requests with simulated latency at almost no CPU cost::

    with OpenAITestServer(latency=0.2, tokens_per_second=200) as srv:
        client = openai.AsyncOpenAI(base_url=srv.url, api_key="x")

Run it standalone with ``python -m arena.testing.openai_server --port 8000``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from arena.testing import _http, protocol
from arena.testing.responses import (  # noqa: F401 - re-exported for tests and benchmarks
    VERDICTS,
    Responder,
    Scripted,
    default_responder,
    make_logprobs,
    tokenize,
)
from arena.testing.responses import _text as _text

log = logging.getLogger(__name__)
FaultKind = Literal["429", "500", "hang", "cut", "malformed", "empty"]
_KINDS = ("429", "500", "hang", "cut", "malformed", "empty")


@dataclass
class Fault:
    """One fault-injection rule; the first rule in the list that matches and fires wins.

    ``times`` caps how often the rule fires (with ``probability`` < 1 it counts firings).
    """

    kind: FaultKind
    model: str | None = None
    times: int | None = None
    probability: float = 1.0
    retry_after: float = 0.05
    hang_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {_KINDS}")


class OpenAITestServer:
    """An OpenAI chat-completions server on a background asyncio loop (see module doc)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 tokens_per_second: float | None = None, responder: Responder | None = None,
                 faults: list[Fault] | None = None, seed: int = 0,
                 models: list[str] | None = None, chunk_tokens: int = 1,
                 max_received: int = 1000) -> None:
        self.host, self.port, self.latency = host, port, latency
        self.tokens_per_second, self.chunk_tokens = tokens_per_second, max(1, chunk_tokens)
        self.responder: Responder = responder or default_responder
        self.models = models
        self.requests: collections.Counter[str] = collections.Counter()
        self.faults_fired: collections.Counter[str] = collections.Counter()
        self.received: list[dict] = []
        self.connections = 0  # TCP connections accepted (keep-alive reuse shows up here)
        self.max_received = max_received
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._faults: list[Fault] = list(faults or [])
        self._fault_uses: collections.Counter[int] = collections.Counter()
        self._n = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._conns: set[asyncio.Task] = set()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> OpenAITestServer:
        if self._thread is not None:
            return self
        ready, failure = threading.Event(), []

        async def serve() -> None:
            self._stopping = asyncio.Event()
            try:
                server = await asyncio.start_server(self._on_conn, self.host, self.port,
                                                    limit=_http.MAX_HEAD, backlog=1024)
            except BaseException as e:
                failure.append(e)
                ready.set()
                return
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopping.wait()
            server.close()
            for task in list(self._conns):
                task.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            await server.wait_closed()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(serve())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="openai-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            self._thread = None
            why = failure[0] if failure else "timeout"
            raise RuntimeError(f"OpenAITestServer failed to start: {why}")
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if self._stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/v1"

    # -- faults --------------------------------------------------------------------------
    def set_faults(self, faults: list[Fault] | None) -> None:
        with self._lock:
            self._faults = list(faults or [])
            self._fault_uses.clear()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _pick_fault(self, model: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.model is not None and f.model != model:
                    continue
                if f.times is not None and self._fault_uses[id(f)] >= f.times:
                    continue
                if f.probability < 1.0 and self._rng.random() >= f.probability:
                    continue
                self._fault_uses[id(f)] += 1
                self.faults_fired[f.kind] += 1
                return f
        return None

    # -- HTTP ----------------------------------------------------------------------------
    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self.connections += 1
        try:
            while True:
                try:
                    req = await _http.read_request(reader, writer)
                except _http.HTTPError as e:
                    err = protocol.error_body(e.message, "invalid_request_error")
                    await _http.send_json(writer, e.status, err, keep_alive=False)
                    break
                if req is None or not await self._dispatch(req, reader, writer):
                    break
                if not req.keep_alive:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # a bug here must not kill the server, only this connection
            log.exception("OpenAITestServer: error while serving a connection")
        finally:
            self._conns.discard(task)
            writer.close()

    async def _dispatch(self, req: _http.Request, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False means the connection must be closed."""
        ka = req.keep_alive
        path = req.path.rstrip("/")
        if path == "/health" and req.method == "GET":
            await _http.send(writer, 200, keep_alive=ka)
        elif path == "/v1/models" and req.method == "GET":
            names = self.models if self.models is not None else list(self.requests)
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "arena-test"}
                    for m in names]
            await _http.send_json(writer, 200, {"object": "list", "data": data}, keep_alive=ka)
        elif path == "/v1/chat/completions" and req.method == "POST":
            return await self._chat(req, reader, writer)
        elif path in ("/health", "/v1/models", "/v1/chat/completions"):
            await _http.send_json(writer, 405, protocol.error_body(f"{req.method} not allowed on {path}",
                                                      "invalid_request_error"), keep_alive=ka)
        else:
            err = protocol.error_body(f"Unknown path {req.path}", "invalid_request_error", "unknown_url")
            await _http.send_json(writer, 404, err, keep_alive=ka)
        return True

    async def _chat(self, req: _http.Request, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> bool:
        ka = req.keep_alive
        try:
            body = json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        problem = protocol.validate(body)
        if problem:
            err = protocol.error_body(problem, "invalid_request_error")
            await _http.send_json(writer, 400, err, keep_alive=ka)
            return True
        self.received.append(body)
        del self.received[: max(0, len(self.received) - self.max_received)]
        model, messages = body["model"], body["messages"]
        self.requests[model] += 1
        self._n += 1
        fault = self._pick_fault(model)
        kind = fault.kind if fault else None
        if fault and kind == "429":
            await _http.send_json(writer, 429, protocol.error_body("Rate limit reached (injected fault).",
                                                      "requests", "rate_limit_exceeded"),
                                  keep_alive=ka, headers={"Retry-After": f"{fault.retry_after:g}"})
            return True
        if kind == "500":
            await _http.send_json(writer, 500, protocol.error_body("The server had an error (injected fault).",
                                                      "server_error"), keep_alive=ka)
            return True
        if fault and kind == "hang":
            await asyncio.sleep(fault.hang_seconds)
            if reader.at_eof():  # the client gave up; nobody to answer
                return False
        try:
            answer = self.responder(model, messages)
        except Exception as e:  # a broken responder should be visible to the client
            await _http.send_json(writer, 500, protocol.error_body(f"responder failed: {e!r}", "server_error"),
                                  keep_alive=ka)
            return True
        if not isinstance(answer, Scripted):
            answer = Scripted(str(answer))
        tokens, finish = ([] if kind == "empty" else tokenize(answer.text)), "stop"
        max_tokens = protocol.max_tokens(body)
        if max_tokens is not None and len(tokens) > max_tokens:
            tokens, finish = tokens[:max_tokens], "length"
        lps = None
        if body.get("logprobs"):
            lps = make_logprobs(tokens, body.get("top_logprobs") or 0, answer.top_logprobs)
        prompt_tokens = sum(len(tokenize(_text(m.get("content")))) for m in messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                 "total_tokens": prompt_tokens + len(tokens)}
        base = {"id": f"chatcmpl-test{self._n:06d}", "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_arena_test"}
        groups = [tokens[i:i + self.chunk_tokens] for i in range(0, len(tokens), self.chunk_tokens)]
        pace = self.chunk_tokens / self.tokens_per_second if self.tokens_per_second else 0.0
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream(writer, ka, kind, base, groups, finish, lps, usage,
                                      include_usage, pace)
        await asyncio.sleep(self.latency + pace * max(0, len(groups) - 1))
        if kind == "cut":
            return False  # close without any response
        if kind == "malformed":
            junk = b'{"id": "' + base["id"].encode() + b'", "choices": [{not json'
            await _http.send(writer, 200, junk, keep_alive=ka)
            return True
        message = {"role": "assistant", "content": "".join(tokens), "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": finish,
                  "logprobs": None if lps is None else {"content": lps, "refusal": None}}
        completion = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
        await _http.send_json(writer, 200, completion, keep_alive=ka)
        return True

    async def _stream(self, writer: asyncio.StreamWriter, ka: bool, kind: str | None, base: dict,
                      groups: list[list[str]], finish: str, lps: list[dict] | None, usage: dict,
                      include_usage: bool, pace: float) -> bool:
        """SSE answer: role chunk, content chunks (paced), finish chunk, usage chunk, [DONE]."""

        def event(choices: list, **extra: Any) -> bytes:
            obj = {**base, "object": "chat.completion.chunk", "choices": choices, **extra}
            if include_usage:
                obj.setdefault("usage", None)
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        def choice(delta: dict, finish_reason: str | None = None, lp: list | None = None) -> list:
            return [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                     "logprobs": None if lp is None else {"content": lp, "refusal": None}}]

        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.latency)
        t0 = loop.time()
        out = _http.ChunkedStream(writer)
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                   "x-request-id": base["id"]}
        await out.start(200, headers, keep_alive=ka)
        await out.write(event(choice({"role": "assistant", "content": ""})))
        cut_at = min(max(1, len(groups) // 2), len(groups)) if kind == "cut" else None
        bad_at = len(groups) // 2 if kind == "malformed" else None
        pos = 0
        for gi, group in enumerate([*groups, None]):
            if gi == bad_at:
                await out.write(b"data: {not json\n\n")
            if gi == cut_at:
                writer.close()  # abrupt: no finish chunk, no [DONE], no terminating zero chunk
                return False
            if group is None:
                break
            if pace and gi:
                await asyncio.sleep(max(0.0, t0 + gi * pace - loop.time()))
            lp = None if lps is None else lps[pos:pos + len(group)]
            pos += len(group)
            await out.write(event(choice({"content": "".join(group)}, lp=lp)))
        await out.write(event(choice({}, finish)))
        if include_usage:
            await out.write(event([], usage=usage))
        await out.write(b"data: [DONE]\n\n")
        await out.end()
        return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m arena.testing.openai_server",
                                description="Fake OpenAI chat-completions server for tests.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--latency", type=float, default=0.0, help="seconds before the first token")
    p.add_argument("--tps", type=float, default=None, help="tokens per second after the first")
    p.add_argument("--chunk-tokens", type=int, default=1)
    p.add_argument("--models", nargs="*", default=None, help="names listed by /v1/models")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fault", action="append", default=[], metavar="KIND[:PROB]",
                   help=f"inject a fault ({', '.join(_KINDS)}) with a probability; repeatable")
    a = p.parse_args(argv)
    faults = [Fault(kind, probability=float(prob or 1.0))  # type: ignore[arg-type]
              for kind, _, prob in (f.partition(":") for f in a.fault)]
    srv = OpenAITestServer(host=a.host, port=a.port, latency=a.latency, tokens_per_second=a.tps,
                           chunk_tokens=a.chunk_tokens, models=a.models, seed=a.seed, faults=faults)
    srv.start()
    try:
        print(f"OpenAI test server listening on {srv.url} (Ctrl-C to stop)", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
