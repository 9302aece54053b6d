"""What a workspace holds, as plain data."""

from __future__ import annotations

from typing import Any

from pqlcli.workspace import TABLES, Workspace


def workspace_status(ws: Workspace) -> dict[str, Any]:
    manifest = ws.manifest()
    tables = []
    for name in TABLES:
        info = manifest.get("tables", {}).get(name, {})
        rows = info.get("rows")
        if rows is None and ws.has_table(name):
            import polars as pl

            rows = ws.scan(name).select(pl.len()).collect().item()
        tables.append(
            {
                "table": name,
                "rows": rows if rows is not None else 0,
                "sources": len(info.get("sources", [])),
                "updated_at": info.get("updated_at"),
            }
        )
    snaps = ws.snapshots()
    return {
        "workspace": str(ws.root),
        "tables": tables,
        "snapshots": [s.id for s in snaps],
        "latest": snaps[-1].label if snaps else None,
    }
