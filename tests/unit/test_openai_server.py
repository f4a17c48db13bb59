"""The fake OpenAI server, driven by the real openai client and by raw HTTP."""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import openai
import pytest

from arena.testing.openai_server import (
    VERDICTS,
    Fault,
    OpenAITestServer,
    Scripted,
    default_responder,
    tokenize,
)

MSGS = [{"role": "user", "content": "Write a function that reverses a list."}]


@pytest.fixture
def server():
    with OpenAITestServer(seed=1) as srv:
        yield srv


@pytest.fixture
async def client(server):
    c = openai.AsyncOpenAI(base_url=server.url, api_key="test", max_retries=0)
    yield c
    await c.close()


async def collect(stream) -> list:
    return [chunk async for chunk in stream]


def raw(server: OpenAITestServer, method: str, path: str, body: bytes | None = None,
        headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


# -- answers -------------------------------------------------------------------------------


async def test_non_streaming_answer(server, client):
    r = await client.chat.completions.create(model="m1", messages=MSGS, temperature=0.7)
    expected = default_responder("m1", MSGS)
    assert r.object == "chat.completion" and r.model == "m1"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == expected
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].logprobs is None
    prompt = len(tokenize(MSGS[0]["content"]))
    assert r.usage.prompt_tokens == prompt
    assert r.usage.completion_tokens == len(tokenize(expected))
    assert r.usage.total_tokens == prompt + r.usage.completion_tokens
    assert server.requests == {"m1": 1}
    assert server.received[-1]["temperature"] == 0.7


