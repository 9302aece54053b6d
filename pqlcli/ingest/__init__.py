"""Ingest exports into the workspace's canonical tables: ``ingest(workspace, kind, paths, ...)``.

One streaming pass per call: every file is scanned, mapped to canonical columns, normalised, and split
into usable rows and rejects (with the row number and the reason); usable rows are de-duplicated and
written atomically. Users and accounts are updated by id; events gain one new part holding only new rows.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pqlcli.errors import DataError, UsageError
from pqlcli.util.progress import Progress
from pqlcli.workspace import Workspace
from pqlcli.workspace.optimize import DISORDER, ORDER_ROWS, mean_jump

KINDS = ("users", "accounts", "events")


@dataclass
class IngestResult:
    """What one ``ingest`` call did (rows read = added + updated + duplicates + rejected + skipped)."""

    kind: str
    read: int = 0
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    total_rows: int = 0
    formats: tuple[str, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows (identity calls, system events)
    nulled: dict[str, int] = field(default_factory=dict)  # column -> values set to NULL (unparseable)
    first_rejects: list[str] = field(default_factory=list)  # "row 3: reason" for the first rejected rows
    links: int = 0  # new identity links (alias calls, anonymous -> known ids)
    users_merged: int = 0  # user records that are aliases of another person (after this ingest)
    anonymous_linked: int = 0  # ids without a record (anonymous, device ids) linked to a person
    accounts_merged: int = 0
    parts_rekeyed: int = 0  # stored event parts rewritten with new canonical ids
    out_of_order: bool = False  # many events added in no useful time order: `pql optimize` makes scores faster

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["rejects_path"] = str(self.rejects_path) if self.rejects_path else None
        out["formats"] = list(self.formats)
        return out


@dataclass
class IngestOptions:
    """How strict an ingest is, and how identities merge (see docs/ingest.md and docs/identity.md)."""

    timezone: str | None = None
    date_format: str | None = None  # strftime of text dates (else day-first/month-first is detected)
    max_reject_rate: float | None = None  # fail (and write nothing) above this share of rejected rows
    force: bool = False  # ingest a file that looks like another table's export
    source: str | None = None  # name of the system the records come from (default: the preset)
    dedupe_window: timedelta | None = None  # same person + event within this time, other source: a duplicate
    precedence: dict[str, str | list[str]] = field(default_factory=dict)  # trait -> crm|product|[sources]
    buckets: int | None = None  # buckets of a NEW events table (default: from the input's size; docs/performance.md)


def ingest(
    workspace: Workspace | str | os.PathLike[str] | None,
    kind: str,
    paths: Sequence[str | os.PathLike[str]] | str,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    timezone: str | None = None,
    progress: Progress | None = None,
    options: IngestOptions | None = None,
) -> IngestResult:
    """Read ``paths`` (files, globs, ``-``) as ``kind`` rows and merge them into the workspace."""
    from pqlcli.ingest.presets import FORMATS
    from pqlcli.ingest.strict import check_mapping_targets

    opts = options or IngestOptions()
    if timezone:
        opts = replace(opts, timezone=timezone)
    if kind not in KINDS:
        raise UsageError(f"Unknown table {kind!r}.", f"Choose one of: {', '.join(KINDS)}.")
    if fmt not in FORMATS:
        raise UsageError(f"{{param}} {fmt!r} is not an export format pql knows.", f"Choose one of: {', '.join(FORMATS)}.", param="format")
    if opts.timezone:
        _check_timezone(opts.timezone)
    check_mapping_targets(kind, mapping or {})
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace, create=True)
    ws.root.mkdir(parents=True, exist_ok=True)
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    from pqlcli.workspace.lock import writing

    with writing(ws.root, f"pql ingest {kind}"):  # one writer at a time (pqlcli.workspace.lock)
        tmp = ws.root / f".ingest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            return _ingest(ws, kind, [str(p) for p in paths], fmt, mapping or {}, opts, progress, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"{{param}} {name!r} is not a time zone.", "Use an IANA name such as America/Los_Angeles or Europe/Paris.",
                         param="timezone")


# The manifest's fingerprint of each input file: XXH3-128 of its bytes. It identifies a file (which export
# was read), it is no signature; SHA-256 cost ~10 % of a 2.7 GB events ingest on 2 cores, XXH3 a quarter of that.
DIGEST = "xxh3_128"


def _digest(path: Path) -> str:
    import xxhash

    digest = xxhash.xxh3_128()
    with open(path, "rb") as fh:  # read in blocks, not mapped: mapped pages would count in the process's RSS
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _Read:
    """Every source of one ingest, normalised (still lazy)."""

    goods: list[Any] = field(default_factory=list)
    bads: list[Any] = field(default_factory=list)
    counts: list[Any] = field(default_factory=list)
    skips: list[Any] = field(default_factory=list)
    links: list[Any] = field(default_factory=list)
    nullable: set[str] = field(default_factory=set)
    presets: list[str] = field(default_factory=list)
    parse_rejected: int = 0


def _read_sources(files: list[tuple[str, Path]], kind: str, fmt: str, mapping: dict[str, str],
                  opts: IngestOptions, progress: Progress | None, tmp: Path) -> _Read:
    import polars as pl

    from pqlcli.ingest.mapping import NormalizeOptions, normalize_source
    from pqlcli.ingest.presets import READERS
    from pqlcli.ingest.readers import open_source

    read = _Read()
    nopts = NormalizeOptions(timezone=opts.timezone, date_format=opts.date_format, force=opts.force)
    for label, path in files:
        if progress:
            progress.update(description=f"Reading {Path(label).name}")
        for source in open_source(label, path, tmp, fmt if fmt in READERS else None):
            normalized = normalize_source(source, kind, fmt, mapping, nopts)
            read.goods.append(normalized.good.with_columns(pl.lit(opts.source or normalized.preset).alias("_source")))
            read.bads.append(normalized.rejects)
            read.counts.append(source.frame.select(pl.len().alias("n")))
            read.parse_rejected += 0 if source.parse_rejects is None else len(source.parse_rejects)
            read.presets.append(normalized.preset)
            read.nullable.update(normalized.nullable)
            if normalized.skipped is not None:
                read.skips.append(normalized.skipped)
            if normalized.links is not None:
                read.links.append(normalized.links)
        if progress:
            progress.advance(1)
    return read


def _ingest(ws: Workspace, kind: str, paths: list[str], fmt: str, mapping: dict[str, str],
            opts: IngestOptions, progress: Progress | None, tmp: Path) -> IngestResult:
    from pqlcli.ingest.readers import expand_paths

    files = expand_paths(paths, tmp)
    if progress:
        progress.update(total=len(files) + 1, completed=0)
    hasher = ThreadPoolExecutor(max_workers=1)  # the inputs' digests overlap the Polars work
    try:
        digests = {path: hasher.submit(_digest, path) for _, path in files}
        read = _read_sources(files, kind, fmt, mapping, opts, progress, tmp)
        if progress:
            progress.update(description=f"Writing {kind}")
        skipped = _skip_counts(read.skips)
        links = _store_links(ws, read.links)
        if links and opts.precedence:
            from pqlcli.ingest.identity import save_precedence

            save_precedence(ws, opts.precedence)
        rejects = _Rejects(_concat(read.bads), _concat(read.counts), read.parse_rejected, sum(skipped.values()),
                           sorted(read.nullable))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        result = _merge(ws, kind, _concat(read.goods), rejects, tmp, stamp, opts, links)
        result.formats = tuple(dict.fromkeys(read.presets))
        result.skipped, result.links = skipped, links
        _record_sources(ws, kind, files, digests, result)
        if progress:
            progress.advance(1)
        return result
    finally:
        hasher.shutdown(wait=True, cancel_futures=True)


def _merge(ws: Workspace, kind: str, good: Any, rejects: _Rejects, tmp: Path, stamp: str, opts: IngestOptions,
           links: int) -> IngestResult:
    from pqlcli.ingest import identity

    rejects_tmp = tmp / "rejects.csv"
    if kind == "events":
        if links:
            _apply_resolution(None, identity.resolve(ws, opts.precedence))
        result = _merge_events(ws, good, rejects, rejects_tmp, tmp, stamp, opts)
    else:
        result, written = _merge_entities(ws, kind, good, rejects, rejects_tmp, tmp, opts, stamp)
        if opts.precedence:
            identity.save_precedence(ws, opts.precedence)
        _apply_resolution(result, identity.resolve(ws, opts.precedence, {kind: written} if written is not None else None))
    if rejects.written:
        target = ws.rejects_path(kind, stamp)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(rejects_tmp, target)
        result.rejects_path = target
    result.rejected, result.nulled, result.first_rejects = rejects.rejected, rejects.nulled, rejects.first
    _identity_counts(ws, result)
    return result


def _apply_resolution(result: IngestResult | None, resolution: Any) -> None:
    if result is not None:
        result.parts_rekeyed += resolution.parts_rekeyed


def _identity_counts(ws: Workspace, result: IngestResult) -> None:
    import polars as pl

    from pqlcli.ingest.identity import IDENTITIES

    if not ws.has_table(IDENTITIES):
        return
    aliases = ws.scan(IDENTITIES).filter(pl.col("alias") != pl.col("canonical_id"))
    merged = aliases.group_by("kind", "record").len().collect()
    counts = {(k, r): n for k, r, n in merged.iter_rows()}
    result.users_merged, result.accounts_merged = counts.get(("user", True), 0), counts.get(("account", True), 0)
    result.anonymous_linked = counts.get(("user", False), 0)


def _skip_counts(frames: list[Any]) -> dict[str, int]:
    if not frames:
        return {}
    import polars as pl

    counts = _collect([_concat(frames).group_by("reason").agg(pl.col("n").sum()).sort("reason")], "input")[0]
    return {r: int(n) for r, n in counts.iter_rows()}


def _store_links(ws: Workspace, frames: list[Any]) -> int:
    if not frames:
        return 0
    from pqlcli.ingest.identity import add_links

    return add_links(ws, _collect([_concat(frames).unique()], "input")[0])


def _record_sources(ws: Workspace, kind: str, files: list[tuple[str, Path]], digests: dict[Path, Any],
                    result: IngestResult) -> None:
    import polars as pl

    now = datetime.now(UTC).isoformat()
    info = ws.table_info(kind)
    sources = list(info.get("sources", []))
    for label, path in files:
        sources.append({"path": label if label == "<stdin>" else str(Path(label).resolve()),
                        DIGEST: digests[path].result(), "rows": result.read if len(files) == 1 else None,
                        "ingested_at": now})
    schema: dict[str, str] = {}
    if ws.has_table(kind):
        table = ws.scan(kind)
        schema = {c: str(t) for c, t in table.collect_schema().items()}
        result.total_rows = int(table.select(pl.len()).collect().item())
    # `pql export crm` keys on CRM ids when a table came from a CRM export
    extra: dict[str, Any] = {"formats": sorted({*info.get("formats", []), *result.formats})}
    if kind == "events":
        from pqlcli.ingest.eventid import SCHEME

        extra["event_id_scheme"] = SCHEME
    ws.update_table_info(kind, sources=sources, rows=result.total_rows, schema=schema, **extra)


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
    plan: Any  # the rejected rows (row, reason, outcome, source, original fields), and rows with NULLed values
    counts: Any  # rows of every source frame (cheap: CSV line count, Parquet metadata)
    parse_rejected: int  # JSON lines that were not objects (already in ``plan``, not in ``counts``)
    skipped: int = 0  # rows that belong to no table (counted, not rejected)
    nullable: list[str] = field(default_factory=list)  # optional parsed columns that may have been NULLed
    written: bool = False
    rejected: int = 0
    nulled: dict[str, int] = field(default_factory=dict)
    first: list[str] = field(default_factory=list)


def _sink_outputs(good: Any, rejects: _Rejects, staged: Path, rejects_tmp: Path, what: str,
                  bucket: Any = None, total: int | None = None) -> int:
    """Usable rows to ``staged`` (Parquet) in one streaming pass; rejects to ``rejects_tmp`` (CSV).

    Returns the rows read. The rows of the sources are counted (nearly free) and compared with the
    usable rows written: only when some are missing (or an optional value was set to NULL) does a
    second pass write the rejects, so the common case reads the input once. With ``bucket`` (an
    expression), ``staged`` is a folder of one file per bucket (``__bucket=K/``), written in the same pass.
    """
    import polars as pl

    # zstd level 1: ~15 % less CPU than the default level for ~3 % larger files (the staged events become the part).
    # The sources' rows are counted after it: counting in the same collect_all measured ~130 MB more peak memory.
    if bucket is None:
        _collect([good.sink_parquet(staged, compression="zstd", compression_level=1, lazy=True)], what)
        files = [staged]
    else:
        target = pl.PartitionBy(staged, key=bucket.alias("__bucket"), include_key=False, approximate_bytes_per_file=None)
        _collect([good.sink_parquet(target, compression="zstd", compression_level=1, mkdir=True, lazy=True)], what)
        files = sorted(staged.glob("__bucket=*/*.parquet"))
    usable, nulls = 0, dict.fromkeys(rejects.nullable, 0)
    if files:
        stats = pl.scan_parquet(files).select(pl.len().alias("n"), *[pl.col(c).null_count() for c in rejects.nullable]).collect()
        usable, nulls = int(stats["n"][0]), {c: int(stats[c][0]) for c in rejects.nullable}
    return _count_rejects(rejects, rejects_tmp, what, usable, nulls, total)


def _collect_outputs(good: Any, rejects: _Rejects, rejects_tmp: Path, what: str) -> tuple[Any, int]:
    """Like :func:`_sink_outputs`, but the usable rows are kept in memory (users and accounts, which
    are rewritten whole anyway): (the rows as a DataFrame, the rows read)."""
    frame = _collect([good], what)[0]
    nulls = {c: frame[c].null_count() for c in rejects.nullable}
    return frame, _count_rejects(rejects, rejects_tmp, what, frame.height, nulls, None)


def _count_rejects(rejects: _Rejects, rejects_tmp: Path, what: str, usable: int, nulls: dict[str, int],
                   total: int | None) -> int:
    """The rows read; when some are missing from the ``usable`` rows written (or an optional value was
    set to NULL), a second pass writes the rejects to ``rejects_tmp`` and counts them in ``rejects``."""
    import polars as pl

    from pqlcli.ingest.strict import first_reasons

    if total is None:
        total = _source_rows(rejects, what)
    if total - rejects.skipped == usable and not any(nulls.values()):
        return total
    _collect([rejects.plan.sink_csv(rejects_tmp, lazy=True)], what)
    frame = pl.read_csv(rejects_tmp, infer_schema=False, columns=["outcome", "reason"])
    rejects.written = frame.height > 0
    rejects.rejected = frame.filter(pl.col("outcome") == "rejected").height
    kept = frame.filter(pl.col("outcome") != "rejected")["reason"]
    rejects.nulled = {c: int(kept.str.contains(f"{c} set to NULL", literal=True).sum()) for c in rejects.nullable}
    rejects.nulled = {c: n for c, n in rejects.nulled.items() if n}
    rejects.first = first_reasons(rejects_tmp) if rejects.rejected else []
    return usable + rejects.rejected + rejects.skipped


def _source_rows(rejects: _Rejects, what: str) -> int:
    """Rows of every source (a CSV line count, Parquet metadata), JSON lines that were not objects included."""
    import polars as pl

    return int(_collect([rejects.counts.select(pl.col("n").sum())], what)[0].item()) + rejects.parse_rejected


def _check_rate(ws: Workspace, kind: str, read: int, rejects: _Rejects, rejects_tmp: Path, stamp: str,
                opts: IngestOptions) -> None:
    """Above the allowed reject rate: keep the rejects file, write nothing else, fail."""
    from pqlcli.ingest.strict import check_reject_rate

    rate = opts.max_reject_rate
    if rate is None or read == 0 or rejects.rejected / read <= rate:
        return
    target = ws.rejects_path(kind, stamp)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(rejects_tmp, target)
    check_reject_rate(kind, read, rejects.rejected, rate, target)


def _event_ids(schema: dict[str, Any], extras: list[str]) -> Any:
    """``event_id``, with the version-independent row hash only where it is missing (the rows that carry
    an id are masked out before their fields are formatted and hashed, so they cost next to nothing)."""
    import polars as pl

    from pqlcli.ingest.eventid import event_id_expr

    if "event_id" not in schema:
        return event_id_expr(schema, extras)
    return pl.coalesce(pl.col("event_id"), event_id_expr(schema, extras, where=pl.col("event_id").is_null()))


def _joined(good: Any, table: Any, on: str) -> Any:
    """``good`` with ``on`` replaced by its value in ``table`` (columns ``on`` and ``__found``, ``on``
    unique) where ``table`` has one: the canonical id of an alias.

    A streaming left join that keeps the events' order: its hash table is built once from ``table`` (the
    aliases' ids) and every batch of events probes it, so memory is ``table``'s ids, not the events'.
    (``replace_strict`` with the ids as its mapping measured 1.5x the peak memory at 50k users, and grew
    with them.)"""
    import polars as pl

    joined = good.join(table.unique(on, keep="any"), on=on, how="left", maintain_order="left")
    return joined.with_columns(pl.coalesce("__found", on).alias(on)).drop("__found")


# dedupe checks hash ids into buckets of at most this many rows, so their memory does not grow with the input
# (each bucket re-reads and re-hashes every staged id: at 16M, a stored bucket of a first ingest, at most 12.5M
# events, is checked in one pass; 8M took two, ~1 s more of a 50M-event ingest at the same peak memory)
_DEDUPE_BUCKET_ROWS = 16_000_000


def _ids_are_new(new: Any, old: Any, rows: int) -> bool:
    """True when the staged ids ``new`` are unique and none is in ``old`` (the stored events they could
    repeat, or None); checked on 64-bit hashes: a collision can only make this say False, which then
    takes the exact path."""
    import polars as pl

    new = new.select(pl.col("event_id").hash(7).alias("h"))
    old = None if old is None else old.select(pl.col("event_id").hash(7).alias("h"))
    buckets = max(1, -(-rows // _DEDUPE_BUCKET_ROWS))
    for i in range(buckets):
        part = new if buckets == 1 else new.filter(pl.col("h") % buckets == i)
        # a repeated hash is next to its twin once sorted (measured ~half the CPU of n_unique's hash table)
        ordered = part.select(pl.col("h").sort())
        checks = [ordered.select((pl.col("h") == pl.col("h").shift(1)).any().alias("n"))]
        if old is not None:
            old_part = old if buckets == 1 else old.filter(pl.col("h") % buckets == i)
            checks.append(part.join(old_part, on="h", how="semi").select(pl.len().alias("n")))
        found = pl.collect_all(checks)
        if found[0]["n"][0] or (len(found) > 1 and found[1]["n"][0] > 0):
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


EVENT_EXTRAS = ("source_user_id", "source")  # the raw id the export used, and the system it came from


def _canonical_events(ws: Workspace, good: Any) -> tuple[Any, list[str]]:
    """Events keyed by the person's canonical id (``source_user_id`` keeps the raw one), with ids.

    ``account_id`` is the export's own (its canonical account), NULL where the export has none: an
    event's account is then its user's, taken from the users table when read
    (:meth:`~pqlcli.workspace.Workspace.scan_events_with_accounts`), not stored (filling it here was
    ~25 % of an events ingest, and nothing that scores reads it)."""
    import polars as pl

    from pqlcli.ingest.identity import canonical_ids
    from pqlcli.workspace.schema import EVENTS, polars_dtype

    good = good.rename({"_source": "source"}).with_columns(pl.col("user_id").alias("source_user_id"))
    schema = good.collect_schema()
    for col, kind in EVENTS.columns.items():
        if col not in schema:
            good = good.with_columns(pl.lit(None, dtype=polars_dtype(kind)).alias(col))
    extras = [c for c in schema if c not in EVENTS.columns and c not in EVENT_EXTRAS]
    good = good.with_columns(_event_ids(dict(schema), extras).alias("event_id"))
    rekeyed = False
    for column, kind in (("user_id", "users"), ("account_id", "accounts")):
        aliases = canonical_ids(ws, kind)
        if aliases.height:
            table = aliases.lazy().select(pl.col("id").alias(column), pl.col("canonical").alias("__found"))
            good = _joined(good, table, column)
            rekeyed = rekeyed or column == "user_id"
    # the export's id is stored only where it is not the canonical one: NULL means "the same as user_id"
    # (Workspace.scan fills it in). Writing a second copy of every user id was ~10 % of an events ingest.
    raw = pl.col("source_user_id")
    source_id = pl.when(raw != pl.col("user_id")).then(raw) if rekeyed else pl.lit(None, pl.String)
    good = good.with_columns(source_id.alias("source_user_id"))
    return good.select([*EVENTS.columns, *EVENT_EXTRAS, *extras]), extras


def _merge_events(ws: Workspace, good: Any, rejects: _Rejects, rejects_tmp: Path, tmp: Path,
                  stamp: str, opts: IngestOptions) -> IngestResult:
    """Stage the canonical events (one file per stored bucket), keep the rows whose ids are new to their
    bucket, and add them as one part per bucket, all visible at once."""
    from pqlcli.workspace.buckets import bucket_dir, bucket_expr
    from pqlcli.workspace.commit import Commit

    good, _ = _canonical_events(ws, good)
    n, total = _bucket_count(ws, rejects, opts)
    staged = tmp / ("staged" if n > 1 else "staged.parquet")
    read = _sink_outputs(good, rejects, staged, rejects_tmp, "events", bucket_expr(n) if n > 1 else None, total)
    _check_rate(ws, "events", read, rejects, rejects_tmp, stamp, opts)
    usable = read - rejects.rejected - rejects.skipped
    if n > 1:
        ws.set_event_bucket_count(n)
    folder = ws.table_path("events")
    added, staged_rows, jump_seconds = 0, 0, 0.0
    with Commit(ws.root) as commit:
        for b, files in _staged_buckets(staged, n).items():
            span = _span(files)
            part, rows = _new_rows(ws, files, b, n, tmp, opts, span)
            if rows:
                commit.adopt(part, (bucket_dir(folder, b) if n > 1 else folder) / f"part-{stamp}.parquet")
                added += rows
                staged_rows, jump_seconds = staged_rows + span.rows, jump_seconds + span.jump.total_seconds() * span.rows
        commit.apply()
    result = IngestResult("events", read=read, added=added, duplicates=usable - added)
    # the note on row order (`pql optimize`): the new rows' mean jump in time from one row to the next
    result.out_of_order = added >= ORDER_NOTE_ROWS and jump_seconds / staged_rows > DISORDER.total_seconds()
    return result


# An ingest adding at least this many events says when they are in no useful time order (`pql optimize`)
ORDER_NOTE_ROWS = ORDER_ROWS


@dataclass
class _Span:
    """A bucket's staged rows: how many, their time span, and their mean jump in time from one row to
    the next (read in one scan of their timestamps; a mean, as a sum of microseconds overflows)."""

    rows: int
    lo: Any
    hi: Any
    jump: timedelta


def _span(files: list[Path]) -> _Span:
    import polars as pl

    ts = pl.col("timestamp")
    got = pl.scan_parquet(files).select(pl.len(), ts.min().alias("lo"), ts.max().alias("hi"), mean_jump(ts).alias("jump")).collect().row(0)
    return _Span(int(got[0]), got[1], got[2], got[3] or timedelta(0))


def _bucket_count(ws: Workspace, rejects: _Rejects, opts: IngestOptions) -> tuple[int, int | None]:
    """(buckets, rows of the sources if counted): the stored count; for a new table, ``opts.buckets`` or
    one chosen from the input's size (``pqlcli.workspace.buckets.choose_count``)."""
    from pqlcli.workspace.buckets import choose_count

    stored = ws.event_bucket_count()
    if stored > 1 or ws.has_table("events"):
        if opts.buckets is not None and opts.buckets != stored:
            ws.set_event_bucket_count(opts.buckets)  # raises: the count cannot change once events are stored
        return stored, None
    if opts.buckets is not None:
        if opts.buckets < 1:
            raise UsageError(f"The number of event buckets must be 1 or more, not {opts.buckets}.",
                             "Leave it unset to let pql choose from the size of the events.")
        return opts.buckets, None
    total = _source_rows(rejects, "events")
    return choose_count(total), total


