"""The lean loopback HTTP/1.1 transport: framing, keep-alive, stale connections, timeouts, errors."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

import httpx
import pytest

from pqlcli.providers.loopback import LoopbackTransport, is_loopback_url

# A raw server: for each request head it reads, it sends answer(n) (n = requests so far, from 1);
# None closes the connection without answering.
Answer = Callable[[int], bytes | None]


class RawServer:
    def __init__(self, answer: Answer, close_after_each: bool = False):
        self.answer = answer
        self.close_after_each = close_after_each
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.heads: list[bytes] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                with self.lock:
                    self.requests += 1
                    n = self.requests
                    self.heads.append(head)
                out = self.answer(n)
                if out is None:
                    return
                conn.sendall(out)
                if self.close_after_each:
                    return

    def close(self) -> None:
        self.sock.close()


def fetch(url: str, n: int = 1, timeout: float = 5.0, pause: float = 0.0) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        out = []
        async with httpx.AsyncClient(transport=LoopbackTransport(), timeout=timeout) as client:
            for i in range(n):
                if i and pause:
                    await asyncio.sleep(pause)
                out.append(await client.get(f"{url}/v2/companies/find?domain=a{i}.com"))
        return out

    return asyncio.run(main())


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


def test_content_length_answers_reuse_one_connection_and_send_the_headers():
    server = RawServer(lambda n: ok(b'{"n": %d}' % n))
    try:
        responses = fetch(server.url, n=5)
    finally:
        server.close()
    assert [r.json()["n"] for r in responses] == [1, 2, 3, 4, 5]
    assert server.connections == 1
    first = server.heads[0].split(b"\r\n")
    assert first[0] == b"GET /v2/companies/find?domain=a0.com HTTP/1.1"
    assert any(line.lower() == f"host: 127.0.0.1:{server.port}".encode() for line in first)


def test_chunked_body_with_extensions_and_trailers():
    body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n5\r\n: 12}\r\n0\r\nX-T: 1\r\n\r\n"
    server = RawServer(lambda n: body)
    try:
        responses = fetch(server.url, n=2)
    finally:
        server.close()
    assert [r.json() for r in responses] == [{"a": 12}, {"a": 12}]
    assert server.connections == 1


def test_close_delimited_body_and_interim_1xx():
    def answer(n: int) -> bytes:
        return b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 Not Found\r\n\r\n" + b'{"error": {"type": "unknown_record"}}'

    server = RawServer(answer, close_after_each=True)
    try:
        responses = fetch(server.url, n=2)
    finally:
        server.close()
    assert [r.status_code for r in responses] == [404, 404]
    assert responses[0].json()["error"]["type"] == "unknown_record"
    assert server.connections == 2  # a close-delimited answer ends the connection


def test_connection_close_header_and_a_stale_idle_connection_are_retried_on_a_fresh_one():
    # The server closes every connection after answering, without saying so: the next request finds the
    # idle connection closed (or gets no answer on it) and goes out again on a new one.
    server = RawServer(lambda n: ok(b"{}"), close_after_each=True)
    try:
        responses = fetch(server.url, n=3, pause=0.05)  # the close is seen while idle
        responses += fetch(server.url, n=3)  # the close is seen only when the request gets no answer
        # ...and one that says so
        server.answer = lambda n: ok(b"{}", b"Connection: close\r\n")
        responses += fetch(server.url, n=2)
    finally:
        server.close()
    assert [r.status_code for r in responses] == [200] * 8
    assert server.connections >= 8


def test_server_that_never_answers_is_a_read_timeout_and_closing_without_answer_a_protocol_error():
    server = RawServer(lambda n: b"")  # reads the request, sends nothing, keeps the connection open
    try:
        with pytest.raises(httpx.ReadTimeout):
            fetch(server.url, timeout=0.2)
        server.answer = lambda n: None
        with pytest.raises(httpx.RemoteProtocolError):
            fetch(server.url)
        server.answer = lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"
        server.close_after_each = True
        with pytest.raises(httpx.RemoteProtocolError, match="middle of the body"):
            fetch(server.url)
        server.answer = lambda n: b"garbage\r\n\r\n"
        with pytest.raises(httpx.RemoteProtocolError, match="status line"):
            fetch(server.url)
    finally:
        server.close()


def test_connection_refused_is_a_connect_error():
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(httpx.ConnectError):
        fetch(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://127.0.0.1:8765", True), ("http://localhost:1", True), ("http://[::1]:80", True),
     ("http://127.2.3.4", True), ("https://127.0.0.1:8765", False), ("http://company.clearbit.com", False),
     ("http://10.0.0.1", False), ("https://company.clearbit.com", False)],
)
def test_only_plain_http_loopback_urls_use_it(url, expected):
    assert is_loopback_url(url) is expected
