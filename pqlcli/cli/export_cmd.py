"""`pql export crm`: import-ready files for HubSpot and Salesforce."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pqlcli.cli import common

export_app = typer.Typer(help="Export scores for other tools (CRM import files).", no_args_is_help=True,
                         rich_markup_mode=None)


class Crm(StrEnum):
    hubspot = "hubspot"
    salesforce = "salesforce"


class CrmLevel(StrEnum):
    user = "user"
    account = "account"


@export_app.command("crm")
def crm_command(
    to: Annotated[Crm, typer.Option("--to", help="hubspot (contacts/companies) or salesforce (Lead/Contact/Account).")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The CSV file to write (atomically).")],
    level: Annotated[CrmLevel, typer.Option("--level", help="user (contacts, leads) or account (companies, accounts).")] = CrmLevel.user,
    changed_only: Annotated[
        bool, typer.Option("--changed-only", help="Only records whose exported values changed since the last export to this CRM.")
    ] = False,
    record_id: Annotated[
        bool | None,
        typer.Option("--record-id/--no-record-id",
                     help="Add the CRM's record id column (Record ID / Id) from user_id/account_id; default: when the table was ingested from that CRM."),
    ] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", metavar="ID", help="Snapshot id (default: the latest).")] = None,
) -> None:
    """Write a HubSpot or Salesforce import file with each record's tier, scores, PQL flags and reason."""
    from pqlcli import export, render
    from pqlcli.delivery import crm

    export.check_out_path(out, "--out")
    ws = common.workspace()
    snap = ws.snapshot(snapshot)
    level_name = f"{level.value}s"
    result = crm.export(ws.root, snap, to.value, level_name, out, changed_only=changed_only, record_ids=record_id)
    parts = [f"Wrote {result.rows} {level_name} to {out} for a {to.value} import (snapshot {snap.id})"]
    if changed_only:
        parts.append(f"{result.unchanged} unchanged since the last export left out")
    if result.without_key:
        parts.append(f"{result.without_key} without {crm.KEYS[(to.value, level_name)][1]} left out")
    render.note("; ".join(parts) + ".")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(export_app, name="export")