async def test_streaming_answer_with_usage_last(server, client):
    server.chunk_tokens = 3
    chunks = await collect(await client.chat.completions.create(
        model="m1", messages=MSGS, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == default_responder("m1", MSGS)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(tokenize(text))
    n_content = len([c for c in with_choices if c.choices[0].delta.content])
    assert n_content == math.ceil(len(tokenize(text)) / 3)


async def test_streaming_without_usage(client):
    stream = await client.chat.completions.create(model="m1", messages=MSGS, stream=True)
    chunks = await collect(stream)
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_truncates(client, stream, param):
    kw = {param: 4}
    full = tokenize(default_responder("m1", MSGS))
    if stream:
        chunks = await collect(await client.chat.completions.create(
            model="m1", messages=MSGS, stream=True, stream_options={"include_usage": True}, **kw))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish, usage = chunks[-2].choices[0].finish_reason, chunks[-1].usage
    else:
        r = await client.chat.completions.create(model="m1", messages=MSGS, **kw)
        text, finish, usage = r.choices[0].message.content, r.choices[0].finish_reason, r.usage
    assert text == "".join(full[:4]) and finish == "length" and usage.completion_tokens == 4


def _check_logprob_entries(entries, tokens, k):
    assert [e.token for e in entries] == tokens
    for e in entries:
        assert e.bytes == list(e.token.encode())
        assert len(e.top_logprobs) == k
        assert e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == e.logprob
        assert all(t.logprob < e.logprob <= 0 for t in e.top_logprobs[1:])
        assert len({t.token for t in e.top_logprobs}) == k


async def test_logprobs_non_streaming(client):
    kw = {"model": "m1", "messages": MSGS, "logprobs": True, "top_logprobs": 3}
    r = await client.chat.completions.create(**kw)
    _check_logprob_entries(r.choices[0].logprobs.content, tokenize(r.choices[0].message.content), 3)
    again = await client.chat.completions.create(**kw)
    assert again.choices[0].logprobs == r.choices[0].logprobs  # deterministic


async def test_logprobs_streaming_per_chunk(server, client):
    server.chunk_tokens = 2
    chunks = await collect(await client.chat.completions.create(
        model="m1", messages=MSGS, stream=True, logprobs=True, top_logprobs=2))
    entries = []
    for c in chunks:
        d = c.choices[0]
        if d.delta.content:
            assert [e.token for e in d.logprobs.content] == tokenize(d.delta.content)
            entries += d.logprobs.content
    _check_logprob_entries(entries, tokenize(default_responder("m1", MSGS)), 2)


@pytest.mark.parametrize("stream", [False, True])
async def test_single_letter_verdict_logprobs(server, client, stream):
    server.responder = lambda model, messages: "B"
    kw = {"model": "judge", "messages": MSGS, "logprobs": True, "top_logprobs": 5, "max_tokens": 1}
    if stream:
        chunks = await collect(await client.chat.completions.create(stream=True, **kw))
        entries = [e for c in chunks if c.choices and c.choices[0].logprobs
                   for e in c.choices[0].logprobs.content]
    else:
        entries = (await client.chat.completions.create(**kw)).choices[0].logprobs.content
    (e,) = entries
    top = {t.token: t.logprob for t in e.top_logprobs}
    assert e.token == "B" and top["B"] == pytest.approx(math.log(0.8), abs=1e-5)
    assert top["A"] == pytest.approx(math.log(0.15), abs=1e-5)
    assert len(top) == 5


async def test_scripted_logprobs(server, client):
    server.responder = lambda model, messages: Scripted("A", top_logprobs=[{"A": -0.2, "B": -1.9}])
    r = await client.chat.completions.create(
        model="j", messages=MSGS, logprobs=True, top_logprobs=2)
    e = r.choices[0].logprobs.content[0]
    assert e.token == "A" and e.logprob == -0.2
    assert [(t.token, t.logprob) for t in e.top_logprobs] == [("A", -0.2), ("B", -1.9)]


async def test_extra_body_is_accepted_and_recorded(server, client):
    r = await client.chat.completions.create(
        model="m1", messages=MSGS, extra_body={"top_k": 20, "repetition_penalty": 1.1})
    assert r.choices[0].message.content
    assert server.received[-1]["top_k"] == 20 and server.received[-1]["repetition_penalty"] == 1.1


# -- endpoints and HTTP ----------------------------------------------------------------------


async def test_models_and_health(client):
    with OpenAITestServer(models=["a", "b"]) as srv:
        status, _, body = raw(srv, "GET", "/health")
        assert status == 200 and body == b""
        status, _, body = raw(srv, "GET", "/v1/models")
        assert status == 200
        listing = json.loads(body)
        assert listing["object"] == "list" and [m["id"] for m in listing["data"]] == ["a", "b"]
    await client.chat.completions.create(model="seen", messages=MSGS)
    assert [m.id for m in (await client.models.list()).data] == ["seen"]


def test_bad_requests(server):
    status, _, body = raw(server, "POST", "/v1/chat/completions", b"{oops",
                          {"Content-Type": "application/json"})
    assert status == 400 and "error" in json.loads(body)
    for bad in ({"messages": MSGS}, {"model": "m"}, {"model": "m", "messages": "hi"},
                {"model": "m", "messages": MSGS, "max_tokens": 0}):
        status, _, body = raw(server, "POST", "/v1/chat/completions", json.dumps(bad).encode())
        assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"
    status, _, body = raw(server, "GET", "/v1/nope")
    assert status == 404 and "error" in json.loads(body)
    assert not server.requests


async def test_bad_request_seen_by_openai_client(client):
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="m", messages=[])


def test_keep_alive_and_connection_close(server):
    body = json.dumps({"model": "m", "messages": MSGS}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        f = s.makefile("rb")
        for close in (False, True):
            extra = b"Connection: close\r\n" if close else b""
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + extra
                      + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            assert f.readline().startswith(b"HTTP/1.1 200")
            headers = {}
            while (line := f.readline()) != b"\r\n":
                k, _, v = line.decode().partition(":")
                headers[k.lower()] = v.strip()
            data = json.loads(f.read(int(headers["content-length"])))
            assert data["choices"][0]["message"]["content"]
            assert headers["connection"] == ("close" if close else "keep-alive")
        assert f.read() == b""  # server closed after Connection: close
    assert server.requests["m"] == 2


async def test_openai_client_reuses_connections(server, client):
    for _ in range(3):
        await collect(await client.chat.completions.create(model="m", messages=MSGS, stream=True))
        await client.chat.completions.create(model="m", messages=MSGS)
    assert server.connections == 1


# -- faults ------------------------------------------------------------------------------------


async def test_fault_429_with_retry_after(server, client):
    server.set_faults([Fault("429", retry_after=0.25)])
    with pytest.raises(openai.RateLimitError) as ei:
        await client.chat.completions.create(model="m", messages=MSGS)
    assert ei.value.response.headers["retry-after"] == "0.25"
    assert ei.value.status_code == 429
    assert server.faults_fired["429"] == 1 and server.requests["m"] == 1


async def test_fault_500(server, client):
    server.set_faults([Fault("500")])
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="m", messages=MSGS, stream=True)


async def test_fault_hang_times_out_without_blocking_others(server, client):
    server.set_faults([Fault("hang", model="slow", hang_seconds=5)])
    start = time.monotonic()
    hung = asyncio.ensure_future(
        client.chat.completions.create(model="slow", messages=MSGS, timeout=0.3))
    r = await client.chat.completions.create(model="fast", messages=MSGS)
    assert r.choices[0].message.content and time.monotonic() - start < 0.25
    with pytest.raises(openai.APITimeoutError):
        await hung
    assert server.faults_fired["hang"] == 1


async def test_fault_cut_stream(server, client):
    server.set_faults([Fault("cut")])
    chunks = []
    with pytest.raises(openai.APIConnectionError):
        async for c in await client.chat.completions.create(model="m", messages=MSGS, stream=True):
            chunks.append(c)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert any(c.choices[0].delta.content for c in chunks)
    assert all(c.choices[0].finish_reason is None for c in chunks)


async def test_fault_cut_non_streaming(server, client):
    server.set_faults([Fault("cut")])
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="m", messages=MSGS)


