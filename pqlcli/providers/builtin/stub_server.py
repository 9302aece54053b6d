"""The stub server: a Clearbit-compatible HTTP server on loopback, backed by a local firmographics file.

:class:`StubServer` answers ``GET /v2/companies/find?domain=`` in the Clearbit JSON shape (404
``unknown_record`` for unknown domains, 422 for malformed ones), with optional fault injection
(``fail_rate`` → 503s, ``rate_limit`` → 429s with ``Retry-After``, ``latency``) to exercise the client's
resilience, and ``pause_after`` (tests: hold every answer after the N-th request until :meth:`resume`).
It is an :func:`asyncio.start_server` server with its own event loop (in a background thread, or in the
foreground for ``pql provider serve``) and a small HTTP/1.1 keep-alive request reader.

Its default data (the demo companies of ``examples/``) ships inside the package, so an installed pql
works anywhere.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from pqlcli.providers.builtin.clearbit import FIND_PATH
from pqlcli.providers.builtin.parsing import index_by_domain, read_firmographics

# (status, extra headers, body) — what a scripted response looks like
Response = tuple[int, dict[str, str], bytes]
Script = Callable[[str, int], Response | None]

_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def packaged_data_path() -> Path:
    """The demo companies' firmographics, shipped as package data (``pqlcli/data/firmographics.csv``)."""
    return Path(str(resources.files("pqlcli") / "data" / "firmographics.csv"))


def default_data_path() -> Path:
    """``PQL_STUB_DATA`` if set, else the packaged demo companies."""
    env = os.environ.get("PQL_STUB_DATA")
    return Path(env) if env else packaged_data_path()


def company_payload(row: dict[str, Any]) -> dict[str, Any]:
    """A firmographics row in the Clearbit Company API shape."""
    domain = str(row.get("domain") or "").strip().lower()
    return {
        "id": f"stub-{domain}",
        "name": row.get("name"),
        "legalName": row.get("name"),
        "domain": domain,
        "geo": {"countryCode": row.get("country")},
        "metrics": {
            "employees": row.get("employees"),
            "employeesRange": row.get("employees_range"),
            "raised": row.get("raised"),
            "annualRevenue": row.get("annual_revenue"),
            "estimatedAnnualRevenue": None,
        },
        "category": {"industry": row.get("industry"), "sector": row.get("sector")},
    }


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message}}).encode()


