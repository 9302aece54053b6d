"""The version-independent row hash that gives ``event_id`` to events exported without an id.

Scheme ``sha1-v1`` (recorded in the workspace manifest as ``event_id_scheme``)::

    event_id = "s1:" + hex(SHA-1(utf8(serialisation)))
    serialisation = field_1 + "\\x1f" + field_2 + ...   (fields in this order)
      source_user_id, event, timestamp as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC),
      then each extra (numeric) property, sorted by column name, as "name=value"
    a missing value is "\\N"; numbers are their shortest round-trip decimal ("1.0", "0.25", "3e-07")

SHA-1 is computed by ``polars-hash`` (a Rust expression plugin: no Python loop over rows), whose output
does not depend on the Polars version, so re-ingesting the same file after an upgrade still finds its
rows. The raw ``source_user_id`` is hashed, not the canonical one, so an identity merge never changes an id.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

SCHEME = "sha1-v1"
PREFIX = "s1:"
NULL = "\\N"
SEPARATOR = "\x1f"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"


def _field(name: str, dtype: pl.DataType | None, where: pl.Expr | None = None) -> pl.Expr:
    col = pl.col(name) if where is None else pl.when(where).then(pl.col(name))
    if isinstance(dtype, pl.Datetime):
        # formatted as naive UTC (the same text; strftime of a zoned value costs ~1/3 more)
        utc = col if dtype.time_zone in (None, "UTC") else col.dt.convert_time_zone("UTC")
        text = (utc.dt.replace_time_zone(None) if dtype.time_zone else utc).dt.strftime(TIMESTAMP_FORMAT)
    else:
        text = col.cast(pl.String)
    return text.fill_null(NULL)


def serialisation(schema: dict[str, pl.DataType], extras: Sequence[str], where: pl.Expr | None = None) -> pl.Expr:
    """The canonical text of a row (see the module docstring); null where ``where`` is false."""
    fields = [_field(c, schema.get(c), where) for c in ("source_user_id", "event", "timestamp")]
    fields += [pl.lit(f"{name}=") + _field(name, schema.get(name), where) for name in sorted(extras)]
    text = pl.concat_str(fields, separator=SEPARATOR)
    return text if where is None else pl.when(where).then(text)


def event_id_expr(schema: dict[str, pl.DataType], extras: Sequence[str], where: pl.Expr | None = None) -> pl.Expr:
    """``"s1:" + sha1(serialisation)`` as a Polars expression; with ``where``, only for the rows where it
    is true (null elsewhere, and the other rows' values are neither formatted nor hashed)."""
    from polars_hash import NonCryptographicHashingNameSpace

    return pl.lit(PREFIX) + NonCryptographicHashingNameSpace(serialisation(schema, extras, where)).sha1()
