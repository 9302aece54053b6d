"""`pql list users|accounts`: a rep's leads, best first, with the rules that fired."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pqlcli.cli import common
from pqlcli.errors import UsageError


class Level(StrEnum):
    users = "users"
    accounts = "accounts"


class ListFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"


TABLE_DEFAULT_LIMIT = 50


def list_command(
    level: Annotated[Level, typer.Argument(help="What to list: users or accounts.")],
    owner: Annotated[
        str | None,
        typer.Option("--owner", metavar="REP", help="CRM owner (email or name, case-insensitive); `me` = $PQL_OWNER; `none` = unowned."),
    ] = None,
    tier: Annotated[str | None, typer.Option("--tier", metavar="TIERS", help="Only these tiers: 1-4 or names, comma-separated.")] = None,
    pql: Annotated[
        str | None, typer.Option("--pql", metavar="NAME", help="Only leads meeting this PQL definition (`any` = any of them; `pqa`).")
    ] = None,
    where: Annotated[
        str | None, typer.Option("--where", metavar="SQL", help="SQL condition over any column, e.g. \"projects_30d > 3\".")
    ] = None,
    signed_up_within: Annotated[
        str | None, typer.Option("--signed-up-within", metavar="DURATION", help="Signed up (accounts: created) within e.g. 30d, 2w of as_of.")
    ] = None,
    new: Annotated[bool, typer.Option("--new", help="Only leads that became PQL since the previous snapshot.")] = False,
    sort: Annotated[
        str | None, typer.Option("--sort", metavar="COL[:asc|desc]", help="COL[:asc|desc][,COL...]; default: tier, then usage, then fit.")
    ] = None,
    columns: Annotated[str | None, typer.Option("--columns", metavar="A,B,C", help="Columns to show, comma-separated (any column).")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", help=f"At most N rows (0 = all; the terminal table shows {TABLE_DEFAULT_LIMIT}).")
    ] = None,
    fmt: Annotated[
        ListFormat | None,
        typer.Option("--format", "-f", help="table (terminal default), csv (pipe default), json, jsonl, parquet."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write to this file (atomically) instead of stdout.")] = None,
    csv_safe: Annotated[
        bool,
        typer.Option(
            "--csv-safe/--no-csv-safe",
            help="Prefix CSV cells starting with = + - @ tab or CR with ' against formula injection (default on).",
        ),
    ] = True,
    snapshot: Annotated[
        str | None, typer.Option("--snapshot", metavar="NAME", help="Snapshot folder name or path (default: the latest).")
    ] = None,
) -> None:
    """List users or accounts of the latest score snapshot, best first, with the rules that fired."""
    from pqlcli import export, render, report

    ws = common.workspace()
    snap = ws.snapshot(snapshot).path
    if out is not None:
        export.check_out_path(out)
    chosen = fmt.value if fmt else None
    if chosen is None:
        chosen = (export.format_from_path(out) or "csv") if out else ("table" if sys.stdout.isatty() else "csv")
    if chosen == "table" and out is not None:
        raise UsageError("--format table is for the terminal.", "Use csv, json, jsonl or parquet with --out.")
    if owner is not None and owner.strip().lower() == "me":
        owner = common.owner_me()
    wanted_columns: str | list[str] | None = columns
    if columns is None and chosen == "table":
        available = report.list_columns(snap, level.value)
        wanted_columns = [c for c in report.TABLE_COLUMNS[level.value] if c in available]
        from pqlcli import render_list

        width = render_list.terminal_width()
        if width is not None:
            wanted_columns = render_list.fit_columns(wanted_columns, width, owner_filtered=owner is not None)
    effective_limit = limit
    if limit is None and chosen == "table" and sys.stdout.isatty():
        effective_limit = TABLE_DEFAULT_LIMIT
    frame = report.list_leads(
        snap,
        level.value,
        owner=owner,
        tier=tier,
        pql=pql,
        where=where,
        signed_up_within=signed_up_within,
        new=new,
        sort=sort,
        columns=wanted_columns,
        limit=None if effective_limit == 0 else effective_limit,
    )
    if frame.height == 0:
        who = f" owned by {owner}" if owner else ""
        render.note(f"No {level.value}{who} match in snapshot {snap.name}.")
    if new and report.previous_snapshot_dir(snap) is None:
        render.note("This is the first snapshot, so every current PQL counts as new.")
    if chosen == "table":
        if frame.height == 0:
            return
        from pqlcli import render_list

        manifest = report.snapshot_manifest(snap)
        keys = {v: k for k, v in report.tier_names(manifest).items()}
        caption = f"{frame.height} {level.value} · snapshot {snap.name}"
        if effective_limit and frame.height == effective_limit and limit is None:
            caption += f" · first {effective_limit} (--limit 0 for all)"
        render_list.print_leads(frame, tier_keys=keys, caption=caption)
        return
    export.write(frame, chosen, out, csv_safe=csv_safe)
    if out is not None:
        render.note(f"Wrote {frame.height} {level.value} to {out}.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("list")(list_command)
