"""``clearbit``: the Clearbit Company API (``GET {base}/v2/companies/find?domain=``) over httpx.

One asyncio event loop in a background thread runs ``concurrency`` workers over a keep-alive connection
pool, paced by a shared rate limiter; :meth:`ClearbitProvider.lookup` yields records to the caller as
they arrive, so the caller can save them in batches while the next requests are in flight.

Status handling (the Clearbit docs, plus what the API does in practice):

=========  =====================================================================================
200        found: parse the company (nested objects may be missing/null; drifted types tolerated)
202        queued: retried later in the same run (``queued_retries`` × ``queued_delay``), then pending
404        not found (``unknown_record``): cached as such
422        invalid domain: cached as an error with the reason
401, 403   bad key: stop at once (:class:`ProviderError`, exit 3); records already fetched are kept
402        over quota: stop; records already fetched are kept
429, 5xx   back off and retry, honouring ``Retry-After``, else ``X-RateLimit-Reset``
timeouts   retried with jittered exponential backoff, then recorded as a transient error
=========  =====================================================================================

The API key is only ever put in the ``Authorization`` header of the client; no message built here
contains a header, and the key is registered with :mod:`pqlcli.util.secrets` so it is redacted everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import queue
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from pqlcli.errors import ProviderError
from pqlcli.providers.base import Provider, ProviderOptions, Record
from pqlcli.util import secrets

if TYPE_CHECKING:
    import httpx

DEFAULT_BASE_URL = "https://company.clearbit.com"
FIND_PATH = "/v2/companies/find"
USER_AGENT = "pqlcli (+https://github.com/pqlcli)"


class ClientOptions(ProviderOptions):
    """How the HTTP client behaves (shared by ``clearbit`` and ``stub``)."""

    rate_limit: float = Field(600, ge=0, description="Requests per minute; 0 turns the limit off.")
    concurrency: int = Field(32, ge=1, le=1024, description="Requests in flight at once.")
    timeout: float = Field(10.0, gt=0, description="Seconds before one request times out.")
    max_retries: int = Field(5, ge=0, description="Retries of one lookup after 429, 5xx, timeouts, connection errors.")
    backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles per retry, jittered).")
    max_backoff: float = Field(60.0, ge=0, description="Longest wait between retries, even if the server asks more.")
    queued_retries: int = Field(3, ge=0, description="How often a 202 (queued) lookup is asked again this run.")
    queued_delay: float = Field(3.0, ge=0, description="Seconds before asking again for a queued (202) lookup.")
    give_up_after: int = Field(
        20, ge=1, description="Stop the run after this many lookups in a row failed for network/server reasons."
    )


CLIENT_FIELDS = tuple(ClientOptions.model_fields)


class ClearbitOptions(ClientOptions):
    base_url: str = Field(DEFAULT_BASE_URL, description="API base URL (env PQL_CLEARBIT_URL).")
    api_key: SecretStr | None = Field(None, description="API key (env CLEARBIT_API_KEY); sent as a Bearer token.")


class ClearbitProvider(Provider):
    """Firmographics from the Clearbit Company API (or any server speaking its shape)."""

    name = "clearbit"
    description = "Clearbit Company API (/v2/companies/find) over HTTPS, with retries, rate limit and caching."
    key_env = "CLEARBIT_API_KEY"
    env = {"base_url": "PQL_CLEARBIT_URL", "api_key": "CLEARBIT_API_KEY"}
    Options = ClearbitOptions
    options: ClearbitOptions

    def __init__(self, options: ProviderOptions | None = None, *, transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(options)
        self.transport = transport
        self.requests = 0  # HTTP requests sent by the last lookup() (for stats and tests)
        if self.options.api_key is not None:
            secrets.register_secret(self.options.api_key.get_secret_value())

    def _key(self) -> str:
        key = self.options.api_key.get_secret_value() if self.options.api_key else ""
        if not key:
            raise ProviderError(
                "The clearbit provider needs an API key and none is set.",
                "Export CLEARBIT_API_KEY=<your key> (or pass --option api_key=...), or use the offline "
                "default `--provider stub`.",
            )
        return key

    def lookup(self, domains: Sequence[str]) -> Iterator[Record]:
        todo = list(dict.fromkeys(domains))
        if not todo:
            return
        run = _Run(self, todo, self._key())
        thread = threading.Thread(target=run.run, name="pql-clearbit", daemon=True)
        thread.start()
        try:
            while True:
                item = run.out.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            run.cancel()
            thread.join(timeout=10)
            self.requests = run.requests


_DONE = object()


class _RateLimiter:
    """Evenly spaced requests: at most ``per_minute`` per minute (0 = unlimited)."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.next_at = 0.0

    async def acquire(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        at = max(self.next_at, now)
        self.next_at = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


class _Run:
    """One lookup() call: the event loop, its workers, and the queue back to the caller's thread."""

    def __init__(self, provider: ClearbitProvider, domains: list[str], key: str):
        self.provider = provider
        self.opts: ClearbitOptions = provider.options
        self.domains = domains
        self.key = key
        self.out: queue.Queue[Any] = queue.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.main_task: asyncio.Task[None] | None = None
        self.cancelled = threading.Event()
        self.requests = 0
        self.outstanding = len(domains)
        self.paused_until = 0.0
        self.failures_in_a_row = 0

    # ---- thread side ----------------------------------------------------------------------------
    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self.cancelled.is_set():
                self.out.put(_unwrap(exc))
        finally:
            self.out.put(_DONE)

    def cancel(self) -> None:
        self.cancelled.set()
        loop, task = self.loop, self.main_task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    # ---- loop side ------------------------------------------------------------------------------
    async def _main(self) -> None:
        import httpx

        from pqlcli.providers.loopback import LoopbackTransport, is_loopback_url

        _fast_failing_sniffio()
        self.loop = asyncio.get_running_loop()
        self.main_task = asyncio.current_task()
        if self.cancelled.is_set():
            return
        opts = self.opts
        headers = {"Authorization": f"Bearer {self.key}", "User-Agent": USER_AGENT, "Accept": "application/json"}
        self.limiter = _RateLimiter(opts.rate_limit)
        self.work: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        for domain in self.domains:
            self.work.put_nowait((domain, 0))
        self.n_workers = min(opts.concurrency, len(self.domains))
        base_url = opts.base_url.rstrip("/")
        self.find_url = base_url + FIND_PATH + "?domain="
        transport = self.provider.transport
        verify: Any = True
        if transport is None and is_loopback_url(base_url):
            # The embedded stub (or `pql provider serve`): a lean keep-alive transport, shared by all workers.
            transport = LoopbackTransport()
        elif transport is None:
            verify = httpx.create_ssl_context()  # built once: loading the CA bundle costs ~40 ms per client
        # One single-connection keep-alive client per worker: httpcore's pool scans every connection on
        # every request, so one shared pool of N connections costs O(N) per request.
        async with contextlib.AsyncExitStack() as stack:
            clients = []
            for _ in range(self.n_workers):
                client = httpx.AsyncClient(
                    base_url=base_url,
                    headers=headers,
                    timeout=opts.timeout,
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                    transport=transport,
                    verify=verify,
                    follow_redirects=True,
                )
                clients.append(await stack.enter_async_context(client))
            async with asyncio.TaskGroup() as group:
                for client in clients:
                    group.create_task(self._worker(client))

    async def _worker(self, client: httpx.AsyncClient) -> None:
        assert self.loop is not None
        while True:
            item = await self.work.get()
            if item is None:
                return
            domain, queued = item
            record = await self._fetch(client, domain, queued)
            if record is None:  # 202: ask again later in this run
                self.loop.call_later(self.opts.queued_delay, self.work.put_nowait, (domain, queued + 1))
                continue
            self.out.put(record)
            self.outstanding -= 1
            if self.outstanding == 0:
                for _ in range(self.n_workers):
                    self.work.put_nowait(None)

    async def _wait_pause(self) -> None:
        while True:
            delay = self.paused_until - time.monotonic()
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    def _failed(self, domain: str, reason: str) -> Record:
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= self.opts.give_up_after:
            raise ProviderError(
                f"The clearbit provider at {self.opts.base_url} failed {self.failures_in_a_row} lookups in a row "
                f"(last: {reason}); stopping.",
                "Everything fetched so far is saved; check the network or the provider status and run "
                "`pql enrich` again to resume.",
            )
        return Record.error(domain, reason, transient=True)

    async def _fetch(self, client: httpx.AsyncClient, domain: str, queued: int) -> Record | None:
        import httpx

        opts = self.opts
        attempt = 0
        while True:
            await self._wait_pause()
            await self.limiter.acquire()
            self.requests += 1
            try:
                # One absolute URL string: httpx parses it once (a relative path plus params costs three).
                response = await client.get(self.find_url + quote(domain, safe=""))
                body = response.content
            except httpx.TransportError as exc:
                kind = "timeout" if isinstance(exc, httpx.TimeoutException) else f"connection error ({type(exc).__name__})"
                if attempt >= opts.max_retries:
                    return self._failed(domain, f"{kind} after {attempt + 1} attempts")
                await asyncio.sleep(backoff_delay(attempt, opts.backoff, opts.max_backoff))
                attempt += 1
                continue

            status = response.status_code
            if status == 200:
                self.failures_in_a_row = 0
                try:
                    payload = response.json()
                except ValueError:
                    return Record.error(domain, "the provider sent a 200 answer that is not JSON", transient=True)
                if not isinstance(payload, dict):
                    return Record.error(domain, "the provider sent a 200 answer that is not a JSON object", transient=True)
                return parse_company(domain, payload)
            if status == 202:
                self.failures_in_a_row = 0
                if queued >= opts.queued_retries:
                    return Record.pending(domain, f"queued by the provider; still queued after {queued + 1} asks")
                return None
            if status == 404:
                self.failures_in_a_row = 0
                return Record.not_found(domain, _error_type(body) or "unknown_record")
            if status == 422:
                self.failures_in_a_row = 0
                return Record.error(domain, f"invalid domain: {_error_message(body) or 'rejected by the provider'}")
            if status in (401, 403):
                detail = _error_message(body)
                raise ProviderError(
                    f"The clearbit provider at {opts.base_url} rejected the API key (HTTP {status}"
                    f"{': ' + detail if detail else ''}); stopping.",
                    "Check CLEARBIT_API_KEY (or --option api_key); nothing already fetched was lost.",
                )
            if status == 402:
                raise ProviderError(
                    f"The clearbit provider at {opts.base_url} says the account is over its quota (HTTP 402); stopping.",
                    "Everything fetched so far is saved; raise the quota or wait for it to reset, then run "
                    "`pql enrich` again to resume.",
                )
            if status == 429 or status >= 500:
                delay = retry_delay(response.headers, attempt, opts.backoff, opts.max_backoff)
                if status == 429:
                    # A rate limit applies to the whole key: every worker pauses.
                    self.paused_until = max(self.paused_until, time.monotonic() + delay)
                if attempt >= opts.max_retries:
                    return self._failed(domain, f"HTTP {status} after {attempt + 1} attempts")
                await asyncio.sleep(delay)
                attempt += 1
                continue
            self.failures_in_a_row = 0
            return Record.error(domain, f"HTTP {status}: {_error_message(body) or 'unexpected answer'}")


def _fast_failing_sniffio() -> None:
    """httpcore tries ``import sniffio`` on every request; when it is not installed (anyio>=4.10 no longer
    needs it) each failed import scans sys.path, a third of the client's time. A ``None`` entry in
    ``sys.modules`` makes that import fail at once, and httpcore then assumes asyncio, which is right."""
    import importlib.util
    import sys

    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def _unwrap(exc: BaseException) -> BaseException:
    """The first real error inside a TaskGroup's ExceptionGroup."""
    while isinstance(exc, BaseExceptionGroup):
        inner: list[BaseException] = list(exc.exceptions)
        preferred = [e for e in inner if isinstance(e, ProviderError)]
        exc = (preferred or inner)[0]
    if isinstance(exc, ProviderError):
        return exc
    # An unexpected failure: keep its type, but strip anything that could carry request headers.
    return ProviderError(
        f"The clearbit provider failed unexpectedly: {type(exc).__name__}: {secrets.redact(str(exc))}.",
        "Everything fetched so far is saved; run again with --debug and report this if it persists.",
    )


# ---- retry timing -------------------------------------------------------------------------------


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: ``base * 2**attempt``, scaled by a random factor in [0.5, 1)."""
    return min(cap, base * (2**attempt) * (0.5 + random.random() / 2))


def retry_delay(headers: Any, attempt: int, base: float, cap: float, now: float | None = None) -> float:
    """Seconds to wait before retrying a 429/5xx: ``Retry-After`` (seconds or HTTP date), else
    ``X-RateLimit-Reset`` (epoch seconds when > 1e9, else a delta), else jittered backoff; capped."""
    now = time.time() if now is None else now
    delay: float | None = None
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            delay = float(retry_after)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                when = parsedate_to_datetime(retry_after)
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                delay = when.timestamp() - now
    if delay is None:
        reset = headers.get("X-RateLimit-Reset")
        if reset:
            with contextlib.suppress(ValueError):
                value = float(reset)
                delay = value - now if value > 1e9 else value
    if delay is None or math.isnan(delay):
        delay = backoff_delay(attempt, base, cap)
    return max(0.0, min(cap, delay))


# ---- parsing ------------------------------------------------------------------------------------


def _error_json(body: bytes) -> dict[str, Any]:
    import json

    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {}
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


def _error_type(body: bytes) -> str | None:
    value = _error_json(body).get("type")
    return str(value) if value else None


def _error_message(body: bytes) -> str | None:
    err = _error_json(body)
    value = err.get("message") or err.get("type")
    return str(value)[:200] if value else None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_SUFFIX = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_AMOUNT = re.compile(r"^\$?\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\+?$", re.IGNORECASE)


def parse_amount(value: Any) -> float | None:
    """A number, or a string like ``"$10M"``, ``"1.5k"``, ``"1,000+"`` → float; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").replace("_", "")
    m = _AMOUNT.match(text)
    if not m:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2).upper()]


