"""Events stored in buckets of users: the bucket function, the bucket count, the bucket folders.

A workspace whose events table is large keeps it as ``events/bucket=KKK/part-*.parquet``: every event of
a user is in the user's bucket, so scoring runs one bucket at a time (each group-by holds only its
users) and an ingest checks its new event ids against its own buckets only. A small workspace keeps
``events/part-*.parquet`` (one bucket, no folders), as before bucketing existed.

Scheme ``xxh64-v1`` (recorded in the workspace manifest with the count, ``tables.events.buckets``)::

    bucket = XXH64(utf8(user_id), seed=0) mod N        (the canonical user_id; NULL -> bucket 0)

XXH64 is computed by ``polars-hash`` (a Rust plugin implementing the published XXH64 specification), so
the bucket of an id does not depend on the Polars version (Polars' own ``hash`` may change between
versions). :func:`check_scheme` compares the function with the specification's test vectors before
anything is written in buckets.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from pqlcli.errors import WorkspaceError

SCHEME = "xxh64-v1"
# A new events table gets one bucket per this many events (rounded up to a power of two): at 10M users /
# 500M events, 64 buckets of ~8M events (~160k users), whose events passes peak at ~0.7 GB together
# (measured: ~3 GB for a bucket of 750k users; docs/performance.md).
EVENTS_PER_STORED_BUCKET = 12_500_000
MAX_BUCKETS = 4096
# XXH64 test vectors of the specification (seed 0): the bucket function must be this exact hash.
SPEC_VECTORS = {"": 0xEF46DB3751D8E999, "abc": 0x44BC2CF5AD770999}


def xxh64(column: str | pl.Expr = "user_id") -> pl.Expr:
    """XXH64 (seed 0) of a string column's UTF-8 bytes, as UInt64."""
    from polars_hash import NonCryptographicHashingNameSpace

    expr = pl.col(column) if isinstance(column, str) else column
    return NonCryptographicHashingNameSpace(expr.cast(pl.String)).xxhash64()


def bucket_expr(n: int, column: str | pl.Expr = "user_id") -> pl.Expr:
    """The stored bucket (0..n-1, Int64) of each row's ``user_id`` under scheme ``xxh64-v1``."""
    if n <= 1:
        return pl.lit(0, dtype=pl.Int64)
    return (xxh64(column) % n).cast(pl.Int64).fill_null(0)


def check_scheme() -> None:
    """Raise when the installed hash does not give the specification's XXH64 (a broken polars-hash)."""
    got = pl.DataFrame({"id": list(SPEC_VECTORS)}).select(xxh64("id"))["id"].to_list()
    if got != list(SPEC_VECTORS.values()):
        raise WorkspaceError(
            f"The installed polars-hash does not compute XXH64 as specified (bucket scheme {SCHEME}); writing events "
            "in buckets with it would put users in the wrong bucket.",
            "Reinstall pqlcli with its pinned dependencies (pip install --force-reinstall pqlcli).",
        )


def choose_count(events: int) -> int:
    """How many buckets a new events table of ``events`` rows gets: 1 up to ``EVENTS_PER_STORED_BUCKET``,
    then the power of two that keeps each bucket at or below it (at most ``MAX_BUCKETS``)."""
    need = -(-max(0, events) // EVENTS_PER_STORED_BUCKET)
    if need <= 1:
        return 1
    return min(MAX_BUCKETS, 1 << math.ceil(math.log2(need)))


def bucket_dir(folder: Path, bucket: int) -> Path:
    """The folder of one bucket: ``events/bucket=007``."""
    return folder / f"bucket={bucket:03d}"


def bucket_files(folder: Path, n: int) -> list[list[Path]]:
    """The parts of every bucket, in bucket order (``n`` lists; a bucket with no events has none)."""
    return [sorted(bucket_dir(folder, b).glob("part-*.parquet")) for b in range(n)]


def stored_count(info: dict[str, object]) -> int:
    """The bucket count recorded in the events table's manifest entry (1 when not bucketed)."""
    spec = info.get("buckets")
    if not isinstance(spec, dict):
        return 1
    if spec.get("scheme") != SCHEME:
        raise WorkspaceError(
            f"The events table is stored in buckets by scheme {spec.get('scheme')!r}, which this pql does not know "
            f"(it knows {SCHEME}).",
            "Use the pql version that wrote the workspace, or re-ingest the events into a new workspace.",
        )
    return int(spec.get("n", 1))  # type: ignore[call-overload]


__all__ = [
    "EVENTS_PER_STORED_BUCKET", "MAX_BUCKETS", "SCHEME", "SPEC_VECTORS", "bucket_dir", "bucket_expr", "bucket_files",
    "check_scheme", "choose_count", "stored_count", "xxh64",
]
