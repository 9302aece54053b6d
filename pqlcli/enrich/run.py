"""The enrichment run: workspace domains → cache diff → provider → the ``firmographics`` table.

:func:`enrich` collects the account domains and, for users with no account, the company domain of their
email (free-email domains skipped), looks up only what the cache lacks or holds past its TTL, and saves
found *and* not-found answers as they arrive, in atomic batches: Ctrl-C or a crash loses at most the
batch in flight, and the next run resumes without repeating a lookup.

Its policy: a run in which every lookup failed is a provider failure (:class:`EnrichmentFailed`, a
:class:`~pqlcli.errors.ProviderError`, exit 3), raised after the errors are saved — an outage or a wrong
URL, not a handful of bad domains.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pqlcli.enrich.cache import DEFAULT_TTL_DAYS, fresh_domains, merge, read_cache, records_frame
from pqlcli.errors import ProviderError, UsageError, WorkspaceError
from pqlcli.providers.base import Provider, Record
from pqlcli.util.progress import Progress
from pqlcli.workspace import Workspace

if TYPE_CHECKING:
    import polars as pl

DEFAULT_BATCH_SIZE = 500
FLUSH_SECONDS = 2.0


@dataclass
class EnrichResult:
    provider: str
    domains: int = 0  # distinct company domains in the workspace
    cached: int = 0  # of which answered from the cache
    looked_up: int = 0  # answers received from the provider this run
    found: int = 0
    not_found: int = 0
    errors: int = 0
    pending: int = 0
    elapsed: float = 0.0
    warnings: list[str] = field(default_factory=list)  # e.g. plugins that failed to load
    notes: list[str] = field(default_factory=list)  # what the provider wants the user to know

    @property
    def lookups_per_second(self) -> float:
        return self.looked_up / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def all_failed(self) -> bool:
        """Every lookup of this run was an error (none found, not found or pending)."""
        return bool(self.looked_up) and self.errors == self.looked_up

    def count(self, record: Record) -> None:
        self.looked_up += 1
        if record.status == "found":
            self.found += 1
        elif record.status == "not_found":
            self.not_found += 1
        elif record.status == "pending":
            self.pending += 1
        else:
            self.errors += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "domains": self.domains,
            "cached": self.cached,
            "looked_up": self.looked_up,
            "found": self.found,
            "not_found": self.not_found,
            "errors": self.errors,
            "pending": self.pending,
            "elapsed": round(self.elapsed, 3),
            "lookups_per_second": round(self.lookups_per_second, 1),
        }


class EnrichmentFailed(ProviderError):
    """Every lookup of the run failed; the errors are saved (and asked again next run). ``result`` has
    the counts."""

    def __init__(self, result: EnrichResult):
        self.result = result
        super().__init__(
            f"Every one of the {result.looked_up} lookups via {result.provider} failed; nothing new was found.",
            "Check the provider URL and the network (the errors are saved and asked again next run), then "
            "enrich again.",
        )


# ---- domains ------------------------------------------------------------------------------------


def collect_domains(ws: Workspace) -> list[str]:
    """Distinct company domains: accounts' domains, plus email domains of users with no (known) account."""
    import polars as pl

    from pqlcli.ingest.normalize import domain_of
    from pqlcli.util.domains import free_email_domains

    accounts = ws.scan_or_none("accounts")
    users = ws.scan_or_none("users")
    if accounts is None and users is None:
        raise WorkspaceError(
            f"The workspace {ws.root} has no accounts or users to enrich.",
            "Ingest accounts (with a domain column) and/or users (with emails) into it first.",
        )
    frames: list[pl.LazyFrame] = []
    if accounts is not None and "domain" in accounts.collect_schema().names():
        frames.append(accounts.select(domain_of(pl.col("domain")).alias("domain")))
    if users is not None and "email" in users.collect_schema().names():
        user_cols = users.collect_schema().names()
        orphans = users
        if "account_id" in user_cols:
            no_account = pl.col("account_id").is_null() | (pl.col("account_id").cast(pl.String).str.strip_chars() == "")
            if accounts is not None and "account_id" in accounts.collect_schema().names():
                known = accounts.select(pl.col("account_id").cast(pl.String)).collect().to_series()
                no_account = no_account | ~pl.col("account_id").cast(pl.String).is_in(known.implode())
            orphans = users.filter(no_account)
        email_domain = pl.col("email").cast(pl.String).str.strip_chars().str.to_lowercase().str.extract(r"@([^@\s]+)$")
        frames.append(
            orphans.select(domain_of(email_domain).alias("domain")).filter(
                ~pl.col("domain").is_in(pl.Series(sorted(free_email_domains())).implode())
            )
        )
    if not frames:
        return []
    domains = (
        pl.concat(frames)
        .filter(pl.col("domain").is_not_null() & (pl.col("domain") != ""))
        .unique()
        .sort("domain")
        .collect()
    )
    return domains.get_column("domain").to_list()


