"""`pql explain`: why a user or account got its scores, tier and PQL flags."""

from __future__ import annotations

from typing import Annotated

import typer

from pqlcli.cli import common, options


def explain(
    who: Annotated[str, typer.Argument(help="A user id, an email, an account id or a company domain.")],
    snapshot: options.SnapshotRef = None,
    format: options.SummaryFormat = "table",
) -> None:
    """Explain every rule that fired, its points and the values behind it, the tier and each PQL flag."""
    import json

    from pqlcli.errors import UsageError
    from pqlcli.render import terminal
    from pqlcli.scoring.explain import explain as explain_lib

    if format not in ("table", "json"):
        raise UsageError(f"--format {format!r} is not supported.", "Use table or json.")
    data = explain_lib(common.workspace(), who, snapshot)
    if format == "json":
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        terminal.explain(data)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