class StubServer:
    """A Clearbit-compatible server on loopback: an asyncio server with its own event loop, in a background
    thread (:meth:`start`) or the foreground (:meth:`serve_forever`, until Ctrl-C).

    ``rate_limit`` is in requests per second, counted over a sliding window of ``rate_window`` seconds
    (1 by default; 60 is a per-minute limit such as Clearbit's); above it, 429 with a fractional
    ``Retry-After`` (0 = off); ``latency`` in milliseconds; ``pause_after`` holds every answer after that many
    requests until :meth:`resume` (``paused`` is set then); ``fail_rate`` the
    share of requests answered 503; ``api_key`` (optional) the only Bearer token accepted; ``script``
    (tests) can answer any (domain, n-th time asked) itself. ``requests``, ``asked`` (per domain) and
    ``statuses`` (per HTTP status) count what it served.

    HTTP/1.1 with keep-alive, read by a small parser (request line + headers up to the blank line): in
    ``pql enrich --provider stub`` the server shares the process (and the GIL) with the client, so one
    event loop thread replaces a thread per connection and the stdlib's email-based header parsing.
    """

    def __init__(
        self,
        data: str | os.PathLike[str] | list[dict[str, Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fail_rate: float = 0.0,
        rate_limit: float = 0.0,
        rate_window: float = 1.0,
        latency: float = 0.0,
        api_key: str | None = None,
        script: Script | None = None,
        seed: int | None = None,
        pause_after: int | None = None,
    ):
        rows = read_firmographics(data or default_data_path()) if not isinstance(data, list) else data
        self.companies: dict[str, bytes] = {
            domain: json.dumps(company_payload(row)).encode() for domain, row in index_by_domain(rows).items()
        }
        self.pause_after = pause_after
        self.paused = threading.Event()  # set when a request arrived past ``pause_after``
        self._resume: asyncio.Event | None = None
        self.fail_rate = fail_rate
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.latency = latency
        self.api_key = api_key
        self.script = script
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.asked: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        # Set to a list to log (arrival time.monotonic(), refused with 429) per request: benchmarks.
        self.arrivals: list[tuple[float, bool]] | None = None
        self._recent: collections.deque[float] = collections.deque()  # admitted in the last rate_window
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        # Bound here, synchronously: a port in use is an OSError from the constructor.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, backlog=256)
        self.server_address: tuple[str, int] = self.sock.getsockname()[:2]

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> StubServer:
        if self._thread is None:
            ready = threading.Event()
            self._thread = threading.Thread(target=asyncio.run, args=(self._serve(ready),), name="pql-stub", daemon=True)
            self._thread.start()
            ready.wait(10)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C (KeyboardInterrupt) or :meth:`stop` from another thread."""
        asyncio.run(self._serve(None))

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.sock.close()

    def resume(self) -> None:
        """Answer the requests held since ``pause_after`` (and every later one)."""
        self.pause_after = None
        loop, resume = self._loop, self._resume
        if loop is not None and resume is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(resume.set)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the event loop side --------------------------------------------------------------------
    async def _serve(self, ready: threading.Event | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._resume = asyncio.Event()
        try:
            server = await asyncio.start_server(self._connection, sock=self.sock)
        finally:
            if ready is not None:
                ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for writer in list(self._writers):
                writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                parts = lines[0].split()
                if len(parts) != 3:
                    writer.write(_response(400, {}, _error("bad_request", "Malformed request line."), True))
                    return
                method, target, version = parts
                authorization: str | None = None
                close = version != b"HTTP/1.1"
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    key = name.strip().lower()
                    if key == b"authorization":
                        authorization = value.strip().decode("latin-1")
                    elif key == b"connection":
                        close = value.strip().lower() == b"close"
                    elif key == b"content-length":
                        length = int(value.strip() or 0)
                if length:
                    await reader.readexactly(length)
                answer: Response
                if method not in (b"GET", b"HEAD"):
                    answer = 405, {}, _error("method_not_allowed", "Only GET is supported.")
                else:
                    answer = await self._answer_async(target.decode("latin-1"), authorization)
                status, headers, body = answer
                with self.lock:
                    self.statuses[status] += 1
                writer.write(_response(status, headers, b"" if method == b"HEAD" else body, close, len(body)))
                if writer.transport.get_write_buffer_size() > 1 << 16:
                    await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    # ---- answering ------------------------------------------------------------------------------
    async def _answer_async(self, path: str, authorization: str | None) -> Response:
        first = self._admit(path, authorization)
        if isinstance(first, tuple):
            return first
        if self.pause_after is not None and self.requests > self.pause_after and self._resume is not None:
            self.paused.set()
            await self._resume.wait()
        if self.latency > 0:
            await asyncio.sleep(self.latency / 1000.0)
        return self._lookup(*first)

    def _admit(self, path: str, authorization: str | None) -> Response | list[Any]:
        """Route, count, check the key and the rate: a final answer, or [domain, nth, fail] to look up."""
        target, _, query = path.partition("?")
        if target.rstrip("/") != FIND_PATH:
            return 404, {}, _error("not_found", f"no route {target}; try {FIND_PATH}?domain=")
        domain = (parse_qs(query).get("domain") or [""])[0].strip().lower()
        with self.lock:
            self.requests += 1
            self.asked[domain] += 1
            nth = self.asked[domain]
            throttled_for = self._throttle()
            if self.arrivals is not None:
                self.arrivals.append((time.monotonic(), throttled_for is not None))
            fail = self.fail_rate > 0 and self.random.random() < self.fail_rate
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            # Echo the credential, as some APIs do: the client must never pass it on unredacted.
            return 401, {}, _error("auth_error", f"Invalid API key: {authorization or 'none sent'}.")
        if throttled_for is not None:
            reset = time.time() + throttled_for
            headers = {"Retry-After": f"{throttled_for:.3f}", "X-RateLimit-Reset": f"{reset:.3f}"}
            return 429, headers, _error("rate_limit", "Rate limit exceeded.")
        return [domain, nth, fail]

    def _lookup(self, domain: str, nth: int, fail: bool) -> Response:
        if self.script is not None:
            scripted = self.script(domain, nth)
            if scripted is not None:
                return scripted
        if fail:
            return 503, {}, _error("unavailable", "Injected failure (--fail-rate).")
        if not domain or not _DOMAIN.match(domain):
            return 422, {}, _error("invalid_domain", f"The domain {domain!r} is not valid.")
        body = self.companies.get(domain)
        if body is None:
            return 404, {}, _error("unknown_record", "Unknown domain.")
        return 200, {}, body

    def _throttle(self) -> float | None:
        """With the lock held: None if this request is within ``rate_limit × rate_window`` requests in the
        sliding window of ``rate_window`` seconds (and it counts), else the seconds until one is allowed
        (a refused request does not count)."""
        if self.rate_limit <= 0:
            return None
        now, window = time.monotonic(), self.rate_window
        recent = self._recent
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= max(1.0, self.rate_limit * window):
            return max(0.001, recent[0] + window - now)
        recent.append(now)
        return None


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _response(status: int, headers: dict[str, str], body: bytes, close: bool, length: int | None = None) -> bytes:
    """One write per response: no Nagle/delayed-ACK stalls on keep-alive connections."""
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\nContent-Length: {len(body) if length is None else length}\r\n"
    for name, value in headers.items():
        head += f"{name}: {value}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode("latin-1") + body
