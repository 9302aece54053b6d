"""The one place delivery and diff read score snapshots.

A thin view over a snapshot folder until ``pqlcli.workspace.Snapshot`` lands; then ``resolve`` returns
``ws.snapshot(ref)`` and this module shrinks to that one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pqlcli.errors import UsageError, WorkspaceError

if TYPE_CHECKING:
    import polars as pl

    from pqlcli.workspace import Workspace

LEVELS = ("users", "accounts")


@dataclass
class SnapshotView:
    """A completed score snapshot: ``id`` (folder name), ``path``, ``manifest``, ``created_at``."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def created_at(self) -> datetime:
        raw = self.manifest.get("created_at")
        try:
            stamp = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            stamp = datetime.strptime(self.id, "%Y%m%dT%H%M%S%fZ")
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    def scan(self, level: str) -> pl.LazyFrame:
        from pqlcli import report

        return report.scan_level(self.path, level)

    def read(self, level: str) -> pl.DataFrame:
        return self.scan(level).collect()


def _view(path: Path) -> SnapshotView:
    from pqlcli import report

    return SnapshotView(path, report.snapshot_manifest(path))


def resolve(ws: Workspace, ref: str | None = None) -> SnapshotView:
    """A snapshot by id, path, ``latest`` (also None) or ``previous``."""
    snaps = ws.snapshots()
    if ref in (None, "latest"):
        return _view(ws.latest_snapshot())
    if ref == "previous":
        if len(snaps) < 2:
            raise WorkspaceError(
                f"The workspace {ws.root} has {len(snaps)} snapshot{'s' if len(snaps) != 1 else ''}, "
                "so there is no previous one.",
                "Run `pql score` again after new data arrives.",
            )
        return _view(snaps[-2])
    return _view(ws.snapshot(ref))


def all_snapshots(ws: Workspace) -> list[SnapshotView]:
    """Every completed snapshot, oldest first."""
    return [_view(p) for p in ws.snapshots()]


def check_level(level: str) -> str:
    """``user``/``users`` -> ``users``; ``account``/``accounts`` -> ``accounts``."""
    plural = level if level.endswith("s") else f"{level}s"
    if plural not in LEVELS:
        raise UsageError(f"Unknown level {level!r}.", "Use user or account.")
    return plural
