"""`pql score`: compute fit, usage, tiers, PQLs and PQAs and write a snapshot."""

from __future__ import annotations

from typing import Annotated

import typer

from pqlcli.cli import common, options


def score(
    config: options.ConfigPath = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score as of this date/time (UTC); overrides the config.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="polars (default), duckdb or spark.")] = "polars",
    format: options.SummaryFormat = "table",
) -> None:
    """Score every user and account (fit, usage, tier, PQLs, PQAs) and write a snapshot."""
    import json

    from pqlcli import config as config_mod
    from pqlcli import scoring
    from pqlcli.cli.flags import notice
    from pqlcli.errors import UsageError
    from pqlcli.render import terminal
    from pqlcli.scoring import summary
    from pqlcli.workspace import snapshot

    if engine not in ("polars", "duckdb", "spark"):
        raise UsageError(f"--engine {engine!r} is not an engine pql has.", "Use polars (default), duckdb or spark.")
    if format not in ("table", "json"):
        raise UsageError(f"--format {format!r} is not supported here.", "Use table or json.")
    loaded = config_mod.load(config)
    ws = common.workspace()
    result = scoring.score(ws, loaded, as_of, engine=engine)
    manifest = snapshot.read_manifest(result.snapshot)
    info = summary.summarize(result.users, result.accounts, manifest, result.previous)
    info["snapshot"] = str(result.snapshot)
    for w in result.warnings:
        terminal.warn(notice(w))
    if format == "json":
        typer.echo(json.dumps(info, indent=2, default=str))
    else:
        terminal.score_summary(info)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
