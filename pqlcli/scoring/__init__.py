"""Scoring: the config compiled to lazy Polars plans; snapshots; explanations.

Python API::

    from pqlcli import Workspace, config, scoring
    result = scoring.score(Workspace.open(".pql"), config.load("config/pql.yaml"))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig
from pqlcli.scoring import engine
from pqlcli.workspace import Workspace, snapshot


@dataclass
class ScoreResult:
    snapshot: Path
    users: pl.DataFrame
    accounts: pl.DataFrame
    stats: dict[str, Any]
    as_of: datetime
    warnings: list[str]
    previous: Path | None


def compute(
    ws: Workspace, loaded: LoadedConfig, as_of: str | date | datetime | None = None, *, engine_name: str = "polars"
) -> engine.ScoreFrames:
    """Score without writing anything."""
    when = loaded.as_of(as_of)
    inputs = engine.Inputs.from_workspace(ws)
    if engine_name == "polars":
        return engine.run(loaded, inputs, when)
    from pqlcli import engines  # type: ignore[attr-defined,unused-ignore]

    return engines.run(engine_name, ws, loaded, inputs, when)


def score(
    ws: Workspace,
    loaded: LoadedConfig,
    as_of: str | date | datetime | None = None,
    *,
    engine_name: str = "polars",
) -> ScoreResult:
    """Score every user and account and write a snapshot into the workspace."""
    frames = compute(ws, loaded, as_of, engine_name=engine_name)
    users_n = frames.users.height
    stats = {"users": users_n, "accounts": frames.accounts.height, **frames.stats}
    manifest = snapshot.snapshot_manifest(loaded, ws, frames.as_of, stats, engine_name)
    earlier = ws.snapshots()
    previous = earlier[-1].path if earlier else None
    path = snapshot.write_snapshot(ws, frames.users, frames.accounts, manifest).path
    return ScoreResult(path, frames.users, frames.accounts, stats, frames.as_of, frames.warnings, previous)
