"""``stub``: the embedded default provider — the stub server in-process, queried through ``clearbit``.

:class:`StubProvider` starts a :class:`~pqlcli.providers.builtin.stub_server.StubServer` on a free
loopback port and talks to it through the real
:class:`~pqlcli.providers.builtin.clearbit.ClearbitProvider` over real HTTP, so the offline default path
is the production path. Without a ``data`` option it serves the demo companies shipped with pql; when
none of the domains asked is one of them, the run's notes say so and how to get real data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from pydantic import Field

from pqlcli.providers.base import Provider, ProviderOptions, Record
from pqlcli.providers.builtin.clearbit import CLIENT_FIELDS, ClearbitOptions, ClearbitProvider, ClientOptions
from pqlcli.providers.builtin.stub_server import StubServer

STUB_KEY = "pql-stub-key"
DEMO_ONLY_NOTE = (
    "The embedded stub provider only knows the demo companies shipped with pql (the examples' "
    "firmographics), and none of the {n} domain(s) looked up is one of them. For your own companies use a "
    "real provider (clearbit with CLEARBIT_API_KEY set), the file provider with a firmographics file you "
    "have (option path), or give the stub your own file (option data, or PQL_STUB_DATA)."
)


class StubOptions(ClientOptions):
    rate_limit: float = Field(0, ge=0, description="Client requests per minute; 0 (default) = off for the local stub.")
    data: str | None = Field(
        None, description="Firmographics CSV/Parquet/JSONL (env PQL_STUB_DATA; default: the demo companies)."
    )
    fail_rate: float = Field(0.0, ge=0, le=1, description="Share of requests the server answers 503 (fault injection).")
    server_rate_limit: float = Field(0, ge=0, description="Server-side limit in requests/second; above it, 429.")
    latency: float = Field(0, ge=0, description="Server latency added to each request, in milliseconds.")


class StubProvider(Provider):
    """The offline default: an in-process Clearbit-compatible server, queried through ``clearbit``."""

    name = "stub"
    description = "Embedded Clearbit-compatible stub server on loopback (demo companies, or your own file)."
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
        found = 0
        try:
            for record in client.lookup(domains):
                found += record.status == "found"
                yield record
        finally:
            self.requests += client.requests
        if domains and not found and self.options.data is None and not os.environ.get("PQL_STUB_DATA"):
            self.notes.append(DEMO_ONLY_NOTE.format(n=len(set(domains))))

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
