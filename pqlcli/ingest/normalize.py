"""Value normalisers as Polars expressions (timestamps to UTC, ids, emails, domains).

Each has a plain-Python twin used by tests and by small callers; the expressions are what ingest runs,
so they stay lazy and streamable.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import polars as pl

from pqlcli.workspace.schema import TIME_UNIT, TIME_ZONE

UTC_DTYPE = pl.Datetime(TIME_UNIT, TIME_ZONE)

# Epoch numbers: seconds below 1e11 (year 5138), milliseconds below 1e14, microseconds above.
_EPOCH_RE = r"^-?\d{1,17}(\.\d+)?$"
_SECONDS_MAX = 1e11
_MILLIS_MAX = 1e14


def _canonical_text(expr: pl.Expr) -> pl.Expr:
    """'2026-01-01 10:00Z' -> '2026-01-01T10:00+00:00': one separator and an explicit offset."""
    return (
        expr.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"(?i)\s*(z|utc|gmt)$", "+00:00")
        .str.replace(r"\s+([+-]\d{2}:?\d{2})$", "${1}")
    )


def _localize(expr: pl.Expr, timezone: str | None) -> pl.Expr:
    """A naive datetime read as wall-clock time in ``timezone`` (default UTC), converted to UTC."""
    zone = timezone or "UTC"
    return expr.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def epoch_to_utc(expr: pl.Expr, timezone: str | None = None) -> pl.Expr:
    """Epoch seconds / milliseconds / microseconds (by magnitude) to UTC microseconds.

    With ``timezone``, the epoch is taken as *local* wall-clock seconds (old Mixpanel projects export that).
    """
    num = expr.cast(pl.Float64, strict=False)
    micros = (
        pl.when(num.abs() < _SECONDS_MAX)
        .then(num * 1_000_000)
        .when(num.abs() < _MILLIS_MAX)
        .then(num * 1_000)
        .otherwise(num)
        .round(0)
        .cast(pl.Int64, strict=False)
    )
    if timezone:
        return _localize(micros.cast(pl.Datetime(TIME_UNIT)), timezone)
    return micros.cast(pl.Datetime(TIME_UNIT)).dt.replace_time_zone("UTC")


def timestamp_expr(col: str, dtype: pl.DataType | None = None, timezone: str | None = None,
                   epoch_local: bool = False, fmt: str | None = None) -> pl.Expr:
    """Parse a column of timestamps in any supported shape to ``Datetime('us', 'UTC')``; unparseable -> null.

    Accepted: ISO-8601 with or without offset ('Z', '+02:00', '+0200'), 'YYYY-MM-DD HH:MM[:SS[.ffffff]]',
    a bare date, epoch seconds / milliseconds / microseconds. Values without an offset are read in
    ``timezone`` (default UTC). Rows may mix formats.
    """
    c = pl.col(col)
    if fmt is not None and (dtype is None or dtype == pl.String):
        return pl.coalesce(formatted_timestamp(c, fmt, timezone), _general_timestamp(c, timezone, epoch_local))
    if dtype is None or dtype == pl.String:
        return c.map_batches(lambda s: _fast_batch(s, timezone, epoch_local), return_dtype=UTC_DTYPE,
                             is_elementwise=True)
    if dtype is not None:
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                return _localize(c.cast(pl.Datetime(TIME_UNIT)), timezone)
            return c.dt.convert_time_zone("UTC").cast(UTC_DTYPE)
        if isinstance(dtype, pl.Date):
            return _localize(c.cast(pl.Datetime(TIME_UNIT)), timezone)
        if dtype.is_numeric():
            return epoch_to_utc(c, timezone if epoch_local else None)
        c = c.cast(pl.String)
    return _general_timestamp(c, timezone, epoch_local)


def formatted_timestamp(c: pl.Expr, fmt: str, timezone: str | None) -> pl.Expr:
    """Text in a strftime ``fmt`` (naive values read in ``timezone``, default UTC) to UTC; else null."""
    text = c.cast(pl.String).str.strip_chars()
    if "%z" in fmt or "%#z" in fmt:
        return text.str.to_datetime(fmt, time_zone="UTC", strict=False, time_unit=TIME_UNIT).cast(UTC_DTYPE)
    if not any(code in fmt for code in ("%H", "%I", "%M", "%S", "%T", "%R", "%c")):
        # a date format also reads the same date followed by a time
        naive = pl.coalesce(
            text.str.to_datetime(fmt + " %H:%M:%S", strict=False, time_unit=TIME_UNIT),
            text.str.to_datetime(fmt + " %H:%M", strict=False, time_unit=TIME_UNIT),
            text.str.to_date(fmt, strict=False).cast(pl.Datetime(TIME_UNIT)),
        )
        return _localize(naive, timezone).cast(UTC_DTYPE)
    return _localize(text.str.to_datetime(fmt, strict=False, time_unit=TIME_UNIT), timezone).cast(UTC_DTYPE)


# day/month/year with slashes (or dots, dashes): which order is decided by the values
SLASH_DATE = r"^\s*(\d{1,2})([/.\-])(\d{1,2})[/.\-](\d{4})(\s+\d{1,2}:\d{2}(:\d{2})?)?\s*$"


def _general_timestamp(c: pl.Expr, timezone: str | None, epoch_local: bool) -> pl.Expr:
    text = _canonical_text(c)
    with_offset = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_zone="UTC", strict=False, time_unit=TIME_UNIT)
    with_offset_hm = text.str.to_datetime("%Y-%m-%dT%H:%M%#z", time_zone="UTC", strict=False, time_unit=TIME_UNIT)
    naive = pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit=TIME_UNIT),
        text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit=TIME_UNIT),
        text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime(TIME_UNIT)),
    )
    epoch = pl.when(text.str.contains(_EPOCH_RE)).then(epoch_to_utc(text, timezone if epoch_local else None))
    return pl.coalesce(with_offset, with_offset_hm, _localize(naive, timezone), epoch).cast(UTC_DTYPE)


# Formats tried first on a whole batch with the fast exact parser; rows they miss go the slow, general way.
_FAST_FORMATS = (
    ("%Y-%m-%dT%H:%M:%S%.fZ", True),
    ("%Y-%m-%dT%H:%M:%SZ", True),
    ("%Y-%m-%d %H:%M:%S%.f", False),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%d %H:%M:%S", False),
)


def _fast_batch(values: pl.Series, timezone: str | None, epoch_local: bool) -> pl.Series:
    """Parse a batch: one exact format for the bulk (chosen on its first rows), the general parser for the rest."""
    general = lambda s: pl.select(_general_timestamp(pl.lit(s), timezone, epoch_local)).to_series()  # noqa: E731
    values = values.cast(pl.String)
    head = values.drop_nulls().head(50)
    if head.len() == 0:
        return pl.Series(values.name, [None] * values.len(), dtype=UTC_DTYPE)
    result = None
    for fmt, is_utc in _FAST_FORMATS:
        trial = head.str.to_datetime(fmt, time_unit=TIME_UNIT, strict=False, cache=False)
        if trial.null_count() == 0:
            # to_datetime without its cache: timestamps are nearly all distinct, and caching costs ~1/3 more
            parsed = values.str.to_datetime(fmt, time_unit=TIME_UNIT, strict=False, cache=False)
            if is_utc:
                result = parsed.dt.replace_time_zone("UTC")
            else:
                result = pl.select(_localize(pl.lit(parsed), timezone)).to_series()
            break
    if result is None:
        return general(values).alias(values.name)
    missed = result.is_null() & values.is_not_null()
    if missed.any():
        idx = missed.arg_true()
        result = result.scatter(idx, general(values.gather(idx)))
    return result.cast(UTC_DTYPE).alias(values.name)


def parse_timestamps(values: list[Any], timezone: str | None = None) -> list[datetime | None]:
    """Plain-Python entry to :func:`timestamp_expr` (for tests and small callers)."""
    frame = pl.DataFrame({"v": [None if v is None else str(v) for v in values]}, schema={"v": pl.String})
    return frame.select(timestamp_expr("v", pl.String(), timezone)).to_series().to_list()


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    """'' -> null. (Not ``text.replace("", None)``: in the streaming ingest plan that measured slower and
    took twice the memory.)"""
    return pl.when(text == "").then(None).otherwise(text)


def id_expr(col: str) -> pl.Expr:
    """Ids are strings, trimmed; '' is missing. Empty is missing."""
    text = pl.col(col).cast(pl.String).str.strip_chars()
    return _blank_to_null(text)


def text_expr(col: str) -> pl.Expr:
    text = pl.col(col).cast(pl.String).str.strip_chars()
    return _blank_to_null(text)


def email_expr(col: str) -> pl.Expr:
    text = pl.col(col).cast(pl.String).str.strip_chars().str.to_lowercase().str.strip_prefix("mailto:")
    return _blank_to_null(text)


_SCHEME = r"^[a-z][a-z0-9+.\-]*://"


def domain_expr(col: str) -> pl.Expr:
    """'https://www.Acme.com/pricing' -> 'acme.com'; an email gives its domain; '' -> null."""
    return domain_of(pl.col(col))


def domain_of(expr: pl.Expr) -> pl.Expr:
    """:func:`domain_expr` over any expression (enrich uses it on emails and stored domains)."""
    text = (
        expr
        .cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .str.replace(_SCHEME, "")
        .str.replace(r"^[^/?#]*@", "")  # user@ or an email address
        .str.replace(r"[/?#].*$", "")
        .str.replace(r":\d*$", "")
        .str.replace(r"^www\d*\.", "")
        .str.strip_chars(".")
    )
    return _blank_to_null(text)


def normalize_domain(value: str | None) -> str | None:
    """Python twin of :func:`domain_expr`."""
    if value is None:
        return None
    text = value.strip().lower()
    text = re.sub(_SCHEME, "", text)
    text = re.sub(r"^[^/?#]*@", "", text)
    text = re.sub(r"[/?#].*$", "", text)
    text = re.sub(r":\d*$", "", text)
    text = re.sub(r"^www\d*\.", "", text)
    text = text.strip(".")
    return text or None


def int_expr(col: str) -> pl.Expr:
    """Integers from text such as '1,200' or '250.0'; anything else -> null."""
    text = pl.col(col).cast(pl.String).str.strip_chars().str.replace_all(r"[,_ ]", "")
    return text.cast(pl.Float64, strict=False).round(0).cast(pl.Int64, strict=False)


def float_expr(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
