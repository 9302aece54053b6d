"""Enrichment: workspace domains → cache diff → provider → the ``firmographics`` table.

:func:`enrich` collects the account domains and, for users with no account, the company domain of their
email (free-email domains skipped), looks up only what the cache lacks or holds past its TTL, and saves
found *and* not-found answers as they arrive, in atomic batches: Ctrl-C or a crash loses at most the
batch in flight, and the next run resumes without repeating a lookup.

The cache is the ``firmographics`` table itself (one row per domain, latest answer wins). A row counts as
cached when it came from the same provider, is younger than the TTL, and is a real answer: ``found``,
``not_found`` or a permanent ``error`` (an invalid domain). ``pending`` (queued by the provider) and
transient errors (network, 5xx, rate limit after retries) are asked again next run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pqlcli.errors import UsageError, WorkspaceError
from pqlcli.providers.base import TRANSIENT_PREFIX, Provider, Record
from pqlcli.util.progress import Progress
from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import FIRMOGRAPHICS, polars_dtype

if TYPE_CHECKING:
    import polars as pl

FIRMO_COLUMNS = tuple(FIRMOGRAPHICS.columns)
DEFAULT_TTL_DAYS = 30.0
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
    warnings: list[str] = field(default_factory=list)

    @property
    def lookups_per_second(self) -> float:
        return self.looked_up / self.elapsed if self.elapsed > 0 else 0.0

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
            "Run `pql ingest accounts FILE` and/or `pql ingest users FILE` first.",
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


# ---- the cache ----------------------------------------------------------------------------------


def empty_table() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema={c: polars_dtype(k) for c, k in FIRMOGRAPHICS.columns.items()})


def read_cache(ws: Workspace) -> pl.DataFrame:
    if not ws.has_table("firmographics"):
        return empty_table()
    import polars as pl

    table = ws.scan("firmographics").collect()
    for column in FIRMO_COLUMNS:  # an older or hand-made table: add what is missing
        if column not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=polars_dtype(FIRMOGRAPHICS.columns[column])).alias(column))
    return table


def fresh_domains(table: pl.DataFrame, provider: str, ttl: timedelta, now: datetime) -> set[str]:
    """Domains whose cached answer from ``provider`` is younger than ``ttl`` and final."""
    import polars as pl

    retry = (pl.col("status") == "pending") | (
        (pl.col("status") == "error") & pl.col("reason").fill_null("").str.starts_with(TRANSIENT_PREFIX)
    )
    fresh = table.filter(
        (pl.col("provider") == provider)
        & (pl.col("fetched_at") >= (now - ttl))
        & pl.col("status").is_in(["found", "not_found", "error", "pending"])
        & ~retry
    )
    return set(fresh.get_column("domain").to_list())


def records_frame(records: list[Record], provider: str) -> pl.DataFrame:
    """Records → rows of the firmographics table (canonical columns first, then provider extras)."""
    import polars as pl

    schema = {c: polars_dtype(k) for c, k in FIRMOGRAPHICS.columns.items()}
    rows = [r.as_row() for r in records]
    data: dict[str, list[Any]] = {c: [row.get(c) for row in rows] for c in FIRMO_COLUMNS}
    data["provider"] = [provider] * len(rows)
    frame = pl.DataFrame(data, schema=schema)
    extra_keys = sorted({k for r in records for k in r.extras if k not in schema})
    extras = []
    for key in extra_keys:
        values = [r.extras.get(key) for r in records]
        try:
            extras.append(pl.Series(key, values, strict=False))
        except Exception:
            extras.append(pl.Series(key, [None if v is None else str(v) for v in values], dtype=pl.String))
    return frame.with_columns(extras) if extras else frame


def merge(table: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """One row per domain, the newest answer wins; sorted by domain (stable bytes)."""
    import polars as pl

    if table.height == 0:
        return new.sort("domain")
    kept = table.filter(~pl.col("domain").is_in(new.get_column("domain").implode()))
    return pl.concat([kept, new], how="diagonal_relaxed").sort("domain")


# ---- enrich -------------------------------------------------------------------------------------


def parse_ttl(text: str | float | int) -> float:
    """``"30d"``, ``"12h"``, ``"2w"``, ``"90m"``, ``"0"`` or a number of days → days (float)."""
    if isinstance(text, int | float):
        return float(text)
    from pqlcli.util import durations

    try:
        seconds = durations.parse_duration(str(text)).total_seconds()
    except durations.DurationError:
        raise UsageError(f"--ttl {text!r} is not a duration.", "Use a number of days or e.g. 30d, 12h, 2w, 90m.")
    return seconds / durations.DAY


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

    ``provider`` (an instance) overrides ``provider_name``/``options``; ``domains`` overrides the domains
    collected from the workspace. Raises :class:`~pqlcli.errors.ProviderError` when the provider stops
    the run (bad key, quota, outage) — after saving everything fetched so far.
    """
    from pqlcli.providers import registry

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace, create=True)
    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size} must be at least 1.")
    started = time.monotonic()
    warnings: list[str] = []
    if provider is None:
        reg = registry.load()
        warnings = reg.warnings
        provider_cls = reg.get(provider_name)
        provider = provider_cls.from_options(options or {}) if hasattr(provider_cls, "from_options") else provider_cls()
    name = getattr(provider, "name", provider_name) or provider_name
    result = EnrichResult(provider=name, warnings=warnings)

    wanted = sorted(set(domains)) if domains is not None else collect_domains(ws)
    result.domains = len(wanted)
    table = read_cache(ws)
    now = datetime.now(UTC)
    cached = set() if refresh else fresh_domains(table, name, timedelta(days=ttl_days), now)
    todo = [d for d in wanted if d not in cached]
    result.cached = len(wanted) - len(todo)
    if progress is not None:
        progress.update(total=len(todo), completed=0)

    batch: list[Record] = []
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal table, batch, last_flush
        if batch:
            table = merge(table, records_frame(batch, name))
            ws.write_table("firmographics", table)
            batch = []
        last_flush = time.monotonic()

    try:
        if todo:
            answers = provider.lookup(todo)
            close = getattr(answers, "close", None)
            with contextlib.ExitStack() as stack:
                if close is not None:
                    stack.callback(close)  # stop a generator's requests in flight
                for record in answers:
                    batch.append(record)
                    result.count(record)
                    if progress is not None:
                        progress.advance(1)
                    if len(batch) >= batch_size or time.monotonic() - last_flush >= FLUSH_SECONDS:
                        flush()
        flush()
    except BaseException:
        # Ctrl-C, a provider that stops the run, a bug: whatever arrived is saved before we leave.
        with contextlib.suppress(Exception):
            flush()
        raise
    finally:
        provider.close()
        result.elapsed = time.monotonic() - started
        with contextlib.suppress(Exception):
            ws.update_table_info("firmographics", rows=table.height, provider=name, last_run=result.as_dict())
    return result