def _staged_buckets(staged: Path, n: int) -> dict[int, list[Path]]:
    """The staged files of each bucket that has new rows."""
    if n <= 1:
        return {0: [staged]} if staged.exists() else {}
    out: dict[int, list[Path]] = {}
    for file in sorted(staged.glob("__bucket=*/*.parquet")):
        out.setdefault(int(file.parent.name.split("=", 1)[1]), []).append(file)
    return out


def _new_rows(ws: Workspace, files: list[Path], bucket: int, n: int, tmp: Path, opts: IngestOptions,
              span: _Span) -> tuple[Path, int]:
    """The staged rows of one bucket whose ids are not stored yet (the first row per id), as a Parquet
    file, and their count. Only the bucket's own parts are read (every event of a person is in the
    person's bucket), and of those only the row groups whose time span meets the new rows' (Parquet
    statistics): a re-export of an event carries its time, so a day of new events reads about a day of
    stored ones. ``span``: the staged rows' count and time span (:func:`_span`)."""
    import polars as pl

    from pqlcli.workspace import _concat_parts
    from pqlcli.workspace.buckets import bucket_files

    fresh = pl.scan_parquet(files)
    rows, lo, hi = span.rows, span.lo, span.hi
    folder = ws.table_path("events")
    stored = bucket_files(folder, n)[bucket] if n > 1 else sorted(folder.glob("part-*.parquet"))
    old = None
    if stored and rows:
        old = _concat_parts(stored).select("event_id", "timestamp").filter(pl.col("timestamp").is_between(lo, hi))
    part = files[0]
    if rows and (len(files) > 1 or not _ids_are_new(fresh, old, rows)):
        # duplicates within the input or already in the bucket: keep the first row per new id
        if old is not None:
            known = old.select("event_id")
            if not _has_new_ids(fresh, known, rows):  # the same export again: nothing to add
                return part, 0
            fresh = fresh.join(known, on="event_id", how="anti")
        part = tmp / f"part-{bucket}.parquet"
        _collect([fresh.unique(subset=["event_id"], keep="first", maintain_order=True).sink_parquet(part, lazy=True)], "events")
        rows = int(pl.scan_parquet(part).select(pl.len()).collect().item())
    if rows and opts.dedupe_window and stored:
        from pqlcli.ingest.dedupe import drop_cross_source_duplicates

        nearby = _concat_parts(stored).filter(
            pl.col("timestamp").is_between(lo - opts.dedupe_window, hi + opts.dedupe_window))
        part, rows = drop_cross_source_duplicates(nearby, part, tmp / f"deduped-{bucket}.parquet", opts.dedupe_window)
    return part, rows


