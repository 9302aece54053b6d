"""Write and read score snapshots (see docs/snapshot.md).

A snapshot is written into a hidden temp folder and renamed into place, manifest last, so readers never
see a half-written one and a crash never touches earlier snapshots.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pqlcli import __version__, atomic
from pqlcli.config import LoadedConfig
from pqlcli.workspace import TABLES, Workspace


def table_fingerprint(ws: Workspace, name: str) -> str | None:
    """A content hash of a table's files (names, sizes and bytes' hash), None if absent."""
    if not ws.has_table(name):
        return None
    path = ws.table_path(name)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def snapshot_manifest(loaded: LoadedConfig, ws: Workspace, as_of: datetime, stats: dict[str, Any]) -> dict[str, Any]:
    cfg = loaded.config
    return {
        "as_of": as_of.isoformat(),
        "created_at": datetime.now(UTC).isoformat(),
        "pql_version": __version__,
        "config_path": str(loaded.path),
        "config_hash": loaded.sha256,
        "config": json.loads(cfg.model_dump_json(by_alias=True)),
        "inputs": {name: table_fingerprint(ws, name) for name in TABLES},
        "metrics": list(cfg.metrics),
        "fit_rules": [r.name for r in cfg.fit],
        "usage_rules": [r.name for r in cfg.usage],
        "tiers": {
            "fit": cfg.tiers.fit,
            "usage": cfg.tiers.usage,
            "names": {t: cfg.tiers.name(t) for t in ("tier1", "tier2", "tier3", "tier4")},
            "labels": {t: cfg.tiers.label(t) for t in ("tier1", "tier2", "tier3", "tier4")},
        },
        "pqls": [p.model_dump() for p in cfg.pqls],
        "pqa_share": cfg.accounts.pqa_share,
        "counts": stats,
    }


def write_snapshot(ws: Workspace, users: pl.DataFrame, accounts: pl.DataFrame, manifest: dict[str, Any]) -> Path:
    ws.scores_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = ws.scores_dir / stamp
    tmp = ws.scores_dir / f".tmp-{stamp}-{os.getpid()}"
    tmp.mkdir()
    try:
        users.write_parquet(tmp / "users.parquet", statistics=False)
        accounts.write_parquet(tmp / "accounts.parquet", statistics=False)
        atomic.write_json(tmp / "manifest.json", manifest)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read(snapshot: Path, level: str) -> pl.DataFrame:
    return pl.read_parquet(snapshot / f"{level}.parquet")


def read_manifest(snapshot: Path) -> dict[str, Any]:
    """A snapshot's manifest.json, or a WorkspaceError saying to score again."""
    from pqlcli.errors import WorkspaceError

    path = Path(snapshot) / "manifest.json"
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(f"The snapshot {snapshot} has no manifest.json.", "Run `pql score` again.")
    except json.JSONDecodeError as exc:
        raise WorkspaceError(f"The snapshot manifest {path} is not valid JSON ({exc}).", "Run `pql score` again.")