# ---- the run ------------------------------------------------------------------------------------


def enrich(
    workspace: Workspace | str | None,
    provider_name: str = "stub",
    options: dict[str, Any] | None = None,
    refresh: bool = False,
    ttl_days: float = DEFAULT_TTL_DAYS,
    progress: Progress | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    provider: Provider | None = None,
    domains: Iterable[str] | None = None,
) -> EnrichResult:
    """Look up firmographics for the workspace's company domains and cache them in ``firmographics``.

    ``provider`` (an instance) overrides ``provider_name``/``options`` (made by
    :func:`pqlcli.providers.create`); ``domains`` overrides the domains collected from the workspace.
    Raises :class:`~pqlcli.errors.ProviderError` when the provider stops the run (bad key, quota, outage),
    and :class:`EnrichmentFailed` when every lookup failed — both after saving everything received.
    """
    from pqlcli.workspace.lock import ENRICH_LOCK_FILE, writing

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace, create=True)
    if batch_size < 1:
        raise UsageError(f"The batch size must be at least 1 (got {batch_size}).", param="batch_size")
    with writing(ws.root, "pql enrich", ENRICH_LOCK_FILE):  # one enrichment at a time (pqlcli.workspace.lock)
        return _enrich(ws, provider_name, options, refresh, ttl_days, progress, batch_size, provider, domains)


def _enrich(ws: Workspace, provider_name: str, options: dict[str, Any] | None, refresh: bool, ttl_days: float,
            progress: Progress | None, batch_size: int, provider: Provider | None, domains: Iterable[str] | None) -> EnrichResult:
    from pqlcli.providers import registry

    started = time.monotonic()
    warnings: list[str] = []
    if provider is None:
        reg = registry.load()
        warnings = reg.warnings
        provider = registry.create(provider_name, options, registry=reg)
    result = EnrichResult(provider=getattr(provider, "name", "") or provider_name, warnings=warnings)
    wanted = sorted(set(domains)) if domains is not None else collect_domains(ws)
    result.domains = len(wanted)
    table = read_cache(ws)
    cached = set() if refresh else fresh_domains(table, result.provider, timedelta(days=ttl_days), datetime.now(UTC))
    todo = [d for d in wanted if d not in cached]
    result.cached = len(wanted) - len(todo)
    if progress is not None:
        progress.update(total=len(todo), completed=0)
    saver = _Saver(ws, table, result.provider, batch_size)
    try:
        if todo:
            _receive(provider, todo, saver, result, progress)
        saver.flush()
    except BaseException:
        # Ctrl-C, a provider that stops the run, a bug: whatever arrived is saved before we leave.
        with contextlib.suppress(Exception):
            saver.flush()
        raise
    finally:
        provider.close()
        result.notes = list(getattr(provider, "notes", None) or [])
        result.elapsed = time.monotonic() - started
        with contextlib.suppress(Exception):
            ws.update_table_info("firmographics", rows=saver.table.height, provider=result.provider, last_run=result.as_dict())
    if result.all_failed:
        raise EnrichmentFailed(result)
    return result


def _receive(provider: Provider, todo: list[str], saver: _Saver, result: EnrichResult, progress: Progress | None) -> None:
    """Take the provider's answers as they arrive, counting and saving them in batches."""
    answers = provider.lookup(todo)
    close = getattr(answers, "close", None)
    with contextlib.ExitStack() as stack:
        if close is not None:
            stack.callback(close)  # stop a generator's requests in flight
        for record in answers:
            saver.add(record)
            result.count(record)
            if progress is not None:
                progress.advance(1)


class _Saver:
    """Batches records into the cached table: an atomic rewrite every ``batch_size`` answers or
    :data:`FLUSH_SECONDS`."""

    def __init__(self, ws: Workspace, table: pl.DataFrame, provider: str, batch_size: int):
        self.ws, self.table, self.provider, self.batch_size = ws, table, provider, batch_size
        self.batch: list[Record] = []
        self.last_flush = time.monotonic()

    def add(self, record: Record) -> None:
        self.batch.append(record)
        if len(self.batch) >= self.batch_size or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.table = merge(self.table, records_frame(self.batch, self.provider))
            self.ws.write_table("firmographics", self.table)
            self.batch = []
        self.last_flush = time.monotonic()
