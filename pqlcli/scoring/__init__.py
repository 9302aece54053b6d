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

from collections.abc import Iterator
from contextlib import contextmanager
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
    users: pl.LazyFrame  # the snapshot's users.parquet, read lazily (at 10M users it is never held whole)
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
    with _type_clash(loaded):
        return runners.run(runner.name, loaded, checked, inputs, as_of, **options)


@contextmanager
def _type_clash(loaded: LoadedConfig) -> Iterator[None]:
    """A condition whose types only clash on real rows (the plan's check runs on no rows): a ConfigError."""
    try:
        yield
    except (pl.exceptions.SchemaError, pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"A condition in {loaded.path} applies an operation to values of different types: {detail}.",
            "Compare numbers with numbers, text with 'quoted text' and booleans with TRUE/FALSE; "
            "the column types are listed by the config validation.",
        ) from exc


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
    """Score every user and account and write a snapshot into the workspace.

    The scored users go straight into the snapshot's ``users.parquet`` (``runners.run_to``): a bucketed
    workspace is scored with bounded memory, never holding every user. ``ScoreResult.users`` reads them
    back lazily from the snapshot.

    Readers take no lock: when an events part the score listed is gone by the time it is read (`pql
    optimize --merge` replaced a bucket's parts meanwhile), the half-written snapshot is dropped and the
    score runs once more on the parts stored now."""
    return ws.reading_events(lambda: _score(ws, loaded, as_of, engine))


def _score(ws: Workspace, loaded: LoadedConfig, as_of: str | date | datetime | None, engine: str) -> ScoreResult:
    runner = runners.engine(engine)
    inputs = Inputs.from_workspace(ws)
    when = loaded.as_of(as_of)  # a bad --as-of is reported before the tables are checked
    checked = plan(loaded, inputs)
    earlier = ws.snapshots()
    previous = earlier[-1].path if earlier else None
    with snapshot.new_snapshot(ws) as draft:
        users_path = draft.folder / "users.parquet"
        with _type_clash(loaded):
            done = runners.run_to(runner.name, loaded, checked, inputs, when, users_path)
        done.accounts.write_parquet(draft.folder / "accounts.parquet", statistics=False)
        users = int(pl.scan_parquet(users_path).select(pl.len()).collect().item())
        stats = {"users": users, "accounts": done.accounts.height, **done.stats}
        draft.manifest = snapshot.snapshot_manifest(loaded, ws, done.as_of, stats, engine)
    assert draft.snapshot is not None
    path = draft.snapshot.path
    return ScoreResult(path, pl.scan_parquet(path / "users.parquet"), done.accounts, stats, done.as_of, done.warnings, previous)


__all__ = ["Inputs", "ScoreFrames", "ScoreResult", "ScoringPlan", "compute", "plan", "run", "score"]
