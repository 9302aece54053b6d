"""The stub server over real loopback HTTP, with fault injection, spoken to by the real clearbit provider."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pqlcli.errors import DataError, ProviderError
from pqlcli.providers.builtin.clearbit import ClearbitOptions, ClearbitProvider
from pqlcli.providers.builtin.stub import StubOptions, StubProvider
from pqlcli.providers.builtin.stub_server import StubServer

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
    with StubServer(ROWS, rate_limit=60) as server:
        recs = list(client(server, max_retries=10).lookup([r["domain"] for r in ROWS[:100]]))
        assert server.statuses[429] > 0
    assert {r.status for r in recs} == {"found"}


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


def test_stub_provider_defaults_to_the_bundled_examples(tmp_path):
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
