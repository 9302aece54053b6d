"""Scoring: the config made into one :class:`~pqlcli.scoring.plan.ScoringPlan`, run by an engine.

Python API::

    from pqlcli import Workspace, config, scoring
    ws = Workspace.open(".pql")
    frames = scoring.run(config.load("config/pql.yaml"), scoring.Inputs.from_workspace(ws), as_of)  # pure
    result = scoring.score(ws, config.load("config/pql.yaml"))  # writes a snapshot

Layout (docs/architecture.md): ``plan`` (every decision, once), ``conditions`` (one grammar),
``polars`` and ``sql/`` (the two emitters, independent of each other), ``runners`` (the ENGINES
registry), ``explain``, ``summary``, ``validate`` (snapshots: ``pqlcli.workspace.snapshot``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig
from pqlcli.errors import ConfigError
from pqlcli.scoring import runners
from pqlcli.scoring.frames import Inputs, ScoreFrames
from pqlcli.scoring.plan import ScoringPlan, build_plan
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


def plan(loaded: LoadedConfig, inputs: Inputs) -> ScoringPlan:
    """The scoring plan of ``loaded`` over these tables' columns (checks every condition)."""
    return build_plan(loaded, inputs.schemas(), inputs.missing)


def run(loaded: LoadedConfig, inputs: Inputs, as_of: datetime, engine: str = "polars", **options: Any) -> ScoreFrames:
    """Score every user and account with ``engine`` (polars, duckdb or spark); writes nothing."""
    runner = runners.engine(engine)  # an unknown engine fails before the config is checked
    checked = plan(loaded, inputs)
    try:
        frames = runners.run(runner.name, loaded, checked, inputs, as_of, **options)
    except (pl.exceptions.SchemaError, pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        # a condition whose types only clash on real rows (the plan's check runs on no rows)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"A condition in {loaded.path} applies an operation to values of different types: {detail}.",
            "Compare numbers with numbers, text with 'quoted text' and booleans with TRUE/FALSE; "
            "the column types are listed by the config validation.",
        ) from exc
    return frames


def compute(
    ws: Workspace, loaded: LoadedConfig, as_of: str | date | datetime | None = None, *, engine_name: str = "polars"
) -> ScoreFrames:
    """Score the workspace without writing anything (``as_of`` default: the config's, else now)."""
    return run(loaded, Inputs.from_workspace(ws), loaded.as_of(as_of), engine=engine_name)


def score(
    ws: Workspace,
    loaded: LoadedConfig,
    as_of: str | date | datetime | None = None,
    *,
    engine: str = "polars",
) -> ScoreResult:
    """Score every user and account and write a snapshot into the workspace."""
    frames = compute(ws, loaded, as_of, engine_name=engine)
    stats = {"users": frames.users.height, "accounts": frames.accounts.height, **frames.stats}
    manifest = snapshot.snapshot_manifest(loaded, ws, frames.as_of, stats, engine)
    earlier = ws.snapshots()
    previous = earlier[-1].path if earlier else None
    path = snapshot.write_snapshot(ws, frames.users, frames.accounts, manifest).path
    return ScoreResult(path, frames.users, frames.accounts, stats, frames.as_of, frames.warnings, previous)


__all__ = ["Inputs", "ScoreFrames", "ScoreResult", "ScoringPlan", "compute", "plan", "run", "score"]
