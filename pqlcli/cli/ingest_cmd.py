"""`pql ingest`: read exports (CSV, Parquet, JSON lines; exporter presets) into the workspace."""

from __future__ import annotations

from typing import Annotated

import typer

from pqlcli.cli import common

FORMAT_HELP = (
    "auto (detect), csv, parquet, jsonl, or an exporter preset: segment, mixpanel, amplitude, hubspot, salesforce."
)


def ingest(
    kind: Annotated[str, typer.Argument(help="Table to load: users, accounts or events.", metavar="KIND")],
    paths: Annotated[list[str], typer.Argument(help="Files or globs (.csv, .parquet, .jsonl, .zip, each maybe .gz); - for stdin.", metavar="PATH...")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "auto",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help="canonical=source column, repeatable, e.g. --map user_id=uid."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="Zone of timestamps written without an offset (and of old Mixpanel epochs)."),
    ] = None,
) -> None:
    """Read exports into the workspace's users, accounts or events table (re-ingesting adds nothing)."""
    from pqlcli import render
    from pqlcli.ingest import ingest as run_ingest

    ws = common.workspace(create=True)
    with render.progress(f"Ingesting {kind}", unit="files") as handle:
        result = run_ingest(ws, kind, paths, fmt=fmt, mapping=common.parse_kv(mapping, "--map"),
                            timezone=timezone, progress=handle)
    rows = [
        ["read", result.read],
        ["added", result.added],
        ["updated", result.updated],
        ["duplicates", result.duplicates],
        ["rejected", result.rejected],
        [f"{kind} now", result.total_rows],
    ]
    render.table(f"pql ingest {kind} ({', '.join(result.formats)})", ["rows", "count"], rows)
    if result.rejects_path:
        render.warn(f"{result.rejected} row(s) could not be used; see {result.rejects_path} (row number and reason).")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
