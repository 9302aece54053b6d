"""The clearbit provider: parsing real and drifted payloads, and every status, through httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from email.utils import formatdate

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pqlcli.errors import ExitCode, ProviderError
from pqlcli.providers.builtin.clearbit import ClearbitOptions, ClearbitProvider
from pqlcli.providers.builtin.pacing import RateLimiter, retry_delay
from pqlcli.providers.builtin.parsing import parse_amount, parse_company, parse_range

KEY = "sk_live_SECRET_9f8e7d6c"

REAL_PAYLOAD = {
    "id": "3f5d6a4e",
    "name": "Stripe",
    "legalName": "Stripe, Inc.",
    "domain": "stripe.com",
    "category": {"sector": "Information Technology", "industryGroup": "Software & Services",
                 "industry": "Internet Software & Services", "subIndustry": "Internet Software & Services"},
    "geo": {"city": "San Francisco", "country": "United States", "countryCode": "US"},
    "metrics": {"alexaUsRank": 1000, "raised": 2200000000, "employees": 7000, "employeesRange": "5K-10K",
                "annualRevenue": None, "estimatedAnnualRevenue": "$1B-$10B", "fiscalYearEnd": 12},
    "tech": ["google_apps"],
    "unknownNewKey": {"anything": [1, 2, 3]},
}


class FakeClock:
    """Virtual time: ``sleep`` records the wait and moves the clock at once (then yields to the loop)."""

    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def provider(handler, clock=None, **overrides) -> ClearbitProvider:
    opts = dict(api_key=KEY, base_url="https://clearbit.test", rate_limit=0, backoff=0.001, max_backoff=0.2,
                queued_delay=0.01, concurrency=4)
    opts.update(overrides)
    return ClearbitProvider(ClearbitOptions(**opts), transport=httpx.MockTransport(handler), clock=clock)


def company(domain: str, **metrics) -> httpx.Response:
    return httpx.Response(200, json={"name": domain.split(".")[0].title(), "domain": domain,
                                     "metrics": {"employees": 100, **metrics}, "geo": {"countryCode": "us"}})


def by_domain(records):
    return {r.domain: r for r in records}


# ---- parsing ------------------------------------------------------------------------------------


def test_parse_real_payload():
    rec = parse_company("stripe.com", REAL_PAYLOAD)
    assert rec.status == "found"
    assert (rec.name, rec.employees, rec.employees_range, rec.raised) == ("Stripe", 7000, "5K-10K", 2.2e9)
    assert rec.annual_revenue == 1e9  # from estimatedAnnualRevenue, low end
    assert rec.country == "US" and rec.industry == "Internet Software & Services"
    assert rec.extras["sector"] == "Information Technology"
    assert rec.extras["estimated_annual_revenue"] == "$1B-$10B"


def test_parse_drifted_payload():
    drifted = {
        "name": "Acme",
        "metrics": {"employees": "11-50", "employeesRange": None, "raised": "$10M", "annualRevenue": "2.5m"},
        "geo": {"countryCode": None, "country": "Germany"},
        "category": None,
    }
    rec = parse_company("acme.com", drifted)
    assert rec.employees == 11 and rec.employees_range == "11-50"
    assert rec.raised == 10e6 and rec.annual_revenue == 2.5e6
    assert rec.country == "DE" and rec.industry is None


@pytest.mark.parametrize(
    "payload",
    [{}, {"metrics": None, "geo": None, "category": None}, {"metrics": [], "geo": "US"}, {"name": None}],
)
def test_parse_missing_or_null_nested_objects(payload):
    rec = parse_company("x.com", payload)
    assert rec.status == "found" and rec.employees is None and rec.country is None


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("51-250", 51, 250), ("251-1K", 251, 1000), ("10K-50K", 10_000, 50_000), ("1000+", 1000, None),
     ("1k+", 1000, None), ("$10M-$50M", 10e6, 50e6), ("1,001-5,000", 1001, 5000), ("10k-50k", 10_000, 50_000)],
)
def test_parse_range(text, low, high):
    assert parse_range(text) == (low, high)


def test_employees_from_range_only():
    rec = parse_company("x.com", {"metrics": {"employeesRange": "251-1k"}})
    assert rec.employees == 251 and rec.employees_range == "251-1K"


def test_country_names_map_to_iso():
    assert parse_company("x.com", {"geo": {"country": "United Kingdom"}}).country == "GB"
    assert parse_company("x.com", {"geo": {"country": "Atlantis"}}).country is None


@given(st.integers(min_value=0, max_value=10**12))
def test_parse_amount_roundtrips_integers(n):
    assert parse_amount(n) == float(n)
    assert parse_amount(f"{n:,}") == float(n)
    assert parse_amount(f"${n}") == float(n)


@given(st.text(max_size=12))
def test_parse_amount_never_raises(text):
    value = parse_amount(text)
    assert value is None or value >= 0
    parse_range(text)


# ---- retry timing -------------------------------------------------------------------------------


def test_retry_delay_rules():
    now = 1_700_000_000.0
    assert retry_delay({"Retry-After": "7"}, 0, 0.5, 60, now) == 7
    assert retry_delay({"Retry-After": formatdate(now + 30, usegmt=True)}, 0, 0.5, 60, now) == pytest.approx(30, abs=1)
    assert retry_delay({"X-RateLimit-Reset": str(now + 12)}, 0, 0.5, 60, now) == pytest.approx(12)
    assert retry_delay({"X-RateLimit-Reset": "5"}, 0, 0.5, 60, now) == 5
    assert retry_delay({"Retry-After": "2", "X-RateLimit-Reset": "9"}, 0, 0.5, 60, now) == 2
    assert retry_delay({"Retry-After": "3600"}, 0, 0.5, 60, now) == 60  # capped
    for attempt in range(4):
        assert 0.25 * 2**attempt <= retry_delay({}, attempt, 0.5, 60, now) <= 0.5 * 2**attempt


# ---- statuses through MockTransport -------------------------------------------------------------


def test_200_404_422_and_auth_header():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        domain = request.url.params["domain"]
        if domain == "stripe.com":
            return httpx.Response(200, json=REAL_PAYLOAD)
        if domain == "nope.com":
            return httpx.Response(404, json={"error": {"type": "unknown_record", "message": "Unknown domain"}})
        return httpx.Response(422, json={"error": {"type": "invalid_domain", "message": "Invalid domain"}})

    recs = by_domain(provider(handler).lookup(["stripe.com", "nope.com", "bad_domain"]))
    assert recs["stripe.com"].status == "found"
    assert recs["nope.com"].status == "not_found" and recs["nope.com"].reason == "unknown_record"
    assert recs["bad_domain"].status == "error" and recs["bad_domain"].reason.startswith("invalid domain")
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in seen)
    assert all(r.url.path == "/v2/companies/find" for r in seen)


@pytest.mark.parametrize("queued_body", [b"", json.dumps({"error": {"type": "queued"}}).encode()])
def test_202_queued_then_found_in_the_same_run(queued_body):
    asks: Counter[str] = Counter()

    def handler(request):
        domain = request.url.params["domain"]
        asks[domain] += 1
        if asks[domain] < 3:
            return httpx.Response(202, content=queued_body)
        return company(domain)

    recs = by_domain(provider(handler, queued_retries=5).lookup(["a.com", "b.com"]))
    assert {r.status for r in recs.values()} == {"found"}
    assert asks == {"a.com": 3, "b.com": 3}


def test_202_forever_becomes_pending():
    asks: Counter[str] = Counter()

    def handler(request):
        asks[request.url.params["domain"]] += 1
        return httpx.Response(202)

    recs = by_domain(provider(handler, queued_retries=2).lookup(["a.com"]))
    assert recs["a.com"].status == "pending" and asks["a.com"] == 3


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_stops_at_once_without_leaking_the_key(status):
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(status, json={"error": {"type": "auth_error", "message": "Invalid key"}})

    with pytest.raises(ProviderError) as info:
        list(provider(handler, concurrency=1).lookup([f"d{i}.com" for i in range(50)]))
    assert info.value.exit_code == ExitCode.PROVIDER
    assert KEY not in str(info.value) and "Bearer" not in str(info.value)
    assert len(calls) == 1


def test_402_over_quota_stops_but_keeps_what_was_fetched():
    def handler(request):
        domain = request.url.params["domain"]
        return company(domain) if domain < "d05" else httpx.Response(402, json={"error": {"type": "quota"}})

    got = []
    with pytest.raises(ProviderError, match="quota"):
        for rec in provider(handler, concurrency=1).lookup([f"d{i:02d}.com" for i in range(20)]):
            got.append(rec)
    assert [r.domain for r in got] == [f"d{i:02d}.com" for i in range(5)]


def test_429_with_retry_after_is_honoured():
    times: list[float] = []

    def handler(request):
        times.append(time.monotonic())
        if len(times) == 1:
            return httpx.Response(429, headers={"Retry-After": "0.3"}, json={"error": {"type": "rate_limit"}})
        return company(request.url.params["domain"])

    recs = list(provider(handler, concurrency=1, max_backoff=5).lookup(["a.com"]))
    assert recs[0].status == "found"
    assert times[1] - times[0] >= 0.29


@pytest.mark.parametrize("reset", ["delta", "epoch", "none"])
def test_429_without_retry_after(reset):
    clock = FakeClock()
    times: list[float] = []

    def handler(request):
        times.append(clock.monotonic())
        if len(times) == 1:
            headers = {"delta": {"X-RateLimit-Reset": "30"},
                       "epoch": {"X-RateLimit-Reset": str(clock.time() + 30)}, "none": {}}[reset]
            return httpx.Response(429, headers=headers)
        return company(request.url.params["domain"])

    recs = list(provider(handler, clock, concurrency=1, max_backoff=60, backoff=0.01).lookup(["a.com"]))
    assert recs[0].status == "found" and len(times) == 2
    gap = times[1] - times[0]  # virtual seconds: exactly what the client chose to wait
    if reset == "none":
        assert 0.005 <= gap <= 0.01  # jittered backoff from the backoff option, attempt 0
    else:
        assert gap == pytest.approx(30)


def test_rate_limiter_spaces_evenly_and_pauses_everyone():
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(600, clock)  # one every 0.1 s, no initial burst

    async def take(n):
        out = []
        for _ in range(n):
            await limiter.acquire()
            out.append(clock.monotonic())
        return out

    assert asyncio.run(take(4)) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    limiter.pause(5.0)  # a 429 for the key
    assert asyncio.run(take(2)) == pytest.approx([5.3, 5.4])
    assert RateLimiter(0, clock).interval == 0  # 0 = off


def test_rate_limiter_catches_up_one_late_slot_but_gives_no_credit_after_idling():
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(600, clock)

    def grant_at(now=None):
        if now is not None:
            clock.now = now  # the caller comes at this time (e.g. a busy loop woke it late)
        asyncio.run(limiter.acquire())
        return clock.monotonic()

    assert grant_at() == 0.0
    assert grant_at(0.15) == 0.15  # slot 0.1, granted late
    assert grant_at() == pytest.approx(0.2)  # the schedule is kept: the next slot is 0.2, not 0.25
    assert grant_at(0.9) == 0.9  # idle for many slots (more than the catch-up tolerance): no burst
    assert grant_at() == pytest.approx(1.0) and grant_at() == pytest.approx(1.1)


def test_429_pauses_every_worker():
    times: list[float] = []

    def handler(request):
        times.append(time.monotonic())
        if len(times) == 1:
            return httpx.Response(429, headers={"Retry-After": "0.3"})
        return company(request.url.params["domain"])

    start = time.monotonic()
    list(provider(handler, concurrency=2, max_backoff=5).lookup([f"d{i}.com" for i in range(6)]))
    early = [t for t in times if t - start < 0.29]
    assert len(early) <= 2 and len(times) == 7  # only the two first requests went out before the pause


def test_5xx_retried_then_found_and_exhausted_becomes_transient_error():
    asks: Counter[str] = Counter()

    def handler(request):
        domain = request.url.params["domain"]
        asks[domain] += 1
        if domain == "flaky.com" and asks[domain] <= 2:
            return httpx.Response(503)
        if domain == "down.com":
            return httpx.Response(500)
        return company(domain)

    recs = by_domain(provider(handler, max_retries=3).lookup(["flaky.com", "down.com"]))
    assert recs["flaky.com"].status == "found" and asks["flaky.com"] == 3
    assert recs["down.com"].status == "error" and recs["down.com"].reason.startswith("transient: HTTP 500")
    assert asks["down.com"] == 4


def test_timeouts_and_connection_errors_are_retried_then_recorded():
    asks: Counter[str] = Counter()

    def handler(request):
        domain = request.url.params["domain"]
        asks[domain] += 1
        if domain == "slow.com" and asks[domain] == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        if domain == "gone.com":
            raise httpx.ConnectError("connection refused", request=request)
        return company(domain)

    recs = by_domain(provider(handler, max_retries=2).lookup(["slow.com", "gone.com"]))
    assert recs["slow.com"].status == "found" and asks["slow.com"] == 2
    assert recs["gone.com"].status == "error" and "connection error" in recs["gone.com"].reason
    assert asks["gone.com"] == 3


def test_an_outage_stops_the_run_after_give_up_after():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderError, match="in a row"):
        list(provider(handler, max_retries=0, give_up_after=5).lookup([f"d{i}.com" for i in range(100)]))


def test_missing_key_spells_out_the_fix():
    p = ClearbitProvider(ClearbitOptions(base_url="https://clearbit.test"))
    with pytest.raises(ProviderError, match="CLEARBIT_API_KEY"):
        list(p.lookup(["a.com"]))


def test_rate_limit_paces_requests():
    times: list[float] = []

    def handler(request):
        times.append(time.monotonic())
        return company(request.url.params["domain"])

    list(provider(handler, rate_limit=600, concurrency=8).lookup([f"d{i}.com" for i in range(6)]))
    assert times[-1] - times[0] >= 0.45  # 600/min = one every 0.1 s


def test_options_from_env_and_typos(monkeypatch):
    from pqlcli.errors import UsageError

    monkeypatch.setenv("PQL_CLEARBIT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CLEARBIT_API_KEY", KEY)
    p = ClearbitProvider.from_options({"concurrency": "8"})
    assert p.options.base_url == "http://127.0.0.1:9" and p.options.concurrency == 8
    assert p.options.api_key.get_secret_value() == KEY
    assert KEY not in repr(p.options)
    with pytest.raises(UsageError, match="concurency") as info:
        ClearbitProvider.from_options({"concurency": "8"})
    assert "concurrency" in str(info.value)
    with pytest.raises(UsageError) as info:
        ClearbitProvider.from_options({"api_key": KEY, "timeout": "soon"})
    assert KEY not in str(info.value)
