"""Snapshot access for the leads queries: a thin adapter over the workspace's :class:`Snapshot`.

Everything in ``leads/`` reads a snapshot through :func:`open_snapshot`, which accepts a ``Snapshot``
(``ws.snapshot("latest")``), a snapshot folder, or an already opened :class:`LeadSnapshot`.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pqlcli.config import DEFAULT_TIER_LABELS, TIERS
from pqlcli.errors import UsageError, WorkspaceError
from pqlcli.workspace import Snapshot, Workspace

if TYPE_CHECKING:
    import polars as pl

    from pqlcli.leads.tiers import TiersReport

LEVELS = ("users", "accounts")
ID_COLUMN = {"users": "user_id", "accounts": "account_id"}


class LeadSnapshot:
    """A completed score snapshot as the leads queries see it: tier names, tables, the one before it."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.manifest: dict[str, Any] = snapshot.manifest.to_dict()

    def __repr__(self) -> str:
        return f"LeadSnapshot({str(self.path)!r})"

    @property
    def path(self) -> Path:
        return self.snapshot.path

    @property
    def name(self) -> str:
        return self.snapshot.id

    @property
    def as_of(self) -> datetime | None:
        return self.snapshot.manifest.as_of

    def has(self, level: str) -> bool:
        return (self.path / f"{level}.parquet").is_file()

    def scan(self, level: str) -> pl.LazyFrame:
        check_level(level)
        if not self.has(level):
            raise WorkspaceError(f"The snapshot {self.path} has no {level}.parquet.", "Score again.", command="score")
        return self.snapshot.scan(level)

    def read(self, level: str, columns: list[str] | None = None) -> pl.DataFrame:
        frame = self.scan(level)
        return (frame.select(columns) if columns else frame).collect()

    def previous(self) -> LeadSnapshot | None:
        """The completed snapshot just before this one in the same workspace, if any."""
        before = self.snapshot.previous()
        return LeadSnapshot(before) if before is not None else None

    def tier_names(self) -> dict[str, str]:
        """Canonical tier key (tier1..tier4) -> the name used in the snapshot's ``tier`` column."""
        names = (self.manifest.get("tiers") or {}).get("names") or {}
        return {key: str(names.get(key, key)) for key in TIERS}

    def tier_labels(self) -> dict[str, str]:
        labels = (self.manifest.get("tiers") or {}).get("labels") or {}
        return {key: str(labels.get(key, DEFAULT_TIER_LABELS[key])) for key in TIERS}

    def tier_keys(self) -> dict[str, str]:
        """The snapshot's tier name -> canonical key (for colours and ranks)."""
        return {v: k for k, v in self.tier_names().items()}

    def leads(self, level: str, **query: Any) -> pl.DataFrame:
        """``pql list`` over this snapshot: ``snap.leads("users", owner="ana", tier="1")``."""
        from pqlcli.leads.query import list_leads

        return list_leads(self, level, **query)

    def tiers_report(self, by: list[str] | str | None = None, top: int = 5) -> TiersReport:
        """``pql tiers report`` over this snapshot (compared with the one before it)."""
        from pqlcli.leads.tiers import tiers_report

        return tiers_report(self, by=by, top=top)


SnapshotRef = Snapshot | LeadSnapshot | str | os.PathLike[str]


def open_snapshot(snapshot: SnapshotRef) -> LeadSnapshot:
    """The one place the leads queries open a snapshot: a ``Snapshot``, a snapshot folder, or an open one."""
    if isinstance(snapshot, LeadSnapshot):
        return snapshot
    if isinstance(snapshot, Snapshot):
        return LeadSnapshot(snapshot)
    path = Path(snapshot)
    if not (path / "manifest.json").is_file():
        raise WorkspaceError(f"{path} is not a score snapshot (it has no manifest.json).", "Score again.", command="score")
    return LeadSnapshot(Snapshot(Workspace(path.parent.parent), path))  # <workspace>/scores/<id>


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise UsageError(f"Unknown level {level!r}.", "Use `users` or `accounts`.")
