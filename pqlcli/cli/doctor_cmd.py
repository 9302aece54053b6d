"""`pql doctor`: data-quality checks to run before trusting a score."""

from __future__ import annotations

from typing import Annotated

import typer

from pqlcli.cli import common, options


def doctor(
    config: options.ConfigPath = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table (default) or json.")] = "table",
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any check is an error.")] = False,
    ttl: Annotated[str, typer.Option("--ttl", help="Enrichment cache lifetime for stale_enrichment (default 30d).")] = "30d",
) -> None:
    """Check the workspace's data (unknown users, duplicates, future events, missing firmographics...)."""
    import json

    from pqlcli import config as config_mod
    from pqlcli import render
    from pqlcli.enrich.cache import parse_ttl
    from pqlcli.errors import ConfigError, UsageError
    from pqlcli.workspace.doctor import diagnose

    if format not in ("table", "json"):
        raise UsageError(f"--format {format!r} is not supported here.", "Use table or json.")
    from pqlcli.config import loader

    loaded = None
    try:
        path = loader.find(config)
    except ConfigError:
        if config is not None:
            raise
        render.note("No config found: config_events_missing is not checked (pass --config).")
    else:
        loaded = config_mod.load(path)
    report = diagnose(common.workspace(), loaded, ttl_days=parse_ttl(ttl))
    if format == "json":
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        rows = [[c.name, c.severity, c.count, ", ".join(map(str, c.examples[:3]))] for c in report.checks]
        render.table("pql doctor", ["check", "severity", "count", "examples"], rows, stderr=False)
        for c in report.checks:
            if c.severity != "ok" or c.hint.startswith("Not checked"):
                typer.echo(f"{c.name}: {c.hint}")
        if report.identities is not None:
            typer.echo("identities: " + ", ".join(f"{k} {v}" for k, v in report.identities.items()))
    if strict and report.worst == "error":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
