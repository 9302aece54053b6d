"""Score snapshots: write them atomically, read them back as :class:`Snapshot` (see docs/snapshot.md).

A snapshot is written into a hidden temp folder and renamed into place, manifest last, so readers never
see a half-written one and a crash never touches earlier snapshots. Its ``manifest.json`` is a typed,
versioned contract (:class:`SnapshotManifest`): readers upgrade older versions and refuse newer ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from pqlcli.errors import WorkspaceError
from pqlcli.util import atomic, clock

if TYPE_CHECKING:
    import polars as pl

    from pqlcli.config import LoadedConfig
    from pqlcli.workspace import Workspace

SCHEMA_VERSION: Literal[1] = 1
LEVELS = ("users", "accounts")


class TiersInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    fit: float
    usage: float
    names: dict[str, str]
    labels: dict[str, str]


class SnapshotManifest(BaseModel):
    """``manifest.json`` of a snapshot. Version history: 0 = unversioned (before 0.2), 1 = this model."""

    model_config = ConfigDict(extra="allow")

    schema_version: Literal[1] = SCHEMA_VERSION
    as_of: datetime
    created_at: datetime
    pql_version: str
    engine: str = "polars"
    config_hash: str
    config_path: str | None = None
    config: dict[str, Any] | None = Field(None, description="The validated config the scores came from.")
    inputs: dict[str, str | None] = Field(default_factory=dict, description="Fingerprint per input table (its files' names, sizes and modification times).")
    metrics: list[str]
    fit_rules: list[str]
    usage_rules: list[str]
    tiers: TiersInfo
    pqls: list[dict[str, Any]]
    pqa_share: float
    counts: dict[str, Any] = Field(default_factory=dict)

    @field_serializer("as_of", "created_at")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()  # "+00:00", as every manifest so far

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, as written to ``manifest.json``."""
        return self.model_dump(mode="json")


def upgrade(data: dict[str, Any], source: Path | str) -> dict[str, Any]:
    """Bring manifest data of an older ``schema_version`` to the current one, or refuse it."""
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkspaceError(f"The snapshot manifest {source} has schema_version {version!r}, not a number.",
                             "Score again to write a fresh snapshot.")
    if version > SCHEMA_VERSION:
        raise WorkspaceError(
            f"The snapshot manifest {source} has schema_version {version}; this pql reads up to {SCHEMA_VERSION}.",
            "It was written by a newer pql: upgrade pql, or score again with this one.",
        )
    if version == 0:  # unversioned manifests: same fields, engine not always recorded
        data = {**data, "schema_version": 1}
        data.setdefault("engine", "polars")
    return data


def parse_manifest(data: Any, source: Path | str) -> SnapshotManifest:
    """Validate (after upgrading) manifest data; a clear WorkspaceError when it cannot be used."""
    if not isinstance(data, dict):
        raise WorkspaceError(f"The snapshot manifest {source} is not a JSON object.", "Score again.")
    try:
        return SnapshotManifest.model_validate(upgrade(data, source))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise WorkspaceError(
            f"The snapshot manifest {source} is not a valid pql manifest ({where}: {first['msg']}).",
            "Score again to write a fresh snapshot.",
        ) from None


def read_manifest(snapshot: Path) -> dict[str, Any]:
    """A snapshot's manifest as plain data (validated, upgraded to the current version)."""
    return load_manifest(snapshot).to_dict()


