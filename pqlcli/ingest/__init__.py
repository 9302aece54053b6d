"""Ingest exports into the workspace's canonical tables: ``ingest(workspace, kind, paths, ...)``.

One streaming pass per call: every file is scanned, mapped to canonical columns, normalised, and split
into usable rows and rejects (with the row number and the reason); usable rows are de-duplicated and
written atomically. Users and accounts are updated by id; events gain one new part holding only new rows.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pqlcli.errors import DataError, UsageError
from pqlcli.util.progress import Progress
from pqlcli.workspace import Workspace

KINDS = ("users", "accounts", "events")


@dataclass
class IngestResult:
    """What one ``ingest`` call did (rows read = added + updated + duplicates + rejected)."""

    kind: str
    read: int = 0
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    total_rows: int = 0
    formats: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "read": self.read, "added": self.added, "updated": self.updated,
            "duplicates": self.duplicates, "rejected": self.rejected,
            "rejects_path": str(self.rejects_path) if self.rejects_path else None,
            "total_rows": self.total_rows, "formats": list(self.formats),
        }


def ingest(
    workspace: Workspace | str | os.PathLike[str] | None,
    kind: str,
    paths: Sequence[str | os.PathLike[str]] | str,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    timezone: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Read ``paths`` (files, globs, ``-``) as ``kind`` rows and merge them into the workspace."""
    from pqlcli.ingest.presets import FORMATS

    if kind not in KINDS:
        raise UsageError(f"Unknown table {kind!r}.", f"Choose one of: {', '.join(KINDS)}.")
    if fmt not in FORMATS:
        raise UsageError(f"Unknown --format {fmt!r}.", f"Choose one of: {', '.join(FORMATS)}.")
    if timezone:
        _check_timezone(timezone)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace, create=True)
    ws.root.mkdir(parents=True, exist_ok=True)
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    tmp = ws.root / f".ingest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        return _ingest(ws, kind, [str(p) for p in paths], fmt, mapping or {}, timezone, progress, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"Unknown --timezone {name!r}.", "Use an IANA name such as America/Los_Angeles or Europe/Paris.")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ingest(ws: Workspace, kind: str, paths: list[str], fmt: str, mapping: dict[str, str],
            timezone: str | None, progress: Progress | None, tmp: Path) -> IngestResult:
    import polars as pl

    from pqlcli.ingest.mapping import normalize_source
    from pqlcli.ingest.presets import READERS
    from pqlcli.ingest.readers import expand_paths, open_source

    files = expand_paths(paths, tmp)
    if progress:
        progress.update(total=len(files) + 1, completed=0)
    hasher = ThreadPoolExecutor(max_workers=1)  # sha256 of the inputs overlaps the Polars work
    try:
        digests = {path: hasher.submit(_sha256, path) for _, path in files}
        goods, bads, counts, used = [], [], [], []
        parse_rejected = 0
        for label, path in files:
            if progress:
                progress.update(description=f"Reading {Path(label).name}")
            for source in open_source(label, path, tmp, fmt if fmt in READERS else None):
                normalized = normalize_source(source, kind, fmt, mapping, timezone)
                goods.append(normalized.good)
                bads.append(normalized.rejects)
                counts.append(source.frame.select(pl.len().alias("n")))
                parse_rejected += 0 if source.parse_rejects is None else len(source.parse_rejects)
                used.append(normalized.preset)
            if progress:
                progress.advance(1)
        if progress:
            progress.update(description=f"Writing {kind}")
        good = _concat(goods)
        rejects = _Rejects(_concat(bads), _concat(counts), parse_rejected)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        rejects_tmp = tmp / "rejects.csv"
        if kind == "events":
            result = _merge_events(ws, good, rejects, rejects_tmp, tmp, stamp)
        else:
            result = _merge_entities(ws, kind, good, rejects, rejects_tmp, tmp)
        result.formats = tuple(dict.fromkeys(used))
        if result.rejected:
            target = ws.rejects_path(kind, stamp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(rejects_tmp, target)
            result.rejects_path = target
        now = datetime.now(UTC).isoformat()
        info = ws.table_info(kind)
        sources = list(info.get("sources", []))
        for label, path in files:
            sources.append({"path": label if label == "<stdin>" else str(Path(label).resolve()),
                            "sha256": digests[path].result(), "rows": result.read if len(files) == 1 else None,
                            "ingested_at": now})
        if ws.has_table(kind):
            table = ws.scan(kind)
            schema = {c: str(t) for c, t in table.collect_schema().items()}
            result.total_rows = int(table.select(pl.len()).collect().item())
        else:
            schema = {}
        formats = sorted({*info.get("formats", []), *result.formats})  # `pql export crm` keys on CRM ids
        ws.update_table_info(kind, sources=sources, rows=result.total_rows, schema=schema, formats=formats)
        if progress:
            progress.advance(1)
        return result
    finally:
        hasher.shutdown(wait=True, cancel_futures=True)


def _concat(frames: list[Any]) -> Any:
    import polars as pl

    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _collect(plans: list[Any], what: str) -> list[Any]:
    import polars as pl

    try:
        return pl.collect_all(plans)
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"Could not read the {what} input: {first}.",
                        "Check the file is a complete export in the format given (see `pql ingest --help`).")


