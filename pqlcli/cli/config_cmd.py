"""`pql config validate` and `pql config schema`."""

from __future__ import annotations

import typer

from pqlcli.cli import common, options

config_app = typer.Typer(help="Check the scoring config and print its JSON Schema.", no_args_is_help=True)


@config_app.command("validate")
def validate(
    config: options.ConfigPath = None,
) -> None:
    """Check a config's syntax, types, rules and columns (against the workspace when it has data)."""
    from pqlcli import config as config_mod
    from pqlcli.render import terminal
    from pqlcli.scoring.validate import validate as validate_lib

    loaded = config_mod.load(config)
    ws = common.workspace()
    info = validate_lib(loaded, ws if ws.root.exists() else None)
    terminal.validate_ok(info)


@config_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the config (config/pql.schema.json), for editor completion."""
    from pqlcli.config import json_schema_text

    typer.echo(json_schema_text(), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
