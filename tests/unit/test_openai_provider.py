"""OpenAICompatibleProvider against the real local OpenAI-protocol server (no SDK mocks)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from arena.config import ModelSpec, Price
from arena.providers.base import (
    ChatRequest,
    Finished,
    ProviderError,
    Restarted,
    TextDelta,
    TokenLogprob,
    complete,
)
from arena.providers.openai_compat import OpenAICompatibleProvider
from arena.providers.retry import Backoff
from arena.testing.openai_server import (
    Fault,
    OpenAITestServer,
    Scripted,
    default_responder,
    tokenize,
)

MSGS = [{"role": "user", "content": "Write a function that reverses a list."}]
FAST = Backoff(base=0.01, cap=0.05)
PRICE = Price(input_per_mtok=2.5, output_per_mtok=10.0)
SECRET = "sk-test-SECRET-value-123456"


def spec(server_or_url, **kw) -> ModelSpec:
    base_url = kw.pop("base_url", None) or getattr(server_or_url, "url", server_or_url)
    defaults = dict(name="m", provider="openai", model="served-m", base_url=base_url, timeout=5.0,
                    max_retries=3, price=PRICE)
    return ModelSpec(**{**defaults, **kw})


@pytest.fixture
def server():
    with OpenAITestServer(seed=1) as srv:
        yield srv


@pytest.fixture
async def make_provider():
    made: list[OpenAICompatibleProvider] = []

    def make(model_spec: ModelSpec, *, backoff: Backoff = FAST, api_key: str = SECRET):
        p = OpenAICompatibleProvider(model_spec, api_key, backoff=backoff, seed=0)
        made.append(p)
        return p

    yield make
    for p in made:
        await p.aclose()


async def events_of(provider, request: ChatRequest) -> list:
    return [ev async for ev in provider.stream(request)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a normal answer ----------------------------------------------------------------------


async def test_streamed_answer_text_usage_timing_cost(make_provider):
    with OpenAITestServer(latency=0.1, tokens_per_second=400) as srv:
        provider = make_provider(spec(srv))
        events = await events_of(provider, ChatRequest(messages=MSGS))
    expected = default_responder("served-m", MSGS)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3  # really streamed, token by token
    assert isinstance(events[-1], Finished)
    assert sum(isinstance(e, Finished) for e in events) == 1
    assert not any(isinstance(e, Restarted) for e in events)
    c = events[-1].completion
    assert "".join(d.text for d in deltas) == c.text == expected
    assert c.finish_reason == "stop" and c.attempts == 1 and c.logprobs is None
    # token counts come from the server's usage chunk (its toy tokenizer), not an estimate
    assert c.usage.prompt_tokens == len(tokenize(MSGS[0]["content"]))
    assert c.usage.completion_tokens == len(tokenize(expected))
    assert c.usage.completion_tokens != max(1, len(expected) // 4)
    assert 0.1 <= c.usage.ttft_s <= c.usage.latency_s
    assert c.usage.latency_s >= 0.1 + 0.9 * (len(tokenize(expected)) - 1) / 400
    assert c.usage.cost_usd == pytest.approx(
        (c.usage.prompt_tokens * 2.5 + c.usage.completion_tokens * 10.0) / 1e6)
    assert srv.requests == {"served-m": 1}
    sent = srv.received[-1]
    assert sent["model"] == "served-m" and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == MSGS


async def test_no_price_means_no_cost(server, make_provider):
    c = await complete(make_provider(spec(server, price=None)), ChatRequest(messages=MSGS))
    assert c.usage.cost_usd is None and c.text


async def test_max_tokens_gives_length_finish(server, make_provider):
    c = await complete(make_provider(spec(server)), ChatRequest(messages=MSGS, max_tokens=3))
    assert c.finish_reason == "length" and c.usage.completion_tokens == 3
    assert c.text == "".join(tokenize(default_responder("served-m", MSGS))[:3])
    assert server.received[-1]["max_tokens"] == 3


async def test_sampling_params_from_spec_and_request(server, make_provider):
    provider = make_provider(spec(server, temperature=0.3, top_p=0.9, max_tokens=77))
    await complete(provider, ChatRequest(messages=MSGS))
    sent = server.received[-1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.3, 0.9, 77)
    await complete(provider, ChatRequest(messages=MSGS, temperature=1.0, top_p=0.5, max_tokens=9))
    sent = server.received[-1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (1.0, 0.5, 9)
    assert "logprobs" not in sent and "top_logprobs" not in sent


async def test_system_prompt_inserted_first(server, make_provider):
    provider = make_provider(spec(server, system_prompt="You are terse."))
    await complete(provider, ChatRequest(messages=MSGS))
    assert server.received[-1]["messages"] == [
        {"role": "system", "content": "You are terse."}, *MSGS]
    # a request that brings its own system message keeps it, and gets no second one
    own = [{"role": "system", "content": "Judge carefully."}, *MSGS]
    await complete(provider, ChatRequest(messages=own))
    assert server.received[-1]["messages"] == own


async def test_extra_body_reaches_server(server, make_provider):
    provider = make_provider(spec(server, extra_body={"repetition_penalty": 1.1, "top_k": 40}))
    await complete(provider, ChatRequest(messages=MSGS, extra_body={"top_k": 5, "min_p": 0.05}))
    sent = server.received[-1]
    assert sent["repetition_penalty"] == 1.1
    assert sent["top_k"] == 5  # the request's value wins over the model's
    assert sent["min_p"] == 0.05
    assert "extra_body" not in sent  # merged into the body, not nested


async def test_logprobs_requested_and_parsed(server, make_provider):
    server.responder = lambda model, messages: Scripted("A", top_logprobs=[{"A": -0.2, "B": -1.9}])
    provider = make_provider(spec(server))
    c = await complete(provider, ChatRequest(messages=MSGS, logprobs=True, top_logprobs=2))
    sent = server.received[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    assert c.text == "A"
    assert c.logprobs == [TokenLogprob(token="A", logprob=-0.2, top={"A": -0.2, "B": -1.9})]


async def test_logprobs_for_every_token(server, make_provider):
    provider = make_provider(spec(server))
    c = await complete(provider, ChatRequest(messages=MSGS, logprobs=True, top_logprobs=3))
    assert [lp.token for lp in c.logprobs] == tokenize(c.text)
    assert all(len(lp.top) == 3 and lp.top[lp.token] == lp.logprob for lp in c.logprobs)


# -- retries ---------------------------------------------------------------------------------


async def test_429_honours_retry_after(make_provider):
    with OpenAITestServer(faults=[Fault("429", times=1, retry_after=0.3)]) as srv:
        provider = make_provider(spec(srv))
        t0 = time.perf_counter()
        c = await complete(provider, ChatRequest(messages=MSGS))
        elapsed = time.perf_counter() - t0
    assert c.attempts == 2 and c.text == default_responder("served-m", MSGS)
    assert srv.faults_fired["429"] == 1 and srv.requests["served-m"] == 2
    assert 0.3 <= elapsed < 3.0  # waited Retry-After, not the 0.01 s backoff


async def test_500_twice_then_success(make_provider):
    with OpenAITestServer(faults=[Fault("500", times=2)]) as srv:
        provider = make_provider(spec(srv))
        events = await events_of(provider, ChatRequest(messages=MSGS))
    c = events[-1].completion
    assert c.attempts == 3 and c.text == default_responder("served-m", MSGS)
    assert srv.requests["served-m"] == 3 and srv.faults_fired["500"] == 2
    assert not any(isinstance(e, Restarted) for e in events)  # nothing had streamed yet


async def test_hang_times_out_and_is_retried(make_provider):
    with OpenAITestServer(faults=[Fault("hang", times=1, hang_seconds=5)]) as srv:
        provider = make_provider(spec(srv, timeout=0.3))
        t0 = time.perf_counter()
        c = await complete(provider, ChatRequest(messages=MSGS))
        elapsed = time.perf_counter() - t0
    assert c.attempts == 2 and c.text == default_responder("served-m", MSGS)
    assert srv.faults_fired["hang"] == 1
    assert 0.3 <= elapsed < 3.0


async def test_cut_stream_restarts(make_provider):
    with OpenAITestServer(faults=[Fault("cut", times=1)]) as srv:
        provider = make_provider(spec(srv))
        events = await events_of(provider, ChatRequest(messages=MSGS))
    expected = default_responder("served-m", MSGS)
    kinds = [type(e) for e in events]
    assert kinds.count(Restarted) == 1 and kinds.count(Finished) == 1
    r = kinds.index(Restarted)
    before = "".join(e.text for e in events[:r] if isinstance(e, TextDelta))
    after = "".join(e.text for e in events[r:] if isinstance(e, TextDelta))
    assert before and expected.startswith(before) and before != expected  # a partial answer
    assert after == expected
    c = events[-1].completion
    assert c.text == expected and c.attempts == 2  # not the partial text plus the full one
    assert c.usage.completion_tokens == len(tokenize(expected))


async def test_malformed_chunk_is_retried(make_provider):
    with OpenAITestServer(faults=[Fault("malformed", times=1)]) as srv:
        provider = make_provider(spec(srv))
        events = await events_of(provider, ChatRequest(messages=MSGS))
    c = events[-1].completion
    assert c.attempts == 2 and c.text == default_responder("served-m", MSGS)
    assert srv.faults_fired["malformed"] == 1
    # the bad chunk came mid-answer, so the consumer was told to drop what it had
    assert sum(isinstance(e, Restarted) for e in events) == 1


async def test_restart_is_announced_once_per_voided_answer(make_provider):
    # attempt 1 streams half an answer and is cut; attempt 2 fails before any text (500);
    # attempt 3 succeeds: only the first failure voided text the consumer had seen
    with OpenAITestServer(faults=[Fault("cut", times=1), Fault("500", times=1)]) as srv:
        provider = make_provider(spec(srv))
        events = await events_of(provider, ChatRequest(messages=MSGS))
    assert srv.requests["served-m"] == 3
    assert sum(isinstance(e, Restarted) for e in events) == 1
    assert events[-1].completion.attempts == 3


class _NoFinishHandler(BaseHTTPRequestHandler):
    """Streams a well-formed SSE answer that never says it finished (no finish_reason)."""

    protocol_version = "HTTP/1.0"
    hits = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ("half ", "an answer"):
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: object) -> None:
        pass


async def test_stream_without_finish_reason_is_retried(make_provider):
    _NoFinishHandler.hits = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NoFinishHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        provider = make_provider(spec(url, max_retries=1))
        events = []
        with pytest.raises(ProviderError, match="ended before the answer was finished") as info:
            async for ev in provider.stream(ChatRequest(messages=MSGS)):
                events.append(ev)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert _NoFinishHandler.hits == 2 and info.value.attempts == 2
    assert [type(e) for e in events] == [TextDelta, TextDelta, Restarted, TextDelta, TextDelta]


async def test_empty_answer_is_retried(make_provider):
    with OpenAITestServer(faults=[Fault("empty", times=2)]) as srv:
        provider = make_provider(spec(srv))
        c = await complete(provider, ChatRequest(messages=MSGS))
    assert c.attempts == 3 and c.text == default_responder("served-m", MSGS)
    assert srv.faults_fired["empty"] == 2


@pytest.mark.parametrize("kind", ["500", "429", "empty", "malformed"])
async def test_fault_that_never_stops_fails_after_all_attempts(kind, make_provider, caplog):
    with OpenAITestServer(faults=[Fault(kind, retry_after=0.01)]) as srv:
        provider = make_provider(spec(srv, name="stubborn", max_retries=2))
        events = []
        with pytest.raises(ProviderError) as info:
            async for ev in provider.stream(ChatRequest(messages=MSGS)):
                events.append(ev)
    assert srv.requests["served-m"] == 3  # max_retries + 1
    err = info.value
    assert err.attempts == 3 and err.retryable
    msg = str(err)
    assert msg.startswith("stubborn:") and "3 attempts" in msg
    cause = {"500": "HTTP 500", "429": "HTTP 429", "empty": "empty answer",
             "malformed": "malformed stream"}[kind]
    assert cause in msg
    assert not any(isinstance(e, Finished) for e in events)
    if kind == "malformed":  # text streamed on every attempt; each retry voided it
        assert sum(isinstance(e, Restarted) for e in events) == 2
    assert SECRET not in msg and SECRET not in caplog.text


async def test_cut_forever_never_finishes(make_provider):
    with OpenAITestServer(faults=[Fault("cut")]) as srv:
        provider = make_provider(spec(srv, max_retries=1))
        events = []
        with pytest.raises(ProviderError, match="m:"):
            async for ev in provider.stream(ChatRequest(messages=MSGS)):
                events.append(ev)
    assert srv.requests["served-m"] == 2
    assert not any(isinstance(e, Finished) for e in events)
    assert any(isinstance(e, TextDelta) for e in events)


async def test_400_is_not_retried(server, make_provider):
    provider = make_provider(spec(server, max_retries=3), backoff=Backoff(base=2.0, cap=2.0))
    t0 = time.perf_counter()
    with pytest.raises(ProviderError) as info:
        # top_logprobs above 20 is refused by the server with HTTP 400
        await complete(provider, ChatRequest(messages=MSGS, logprobs=True, top_logprobs=25))
    assert time.perf_counter() - t0 < 0.9  # a retry would have slept at least 1 s
    err = info.value
    assert err.attempts == 1 and not err.retryable
    assert str(err).startswith("m: HTTP 400") and "top_logprobs" in str(err)
    assert server.received == []  # refused before it counted as a chat request


async def test_404_is_not_retried(server, make_provider):
    provider = make_provider(spec(server, base_url=server.base + "/nope/v1", max_retries=3),
                             backoff=Backoff(base=2.0, cap=2.0))
    t0 = time.perf_counter()
    with pytest.raises(ProviderError) as info:
        await complete(provider, ChatRequest(messages=MSGS))
    assert time.perf_counter() - t0 < 0.9
    assert info.value.attempts == 1 and not info.value.retryable
    assert "HTTP 404" in str(info.value) and "/nope/v1/chat/completions" in str(info.value)


async def test_500_is_retried_with_backoff(make_provider):
    """The counterpart of the 400/404 tests: a retryable error does wait the backoff."""
    with OpenAITestServer(faults=[Fault("500", times=1)]) as srv:
        provider = make_provider(spec(srv), backoff=Backoff(base=0.4, cap=0.4))
        t0 = time.perf_counter()
        c = await complete(provider, ChatRequest(messages=MSGS))
    assert c.attempts == 2 and time.perf_counter() - t0 >= 0.2  # equal jitter: [base/2, base]


# -- concurrency and URLs --------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [2, 6])
async def test_concurrency_limit(concurrency, make_provider):
    starts: list[float] = []

    def responder(model, messages):
        starts.append(time.monotonic())
        return f"answer to {messages[-1]['content']}"

    with OpenAITestServer(latency=0.2, responder=responder) as srv:
        provider = make_provider(spec(srv, concurrency=concurrency))
        reqs = [ChatRequest(messages=[{"role": "user", "content": f"q{i}"}]) for i in range(6)]
        t0 = time.perf_counter()
        results = await asyncio.gather(*(complete(provider, r) for r in reqs))
        elapsed = time.perf_counter() - t0
    assert sorted(c.text for c in results) == sorted(f"answer to q{i}" for i in range(6))
    starts.sort()
    if concurrency == 2:
        assert elapsed >= 0.55  # three waves of two
        # a third request can only start once one of the two before it has finished
        assert all(starts[i + 2] - starts[i] >= 0.18 for i in range(len(starts) - 2))
    else:
        assert elapsed < 0.55  # one wave: the limit above is what made it slow
        assert starts[-1] - starts[0] < 0.18


async def test_abandoned_stream_releases_its_slot(server, make_provider):
    provider = make_provider(spec(server, concurrency=1))
    gen = provider.stream(ChatRequest(messages=MSGS))
    first = await gen.__anext__()
    assert isinstance(first, TextDelta)
    await gen.aclose()
    c = await asyncio.wait_for(complete(provider, ChatRequest(messages=MSGS)), 5)
    assert c.text == default_responder("served-m", MSGS)


async def test_dead_url_is_skipped(server, make_provider, caplog):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    provider = make_provider(spec(server, base_url=[dead, server.url]),
                             backoff=Backoff(base=2.0, cap=2.0))
    t0 = time.perf_counter()
    first = await complete(provider, ChatRequest(messages=MSGS))
    assert time.perf_counter() - t0 < 1.0  # switched URL at once, no backoff sleep
    assert first.attempts == 2 and first.text == default_responder("served-m", MSGS)
    assert "connection refused" in caplog.text
    # round-robin would now come back to the dead URL; it is skipped while it cools down
    t0 = time.perf_counter()
    later = [await complete(provider, ChatRequest(messages=MSGS)) for _ in range(4)]
    assert time.perf_counter() - t0 < 1.0
    assert [c.attempts for c in later] == [1, 1, 1, 1]
    assert server.requests["served-m"] == 5


async def test_two_live_urls_share_the_load(make_provider):
    with OpenAITestServer() as a, OpenAITestServer() as b:
        provider = make_provider(spec(a, base_url=[a.url, b.url]))
        for _ in range(4):
            await complete(provider, ChatRequest(messages=MSGS))
    assert a.requests["served-m"] == 2 and b.requests["served-m"] == 2


async def test_all_urls_dead_fails(make_provider):
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    provider = make_provider(spec(urls[0], base_url=urls, max_retries=2))
    with pytest.raises(ProviderError) as info:
        await complete(provider, ChatRequest(messages=MSGS))
    assert info.value.attempts == 3 and "connection refused" in str(info.value)


# -- the key stays secret ---------------------------------------------------------------------


async def test_api_key_never_shown(server, make_provider, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make_provider(spec(server, max_retries=1))
    for text in (repr(provider), str(provider), repr(provider.spec), str(vars(provider))):
        assert SECRET not in text
    server.set_faults([Fault("500")])
    with pytest.raises(ProviderError) as info:
        await complete(provider, ChatRequest(messages=MSGS))
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    bad = make_provider(spec(server, base_url=server.base + "/nope/v1"))
    with pytest.raises(ProviderError) as info:
        await complete(bad, ChatRequest(messages=MSGS))
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text


def test_no_base_url_is_an_error():
    with pytest.raises(ProviderError, match="no base_url"):
        OpenAICompatibleProvider(ModelSpec(name="x", base_url=None), SECRET)