def _row_hash(columns: Iterable[str]) -> Any:
    """A hash of a row's values (as text), for rows that carry no id of their own."""
    import polars as pl

    parts = [pl.col(c).cast(pl.String).fill_null("\x00") for c in columns]
    return pl.concat_str(parts, separator="\x1f").hash(20261101)


@dataclass
class _Rejects:
    plan: Any  # the rejected rows (row, reason, source, original fields)
    counts: Any  # rows of every source frame (cheap: CSV line count, Parquet metadata)
    parse_rejected: int  # JSON lines that were not objects (already in ``plan``, not in ``counts``)


def _sink_outputs(good: Any, rejects: _Rejects, staged: Path, rejects_tmp: Path, what: str) -> tuple[int, int]:
    """Usable rows to ``staged`` (Parquet) in one streaming pass; rejects to ``rejects_tmp`` (CSV).

    Returns (rows read, rows rejected). The rows of the sources are counted (nearly free) and compared
    with the usable rows written: only when some are missing does a second pass write the rejects, so
    the common case reads the input once, with no second branch in the plan.
    """
    import polars as pl

    _collect([good.sink_parquet(staged, lazy=True)], what)
    usable = int(pl.scan_parquet(staged).select(pl.len()).collect().item())
    total = int(_collect([rejects.counts.select(pl.col("n").sum())], what)[0].item()) + rejects.parse_rejected
    if total == usable:
        return total, 0
    _collect([rejects.plan.sink_csv(rejects_tmp, lazy=True)], what)
    rejected = int(pl.scan_csv(rejects_tmp, infer_schema=False).select(pl.len()).collect().item())
    return usable + rejected, rejected


def _event_ids(hash_cols: list[str]) -> Any:
    """``event_id``, with ``"h:" + row hash`` only where it is missing (the hash is not computed otherwise)."""
    import polars as pl

    def fill(batch: pl.Series) -> pl.Series:
        ids = batch.struct.field("event_id")
        if ids.null_count() == 0:
            return ids
        frame = batch.struct.unnest()
        if ids.null_count() < len(ids):
            idx = ids.is_null().arg_true()
            hashed = frame[idx].select(pl.lit("h:") + _row_hash(hash_cols).cast(pl.String)).to_series()
            return ids.scatter(idx, hashed)
        return frame.select((pl.lit("h:") + _row_hash(hash_cols).cast(pl.String)).alias("event_id")).to_series()

    return pl.struct(["event_id", *hash_cols]).map_batches(fill, return_dtype=pl.String, is_elementwise=True)


_HASH_LOOKUP = True  # tests turn it off to exercise the join fallback


