"""A lean HTTP/1.1 keep-alive transport for httpx, used for plain-``http://`` loopback servers.

``pql enrich --provider stub`` runs the stub server and the client in one process, so every microsecond
of client CPU is taken from the server too. httpx's default transport (httpcore + h11 + anyio) spends
~0.6-0.9 ms of CPU per request on this kind of machine; this transport, a small :class:`asyncio.Protocol`
per connection, spends ~0.1 ms. It is an ordinary :class:`httpx.AsyncBaseTransport`: the client,
requests, responses, status handling and retries above it are the same httpx code as in production.

It is only chosen for ``http://`` URLs whose host is a loopback address (see :func:`is_loopback_url`):
HTTPS and remote hosts (the real Clearbit API) keep httpx's default transport. What it implements:
keep-alive connection reuse (an idle-connection stack, so one instance serves any number of concurrent
requests), ``Content-Length``, chunked and close-delimited bodies, 1xx interim answers, ``HEAD``/204/304
without body, ``Connection: close``, a retry on a fresh connection when a reused idle connection turns out
to be closed by the server before answering (GET/HEAD only), the connect and read timeouts of the
request, and errors raised as httpx's own exceptions (``ConnectError``, ``ConnectTimeout``,
``ReadTimeout``, ``RemoteProtocolError``, ...).
Content decoding (gzip, ...) is left to :class:`httpx.Response`, as with any transport.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpx

MAX_HEAD = 65536  # bytes of status line + headers before the answer is refused as malformed
MAX_IDLE = 1024


def is_loopback_url(url: str | httpx.URL) -> bool:
    """True for ``http://localhost...``, ``http://127.x.x.x...`` and ``http://[::1]...``."""
    parsed = httpx.URL(url) if isinstance(url, str) else url
    if parsed.scheme != "http":
        return False
    host = parsed.host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Connection(asyncio.Protocol):
    """One TCP connection: buffers what arrives and wakes the request waiting for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.error: BaseException | None = None
        self.reused = False
        self.retry_if_closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool | None:
        self.closed = True
        self._wake()
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def more(self, timeout: float | None, request: httpx.Request) -> bool:
        """Wait for more bytes; False when the connection closed instead."""
        if self.closed:
            return False
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the server's answer", request=request) from None
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()
        return True

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Retry(Exception):
    """A reused idle connection was closed by the server before it answered: try a fresh one."""


class LoopbackTransport(httpx.AsyncBaseTransport):
    """A minimal HTTP/1.1 keep-alive transport (see the module docstring); safe for concurrent requests."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        url = request.url
        key = (url.host, url.port or 80)
        idempotent = request.method in ("GET", "HEAD")
        body = b"" if idempotent else await request.aread()
        head = b"".join(
            [request.method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n"]
            + [name + b": " + value + b"\r\n" for name, value in request.headers.raw]
            + [b"\r\n"]
        )
        for _ in range(3):
            conn = await self._acquire(key, timeouts.get("connect"), request)
            conn.retry_if_closed = idempotent and conn.reused
            try:
                assert conn.transport is not None
                conn.transport.write(head + body if body else head)
                response, reusable = await self._read_response(conn, request, timeouts.get("read"))
            except _Retry:
                conn.close()
                continue
            except BaseException:
                conn.close()  # cancelled or failed mid-answer: the connection's state is unknown
                raise
            if reusable and not conn.closed and not conn.buf:
                conn.reused = True
                idle = self._idle.setdefault(key, [])
                if len(idle) < MAX_IDLE:
                    idle.append(conn)
                else:
                    conn.close()
            else:
                conn.close()
            return response
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    async def _acquire(self, key: tuple[str, int], timeout: float | None, request: httpx.Request) -> _Connection:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.buf:  # bytes on an idle connection: it is out of step, drop it
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(lambda: _Connection(loop), key[0], key[1])
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {key[0]}:{key[1]}", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {key[0]}:{key[1]}: {exc.strerror or exc}", request=request) from None
        return conn

    async def _read_response(
        self, conn: _Connection, request: httpx.Request, timeout: float | None
    ) -> tuple[httpx.Response, bool]:
        buf = conn.buf
        while True:  # skip 1xx interim answers
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                if len(buf) > MAX_HEAD:
                    raise httpx.RemoteProtocolError("The server's answer headers are too long.", request=request)
                if not await conn.more(timeout, request):
                    if not buf and conn.retry_if_closed:
                        raise _Retry
                    raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
                end = buf.find(b"\r\n\r\n")
            lines = bytes(buf[:end]).split(b"\r\n")
            del buf[: end + 4]
            status_line = lines[0].split(b" ", 2)
            try:
                version, status = status_line[0], int(status_line[1])
            except (IndexError, ValueError):
                raise httpx.RemoteProtocolError(f"Malformed status line {lines[0][:80]!r}.", request=request) from None
            if not version.startswith(b"HTTP/1."):
                raise httpx.RemoteProtocolError(f"Unsupported protocol {version[:20]!r}.", request=request)
            if 100 <= status < 200 and status != 101:
                continue
            break
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        keep_alive = version == b"HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx.RemoteProtocolError("Malformed header line in the server's answer.", request=request)
            value = value.strip()
            headers.append((name, value))
            lower = name.strip().lower()
            if lower == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise httpx.RemoteProtocolError("Malformed Content-Length.", request=request) from None
            elif lower == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif lower == b"connection":
                tokens = value.lower()
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
        if request.method == "HEAD" or status in (204, 304):
            content = b""
        elif chunked:
            content = await self._read_chunked(conn, request, timeout)
        elif length is not None:
            while len(buf) < length:
                if not await conn.more(timeout, request):
                    raise httpx.RemoteProtocolError("Server disconnected in the middle of the body.", request=request)
            content = bytes(buf[:length])
            del buf[:length]
        else:  # the body runs until the server closes the connection
            while await conn.more(timeout, request):
                pass
            content = bytes(buf)
            buf.clear()
            keep_alive = False
        response = httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(content), request=request,
            extensions={"http_version": version},
        )
        return response, keep_alive

    async def _read_chunked(self, conn: _Connection, request: httpx.Request, timeout: float | None) -> bytes:
        buf = conn.buf
        parts: list[bytes] = []

        async def need(n: int) -> None:
            while len(buf) < n:
                if not await conn.more(timeout, request):
                    raise httpx.RemoteProtocolError("Server disconnected in the middle of a chunked body.", request=request)

        while True:
            eol = buf.find(b"\r\n")
            while eol < 0:
                await need(len(buf) + 1)
                eol = buf.find(b"\r\n")
            try:
                size = int(bytes(buf[:eol]).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise httpx.RemoteProtocolError("Malformed chunk size.", request=request) from None
            del buf[: eol + 2]
            if size == 0:
                while True:  # trailers, up to the empty line
                    eol = buf.find(b"\r\n")
                    while eol < 0:
                        await need(len(buf) + 1)
                        eol = buf.find(b"\r\n")
                    del buf[: eol + 2]
                    if eol == 0:
                        return b"".join(parts)
            await need(size + 2)
            parts.append(bytes(buf[:size]))
            del buf[: size + 2]

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
