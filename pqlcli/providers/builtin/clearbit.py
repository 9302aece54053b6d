"""``clearbit``: the Clearbit Company API (``GET {base}/v2/companies/find?domain=``) over httpx.

One asyncio event loop in a background thread runs ``concurrency`` workers sharing one httpx
``AsyncClient`` (httpx's own transport: HTTP/1.1 keep-alive, a pool of at most ``concurrency``
connections), paced by one :class:`~pqlcli.providers.builtin.pacing.RateLimiter`.
:meth:`ClearbitProvider.lookup` yields records to the caller as they arrive, so the caller can save them
in batches while the next requests are in flight.

Status handling (the Clearbit docs, plus what the API does in practice):

=========  =====================================================================================
200        found: parse the company (nested objects may be missing/null; drifted types tolerated)
202        queued: retried later in the same run (``queued_retries`` × ``queued_delay``), then pending
404        not found (``unknown_record``): cached as such
422        invalid domain: cached as an error with the reason
401, 403   bad key: stop at once (:class:`ProviderError`, exit 3); records already fetched are kept
402        over quota: stop; records already fetched are kept
429, 5xx   back off and retry, honouring ``Retry-After``, else ``X-RateLimit-Reset``; a 429 pauses
           every worker (the limit is the key's, not one connection's)
timeouts   retried with jittered exponential backoff, then recorded as a transient error
=========  =====================================================================================

The API key is only ever put in the ``Authorization`` header of the client, and it is registered with
:mod:`pqlcli.util.secrets`, so any text that may carry it (a transport error's message) is redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from pqlcli.errors import ProviderError
from pqlcli.providers.base import Provider, ProviderOptions, Record
from pqlcli.providers.builtin.pacing import Clock, RateLimiter, SystemClock, backoff_delay, retry_delay
from pqlcli.providers.builtin.parsing import parse_company
from pqlcli.util import secrets

if TYPE_CHECKING:
    import httpx

DEFAULT_BASE_URL = "https://company.clearbit.com"
FIND_PATH = "/v2/companies/find"
USER_AGENT = "pqlcli (+https://github.com/pqlcli)"


class ClientOptions(ProviderOptions):
    """How the HTTP client behaves (shared by ``clearbit`` and ``stub``)."""

    rate_limit: float = Field(
        600, ge=0, description="Requests per minute, evenly spaced (Clearbit allows 600); 0 turns the limit off."
    )
    concurrency: int = Field(32, ge=1, le=1024, description="Requests in flight at once (connections in the pool).")
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

    def __init__(
        self,
        options: ProviderOptions | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ):
        super().__init__(options)
        self.transport = transport
        self.clock: Clock = clock or SystemClock()
        self.requests = 0  # HTTP requests sent by the last lookup() (for stats and tests)
        if self.options.api_key is not None:
            secrets.register_secret(self.options.api_key.get_secret_value())

    def _key(self) -> str:
        key = self.options.api_key.get_secret_value() if self.options.api_key else ""
        if not key:
            raise ProviderError(
                "The clearbit provider needs an API key and none is set.",
                "Export CLEARBIT_API_KEY=<your key> (or set the provider option api_key), or use the "
                "offline default provider `stub`.",
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


@dataclass
class _Retry:
    """Ask again after ``delay`` seconds; ``reason`` is recorded if the retries run out."""

    delay: float
    reason: str


class _Run:
    """One lookup() call: the event loop, its workers, and the queue back to the caller's thread."""

    def __init__(self, provider: ClearbitProvider, domains: list[str], key: str):
        self.opts: ClearbitOptions = provider.options
        self.transport = provider.transport
        self.clock = provider.clock
        self.domains = domains
        self.key = key
        self.out: queue.Queue[Any] = queue.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.main_task: asyncio.Task[None] | None = None
        self.cancelled = threading.Event()
        self.requests = 0
        self.outstanding = len(domains)
        self.failures_in_a_row = 0
        self.limiter = RateLimiter(self.opts.rate_limit, self.clock)
        self.find_url = self.opts.base_url.rstrip("/") + FIND_PATH + "?domain="

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

        self.loop = asyncio.get_running_loop()
        self.main_task = asyncio.current_task()
        if self.cancelled.is_set():
            return
        self.work: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        for domain in self.domains:
            self.work.put_nowait((domain, 0))
        self.n_workers = min(self.opts.concurrency, len(self.domains))
        headers = {"Authorization": f"Bearer {self.key}", "User-Agent": USER_AGENT, "Accept": "application/json"}
        limits = httpx.Limits(max_connections=self.n_workers, max_keepalive_connections=self.n_workers)
        async with httpx.AsyncClient(
            headers=headers, timeout=self.opts.timeout, limits=limits, transport=self.transport, follow_redirects=True
        ) as client, asyncio.TaskGroup() as group:
            for _ in range(self.n_workers):
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

    async def _fetch(self, client: httpx.AsyncClient, domain: str, queued: int) -> Record | None:
        """Ask for one domain until it has an answer: a record, or None when it is queued (202)."""
        import httpx

        attempt = 0
        while True:
            await self.limiter.acquire()
            self.requests += 1
            try:
                response = await client.get(self.find_url + quote(domain, safe=""))
                outcome = self._interpret(domain, response, queued, attempt)
            except httpx.TransportError as exc:
                kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
                detail = secrets.redact(str(exc))[:200] or "no detail"
                outcome = _Retry(
                    backoff_delay(attempt, self.opts.backoff, self.opts.max_backoff),
                    f"{kind} ({type(exc).__name__}: {detail})",
                )
            if not isinstance(outcome, _Retry):
                return outcome
            if attempt >= self.opts.max_retries:
                return self._failed(domain, f"{outcome.reason} after {attempt + 1} attempts")
            await self.clock.sleep(outcome.delay)
            attempt += 1

    def _interpret(self, domain: str, response: httpx.Response, queued: int, attempt: int) -> Record | _Retry | None:
        """What one HTTP answer means: a record, a retry after a delay, None (queued), or a ProviderError."""
        status, body, opts = response.status_code, response.content, self.opts
        if status == 429 or status >= 500:
            delay = retry_delay(response.headers, attempt, opts.backoff, opts.max_backoff, self.clock.time())
            if status == 429:
                self.limiter.pause(delay)  # a rate limit applies to the whole key: every worker pauses
            return _Retry(delay, f"HTTP {status}")
        if status in (401, 403):
            detail = _error_message(body)
            raise ProviderError(
                f"The clearbit provider at {opts.base_url} rejected the API key (HTTP {status}"
                f"{': ' + detail if detail else ''}); stopping.",
                "Check CLEARBIT_API_KEY (or the provider option api_key); nothing already fetched was lost.",
            )
        if status == 402:
            raise ProviderError(
                f"The clearbit provider at {opts.base_url} says the account is over its quota (HTTP 402); stopping.",
                "Everything fetched so far is saved; raise the quota or wait for it to reset, then enrich again "
                "to resume.",
            )
        self.failures_in_a_row = 0
        if status == 200:
            return _company(domain, response)
        if status == 202:
            if queued >= opts.queued_retries:
                return Record.pending(domain, f"queued by the provider; still queued after {queued + 1} asks")
            return None
        if status == 404:
            return Record.not_found(domain, _error_type(body) or "unknown_record")
        if status == 422:
            return Record.error(domain, f"invalid domain: {_error_message(body) or 'rejected by the provider'}")
        return Record.error(domain, f"HTTP {status}: {_error_message(body) or 'unexpected answer'}")

    def _failed(self, domain: str, reason: str) -> Record:
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= self.opts.give_up_after:
            raise ProviderError(
                f"The clearbit provider at {self.opts.base_url} failed {self.failures_in_a_row} lookups in a row "
                f"(last: {reason}); stopping.",
                "Everything fetched so far is saved; check the network or the provider status, then enrich "
                "again to resume.",
            )
        return Record.error(domain, reason, transient=True)


def _company(domain: str, response: httpx.Response) -> Record:
    try:
        payload = response.json()
    except ValueError:
        return Record.error(domain, "the provider sent a 200 answer that is not JSON", transient=True)
    if not isinstance(payload, dict):
        return Record.error(domain, "the provider sent a 200 answer that is not a JSON object", transient=True)
    return parse_company(domain, payload)


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
        "Everything fetched so far is saved; enrich again in debug mode and report this if it persists.",
    )


def _error_json(body: bytes) -> dict[str, Any]:
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
    """The server's error text, redacted: an API may echo the credential it was sent."""
    err = _error_json(body)
    value = err.get("message") or err.get("type")
    return secrets.redact(str(value))[:200] if value else None