def _account_from_users(ws: Workspace) -> Any:
    """``account_id``, taken from the users table where the event has none.

    Looked up batch by batch, only for the rows that need it (a binary search of ``user_id``'s hash in
    the users' sorted hashes, then the id compared), so the events keep their order and no join over
    the whole event stream is planned; memory is the users' ids, not the events'.
    """
    import polars as pl

    owners = (
        ws.scan("users").select(pl.col("user_id").cast(pl.String), pl.col("account_id").cast(pl.String).alias("_owner"))
        .unique("user_id", keep="any").with_columns(pl.col("user_id").hash(11).alias("_h")).sort("_h").collect()
    )
    hashes, ids, accounts_of = owners["_h"], owners["user_id"], owners["_owner"]
    by_hash = _HASH_LOOKUP and len(owners) > 0 and hashes.n_unique() == len(owners)

    def lookup(users: pl.Series) -> pl.Series:
        if not by_hash:  # two user ids share a 64-bit hash (or no users): a plain join
            found = users.to_frame("user_id").join(owners, on="user_id", how="left", maintain_order="left")
            return found["_owner"].alias("account_id")
        # binary search of the user's id hash among the users' sorted hashes; the id itself is compared
        at = hashes.search_sorted(users.hash(11), side="left").clip(0, len(hashes) - 1)
        frame = pl.DataFrame({"user_id": users, "_id": ids.gather(at), "_owner": accounts_of.gather(at)})
        return frame.select(pl.when(pl.col("_id") == pl.col("user_id")).then(pl.col("_owner")).alias("account_id")).to_series()

    def fill(batch: pl.Series) -> pl.Series:
        accounts = batch.struct.field("account_id")
        missing = accounts.null_count()
        if missing == 0:
            return accounts
        users = batch.struct.field("user_id")
        if missing < len(accounts):
            idx = accounts.is_null().arg_true()
            return accounts.scatter(idx, lookup(users.gather(idx)))
        return lookup(users)

    return pl.struct("user_id", "account_id").map_batches(fill, return_dtype=pl.String, is_elementwise=True)


# dedupe checks hash ids into buckets of at most this many rows, so their memory does not grow with the input
_DEDUPE_BUCKET_ROWS = 8_000_000