@pytest.mark.parametrize("stream", [False, True])
async def test_fault_malformed(server, client, stream):
    server.set_faults([Fault("malformed")])
    with pytest.raises(json.JSONDecodeError):  # the SDK does not wrap it
        r = await client.chat.completions.create(model="m", messages=MSGS, stream=stream)
        if stream:
            await collect(r)


@pytest.mark.parametrize("stream", [False, True])
async def test_fault_empty(server, client, stream):
    server.set_faults([Fault("empty")])
    kw = {"model": "m", "messages": MSGS}
    if stream:
        chunks = await collect(await client.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **kw))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = chunks[-1].usage
    else:
        r = await client.chat.completions.create(**kw)
        text, usage = r.choices[0].message.content, r.usage
    assert text == "" and usage.completion_tokens == 0


async def test_fault_times_and_model_scoping(server, client):
    server.set_faults([Fault("500", model="bad", times=2)])
    for _ in range(2):
        await client.chat.completions.create(model="good", messages=MSGS)
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="bad", messages=MSGS)
    await client.chat.completions.create(model="bad", messages=MSGS)  # rule exhausted
    assert server.faults_fired == {"500": 2}
    assert server.requests == {"good": 2, "bad": 3}
    server.add_fault(Fault("429", times=1))
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="good", messages=MSGS)
    await client.chat.completions.create(model="good", messages=MSGS)


async def test_fault_probability_is_seeded(client):
    async def run() -> list[bool]:
        out = []
        with OpenAITestServer(seed=7, faults=[Fault("500", probability=0.5)]) as srv:
            c = openai.AsyncOpenAI(base_url=srv.url, api_key="t", max_retries=0)
            for _ in range(20):
                try:
                    await c.chat.completions.create(model="m", messages=MSGS)
                    out.append(True)
                except openai.InternalServerError:
                    out.append(False)
            await c.close()
        return out
    first = await run()
    assert first == await run() and 3 < first.count(False) < 17


def test_unknown_fault_kind_rejected():
    with pytest.raises(ValueError):
        Fault("404")  # type: ignore[arg-type]


# -- timing ------------------------------------------------------------------------------------


async def test_64_concurrent_streams_with_latency():
    # chunk_tokens=8 keeps the openai client's own per-chunk parsing (~0.1 ms each, in this
    # process) from dominating; the server's share is a few percent of that.
    with OpenAITestServer(latency=0.2, chunk_tokens=8) as srv:
        c = openai.AsyncOpenAI(base_url=srv.url, api_key="t", max_retries=0)


        async def one(i: int) -> list:
            stream = await c.chat.completions.create(model=f"m{i % 4}", messages=MSGS, stream=True)
            return await collect(stream)

        start = time.monotonic()
        results = await asyncio.gather(*[one(i) for i in range(64)])
        elapsed = time.monotonic() - start
        await c.close()
    assert all(r[-1].choices[0].finish_reason == "stop" for r in results)
    assert sum(srv.requests.values()) == 64
    assert elapsed < 1.5, elapsed


async def test_latency_and_tokens_per_second_pacing():
    answer = "x" + " y" * 19  # 20 tokens
    srv = OpenAITestServer(latency=0.1, tokens_per_second=100, responder=lambda m, msgs: answer)
    with srv:
        c = openai.AsyncOpenAI(base_url=srv.url, api_key="t", max_retries=0)
        start = time.monotonic()
        stream = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
        first = None
        async for chunk in stream:
            if first is None and chunk.choices[0].delta.content:
                first = time.monotonic() - start
        total = time.monotonic() - start
        await c.close()
    assert 0.09 < first < 0.3
    assert 0.27 < total < 0.8  # 0.1 s + 19 more tokens at 100/s


# -- responder and CLI ------------------------------------------------------------------------


def test_default_responder_code_answers_differ_by_model():
    a, b = default_responder("model-a", MSGS), default_responder("model-b", MSGS)
    assert a == default_responder("model-a", MSGS)
    assert "```python" in a and "```python" in b
    lengths = {len(default_responder(f"model-{i}", MSGS)) for i in range(10)}
    assert len(lengths) > 3


def test_default_responder_verdicts():
    labels = ", ".join(VERDICTS)
    system = {"role": "system", "content": f"Output one of {labels}."}
    verdicts = []
    for i in range(40):
        user = {"role": "user", "content": f"<|A|> answer {i} <|B|> answer {i * 7}"}
        text = default_responder("judge", [system, user])
        assert text == default_responder("judge", [system, user])
        verdicts.append(next(v for v in VERDICTS if text.endswith(v)))
    assert set(verdicts) == set(VERDICTS)


def test_tokenize_is_lossless():
    text = "def f(x):\n    return x**2  # ok\n\n```py```  é"
    assert "".join(tokenize(text)) == text
    assert tokenize("A") == ["A"]


def test_cli_runs_in_foreground_until_interrupted():
    proc = subprocess.Popen(
        [sys.executable, "-m", "arena.testing.openai_server", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        url = line.split()[line.split().index("on") + 1]
        with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=5) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.stdout.close()
