"""SQL conditions → Polars expressions, checked against the columns that exist.

Conditions are parsed by the Polars SQL expression parser (``pl.sql_expr``); nothing is ``eval``ed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig
from pqlcli.errors import ConfigError


def parse_condition(sql: str) -> pl.Expr:
    """Parse a SQL boolean expression (raises ValueError with the parser's reason)."""
    if not sql or not sql.strip():
        raise ValueError("the condition is empty")
    try:
        return pl.sql_expr(sql)
    except Exception as exc:  # polars raises SQLInterfaceError/SQLSyntaxError/ComputeError
        raise ValueError(str(exc).strip().splitlines()[0]) from None


def referenced_columns(sql: str) -> list[str]:
    try:
        return list(dict.fromkeys(parse_condition(sql).meta.root_names()))
    except ValueError:
        return []


def unknown_column_hint(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    suggestion = f"Did you mean {close[0]!r}? " if close else ""
    return f"{suggestion}Columns that exist: {', '.join(sorted(columns))}."


def compile_condition(
    loaded: LoadedConfig,
    loc: tuple[Any, ...],
    sql: str,
    schema: Mapping[str, pl.DataType],
    *,
    what: str,
    unavailable: Mapping[str, str] | None = None,
) -> pl.Expr:
    """Compile ``sql`` into a boolean expression over ``schema``; errors point at ``loc`` in the config.

    ``unavailable`` maps column names that exist elsewhere but not at this level to the reason.
    """
    try:
        expr = parse_condition(sql)
    except ValueError as exc:
        raise loaded.error(
            loc,
            f"{what}: the condition {sql!r} is not a valid SQL expression ({exc})",
            "Write a SQL boolean expression, e.g. \"employees > 100 AND country IN ('US', 'CA')\".",
        )
    for name in dict.fromkeys(expr.meta.root_names()):
        if name in schema:
            continue
        if unavailable and name in unavailable:
            raise loaded.error(loc, f"{what}: the condition uses {name!r}, {unavailable[name]}", None)
        raise loaded.error(
            loc,
            f"{what}: the condition {sql!r} uses the unknown column {name!r}",
            unknown_column_hint(name, list(schema)),
        )
    try:
        dtype = pl.LazyFrame(schema=dict(schema)).select(expr.alias("__c")).collect_schema()["__c"]
    except Exception as exc:
        raise loaded.error(
            loc,
            f"{what}: the condition {sql!r} cannot be evaluated on these columns ({str(exc).splitlines()[0]})",
            "Check the types: compare numbers with numbers and text with quoted 'text'.",
        )
    if dtype not in (pl.Boolean, pl.Null):
        raise loaded.error(
            loc,
            f"{what}: the condition {sql!r} gives {dtype}, not true/false",
            "A condition must be boolean, e.g. `employees > 100` rather than `employees`.",
        )
    return expr


__all__ = ["ConfigError", "compile_condition", "parse_condition", "referenced_columns"]
