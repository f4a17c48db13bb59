"""Just enough HTTP/1.1 on asyncio streams for :mod:`arena.testing.openai_server`.

The fake OpenAI server must not depend on a web framework, so this module holds a
tiny request parser (request line, headers, ``Content-Length`` or chunked body) and
response helpers (fixed-length bodies and chunked streams for SSE).  It is not a
general-purpose server: no pipelining guarantees beyond "one request after another
on the same connection", no trailers, no compression.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

MAX_HEAD = 1 << 20  # bytes for request line + headers (also the StreamReader limit)
MAX_BODY = 64 << 20

REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found",
    405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}


class HTTPError(Exception):
    """A request we cannot parse; the connection is answered with ``status`` and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """Read one request; ``None`` on a clean EOF between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise HTTPError(400, "incomplete request head") from e
    except asyncio.LimitOverrunError as e:
        raise HTTPError(431, "request head too large") from e
    lines = head[:-4].decode("latin-1").split("\r\n")
    while lines and not lines[0]:  # tolerate stray CRLFs between requests
        lines.pop(0)
    parts = lines[0].split(" ") if lines else []
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HTTPError(400, "malformed request line")
    req = Request(method=parts[0].upper(), target=parts[1], version=parts[2])
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HTTPError(400, f"malformed header line {line!r}")
        req.headers[name.lower()] = value.strip()
    if req.headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in req.headers.get("transfer-encoding", "").lower():
        req.body = await _read_chunked(reader)
    elif "content-length" in req.headers:
        try:
            length = int(req.headers["content-length"])
        except ValueError as e:
            raise HTTPError(400, "bad Content-Length") from e
        if length < 0:
            raise HTTPError(400, "bad Content-Length")
        if length > MAX_BODY:
            raise HTTPError(413, "body too large")
        try:
            req.body = await reader.readexactly(length)
        except asyncio.IncompleteReadError as e:
            raise HTTPError(400, "incomplete body") from e
    return req


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    try:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # skip trailers
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise HTTPError(413, "body too large")
            body += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise HTTPError(400, "bad chunk terminator")
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        raise HTTPError(400, "malformed chunked body") from e


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "application/json",
    keep_alive: bool = True,
    headers: dict[str, str] | None = None,
) -> None:
    """Send a complete response with a ``Content-Length`` body."""
    h = {"Content-Length": str(len(body)), "Connection": "keep-alive" if keep_alive else "close"}
    if body:
        h["Content-Type"] = content_type
    h.update(headers or {})
    writer.write(_head(status, h) + body)
    await writer.drain()


async def send_json(writer: asyncio.StreamWriter, status: int, obj: object, **kw) -> None:
    await send(writer, status, json.dumps(obj).encode(), **kw)


class ChunkedStream:
    """A ``Transfer-Encoding: chunked`` response body, written piece by piece."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.started = False

    async def start(self, status: int, headers: dict[str, str], *, keep_alive: bool) -> None:
        h = {"Transfer-Encoding": "chunked", "Connection": "keep-alive" if keep_alive else "close"}
        h.update(headers)
        self.writer.write(_head(status, h))
        self.started = True

    async def write(self, data: bytes) -> None:
        if data:
            self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await self.writer.drain()

    async def end(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()
