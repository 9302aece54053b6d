"""The workspace: a folder (default ``./.pql``) of canonical Parquet tables, a manifest and snapshots.

Layout::

    .pql/
      manifest.json              per table: sources ingested (path, xxh3_128 digest, rows), row count, schema, time
      users.parquet  accounts.parquet  firmographics.parquet
      events/part-*.parquet      events are appended as parts (re-ingest adds nothing) ...
      events/bucket=KKK/part-*.parquet  ... or, in a large workspace, in buckets of users (see below)
      rejects/<table>-<time>.csv rows that could not be used, with the row number and the reason
      scores/<timestamp>/        users.parquet, accounts.parquet, manifest.json (one snapshot per score)
      .write.lock  .enrich.lock  one writer at a time (:mod:`pqlcli.workspace.lock`)

A large events table is stored in N buckets (``manifest.json``: ``tables.events.buckets`` = scheme and N,
chosen from the size of the first events ingest; :mod:`pqlcli.workspace.buckets`): every event of a user
is in ``bucket=KKK`` with KKK = XXH64(user_id) mod N, so scoring reads one bucket at a time and an ingest
checks its event ids against its own buckets only. A small one (N = 1) keeps its parts in ``events/``.

Every write goes through :mod:`pqlcli.util.atomic`: temp file + rename; a change of several files (one
part per bucket) is one :class:`~pqlcli.workspace.commit.Commit` (a redo journal). Snapshots are
:class:`~pqlcli.workspace.snapshot.Snapshot` objects (``ws.snapshot("latest")``).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pqlcli.errors import WorkspaceError
from pqlcli.util import atomic
from pqlcli.util.clock import stamp as clock_stamp
from pqlcli.util.clock import utc_now

if TYPE_CHECKING:
    import polars as pl

    from pqlcli.workspace.snapshot import Snapshot, SnapshotManifest


def __getattr__(name: str) -> Any:
    """``Snapshot`` and ``SnapshotManifest`` are imported on first use: the snapshot module brings pydantic
    (~0.1 s), which commands that never read a snapshot (ingest, enrich, doctor) do not need."""
    if name in ("Snapshot", "SnapshotManifest"):
        from pqlcli.workspace import snapshot

        return getattr(snapshot, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

T = TypeVar("T")

DEFAULT_WORKSPACE = ".pql"
TABLES = ("users", "accounts", "events", "firmographics")
PARTITIONED = {"events"}


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The workspace folder: the argument, else ``$PQL_WORKSPACE``, else ``./.pql``."""
    if path:
        return Path(path)
    return Path(os.environ.get("PQL_WORKSPACE") or DEFAULT_WORKSPACE)


