"""The stub server over real loopback HTTP, with fault injection, spoken to by the real clearbit provider."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pqlcli.errors import DataError, ProviderError
from pqlcli.providers.builtin.clearbit import ClearbitOptions, ClearbitProvider
from pqlcli.providers.builtin.stub import StubOptions, StubProvider
from pqlcli.providers.builtin.stub_server import StubServer
from tests import paths

KEY = "sk_live_STUBTEST_123456"
ROWS = [
    {"domain": f"c{i:03d}.com", "name": f"C{i}", "employees": 10 + i, "employees_range": "11-50",
     "raised": 1e6 * i, "annual_revenue": 2e6, "country": "US", "industry": "Software"}
    for i in range(200)
]


def client(server: StubServer, **overrides) -> ClearbitProvider:
    opts = dict(base_url=server.url, api_key=KEY, rate_limit=0, backoff=0.005, max_backoff=2.0,
                queued_delay=0.02, concurrency=8)
    opts.update(overrides)
    return ClearbitProvider(ClearbitOptions(**opts))


def by_domain(records):
    return {r.domain: r for r in records}


def test_found_not_found_and_invalid_over_real_http():
    with StubServer(ROWS) as server:
        recs = by_domain(client(server).lookup(["c001.com", "unknown.org", "not a domain"]))
        raw = httpx.get(f"{server.url}/v2/companies/find", params={"domain": "c002.com"})
    assert recs["c001.com"].status == "found" and recs["c001.com"].employees == 11
    assert recs["c001.com"].country == "US" and recs["c001.com"].raised == 1e6
    assert recs["unknown.org"].status == "not_found" and recs["unknown.org"].reason == "unknown_record"
    assert recs["not a domain"].status == "error" and recs["not a domain"].reason.startswith("invalid domain")
    body = raw.json()
    assert raw.status_code == 200 and body["metrics"]["employees"] == 12 and body["geo"]["countryCode"] == "US"


def test_fail_rate_is_absorbed_by_retries():
    with StubServer(ROWS, fail_rate=0.3, seed=7) as server:
        recs = list(client(server, max_retries=20, backoff=0.01).lookup([r["domain"] for r in ROWS]))
        assert server.statuses[503] > 20
    assert len(recs) == 200
    assert {r.status for r in recs} == {"found"}, [(r.domain, r.reason) for r in recs if r.status != "found"][:5]


def test_server_rate_limit_429_is_honoured():
    # 5 per sliding second; the 8 workers' first requests go out together, so 429s do not depend on how
    # fast this machine is.
    with StubServer(ROWS, rate_limit=5) as server:
        server.arrivals = []
        recs = list(client(server, max_retries=10).lookup([r["domain"] for r in ROWS[:25]]))
        assert server.statuses[429] > 0 and server.statuses[200] == 25
        answered = sorted(t for t, refused in server.arrivals if not refused)
    assert {r.status for r in recs} == {"found"}
    assert all(b - a >= 0.99 for a, b in zip(answered, answered[5:], strict=False))  # never 6 in a second


def test_bad_key_over_real_http_stops_with_exit_3():
    with StubServer(ROWS, api_key="the-right-key") as server:
        with pytest.raises(ProviderError) as info:
            list(client(server).lookup([r["domain"] for r in ROWS[:50]]))
        assert server.requests <= 8  # the in-flight ones, then it stops
    assert KEY not in str(info.value) and "401" in str(info.value)


def test_scripted_quirks_over_real_http():
    def script(domain, nth):
        if domain == "queued.com" and nth == 1:
            return 202, {}, b""
        if domain == "queued.com":
            return 200, {}, json.dumps({"name": "Q", "metrics": {"employees": "51-250"}}).encode()
        if domain == "limited.com" and nth == 1:
            return 429, {"X-RateLimit-Reset": "0.2"}, b"{}"
        if domain == "limited.com":
            return 200, {}, json.dumps({"name": "L", "geo": {"country": "France"}}).encode()
        return None

    with StubServer(ROWS, script=script) as server:
        recs = by_domain(client(server).lookup(["queued.com", "limited.com", "c005.com"]))
    assert recs["queued.com"].status == "found" and recs["queued.com"].employees == 51
    assert recs["limited.com"].status == "found" and recs["limited.com"].country == "FR"


def test_quota_402_over_real_http_keeps_what_was_fetched():
    def script(domain, nth):
        return (402, {}, b'{"error":{"type":"quota"}}') if domain >= "c010.com" else None

    with StubServer(ROWS, script=script) as server:
        got = []
        with pytest.raises(ProviderError, match="quota"):
            for rec in client(server, concurrency=1).lookup([r["domain"] for r in ROWS[:30]]):
                got.append(rec.domain)
    assert got == [f"c{i:03d}.com" for i in range(10)]


def test_stub_provider_defaults_to_the_packaged_demo_companies(tmp_path):
    p = StubProvider.from_options({})
    try:
        recs = by_domain(p.lookup(["globex.com", "nobody.example"]))
    finally:
        p.close()
    assert recs["globex.com"].status == "found" and recs["globex.com"].name
    assert recs["nobody.example"].status == "not_found"


def test_stub_provider_missing_data_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PQL_STUB_DATA", str(tmp_path / "nope.csv"))
    p = StubProvider.from_options({})
    with pytest.raises(DataError, match=r"nope\.csv"):
        list(p.lookup(["a.com"]))
    assert StubProvider(StubOptions(data=str(tmp_path / "x.csv"))).options.data.endswith("x.csv")


def test_pql_provider_serve_runs_a_real_server(tmp_path):
    data = tmp_path / "firmo.csv"
    data.write_text("domain,name,employees,country\nacme.com,Acme,42,US\n")
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pqlcli", "provider", "serve", "--data", str(data), "--port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = ""
        deadline = time.monotonic() + 20
        while "http://" not in line and time.monotonic() < deadline:
            line += proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        found = httpx.get(f"{url}/v2/companies/find", params={"domain": "acme.com"})
        missing = httpx.get(f"{url}/v2/companies/find", params={"domain": "other.com"})
        assert found.status_code == 200 and found.json()["metrics"]["employees"] == 42
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "unknown_record"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode in (0, 130)


def test_serve_requires_an_existing_file(pql, tmp_path: Path):
    code, _, err = pql("provider", "serve", "--data", str(tmp_path / "missing.csv"), "--port", "0")
    assert code == 1 and "does not exist" in err


def test_asyncio_server_routes_methods_keep_alive_and_port_in_use():
    with StubServer(ROWS, latency=20) as server:
        with httpx.Client() as http:
            started = time.monotonic()
            found = http.get(f"{server.url}/v2/companies/find", params={"domain": "c003.com"})
            assert time.monotonic() - started >= 0.02  # latency, awaited on the server's loop
            other = http.get(f"{server.url}/v2/people/find")
            post = http.post(f"{server.url}/v2/companies/find", content=b"x" * 10)
            head = http.head(f"{server.url}/v2/companies/find", params={"domain": "c003.com"})
            again = http.get(f"{server.url}/v2/companies/find", params={"domain": "c003.com"})
        with pytest.raises(OSError):
            StubServer(ROWS, port=server.server_address[1])
    assert found.status_code == 200 and found.json()["name"] == "C3" and found.http_version == "HTTP/1.1"
    assert other.status_code == 404 and other.json()["error"]["type"] == "not_found"
    assert post.status_code == 405
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    assert again.status_code == 200 and server.asked["c003.com"] == 3
    assert server.statuses == {200: 3, 404: 1, 405: 1}
    assert server.url.startswith("http://127.0.0.1:")  # still known after stop()


def test_many_concurrent_connections_are_served_by_one_loop():
    with StubServer(ROWS) as server:
        recs = list(client(server, concurrency=200).lookup([r["domain"] for r in ROWS]))
        assert server.requests == 200
    assert len(recs) == 200 and {r.status for r in recs} == {"found"}


def test_httpx_default_transport_against_the_stub():
    """The path real Clearbit takes (httpx's own transport) works against the stub over real HTTP too."""
    with StubServer(ROWS, fail_rate=0.2, seed=3) as server:
        opts = ClearbitOptions(base_url=server.url, api_key=KEY, rate_limit=0, backoff=0.01, max_retries=20, concurrency=4)
        provider = ClearbitProvider(opts, transport=httpx.AsyncHTTPTransport())
        recs = list(provider.lookup([r["domain"] for r in ROWS[:60]] + ["unknown-domain.com"]))
        assert server.statuses[503] > 0
    by = {r.domain: r for r in recs}
    assert by["unknown-domain.com"].status == "not_found"
    assert {by[r["domain"]].status for r in ROWS[:60]} == {"found"}


def test_packaged_demo_data_is_the_examples_firmographics():
    """The stub's default data ships in the package (an installed wheel has no examples/); it must stay the
    examples' file, which the demo's accounts are enriched from."""
    from pqlcli.providers.builtin.stub_server import packaged_data_path

    packaged = packaged_data_path()
    assert "examples" not in packaged.parts and packaged.is_file()
    assert packaged.read_bytes() == (paths.ROOT / "examples/data/firmographics.csv").read_bytes()


def test_embedded_stub_says_it_only_knows_the_demo_companies(pql, ws_path, monkeypatch):
    from tests.unit.enrich.test_enrich import make_ws

    monkeypatch.delenv("PQL_STUB_DATA", raising=False)
    make_ws(ws_path, ["my-own-company.com", "another-customer.io"])
    code, _, err = pql("enrich")
    text = " ".join(err.split())
    assert code == 0 and "2 not found" in text
    assert "only knows the demo companies" in text and "clearbit" in text and "file provider" in text
    make_ws(ws_path, ["globex.com", "my-own-company.com"])  # one demo company: no such note
    code, _, err = pql("enrich")
    assert code == 0 and "only knows the demo companies" not in " ".join(err.split())


# ---- httpx's own transport against awkward servers (what the hand-written transport used to test) ----

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
                _, _, buf = buf.partition(b"\r\n\r\n")
                with self.lock:
                    self.requests += 1
                    n = self.requests
                out = self.answer(n)
                if out is None:
                    return
                conn.sendall(out)
                if self.close_after_each:
                    return

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


COMPANY = json.dumps({"name": "Acme", "metrics": {"employees": 42}}).encode()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


def raw_client(server: RawServer, **overrides) -> ClearbitProvider:
    return client(server, **{"concurrency": 1, **overrides})  # type: ignore[arg-type]


def test_keep_alive_one_connection_for_many_lookups():
    with RawServer(lambda n: ok(COMPANY)) as server:
        recs = list(raw_client(server).lookup([f"d{i}.com" for i in range(10)]))
    assert {r.status for r in recs} == {"found"} and server.connections == 1 and server.requests == 10


def test_chunked_and_close_delimited_bodies():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6;ext=1\r\n" + COMPANY[:6] + b"\r\n%x\r\n" % (
        len(COMPANY) - 6) + COMPANY[6:] + b"\r\n0\r\nX-T: 1\r\n\r\n"
    with RawServer(lambda n: chunked) as server:
        recs = list(raw_client(server).lookup(["a.com", "b.com"]))
    assert [r.employees for r in recs] == [42, 42] and server.connections == 1
    close_delimited = b"HTTP/1.0 404 Not Found\r\n\r\n" + b'{"error": {"type": "unknown_record"}}'
    with RawServer(lambda n: close_delimited, close_after_each=True) as server:
        recs = list(raw_client(server).lookup(["a.com", "b.com"]))
    assert [r.status for r in recs] == ["not_found", "not_found"] and server.connections == 2


def test_a_server_closing_idle_connections_costs_nothing():
    with RawServer(lambda n: ok(COMPANY), close_after_each=True) as server:
        recs = list(raw_client(server, max_retries=2).lookup([f"d{i}.com" for i in range(6)]))
    assert {r.status for r in recs} == {"found"} and server.connections >= 6


def test_no_answer_is_a_timeout_and_a_hang_up_a_connection_error():
    with RawServer(lambda n: b"") as server:  # reads the request, never answers
        recs = list(raw_client(server, timeout=0.2, max_retries=0).lookup(["a.com"]))
    assert recs[0].status == "error" and recs[0].reason.startswith("transient: timeout (ReadTimeout")
    with RawServer(lambda n: None) as server:  # hangs up without an answer
        recs = list(raw_client(server, max_retries=1).lookup(["a.com"]))
    assert recs[0].status == "error" and "connection error (RemoteProtocolError" in recs[0].reason
    assert server.requests == 2  # retried once
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    refused = ClearbitProvider(ClearbitOptions(base_url=f"http://127.0.0.1:{port}", api_key=KEY, rate_limit=0, max_retries=0))
    recs = list(refused.lookup(["a.com"]))
    assert "connection error (ConnectError" in recs[0].reason
