"""`pql status`: what the workspace holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from pqlcli.cli import common

if TYPE_CHECKING:
    from pqlcli.workspace import Workspace


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
    _identity(ws)


def _identity(ws: Workspace) -> None:
    """How many ids were merged, and events of no known person (sample ids from both sides, the fix)."""
    from pqlcli import render
    from pqlcli.ingest.identity import identity_status

    ident = identity_status(ws)
    render.info(f"Identity: {ident['users_merged']} user record(s) and {ident['accounts_merged']} account record(s) "
                f"merged into another; {ident['anonymous_linked']} anonymous id(s) linked to a person.")
    if ident["events_unknown_user"]:
        render.warn(f"{ident['events_unknown_user']} event(s) belong to no known person (e.g. "
                    f"{', '.join(ident['unknown_user_examples'])}); users with no events: "
                    f"{', '.join(ident['users_without_events_examples']) or 'none'}. {ident.get('hint', '')}")


def register(app: typer.Typer) -> None:
    app.command("status")(status)
