"""The firmographics cache: the workspace's ``firmographics`` table (one row per domain, latest answer wins).

A row counts as cached when it came from the same provider, is younger than the TTL, and is a real
answer: ``found``, ``not_found`` or a permanent ``error`` (an invalid domain). ``pending`` (queued by the
provider) and transient errors (network, 5xx, rate limit after retries) are asked again next run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pqlcli.errors import UsageError
from pqlcli.providers.base import TRANSIENT_PREFIX, Record
from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import FIRMOGRAPHICS, polars_dtype

if TYPE_CHECKING:
    import polars as pl

FIRMO_COLUMNS = tuple(FIRMOGRAPHICS.columns)
DEFAULT_TTL_DAYS = 30.0


def parse_ttl(text: str | float | int) -> float:
    """A cache lifetime: ``"30d"``, ``"12h"``, ``"2w"``, ``"90m"``, ``"0"`` or a number of days → days."""
    if isinstance(text, int | float):
        return float(text)
    from pqlcli.util import durations

    try:
        seconds = durations.parse_duration(str(text)).total_seconds()
    except durations.DurationError:
        raise UsageError(
            f"The cache lifetime {text!r} is not a duration.",
            f"Use a number of days or e.g. {durations.EXAMPLES}.",
            param="ttl_days",
        ) from None
    return seconds / durations.DAY


def empty_table() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema={c: polars_dtype(k) for c, k in FIRMOGRAPHICS.columns.items()})


def read_cache(ws: Workspace) -> pl.DataFrame:
    """The cached table, with any canonical column an older or hand-made table lacks added as nulls."""
    if not ws.has_table("firmographics"):
        return empty_table()
    import polars as pl

    table = ws.scan("firmographics").collect()
    for column in FIRMO_COLUMNS:
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
