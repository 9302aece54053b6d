"""`pql status`: what the workspace holds."""

from __future__ import annotations

import typer

from pqlcli.cli import common


def status() -> None:
    """Show the workspace's tables (rows, sources, last update) and snapshots."""
    from pqlcli import render
    from pqlcli.workspace.status import workspace_status

    ws = common.workspace()
    info = workspace_status(ws)
    rows = [[t["table"], t["rows"], t["sources"], t["updated_at"] or "-"] for t in info["tables"]]
    render.table(f"Workspace {ws.root}", ["table", "rows", "sources", "updated"], rows, stderr=False)
    snaps = info["snapshots"]
    render.info(f"{len(snaps)} score snapshot(s)" + (f"; latest {info['latest']}" if snaps else ""))


def register(app: typer.Typer) -> None:
    app.command("status")(status)
