"""Build tiny workspaces by hand for the scoring tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pqlcli import config, scoring
from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import ACCOUNTS, EVENTS, FIRMOGRAPHICS, USERS, polars_dtype

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pl.DataFrame:
    schema = {c: polars_dtype(t) for c, t in columns.items()}
    extra = {k for r in rows for k in r} - set(schema)
    for k in sorted(extra):
        sample = next(r[k] for r in rows if k in r)
        schema[k] = pl.Float64 if isinstance(sample, int | float) and not isinstance(sample, bool) else pl.String
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def make_ws(
    path: Path,
    users: list[dict[str, Any]],
    accounts: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    firmographics: list[dict[str, Any]] | None = None,
) -> Workspace:
    ws = Workspace.open(path, create=True)
    ws.write_table("users", frame(users, USERS.columns))
    if accounts is not None:
        ws.write_table("accounts", frame(accounts, ACCOUNTS.columns))
    if events is not None:
        evs = [{"event_id": f"e{i}", **e} for i, e in enumerate(events)]
        ws.add_part("events", frame(evs, EVENTS.columns), "00000")
    if firmographics is not None:
        rows = [{"status": "found", "provider": "test", **f} for f in firmographics]
        ws.write_table("firmographics", frame(rows, FIRMOGRAPHICS.columns))
    return ws


def score_with(ws: Workspace, yaml_text: str, as_of: datetime | str | None = AS_OF) -> scoring.ScoreFrames:
    loaded = config.loads(yaml_text, "test.yaml")
    return scoring.compute(ws, loaded, as_of)


def row(df: pl.DataFrame, key: str, value: str) -> dict[str, Any]:
    hit = df.filter(pl.col(key) == value)
    assert hit.height == 1, f"{key}={value} not found once in {df[key].to_list()}"
    return hit.row(0, named=True)