def _merge_entities(ws: Workspace, kind: str, good: Any, rejects: _Rejects, rejects_tmp: Path,
                    tmp: Path, opts: IngestOptions, stamp: str = "") -> tuple[IngestResult, Any]:
    """Upsert the rows into the records of their source (keyed by source and id); the ``users`` /
    ``accounts`` table is then derived from the records by :func:`pqlcli.ingest.identity.resolve`.
    Returns the result and the records table written (None when nothing changed)."""
    import polars as pl

    from pqlcli.ingest.identity import RECORDS, SEQ, SOURCE, ZSTD_LEVEL, repeated
    from pqlcli.ingest.traits import numeric_traits
    from pqlcli.workspace.schema import SCHEMAS

    key = SCHEMAS[kind].key
    assert key is not None
    records = RECORDS[kind]
    _adopt_legacy_table(ws, kind)
    frame, read = _collect_outputs(good, rejects, rejects_tmp, kind)
    _check_rate(ws, kind, read, rejects, rejects_tmp, stamp, opts)
    keys = [key, SOURCE]
    new = numeric_traits(frame.lazy(), SCHEMAS[kind])[0].collect()
    if repeated(new, keys).any():  # a newer row for the same id later in the input wins
        new = new.unique(subset=keys, keep="last", maintain_order=True)
    seq = int(datetime.now(UTC).timestamp() * 1_000_000)
    old = ws.scan_or_none(records)
    # the first import of a kind: every record is new (no change detection, no merge with stored records)
    added, updated = (new.height, 0) if old is None else _entity_changes(old, new.lazy(), keys, [c for c in new.columns if c not in keys])
    table = None
    if added or updated:
        new = new.with_columns(pl.lit(seq, pl.Int64).alias(SEQ))
        table = new if old is None else pl.concat([old.join(new.lazy().select(keys), on=keys, how="anti"), new.lazy()],
                                                  how="diagonal_relaxed").collect()
        ws.write_table(records, table, ZSTD_LEVEL)
    return IngestResult(kind, read=read, added=added, updated=updated,
                        duplicates=read - added - updated - rejects.rejected - rejects.skipped), table


