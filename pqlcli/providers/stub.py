"""``stub``: the embedded default provider — a Clearbit-compatible HTTP server backed by a local file.

:class:`StubServer` answers ``GET /v2/companies/find?domain=`` on loopback in the Clearbit JSON shape
(404 ``unknown_record`` for unknown domains, 422 for malformed ones), with optional fault injection
(``fail_rate`` → 503s, ``rate_limit`` → 429s with ``Retry-After``, ``latency``) to exercise the client's
resilience. ``pql provider serve`` runs it in the foreground.

:class:`StubProvider` starts the server in-process on a free loopback port and talks to it through the
real :class:`~pqlcli.providers.clearbit.ClearbitProvider` over real HTTP, so the offline default path is
the production path.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from pqlcli.errors import DataError
from pqlcli.providers.base import Provider, ProviderOptions, Record
from pqlcli.providers.clearbit import (
    CLIENT_FIELDS,
    FIND_PATH,
    ClearbitOptions,
    ClearbitProvider,
    ClientOptions,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT / "examples" / "data" / "firmographics.csv"
STUB_KEY = "pql-stub-key"

# (status, extra headers, body) — what a scripted response looks like
Response = tuple[int, dict[str, str], bytes]
Script = Callable[[str, int], Response | None]

_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def default_data_path() -> Path:
    env = os.environ.get("PQL_STUB_DATA")
    return Path(env) if env else DEFAULT_DATA


def read_firmographics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a firmographics CSV/Parquet/JSONL file (columns as in examples/data/firmographics.csv)."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"The firmographics file {path} does not exist.",
            "Pass one with --data FILE (or --option data=FILE, or PQL_STUB_DATA); its columns are "
            "domain,name,employees,employees_range,raised,annual_revenue,country,industry.",
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pl.read_ndjson(path)
        else:
            frame = pl.read_csv(path, infer_schema_length=10000)
    except Exception as exc:
        raise DataError(f"Cannot read the firmographics file {path}: {exc}.", "Check that it is CSV, Parquet or JSONL.")
    if "domain" not in frame.columns:
        raise DataError(
            f"The firmographics file {path} has no 'domain' column (columns: {', '.join(frame.columns)}).",
            "Rename the column holding company domains to 'domain'.",
        )
    return frame.to_dicts()


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
    """A Clearbit-compatible server on loopback, in a background thread (or the foreground: serve_forever).

    ``rate_limit`` is in requests per second (0 = off); ``latency`` in milliseconds; ``fail_rate`` the
    share of requests answered 503; ``api_key`` (optional) the only Bearer token accepted; ``script``
    (tests) can answer any (domain, n-th time asked) itself.
    """

    def __init__(
        self,
        data: str | os.PathLike[str] | list[dict[str, Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fail_rate: float = 0.0,
        rate_limit: float = 0.0,
        latency: float = 0.0,
        api_key: str | None = None,
        script: Script | None = None,
        seed: int | None = None,
    ):
        rows = read_firmographics(data or default_data_path()) if not isinstance(data, list) else data
        self.companies: dict[str, bytes] = {}
        for row in rows:
            payload = company_payload(row)
            if payload["domain"]:
                self.companies[payload["domain"]] = json.dumps(payload).encode()
        self.fail_rate = fail_rate
        self.rate_limit = rate_limit
        self.latency = latency
        self.api_key = api_key
        self.script = script
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.asked: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self._window = (0, 0)  # (second, requests in it)
        self._thread: threading.Thread | None = None
        self.httpd = _Server((host, port), _Handler)
        self.httpd.stub = self

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self) -> StubServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- answering ------------------------------------------------------------------------------
    def answer(self, path: str, authorization: str | None) -> Response:
        parts = urlsplit(path)
        if parts.path.rstrip("/") != FIND_PATH:
            return 404, {}, _error("not_found", f"no route {parts.path}; try {FIND_PATH}?domain=")
        domain = (parse_qs(parts.query).get("domain") or [""])[0].strip().lower()
        with self.lock:
            self.requests += 1
            self.asked[domain] += 1
            nth = self.asked[domain]
            throttled_for = self._throttle()
            fail = self.fail_rate > 0 and self.random.random() < self.fail_rate
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return 401, {}, _error("auth_error", "Invalid API key.")
        if throttled_for is not None:
            reset = int(time.time()) + 1
            return 429, {"Retry-After": str(throttled_for), "X-RateLimit-Reset": str(reset)}, _error(
                "rate_limit", "Rate limit exceeded."
            )
        if self.latency > 0:
            time.sleep(self.latency / 1000.0)
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

    def _throttle(self) -> int | None:
        """With the lock held: None if this request is within the rate, else seconds to wait."""
        if self.rate_limit <= 0:
            return None
        second = int(time.monotonic())
        window_second, count = self._window
        if window_second != second:
            window_second, count = second, 0
        count += 1
        self._window = (window_second, count)
        return 1 if count > self.rate_limit else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    stub: StubServer


_REASONS = {200: "OK", 202: "Accepted", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
            404: "Not Found", 422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def handle_one_request(self) -> None:
        # A lean HTTP/1.1 reader (request line + the three headers that matter) instead of the stdlib's
        # email-parser based one: the stub shares the GIL with the client in `pql enrich --provider stub`.
        line = self.rfile.readline(65537)
        parts = line.split()
        if len(parts) != 3:
            self.close_connection = True
            return
        method, target, version = parts
        authorization: str | None = None
        close = version != b"HTTP/1.1"
        length = 0
        while True:
            header = self.rfile.readline(65537)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.partition(b":")
            key = name.strip().lower()
            if key == b"authorization":
                authorization = value.strip().decode("latin-1")
            elif key == b"connection":
                close = value.strip().lower() == b"close"
            elif key == b"content-length":
                length = int(value.strip() or 0)
        if length:
            self.rfile.read(length)
        self.close_connection = close
        if method not in (b"GET", b"HEAD"):
            self._send(405, {}, _error("method_not_allowed", "Only GET is supported."))
            return
        stub = self.server.stub
        status, headers, body = stub.answer(target.decode("latin-1"), authorization)
        with stub.lock:
            stub.statuses[status] += 1
        self._send(status, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Content-Type: application/json",
                f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if self.close_connection:
            head.append("Connection: close")
        # One write per response: no Nagle/delayed-ACK stalls on keep-alive connections.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI prints its own lines
        pass


class StubOptions(ClientOptions):
    rate_limit: float = Field(0, ge=0, description="Client requests per minute; 0 (default) = off for the local stub.")
    data: str | None = Field(
        None, description="Firmographics CSV/Parquet (env PQL_STUB_DATA; default examples/data/firmographics.csv)."
    )
    fail_rate: float = Field(0.0, ge=0, le=1, description="Share of requests the server answers 503 (fault injection).")
    server_rate_limit: float = Field(0, ge=0, description="Server-side limit in requests/second; above it, 429.")
    latency: float = Field(0, ge=0, description="Server latency added to each request, in milliseconds.")


class StubProvider(Provider):
    """The offline default: an in-process Clearbit-compatible server, queried through ``clearbit``."""

    name = "stub"
    description = "Embedded Clearbit-compatible stub server on loopback, backed by a local firmographics file."
    key_env = None
    env = {"data": "PQL_STUB_DATA"}
    Options = StubOptions
    options: StubOptions

    def __init__(self, options: ProviderOptions | None = None):
        super().__init__(options)
        self.server: StubServer | None = None
        self.requests = 0

    def start(self) -> StubServer:
        if self.server is None:
            opts = self.options
            self.server = StubServer(
                opts.data, fail_rate=opts.fail_rate, rate_limit=opts.server_rate_limit, latency=opts.latency
            ).start()
        return self.server

    def lookup(self, domains: Sequence[str]) -> Iterator[Record]:
        server = self.start()
        client_opts = {k: getattr(self.options, k) for k in CLIENT_FIELDS}
        client = ClearbitProvider(ClearbitOptions(base_url=server.url, api_key=STUB_KEY, **client_opts))  # type: ignore[arg-type]
        try:
            yield from client.lookup(domains)
        finally:
            self.requests += client.requests

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
