"""`pql tiers report`: the fit × usage matrix, breakdowns, movement and conversion per tier."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pqlcli.cli import common, options
from pqlcli.errors import UsageError

if TYPE_CHECKING:
    from pqlcli.render.console import Environment

tiers_app = typer.Typer(help="Tier reports over the score snapshots.", no_args_is_help=True, rich_markup_mode=None)


class ReportFormat(StrEnum):
    terminal = "terminal"
    md = "md"
    json = "json"
    html = "html"


SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".json": "json"}


@tiers_app.command("report")
def report_command(
    fmt: Annotated[
        ReportFormat | None,
        typer.Option(*options.FORMAT_FLAGS, help="terminal (default on a terminal), md, json (default when piped), html."),
    ] = None,
    out: options.OutFile = None,
    by: Annotated[
        list[str] | None, typer.Option("--by", metavar="DIM", help="Break down by any column of the users or accounts (owner, plan, industry, country, title...; repeat or comma-separate; default owner,plan).")
    ] = None,
    top: Annotated[int, typer.Option("--top", metavar="N", help="Top accounts shown per tier.", min=0)] = 5,
    snapshot: options.SnapshotRef = None,
) -> None:
    """Report tiers: fit × usage matrix, per owner/plan, top accounts, movement, conversion per tier."""
    from pqlcli import leads, render
    from pqlcli.util import atomic

    env = common.env()
    chosen = _report_format(fmt, out, env)
    snap = common.workspace().snapshot(snapshot)
    report = leads.tiers_report(snap, by=by, top=top)
    if chosen == "terminal":
        from pqlcli.render import terminal

        terminal.print_report(report, env.console())
        return
    if chosen == "json":
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
    elif chosen == "md":
        from pqlcli.render import markdown

        text = markdown.to_markdown(report)
    else:
        from pqlcli.render import html

        text = html.to_html(report)
    if out is None:
        env.stdout.write(text)
        env.stdout.flush()
        return
    atomic.write_text(out, text)
    render.note(f"Wrote the tier report ({chosen}) to {out}.")


def _report_format(fmt: ReportFormat | None, out: Path | None, env: Environment) -> str:
    """The format asked for, else the one ``--out``'s extension names, else terminal on a terminal, JSON piped."""
    from pqlcli import export

    if out is not None:
        export.check_out_path(out, "--out")
    chosen = fmt.value if fmt else None
    if chosen is None:
        suffix = out.suffix.lower() if out else ""
        chosen = SUFFIX_FORMATS.get(suffix) or ("terminal" if out is None and env.stdout_isatty else "json")
    if chosen == "terminal" and out is not None:
        raise UsageError("--format terminal is for the screen.", "Use --format md, json or html with --out.")
    if chosen == "html" and out is None and env.stdout_isatty:
        raise UsageError("--format html writes a page, not terminal text.", "Add --out report.html and open it in a browser.")
    return chosen


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(tiers_app, name="tiers")
