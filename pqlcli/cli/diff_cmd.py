"""`pql diff [OLD] [NEW]`: who entered and left each tier and PQL definition, and who moved most."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pqlcli.cli import common


class DiffFormat(StrEnum):
    table = "table"
    json = "json"
    md = "md"
    csv = "csv"
    jsonl = "jsonl"


def diff_command(
    old: Annotated[str | None, typer.Argument(help="Old snapshot: id, `previous` (default) or `latest`.")] = None,
    new: Annotated[str | None, typer.Argument(help="New snapshot: id or `latest` (default).")] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="DURATION", help="Old = the newest snapshot at least this old, e.g. 7d.")
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", metavar="REP", help="One rep's changes (email or name); `me` = $PQL_OWNER; `none` = unowned.")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, metavar="N", help="Biggest score moves to show per level.")] = 10,
    fmt: Annotated[DiffFormat | None, typer.Option("--format", "-f", help="table (terminal default), json (pipe default), md, csv, jsonl.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write to this file (atomically) instead of stdout.")] = None,
) -> None:
    """Compare two snapshots: who entered and left each tier and PQL, and the biggest score moves."""
    import json

    from pqlcli import export
    from pqlcli.cli.notify_cmd import span_option
    from pqlcli.errors import UsageError
    from pqlcli.leads import diff
    from pqlcli.util import atomic

    if since is not None and old is not None:
        raise UsageError("Give either an OLD snapshot or --since, not both.", "Example: pql diff --since 7d.")
    if owner is not None and owner.strip().lower() == "me":
        owner = common.owner_me()
    chosen = fmt.value if fmt else ("table" if out is None and sys.stdout.isatty() else "json")
    if chosen == "table" and out is not None:
        raise UsageError("--format table is for the terminal.", "Use json, md, csv or jsonl with --out.")
    if out is not None:
        export.check_out_path(out, "--out")
    older, newer = diff.pick_pair(common.workspace(), old, new, span_option(since, "--since"))
    result = diff.diff(older, newer, owner=owner, top=top)
    if chosen == "table":
        from pqlcli.render import diff as render_diff

        render_diff.print_table(result)
        return
    if chosen in ("csv", "jsonl"):
        export.write(diff.rows_frame(result), chosen, out if out is not None else common.env().stdout_bytes())
        return
    if chosen == "md":
        from pqlcli.render import diff as render_diff

        text = render_diff.markdown(result)
    else:
        text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic.write_text(out, text)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("diff")(diff_command)