def load_manifest(snapshot: Path) -> SnapshotManifest:
    path = Path(snapshot) / "manifest.json"
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(f"The snapshot {snapshot} has no manifest.json.", "Score again.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"The snapshot manifest {path} is not valid JSON ({exc}).", "Score again.") from None
    return parse_manifest(data, path)


class Snapshot:
    """One completed score snapshot of a workspace."""

    def __init__(self, workspace: Workspace, path: Path):
        self.workspace = workspace
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Snapshot({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Snapshot) and self.path.resolve() == other.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    @property
    def id(self) -> str:
        """The folder name, a sortable UTC timestamp such as ``20261101T000000000000Z``."""
        return self.path.name

    @property
    def stamped_at(self) -> datetime | None:
        """The UTC time in the snapshot's id (no manifest read), None for a folder named otherwise."""
        try:
            return datetime.strptime(self.id, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        except ValueError:
            return None

    @property
    def label(self) -> str:
        """``2026-11-30 01:02 UTC (20261130T010203000000Z)``: a readable date beside the id."""
        when = self.stamped_at
        return f"{when:%Y-%m-%d %H:%M} UTC ({self.id})" if when else self.id

    @cached_property
    def manifest(self) -> SnapshotManifest:
        return load_manifest(self.path)

    @property
    def created_at(self) -> datetime:
        return self.manifest.created_at

    def level_path(self, level: str) -> Path:
        if level not in LEVELS:
            raise WorkspaceError(f"A snapshot has no level {level!r}.", "Levels are users and accounts.")
        return self.path / f"{level}.parquet"

    def scan(self, level: str) -> pl.LazyFrame:
        """A lazy scan of the users or accounts of this snapshot."""
        import polars as pl

        return pl.scan_parquet(self.level_path(level))

    def read(self, level: str) -> pl.DataFrame:
        import polars as pl

        return pl.read_parquet(self.level_path(level))

    def previous(self) -> Snapshot | None:
        """The snapshot just before this one in the same workspace, if any."""
        earlier = [s for s in self.workspace.snapshots() if s.id < self.id]
        return earlier[-1] if earlier else None


# ---- writing ----------------------------------------------------------------------------------------
def table_fingerprint(ws: Workspace, name: str) -> str | None:
    """A fingerprint of a table's files: SHA-256 over each file's name, size and modification time (ns),
    None if absent. pql never changes a file in place (every write is a new file renamed into place), so
    any change to a table changes its fingerprint. Hashing every byte instead cost 1.6 s of a 12 s score
    at 1M users and 10.6 s at 10M (docs/performance.md)."""
    if not ws.has_table(name):
        return None
    path = ws.table_path(name)
    h = hashlib.sha256()
    for f in ws.table_files(name):
        st = f.stat()
        h.update(f"{f.relative_to(path) if path.is_dir() else f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def snapshot_manifest(
    loaded: LoadedConfig, ws: Workspace, as_of: datetime, stats: dict[str, Any], engine: str = "polars"
) -> SnapshotManifest:
    """The manifest of a snapshot scored from ``loaded`` over the workspace's current tables."""
    from pqlcli import __version__
    from pqlcli.workspace import TABLES

    cfg = loaded.config
    tiers = ("tier1", "tier2", "tier3", "tier4")
    return SnapshotManifest(
        as_of=as_of,
        created_at=clock.utc_now(),
        pql_version=__version__,
        engine=engine,
        config_path=str(loaded.path),
        config_hash=loaded.sha256,
        config=json.loads(cfg.model_dump_json(by_alias=True)),
        inputs={name: table_fingerprint(ws, name) for name in TABLES},
        metrics=list(cfg.metrics),
        fit_rules=[r.name for r in cfg.fit],
        usage_rules=[r.name for r in cfg.usage],
        tiers=TiersInfo(
            fit=cfg.tiers.fit,
            usage=cfg.tiers.usage,
            names={t: cfg.tiers.name(t) for t in tiers},
            labels={t: cfg.tiers.label(t) for t in tiers},
        ),
        pqls=[p.model_dump() for p in cfg.pqls],
        pqa_share=cfg.accounts.pqa_share,
        counts=stats,
    )


def write_snapshot(ws: Workspace, users: pl.DataFrame, accounts: pl.DataFrame, manifest: SnapshotManifest) -> Snapshot:
    """Write a new snapshot (temp folder, then rename; the manifest is what makes it complete)."""
    with new_snapshot(ws) as draft:
        users.write_parquet(draft.folder / "users.parquet", statistics=False)
        accounts.write_parquet(draft.folder / "accounts.parquet", statistics=False)
        draft.manifest = manifest
    assert draft.snapshot is not None
    return draft.snapshot


class Draft:
    """A snapshot being written (``new_snapshot``): its files go into ``folder``; set ``manifest`` last."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest: SnapshotManifest | None = None
        self.snapshot: Snapshot | None = None


@contextmanager
def new_snapshot(ws: Workspace) -> Iterator[Draft]:
    """A hidden temp folder to write a snapshot's files into, renamed into place when the block ends with a
    manifest set; removed on any error (or without a manifest), so no half-written snapshot is ever seen."""
    ws.scores_dir.mkdir(parents=True, exist_ok=True)
    stamp = clock.stamp()
    final = ws.scores_dir / stamp
    tmp = ws.scores_dir / f".tmp-{stamp}-{os.getpid()}"
    tmp.mkdir()
    draft = Draft(tmp)
    try:
        yield draft
        if draft.manifest is None:
            raise WorkspaceError("A snapshot was written without its manifest (a pql bug).")
        atomic.write_json(tmp / "manifest.json", draft.manifest.to_dict())
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    draft.snapshot = Snapshot(ws, final)
