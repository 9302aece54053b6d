"""`pql sql`: the scoring config compiled to warehouse SQL (DuckDB, Postgres, Snowflake, BigQuery, Spark, Trino)."""

from __future__ import annotations

from typing import Annotated

import typer

from pqlcli.cli import common, options

OUTPUTS = ("users", "accounts", "script")


def sql(
    dialect: Annotated[
        str, typer.Option("--dialect", "-d", help="duckdb, postgres, snowflake, bigquery, spark or trino.")
    ] = "duckdb",
    config: options.ConfigPath = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score as of this date/time (UTC); default: the config's, else now.")] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            "-t",
            help="Table name to use, as name=table (repeatable): users, accounts, events, firmographics, "
            "free_email_domains (else inlined as VALUES), user_scores, account_scores (script output).",
        ),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="users (one SELECT), accounts (one SELECT) or script (creates both tables).")
    ] = "script",
) -> None:
    """Print the scoring config as one SQL query per output, with the same results as `pql score`."""
    from pqlcli import config as config_mod
    from pqlcli.errors import UsageError
    from pqlcli.scoring import sql as sql_emitter

    if output not in OUTPUTS:
        raise UsageError(f"--output {output!r} is not an output of pql sql.", f"Use one of: {', '.join(OUTPUTS)}.")
    if dialect.lower() not in sql_emitter.DIALECTS:
        raise UsageError(f"Unknown SQL dialect {dialect!r}.", f"Supported dialects: {', '.join(sql_emitter.DIALECTS)}.")
    loaded = config_mod.load(config)
    tables = common.parse_kv(table, "--table")
    schemas = _workspace_schemas()
    when = loaded.as_of(as_of)
    text = sql_emitter.compile_sql(loaded, when, dialect, tables=tables, schemas=schemas, outputs=(output,))[output]
    typer.echo(text, nl=False)


def _workspace_schemas() -> dict[str, dict[str, object]] | None:
    """The workspace tables' columns, so extra traits are carried as in `pql score`; None without one."""
    from pqlcli.scoring.frames import Inputs

    ws = common.workspace()
    if not ws.has_table("users"):
        return None
    return Inputs.from_workspace(ws).schemas()


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("sql")(sql)
