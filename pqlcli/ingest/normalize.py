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
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ Tt]", "${1}T")
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
                   epoch_local: bool = False, fmt: str | None = None, parsed: str | None = None) -> pl.Expr:
    """Parse a column of timestamps in any supported shape to ``Datetime('us', 'UTC')``; unparseable -> null.

    Accepted: ISO-8601 with or without offset ('Z', '+02:00', '+0200'), 'YYYY-MM-DD HH:MM[:SS[.ffffff]]',
    a bare date, epoch seconds / milliseconds / microseconds. Values without an offset are read in
    ``timezone`` (default UTC). Rows may mix formats.

    ``parsed`` names a column holding the values already parsed with one exact format (see
    :func:`first_pass`): only the rows it left null are parsed the general (slow) way, so a file in one
    format costs one exact parse. Without it, text goes the general way (or ``fmt`` first, then general).
    """
    c = pl.col(col)
    if dtype is None or dtype == pl.String:
        if parsed is not None:
            rest = pl.when(pl.col(parsed).is_null()).then(c.cast(pl.String))
            return pl.coalesce(pl.col(parsed), _general_timestamp(rest, timezone, epoch_local))
        if fmt is not None:
            return pl.coalesce(formatted_timestamp(c, fmt, timezone), _general_timestamp(c, timezone, epoch_local))
        return _general_timestamp(c, timezone, epoch_local)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return _localize(c.cast(pl.Datetime(TIME_UNIT)), timezone)
        return c.dt.convert_time_zone("UTC").cast(UTC_DTYPE)
    if isinstance(dtype, pl.Date):
        return _localize(c.cast(pl.Datetime(TIME_UNIT)), timezone)
    if dtype.is_numeric():
        return epoch_to_utc(c, timezone if epoch_local else None)
    return _general_timestamp(c.cast(pl.String), timezone, epoch_local)


def first_pass(col: str, sample: pl.Series, timezone: str | None = None, fmt: str | None = None,
               epoch_local: bool = False) -> pl.Expr | None:
    """The first, exact parse of a text timestamp column: ``fmt`` when given, else the one format of
    :data:`_FAST_FORMATS` (or epoch numbers) that reads most of ``sample`` (the column's first values);
    None when none reads at least half of them. Values it misses are null (:func:`timestamp_expr`
    parses those the general way, with the same result for the values it reads)."""
    c = pl.col(col)
    if fmt is not None:
        return formatted_timestamp(c, fmt, timezone)
    values = sample.cast(pl.String).drop_nulls().head(_SAMPLE)
    if values.len() and 2 * int(values.str.contains(_EPOCH_RE).sum()) >= values.len():
        text = c.cast(pl.String)
        return pl.when(text.str.contains(_EPOCH_RE)).then(epoch_to_utc(text, timezone if epoch_local else None)).cast(UTC_DTYPE)
    best, best_ok = None, 0
    for candidate in _FAST_FORMATS:
        ok = values.len() - values.str.to_datetime(candidate[0], time_unit=TIME_UNIT, strict=False, cache=False).null_count()
        if ok > best_ok:
            best, best_ok = candidate, ok
    if best is None or 2 * best_ok < values.len():
        return None
    # one exact format; to_datetime without its cache: timestamps are nearly all distinct, and caching costs ~1/3 more
    parsed = c.cast(pl.String).str.to_datetime(best[0], time_unit=TIME_UNIT, strict=False, cache=False)
    if best[0] == "%+":
        return parsed.dt.convert_time_zone("UTC").cast(UTC_DTYPE)
    return (parsed.dt.replace_time_zone("UTC") if best[1] else _localize(parsed, timezone)).cast(UTC_DTYPE)


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


# Formats tried first (chosen on a sample of the column, see first_pass); rows they miss go the slow, general way.
_FAST_FORMATS = (
    ("%+", True),  # ISO-8601 / RFC 3339 with an offset or Z: chrono's own parser, ~1.6x faster than a pattern
    ("%Y-%m-%dT%H:%M:%S%.fZ", True),
    ("%Y-%m-%dT%H:%M:%SZ", True),
    ("%Y-%m-%d %H:%M:%S%.f", False),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%d %H:%M:%S", False),
)
_SAMPLE = 200


def parse_timestamps(values: list[Any], timezone: str | None = None) -> list[datetime | None]:
    """Plain-Python entry to :func:`timestamp_expr` (for tests and small callers)."""
    frame = pl.DataFrame({"v": [None if v is None else str(v) for v in values]}, schema={"v": pl.String})
    first = first_pass("v", frame["v"], timezone)
    if first is not None:
        frame = frame.with_columns(first.alias("_first"))
    return frame.select(timestamp_expr("v", pl.String(), timezone, parsed=None if first is None else "_first")).to_series().to_list()


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    """'' -> null. (Not ``text.replace("", None)``: in the streaming ingest plan that measured slower and
    took twice the memory.)"""
    return pl.when(text == "").then(None).otherwise(text)


def trimmed(col: str) -> pl.Expr:
    """Text with surrounding whitespace removed ('' stays '')."""
    return pl.col(col).cast(pl.String).str.strip_chars()


def id_expr(col: str) -> pl.Expr:
    """Ids are strings, trimmed; '' is missing. Empty is missing."""
    return _blank_to_null(trimmed(col))


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