def _ids_are_new(ws: Workspace, staged: Path, rows: int) -> bool:
    """True when the staged ids are unique and none is in the table already (checked on 64-bit hashes:
    a collision can only make this say False, which then takes the exact path)."""
    import polars as pl

    new = pl.scan_parquet(staged).select(pl.col("event_id").hash(7).alias("h"))
    old = ws.scan("events").select(pl.col("event_id").hash(7).alias("h")) if ws.has_table("events") else None
    buckets = max(1, -(-rows // _DEDUPE_BUCKET_ROWS))
    for i in range(buckets):
        part = new if buckets == 1 else new.filter(pl.col("h") % buckets == i)
        checks = [part.select(pl.col("h").n_unique().alias("u"), pl.len().alias("n"))]
        if old is not None:
            old_part = old if buckets == 1 else old.filter(pl.col("h") % buckets == i)
            checks.append(part.join(old_part, on="h", how="semi").select(pl.len().alias("n")))
        found = pl.collect_all(checks)
        if found[0]["u"][0] != found[0]["n"][0] or (len(found) > 1 and found[1]["n"][0] > 0):
            return False
    return True


def _has_new_ids(staged: Any, known: Any, rows: int) -> bool:
    """Whether any staged ``event_id`` is not in ``known`` (exact, on the id column alone, bucketed by
    hash like :func:`_ids_are_new` so memory stays bounded as the table grows)."""
    import polars as pl

    known_rows = int(known.select(pl.len()).collect().item())
    buckets = max(1, -(-(rows + known_rows) // _DEDUPE_BUCKET_ROWS))
    ids = staged.select("event_id")
    for i in range(buckets):
        mine = ids if buckets == 1 else ids.filter(pl.col("event_id").hash(7) % buckets == i)
        theirs = known if buckets == 1 else known.filter(pl.col("event_id").hash(7) % buckets == i)
        if int(_collect([mine.join(theirs, on="event_id", how="anti").select(pl.len())], "events")[0].item()):
            return True
    return False


def _merge_events(ws: Workspace, good: Any, rejects: _Rejects, rejects_tmp: Path, tmp: Path,
                  stamp: str) -> IngestResult:
    import polars as pl

    from pqlcli.workspace.schema import EVENTS, polars_dtype

    schema = good.collect_schema()
    for col, kind in EVENTS.columns.items():
        if col not in schema:
            good = good.with_columns(pl.lit(None, dtype=polars_dtype(kind)).alias(col))
    extras = [c for c in schema if c not in EVENTS.columns]
    hash_cols = ["user_id", "event", "timestamp", *extras]
    if "event_id" in schema:
        good = good.with_columns(_event_ids(hash_cols).alias("event_id"))
    else:
        good = good.with_columns((pl.lit("h:") + _row_hash(hash_cols).cast(pl.String)).alias("event_id"))
    if ws.has_table("users"):
        good = good.with_columns(_account_from_users(ws).alias("account_id"))
    good = good.select([*EVENTS.columns, *extras])
    staged = tmp / "staged.parquet"
    read, rejected = _sink_outputs(good, rejects, staged, rejects_tmp, "events")
    usable = read - rejected
    part_tmp = staged
    added = usable
    if usable and not _ids_are_new(ws, staged, usable):
        # duplicates within the file or already in the table: keep the first row per new id
        fresh = pl.scan_parquet(staged)
        if ws.has_table("events"):
            known = ws.scan("events").select("event_id")
            if not _has_new_ids(fresh, known, usable):  # the same export again: nothing to add
                added = 0
            fresh = fresh.join(known, on="event_id", how="anti")
        if added:
            part_tmp = tmp / "part.parquet"
            _collect([fresh.unique(subset=["event_id"], keep="first", maintain_order=True)
                      .sink_parquet(part_tmp, lazy=True)], "events")
            added = int(pl.scan_parquet(part_tmp).select(pl.len()).collect().item())
    if added:
        folder = ws.table_path("events")
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(part_tmp, folder / f"part-{stamp}.parquet")
    return IngestResult("events", read=read, added=added, duplicates=read - added - rejected, rejected=rejected)


def _merge_entities(ws: Workspace, kind: str, good: Any, rejects: _Rejects, rejects_tmp: Path,
                    tmp: Path) -> IngestResult:
    import polars as pl

    from pqlcli.workspace.schema import SCHEMAS

    key = SCHEMAS[kind].key
    assert key is not None
    staged = tmp / "staged.parquet"
    read, rejected = _sink_outputs(good, rejects, staged, rejects_tmp, kind)
    keys = pl.scan_parquet(staged).select(pl.col(key).n_unique().alias("u"), pl.len().alias("n")).collect()
    unique_keys = keys["u"][0] == keys["n"][0]
    # a newer row for the same id later in the input wins
    new = pl.scan_parquet(staged)
    if not unique_keys:
        new = new.with_row_index("_order").unique(subset=[key], keep="last").sort("_order").drop("_order")
    new_cols = list(new.collect_schema())
    if not ws.has_table(kind):
        added = int(new.select(pl.len()).collect().item())
        if added:
            if unique_keys:  # the staged file is the table: move it into place (an atomic rename)
                os.replace(staged, ws.table_path(kind))
            else:
                ws.write_table(kind, new)
        return IngestResult(kind, read=read, added=added, duplicates=read - added - rejected, rejected=rejected)
    old = ws.scan(kind)
    old_cols = list(old.collect_schema())
    compare = [c for c in new_cols if c != key]
    old_h = old.select(key, *[(pl.col(c) if c in old_cols else pl.lit(None)).alias(c) for c in compare])
    old_h = old_h.select(key, _row_hash(compare).alias("_old"))
    status = (
        new.select(key, _row_hash(compare).alias("_new"))
        .join(old_h, on=key, how="left")
        .select(
            pl.col("_old").is_null().sum().alias("added"),
            (pl.col("_old").is_not_null() & (pl.col("_old") != pl.col("_new"))).sum().alias("updated"),
        )
        .collect()
    )
    added, updated = int(status["added"][0]), int(status["updated"][0])
    if added or updated:
        kept = old.join(new.select(key), on=key, how="anti")
        ws.write_table(kind, pl.concat([kept, new], how="diagonal_relaxed"))
    return IngestResult(kind, read=read, added=added, updated=updated,
                        duplicates=read - added - updated - rejected, rejected=rejected)


_SNAKE = re.compile(r"[^0-9a-zA-Z]+")


def snake(name: str) -> str:
    """'Number of Employees' -> 'number_of_employees' (extra columns become rule-friendly names)."""
    out = _SNAKE.sub("_", name).strip("_").lower()
    return out or "column"


__all__ = ["KINDS", "IngestResult", "ingest", "snake"]
