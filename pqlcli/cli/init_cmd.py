"""`pql init`: a commented starter config and a workspace (or a config guessed from your exports)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pqlcli.cli import common


def init(
    folder: Annotated[Path, typer.Argument(help="Where to write pql.yaml and the workspace (default: here).")] = Path("."),
    exports: Annotated[
        Path | None,
        typer.Option("--from", help="A folder of exports: detect each file's table and exporter, ingest them, "
                     "and guess the config from the events and columns present."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --from: print the ingest commands, change nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing pql.yaml (kept as pql.yaml.bak).")] = False,
) -> None:
    """Create pql.yaml (a commented starter config that validates) and the workspace; print the next commands."""
    from pqlcli import render
    from pqlcli.onboard import init_project

    explicit_ws = common.session().workspace
    with render.progress("Reading your exports" if exports else "Writing the starter config"):
        result = init_project(folder, explicit_ws, exports=exports, dry_run=dry_run, force=force)
    for f in result.files:
        what = f"{f.kind} ({f.preset})" if f.kind else "skipped"
        render.note(f"{f.path.name}: {what} — {f.reason}")
    if result.dry_run:
        typer.echo("# pql init --dry-run: these commands would ingest your exports")
        for command in result.commands:
            typer.echo(command)
        return
    for command in result.commands:
        render.info(f"ran: {command}")
    for path in result.written:
        typer.echo(f"Wrote {path}")
    for path in result.backups:
        typer.echo(f"Kept the previous file as {path}")
    if result.notes:
        typer.echo("What pql guessed (edit pql.yaml to change it):")
        for note in result.notes:
            typer.echo(f"  - {note}")
    typer.echo("Next:")
    if Path(folder).resolve() != Path.cwd().resolve():
        typer.echo(f"  cd {folder}")
    for step in result.next_steps:
        typer.echo(f"  {step}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
