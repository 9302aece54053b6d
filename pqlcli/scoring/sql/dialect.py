"""Public helpers for writing and transpiling SQL: types, identifiers, literals, dialect fixes.

SQL is written in DuckDB's dialect and transpiled by sqlglot to each target dialect. The runners use
these helpers too (never the compiler's internals).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pqlcli.errors import ConfigError, UsageError

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery", "spark", "trino")
WRITE_DIALECT = "duckdb"


def check_dialect(dialect: str) -> str:
    """The dialect's canonical name, or a UsageError listing the supported ones."""
    d = (dialect or "").strip().lower()
    if d not in DIALECTS:
        raise UsageError(f"Unknown SQL dialect {dialect!r}.", f"Supported dialects: {', '.join(DIALECTS)}.", param="dialect")
    return d


def sql_type(dtype: Any) -> str:
    """The DuckDB type for a Polars dtype (sqlglot maps it to each dialect)."""
    if dtype == pl.String or dtype == pl.Categorical:
        return "VARCHAR"
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if dtype in (pl.Int64, pl.UInt32, pl.UInt64):
        return "BIGINT"
    if dtype in (pl.Int32, pl.Int16, pl.Int8, pl.UInt8, pl.UInt16):
        return "INTEGER"
    if dtype in (pl.Float64, pl.Float32):
        return "DOUBLE"
    if dtype == pl.Date:
        return "DATE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if dtype == pl.Null:
        return "VARCHAR"
    raise ConfigError(f"The column type {dtype} has no SQL equivalent.", "Cast the column when ingesting.")


def ident(name: str) -> str:
    """A column name as DuckDB SQL (quoted only when it must be)."""
    import sqlglot.expressions as exp

    return exp.to_identifier(name).sql(WRITE_DIALECT)


def string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def timestamp(value: datetime) -> str:
    """A UTC TIMESTAMPTZ literal."""
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat(sep=' ')}'"


def number(value: float) -> str:
    """A float literal every dialect reads as a number."""
    text = repr(float(value))
    return text if "e" not in text else f"CAST({text} AS DOUBLE)"


def comment(text: str) -> str:
    return "/* " + text.replace("*/", "* /") + " */"


def empty_select(schema: Mapping[str, Any]) -> str:
    """A SELECT with these columns and no rows (a missing table)."""
    cols = ", ".join(f"CAST(NULL AS {sql_type(d)}) AS {ident(c)}" for c, d in schema.items())
    return f"SELECT {cols} WHERE FALSE"


def transpile(sql: str, dialect: str, what: str) -> str:
    """DuckDB-dialect statements in ``dialect`` (pretty, ``;``-separated, ending with ``;``)."""
    return ";\n\n".join(transpile_statements(sql, dialect, what)) + ";\n"


def transpile_statements(sql: str, dialect: str, what: str) -> list[str]:
    """Each DuckDB-dialect statement of ``sql`` written in ``dialect``, without a final ``;``."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, UnsupportedError

    out = []
    for tree in sqlglot.parse(sql, read=WRITE_DIALECT):
        if tree is None:
            continue
        if dialect != WRITE_DIALECT:
            tree = tree.transform(_fix_for(dialect))
        try:
            out.append(tree.sql(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE))
        except UnsupportedError as exc:
            raise ConfigError(
                f"The {what} cannot be written in {dialect} SQL: {exc}.",
                "Use another dialect, or simplify the rule (see docs/warehouse.md, engine limits).",
            )
    return out


def _fix_for(dialect: str) -> Any:
    """Small rewrites where a dialect lacks a construct sqlglot leaves as is."""
    from sqlglot import exp

    def fix(node: Any) -> Any:
        # whole microseconds between two timestamps
        if isinstance(node, exp.DateDiff) and dialect != "postgres":
            unit = node.args.get("unit")
            if unit is not None and unit.name.lower() == "microsecond":
                return exp.TimestampDiff(this=node.this, expression=node.expression, unit=exp.var("MICROSECOND"))
        if isinstance(node, exp.SplitPart) and dialect == "bigquery":
            index = int(node.args["part_index"].name) - 1
            return exp.Bracket(
                this=exp.Split(this=node.this, expression=node.args["delimiter"]),
                expressions=[exp.Literal.number(index)],
                offset=0,
                safe=True,
            )
        return node

    return fix


__all__ = [
    "DIALECTS",
    "check_dialect",
    "comment",
    "empty_select",
    "ident",
    "number",
    "sql_type",
    "string",
    "timestamp",
    "transpile",
    "transpile_statements",
]
