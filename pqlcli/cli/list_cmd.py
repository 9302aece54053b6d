"""`pql list users|accounts`: a rep's leads, best first, with the rules that fired."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pqlcli.cli import common, options
from pqlcli.errors import UsageError

if TYPE_CHECKING:
    import polars as pl

    from pqlcli.leads import LeadSnapshot
    from pqlcli.render.console import Environment


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
OwnerOption = Annotated[
    str | None,
    typer.Option(
        "--owner", metavar="REP", help="CRM owner (email or name; case and accents ignored); `me` = $PQL_OWNER; `none` = unowned."
    ),
]
CsvSafeOption = Annotated[
    bool,
    typer.Option(
        "--csv-safe/--no-csv-safe",
        help="Prefix CSV cells starting with = + - @ tab or CR with ' against formula injection (default on).",
    ),
]


def list_command(
    level: Annotated[Level, typer.Argument(help="What to list: users or accounts.")],
    owner: OwnerOption = None,
    tier: Annotated[
        str | None, typer.Option("--tier", metavar="TIERS", help="Only these tiers: 1-4 or names (any case), comma-separated.")
    ] = None,
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
        typer.Option(*options.FORMAT_FLAGS, help="table (terminal default), csv (pipe default), json, jsonl, parquet."),
    ] = None,
    out: options.OutFile = None,
    csv_safe: CsvSafeOption = True,
    snapshot: options.SnapshotRef = None,
) -> None:
    """List users or accounts of the latest score snapshot, best first, with the rules that fired."""
    from pqlcli import leads

    env = common.env()
    snap = leads.open_snapshot(common.workspace().snapshot(snapshot))
    chosen = _output_format(fmt, out, env)
    if owner is not None and owner.strip().lower() == "me":
        owner = common.owner_me()
    wanted_columns: str | list[str] | None = columns
    if columns is None and chosen == "table":
        wanted_columns = _table_columns(snap, level.value, env, owner_filtered=owner is not None)
    effective_limit = limit
    if limit is None and chosen == "table" and env.stdout_isatty:
        effective_limit = TABLE_DEFAULT_LIMIT
    frame = leads.list_leads(
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
    _notes(frame, snap, level.value, owner, new)
    if chosen == "table":
        _print_table(frame, snap, level.value, effective_limit if limit is None else None, env)
        return
    _write_data(frame, chosen, out, csv_safe, env)
    if out is not None:
        from pqlcli import render

        render.note(f"Wrote {frame.height} {level.value} to {out}.")


def _output_format(fmt: ListFormat | None, out: Path | None, env: Environment) -> str:
    """The format asked for, else the one ``--out``'s extension names, else table on a terminal, CSV piped."""
    from pqlcli import export

    if out is not None:
        export.check_out_path(out, "--out")
    chosen = fmt.value if fmt else None
    if chosen is None:
        chosen = (export.format_from_path(out) or "csv") if out else ("table" if env.stdout_isatty else "csv")
    if chosen == "table" and out is not None:
        raise UsageError("--format table is for the terminal.", "Use csv, json, jsonl or parquet with --out.")
    if chosen == "parquet" and out is None and env.stdout_isatty:
        raise UsageError("Parquet is binary and stdout is a terminal.", "Add --out leads.parquet, or pipe it.")
    return chosen


def _table_columns(snap: LeadSnapshot, level: str, env: Environment, *, owner_filtered: bool) -> list[str]:
    from pqlcli import leads
    from pqlcli.render import terminal

    available = leads.list_columns(snap, level)
    wanted = [c for c in leads.TABLE_COLUMNS[level] if c in available]
    width = env.terminal_width()
    return terminal.fit_columns(wanted, width, owner_filtered=owner_filtered) if width is not None else wanted


def _notes(frame: pl.DataFrame, snap: LeadSnapshot, level: str, owner: str | None, new: bool) -> None:
    from pqlcli import leads, render

    if frame.height == 0:
        who = f" owned by {owner}" if owner else ""
        message = f"No {level}{who} match in snapshot {snap.name}."
        if owner and owner.strip().lower() != "none" and not leads.owner_exists(snap, level, owner):
            known = leads.owners(snap, level)
            shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
            render.warn(f"{message} No {level[:-1]} has that owner; the owners in this snapshot are: {shown or 'none'}.")
        else:
            render.note(message)
    if new and snap.previous() is None:
        render.note("This is the first snapshot, so every current PQL counts as new.")


def _print_table(frame: pl.DataFrame, snap: LeadSnapshot, level: str, default_limit: int | None, env: Environment) -> None:
    """The terminal table, captioned with the count, the snapshot and whether the default limit cut it."""
    from pqlcli.render import terminal

    if frame.height == 0:
        return
    caption = f"{frame.height} {level} · snapshot {snap.name}"
    if default_limit and frame.height == default_limit:
        caption += f" · first {default_limit} (--limit 0 for all)"
    terminal.print_leads(frame, tier_keys=snap.tier_keys(), caption=caption, env=env)


def _write_data(frame: pl.DataFrame, fmt: str, out: Path | None, csv_safe: bool, env: Environment) -> None:
    from pqlcli import export

    export.write(frame, fmt, out if out is not None and str(out) != "-" else env.stdout_bytes(), guard=csv_safe)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("list")(list_command)
