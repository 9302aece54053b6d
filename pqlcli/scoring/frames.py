"""What a scoring run reads (:class:`Inputs`) and returns (:class:`ScoreFrames`), whatever the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import ACCOUNTS, EVENTS, FIRMOGRAPHICS, USERS, polars_dtype

TABLE_SCHEMAS = {"users": USERS, "accounts": ACCOUNTS, "events": EVENTS, "firmographics": FIRMOGRAPHICS}


@dataclass
class Inputs:
    """The canonical tables as lazy frames (empty frames where a table is missing)."""

    users: pl.LazyFrame
    accounts: pl.LazyFrame
    events: pl.LazyFrame
    firmographics: pl.LazyFrame
    missing: list[str] = field(default_factory=list)
    source: Workspace | None = None  # the workspace the tables were read from (the SQL engines read its files)
    # the events of each stored bucket (a bucketed workspace: every user's events in one of them), else None
    event_buckets: list[pl.LazyFrame] | None = None

    @classmethod
    def from_workspace(cls, ws: Workspace) -> Inputs:
        missing = []
        frames: dict[str, pl.LazyFrame] = {}
        for name, schema in TABLE_SCHEMAS.items():
            lf = ws.scan_or_none(name)
            if lf is None:
                missing.append(name)
                lf = pl.LazyFrame(schema={c: polars_dtype(t) for c, t in schema.columns.items()})
            frames[name] = lf
        return cls(missing=missing, source=ws, event_buckets=ws.scan_event_buckets(), **frames)

    def schemas(self) -> dict[str, dict[str, Any]]:
        """Each table's columns and Polars dtypes."""
        return {name: dict(getattr(self, name).collect_schema()) for name in TABLE_SCHEMAS}


@dataclass
class ScoreFrames:
    """Scored users and accounts (snapshot columns, sorted by id), run statistics and warnings."""

    users: pl.DataFrame
    accounts: pl.DataFrame
    stats: dict[str, int]
    as_of: datetime
    warnings: list[str]