@dataclass
class Workspace:
    root: Path

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = False) -> Workspace:
        root = resolve_path(path)
        if root.exists() and not root.is_dir():
            raise WorkspaceError(
                f"The workspace path {root} is a file, not a folder.",
                "Pass a folder as {param} (or PQL_WORKSPACE).",
                param="workspace",
            )
        if create:
            root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    # ---- tables -------------------------------------------------------------------------------
    def table_path(self, name: str) -> Path:
        if name in PARTITIONED:
            return self.root / name
        return self.root / f"{name}.parquet"

    def has_table(self, name: str) -> bool:
        path = self.table_path(name)
        if name in PARTITIONED:
            return bool(self.table_files(name))
        return path.is_file()

    def table_files(self, name: str) -> list[Path]:
        """The Parquet files of a table: its one file, or every part (``events/part-*`` and, bucketed,
        ``events/bucket=*/part-*``, in that order). Completes a multi-file change a killed process left."""
        path = self.table_path(name)
        if name not in PARTITIONED:
            return [path] if path.is_file() else []
        if not path.is_dir():
            return []
        from pqlcli.workspace.commit import recover

        recover(self.root)
        return sorted(path.glob("part-*.parquet")) + sorted(path.glob("bucket=*/part-*.parquet"))

    def reading_events(self, run: Callable[[], T]) -> T:
        """``run()``, a reader of the events; when it fails on an events part that is gone since it
        started (`pql optimize --merge` replaced a bucket's parts meanwhile: readers take no lock), it runs
        once more, on the parts stored now."""
        listed = self.table_files("events")
        try:
            return run()
        except FileNotFoundError:
            if all(part.exists() for part in listed):  # not a part replaced meanwhile
                raise
            return run()

    def scan(self, name: str) -> pl.LazyFrame:
        """A lazy scan of a table; raises :class:`WorkspaceError` if it was never ingested."""
        import polars as pl

        if not self.has_table(name):
            if name == "firmographics":
                raise WorkspaceError(f"The workspace {self.root} has no {name} table yet.", "Enrich it first.",
                                     command="enrich")
            raise WorkspaceError(f"The workspace {self.root} has no {name} table yet.",
                                 f"Ingest a {name} export first.", command=f"ingest {name} FILE")
        if name in PARTITIONED:
            parts = _concat_parts(self.table_files(name))
            if name == "events" and "source_user_id" in parts.collect_schema():
                # stored only where the export's id is not the canonical one (NULL: the same as user_id)
                parts = parts.with_columns(pl.coalesce("source_user_id", "user_id").alias("source_user_id"))
            return parts
        return pl.scan_parquet(self.table_path(name))

    def scan_or_none(self, name: str) -> pl.LazyFrame | None:
        return self.scan(name) if self.has_table(name) else None

    def scan_events_with_accounts(self) -> pl.LazyFrame:
        """The events, each with its account: the export's own ``account_id`` (what the events table
        stores), else the account of its user in the users table (docs/ingest.md). Scoring needs no
        such join: it rolls events up to accounts through the users."""
        import polars as pl

        events = self.scan("events")
        users = self.scan_or_none("users")
        if users is None or "account_id" not in users.collect_schema():
            return events
        owners = users.select(pl.col("user_id").cast(pl.String), pl.col("account_id").cast(pl.String).alias("__owner"))
        joined = events.join(owners.drop_nulls("user_id").unique("user_id", keep="any"), on="user_id", how="left",
                             maintain_order="left")
        return joined.with_columns(pl.coalesce("account_id", "__owner").alias("account_id")).drop("__owner")

    # ---- events in buckets --------------------------------------------------------------------
    def event_bucket_count(self) -> int:
        """How many buckets the events table is stored in (1: one folder of parts, not bucketed)."""
        from pqlcli.workspace.buckets import stored_count

        return stored_count(self.table_info("events"))

    def set_event_bucket_count(self, n: int) -> None:
        """Record the bucket count of a new events table (it cannot change once events are stored)."""
        from pqlcli.workspace.buckets import SCHEME, check_scheme

        if n == self.event_bucket_count():
            return
        if self.has_table("events"):
            raise WorkspaceError(
                f"The events table of {self.root} is stored in {self.event_bucket_count()} bucket(s); "
                f"it cannot be changed to {n} once events are stored.",
                "Ingest the events into a new workspace to store them in another number of buckets.")
        check_scheme()
        self.update_table_info("events", buckets={"scheme": SCHEME, "n": int(n)})

    def scan_event_buckets(self) -> list[pl.LazyFrame] | None:
        """One lazy frame per stored bucket (every frame with the whole table's columns and types), or
        None when the events table is not bucketed."""
        import polars as pl

        from pqlcli.workspace.buckets import bucket_files

        n = self.event_bucket_count()
        if n <= 1 or not self.has_table("events"):
            return None
        schema = self.scan("events").collect_schema()
        frames = []
        for files in bucket_files(self.table_path("events"), n):
            if not files:
                frames.append(pl.LazyFrame(schema=schema))
                continue
            lf = _concat_parts(files)
            have = lf.collect_schema()
            frames.append(lf.select([
                (pl.col(c) if have[c] == dtype else pl.col(c).cast(dtype)) if c in have else pl.lit(None, dtype).alias(c)
                for c, dtype in schema.items()]))
        return frames

    def write_table(self, name: str, frame: pl.DataFrame | pl.LazyFrame, compression_level: int | None = None) -> None:
        """Replace a single-file table atomically (zstd at ``compression_level``, Polars' default if None)."""
        if name in PARTITIONED:
            raise ValueError(f"{name} is partitioned; use add_part()")
        self.root.mkdir(parents=True, exist_ok=True)
        atomic.write_parquet(self.table_path(name), frame, compression_level)

    def add_part(self, name: str, frame: pl.DataFrame | pl.LazyFrame, part_id: str) -> Path:
        """Add one part to a partitioned table atomically (bucketed events: one part per bucket, all
        visible at once); returns the part's path (bucketed: the table's folder)."""
        folder = self.table_path(name)
        folder.mkdir(parents=True, exist_ok=True)
        n = self.event_bucket_count() if name == "events" else 1
        if n <= 1:
            target = folder / f"part-{part_id}.parquet"
            atomic.write_parquet(target, frame)
            return target
        from pqlcli.workspace.buckets import bucket_dir, bucket_expr
        from pqlcli.workspace.commit import Commit

        with Commit(self.root) as commit:
            data = frame.lazy().with_columns(bucket_expr(n).alias("__bucket")).collect()
            for (b,), rows in data.partition_by("__bucket", as_dict=True, include_key=False).items():
                staged = commit.stage(f"{b}.parquet")
                rows.write_parquet(staged)
                commit.move(staged, bucket_dir(folder, int(b)) / f"part-{part_id}.parquet")  # type: ignore[call-overload]
            commit.apply()
        return folder

    def rejects_path(self, name: str, stamp: str | None = None) -> Path:
        stamp = stamp or clock_stamp()
        return self.root / "rejects" / f"{name}-{stamp}.csv"

    # ---- manifest -----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"version": 1, "tables": {}}
        try:
            return json.loads(self.manifest_path.read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise WorkspaceError(
                f"The workspace manifest {self.manifest_path} is not valid JSON ({exc}).",
                "Restore it from a backup, or delete it and re-ingest your exports.",
            )

    def save_manifest(self, manifest: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.manifest_path, manifest)

    def table_info(self, name: str) -> dict[str, Any]:
        return self.manifest().get("tables", {}).get(name, {})

    def update_table_info(self, name: str, **fields: Any) -> None:
        from pqlcli.workspace.lock import writing

        with writing(self.root, "update the workspace manifest"):  # read-modify-write: one writer at a time
            manifest = self.manifest()
            info = manifest.setdefault("tables", {}).setdefault(name, {})
            info.update(fields)
            info["updated_at"] = utc_now().isoformat()
            self.save_manifest(manifest)

    # ---- snapshots ----------------------------------------------------------------------------
    @property
    def scores_dir(self) -> Path:
        return self.root / "scores"

    def snapshots(self) -> list[Snapshot]:
        """Completed snapshots, oldest first (a snapshot is complete once its manifest exists)."""
        if not self.scores_dir.is_dir():
            return []
        # a hidden `.tmp-*` folder is a write that died before its rename, even if its manifest was written
        done = sorted(p for p in self.scores_dir.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").exists())
        from pqlcli.workspace.snapshot import Snapshot

        return [Snapshot(self, p) for p in done]

    def snapshot(self, ref: str | os.PathLike[str] | None = "latest") -> Snapshot:
        """A snapshot: ``"latest"`` (or None), ``"previous"`` (the one before the latest), an id or a path."""
        snaps = self.snapshots()
        if ref is None or ref == "latest":
            if not snaps:
                raise WorkspaceError(
                    f"The workspace {self.root} has no scores yet.",
                    "Score it first (after ingesting your exports and, for fit rules, enriching them).",
                    command="score",
                )
            return snaps[-1]
        if ref == "previous":
            if len(snaps) < 2:
                raise WorkspaceError(
                    f"The workspace {self.root} has {len(snaps)} snapshot(s), so none before the latest.",
                    "Score again later to compare two snapshots.",
                )
            return snaps[-2]
        return self._snapshot_by_ref(ref, snaps)

    def _snapshot_by_ref(self, ref: str | os.PathLike[str], snaps: list[Snapshot]) -> Snapshot:
        from pqlcli.workspace.snapshot import Snapshot

        candidate = Path(ref)
        if candidate.is_dir() and (candidate / "manifest.json").exists():
            return Snapshot(self, candidate)
        named = self.scores_dir / str(ref)
        if named.is_dir() and (named / "manifest.json").exists():
            return Snapshot(self, named)
        names = ", ".join(s.id for s in snaps) or "none"
        raise WorkspaceError(
            f"No snapshot {str(ref)!r} in {self.scores_dir}.",
            f"Snapshots available: {names} (or latest, previous).",
        )


def _concat_parts(files: list[Path]) -> pl.LazyFrame:
    """Parts may differ in their extra columns (event properties): each run of consecutive parts with the
    same columns is one multi-file scan, and the runs are aligned by name (``diagonal_relaxed``). One scan
    per part cost 4.9 s just to resolve the schema of 3,200 parts (10M users); the footers, read in
    threads and cached by path, modification time and size (`pql optimize` replaces parts), cost ~1.5 s the first time."""
    import itertools

    import polars as pl

    if len(files) == 1:
        return pl.scan_parquet(files[0])
    runs = [[p for p, _ in run] for _, run in itertools.groupby(zip(files, _part_schemas(files), strict=True), key=lambda x: list(x[1].items()))]
    scans = [pl.scan_parquet(run) for run in runs]
    return scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal_relaxed")


def _part_schemas(files: list[Path]) -> list[dict[str, pl.DataType]]:
    from concurrent.futures import ThreadPoolExecutor

    keys = []
    for p in files:
        st = p.stat()
        keys.append((str(p), st.st_mtime_ns, st.st_size))
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda k: _part_schema(*k), keys))


@functools.lru_cache(maxsize=100_000)
def _part_schema(path: str, mtime_ns: int, size: int) -> dict[str, pl.DataType]:
    """A Parquet file's schema (its footer), cached by path, modification time and size."""
    import polars as pl

    return pl.read_parquet_schema(path)


__all__ = ["DEFAULT_WORKSPACE", "PARTITIONED", "TABLES", "Snapshot", "SnapshotManifest", "Workspace", "resolve_path"]
