"""`pql tiers report`: the fit × usage matrix, breakdowns, movement and conversion per tier."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pqlcli.cli import common
from pqlcli.errors import UsageError

tiers_app = typer.Typer(help="Tier reports over the score snapshots.", no_args_is_help=True, rich_markup_mode=None)


class ReportFormat(StrEnum):
    terminal = "terminal"
    md = "md"
    json = "json"
    html = "html"


@tiers_app.command("report")
def report_command(
    fmt: Annotated[
        ReportFormat | None,
        typer.Option("--format", "-f", help="terminal (default on a terminal), md, json (default when piped), html."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write to this file (atomically); needed for html on a terminal.")] = None,
    by: Annotated[
        list[str] | None, typer.Option("--by", metavar="DIM", help="Breakdowns: owner, plan, industry, country (repeat or comma-separate; default owner,plan).")
    ] = None,
    top: Annotated[int, typer.Option("--top", metavar="N", help="Top accounts shown per tier.", min=0)] = 5,
    snapshot: Annotated[str | None, typer.Option("--snapshot", metavar="NAME", help="Snapshot folder name or path (default: the latest).")] = None,
) -> None:
    """Report tiers: fit × usage matrix, per owner/plan, top accounts, movement, conversion per tier."""
    from pqlcli import export, render, report
    from pqlcli.util import atomic

    if out is not None:
        export.check_out_path(out)
    chosen = fmt.value if fmt else None
    if chosen is None:
        suffix = out.suffix.lower() if out else ""
        chosen = {".html": "html", ".htm": "html", ".md": "md", ".json": "json"}.get(suffix) or (
            "terminal" if out is None and sys.stdout.isatty() else "json"
        )
    if chosen == "terminal" and out is not None:
        raise UsageError("--format terminal is for the screen.", "Use --format md, json or html with --out.")
    data = report.tiers_report(common.workspace(), snapshot=snapshot, by=by, top=top)
    if chosen == "terminal":
        from pqlcli import render_report

        render_report.print_report(data)
        return
    if chosen == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    elif chosen == "md":
        from pqlcli import report_md

        text = report_md.to_markdown(data)
    else:
        from pqlcli import report_html

        text = report_html.to_html(data)
        if out is None and sys.stdout.isatty():
            raise UsageError("--format html writes a page, not terminal text.", "Add --out report.html and open it in a browser.")
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    atomic.write_text(out, text)
    render.note(f"Wrote the tier report ({chosen}) to {out}.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(tiers_app, name="tiers")