def parse_range(value: Any) -> tuple[float | None, float | None]:
    """``"51-250"``, ``"251-1K"``, ``"10K-50K"``, ``"$10M-$50M"``, ``"1000+"`` → (low, high); case-insensitive."""
    if not isinstance(value, str):
        amount = parse_amount(value)
        return amount, amount
    text = value.strip().replace(",", "")
    if not text:
        return None, None
    if text.endswith("+"):
        return parse_amount(text[:-1]), None
    parts = re.split(r"\s*(?:-|–|to)\s*", text, maxsplit=1, flags=re.IGNORECASE)
    if len(parts) == 2:
        return parse_amount(parts[0]), parse_amount(parts[1])
    amount = parse_amount(text)
    return amount, amount


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@functools.lru_cache(maxsize=4096)
def country_code(code: str | None, name: str | None) -> str | None:
    """ISO-3166 alpha-2 from a country code, else from a country name (via pycountry)."""
    if code and isinstance(code, str) and len(code.strip()) == 2 and code.strip().isalpha():
        return code.strip().upper()
    for text in (code, name):
        if not text or not isinstance(text, str):
            continue
        import pycountry

        try:
            return str(pycountry.countries.lookup(text.strip()).alpha_2)
        except LookupError:
            pass
        try:
            found = pycountry.countries.search_fuzzy(text.strip())
        except LookupError:
            continue
        if found:
            return str(found[0].alpha_2)
    return None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def parse_company(domain: str, payload: dict[str, Any]) -> Record:
    """A Clearbit company JSON object → a normalised record (tolerates missing/null/drifted fields)."""
    metrics = _obj(payload.get("metrics"))
    geo = _obj(payload.get("geo"))
    category = _obj(payload.get("category"))

    employees_raw = metrics.get("employees")
    range_text = _str(metrics.get("employeesRange"))
    employees = _int(parse_amount(employees_raw))
    if employees is None and isinstance(employees_raw, str):
        # Drift: a range where a number belongs ("11-50"): keep the low end, and the text as the range.
        employees = _int(parse_range(employees_raw)[0])
        range_text = range_text or employees_raw.strip()
    if employees is None and range_text:
        employees = _int(parse_range(range_text)[0])

    revenue = parse_amount(metrics.get("annualRevenue"))
    estimated = _str(metrics.get("estimatedAnnualRevenue"))
    if revenue is None and estimated:
        revenue = parse_range(estimated)[0]

    extras: dict[str, Any] = {}
    for key, column in (("sector", "sector"), ("industryGroup", "industry_group"), ("subIndustry", "sub_industry")):
        text = _str(category.get(key))
        if text:
            extras[column] = text
    if estimated:
        extras["estimated_annual_revenue"] = estimated

    return Record(
        domain=domain,
        status="found",
        name=_str(payload.get("name")),
        employees=employees,
        employees_range=range_text.upper() if range_text else None,
        raised=parse_amount(metrics.get("raised")),
        annual_revenue=revenue,
        country=country_code(_str(geo.get("countryCode")), _str(geo.get("country"))),
        industry=_str(category.get("industry")),
        extras=extras,
        fetched_at=datetime.now(UTC),
    )