def _entity_changes(old: Any, new: Any, keys: list[str], compare: list[str]) -> tuple[int, int]:
    """(new records, changed records) of ``new`` against the stored records ``old`` (both lazy)."""
    import polars as pl

    old_cols = list(old.collect_schema())
    old_h = old.select(*keys, *[(pl.col(c) if c in old_cols else pl.lit(None)).alias(c) for c in compare])
    old_h = old_h.select(*keys, _row_hash(compare).alias("_old"))
    status = (
        new.select(*keys, _row_hash(compare).alias("_new"))
        .join(old_h, on=keys, how="left", nulls_equal=True)
        .select(
            pl.col("_old").is_null().sum().alias("added"),
            (pl.col("_old").is_not_null() & (pl.col("_old") != pl.col("_new"))).sum().alias("updated"),
        )
        .collect()
    )
    return int(status["added"][0]), int(status["updated"][0])


def _adopt_legacy_table(ws: Workspace, kind: str) -> None:
    """A workspace made before identity resolution has a users/accounts table but no records: adopt it."""
    import polars as pl

    from pqlcli.ingest.identity import RECORDS, SEQ, SOURCE

    if ws.has_table(kind) and not ws.has_table(RECORDS[kind]):
        ws.write_table(RECORDS[kind], ws.scan(kind).with_columns(pl.lit("legacy").alias(SOURCE), pl.lit(0, pl.Int64).alias(SEQ)).collect())


_SNAKE = re.compile(r"[^0-9a-zA-Z]+")


def snake(name: str) -> str:
    """'Number of Employees' -> 'number_of_employees' (extra columns become rule-friendly names)."""
    out = _SNAKE.sub("_", name).strip("_").lower()
    return out or "column"


__all__ = ["KINDS", "IngestOptions", "IngestResult", "ingest", "snake"]
