"""One condition grammar for every engine: parse once, check once, then each emitter writes its form.

A condition (``when:`` of a rule, a PQL definition or an exclusion) is parsed by sqlglot (DuckDB
dialect), then checked against :data:`GRAMMAR`, the constructs docs/config.md promises, and against
the columns and types of the level it runs at. Only then do the emitters see it: the SQL emitter writes
the sqlglot tree in its dialect, the Polars emitter reads the same text with ``pl.sql_expr``.
``tests/equivalence/test_condition_corpus.py`` evaluates every construct of the grammar on Polars and on DuckDB and
requires equal results, so a condition accepted here means the same thing in every engine.
Nothing is ever ``eval``ed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp

from pqlcli.config import LoadedConfig
from pqlcli.errors import ConfigError
from pqlcli.util.sqltext import double_quote_hint

READ_DIALECT = "duckdb"

# Every construct a condition may use (sqlglot node -> how docs/config.md names it).
GRAMMAR: dict[type[exp.Expression], str] = {
    exp.Column: "column names",
    exp.Identifier: "column names",
    exp.Literal: "numbers and 'text'",
    exp.Boolean: "TRUE / FALSE",
    exp.Null: "NULL",
    exp.Paren: "( )",
    exp.And: "AND",
    exp.Or: "OR",
    exp.Not: "NOT",
    exp.EQ: "=",
    exp.NEQ: "<> / !=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.Is: "IS [NOT] NULL",
    exp.In: "[NOT] IN (list)",
    exp.Between: "BETWEEN a AND b",
    exp.Like: "[NOT] LIKE",
    exp.ILike: "ILIKE",
    exp.RegexpLike: "regexp_like(text, pattern)",
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.Neg: "unary -",
    exp.Lower: "lower()",
    exp.Upper: "upper()",
    exp.Length: "length()",
    exp.Abs: "abs()",
    exp.Coalesce: "coalesce()",
    exp.Cast: "DATE 'yyyy-mm-dd' literals and CAST(x AS DATE|DOUBLE|VARCHAR)",
    exp.DataType: "DATE 'yyyy-mm-dd' literals and CAST(x AS DATE|DOUBLE|VARCHAR)",
}
# CAST targets (sqlglot type names; VARCHAR reads as TEXT). Not INT/BIGINT: Polars truncates 1.5 to 1
# where DuckDB rounds it to 2. Not TIMESTAMP: Polars cannot compare it with the UTC timestamp columns.
CAST_TYPES = {"DATE", "DOUBLE", "VARCHAR", "TEXT"}
GRAMMAR_HINT = (
    "Conditions use column names, numbers, 'text', TRUE/FALSE/NULL, AND/OR/NOT, comparisons, "
    "IS [NOT] NULL, [NOT] IN (...), BETWEEN, [NOT] LIKE, ILIKE, regexp_like(), + - * /, lower(), upper(), "
    "length(), abs(), coalesce(), DATE 'yyyy-mm-dd' and CAST(x AS DATE|DOUBLE|VARCHAR) "
    "(docs/config.md, Conditions)."
)


@dataclass(frozen=True)
class Condition:
    """A condition that passed the gate: its text, its sqlglot tree and the columns it reads."""

    sql: str
    tree: Any = field(compare=False)  # the sqlglot expression
    columns: tuple[str, ...]
    loc: tuple[Any, ...] = ()
    what: str = ""

    def to_sql(self, dialect: str = READ_DIALECT) -> str:
        """The condition in ``dialect`` (used in delimited places: no outer parentheses needed)."""
        return self.tree.sql(dialect)


def parse(sql: str) -> Any:
    """Parse and check a condition against the grammar (raises ValueError with the reason)."""
    if not sql or not sql.strip():
        raise ValueError("the condition is empty")
    try:
        tree = sqlglot.parse_one(sql, read=READ_DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        raise ValueError(str(exc).strip().splitlines()[0]) from None
    if tree is None:
        raise ValueError("the condition is empty")
    for node in tree.walk():
        if type(node) not in GRAMMAR:
            raise ValueError(f"{_construct(node)} is not part of the condition grammar")
        if isinstance(node, exp.Cast) and getattr(node.to.this, "name", None) not in CAST_TYPES:
            raise ValueError(f"CAST to {node.to.sql(READ_DIALECT)} is not part of the condition grammar")
    return tree


def _construct(node: Any) -> str:
    if isinstance(node, exp.Anonymous):
        return f"the function {node.name}()"
    if isinstance(node, exp.Func):
        return f"the function {node.sql_name()}()"
    return f"{type(node).__name__.upper()} ({node.sql(READ_DIALECT)[:40]})"


def columns_of(tree: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.name for c in tree.find_all(exp.Column)))


def referenced_columns(sql: str) -> list[str]:
    """The columns a condition reads, in order of appearance ([] when it does not parse)."""
    try:
        return list(columns_of(parse(sql)))
    except ValueError:
        return []


def polars_expr(cond: Condition) -> pl.Expr:
    """The Polars expression of a checked condition."""
    return pl.sql_expr(cond.sql)


def unknown_column_hint(name: str, columns: list[str], sql: str = "") -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    suggestion = f"Did you mean {close[0]!r}? " if close else ""
    return f"{double_quote_hint(sql, [name])}{suggestion}Columns that exist: {', '.join(sorted(columns))}."


def check_condition(
    loaded: LoadedConfig,
    loc: tuple[Any, ...],
    sql: str,
    schema: Mapping[str, pl.DataType],
    *,
    what: str,
    unavailable: Mapping[str, str] | None = None,
) -> Condition:
    """The single gate: parse, grammar, columns, types; errors point at ``loc`` in the config.

    ``unavailable`` maps column names that exist elsewhere but not at this level to the reason.
    """
    try:
        tree = parse(sql)
        expr = pl.sql_expr(sql)
    except Exception as exc:  # ValueError from the grammar; polars' SQLInterfaceError/SQLSyntaxError
        reason = str(exc).strip().splitlines()[0]
        raise loaded.error(
            loc,
            f"{what}: the condition {sql!r} is not a valid SQL expression ({reason})",
            "Write a SQL boolean expression, e.g. \"employees > 100 AND country IN ('US', 'CA')\". " + GRAMMAR_HINT,
        )
    columns = columns_of(tree)
    for name in columns:
        if name in schema:
            continue
        if unavailable and name in unavailable:
            raise loaded.error(loc, f"{what}: the condition uses {name!r}, {unavailable[name]}", None)
        raise loaded.error(
            loc,
            f"{what}: the condition {sql!r} uses the unknown column {name!r}",
            unknown_column_hint(name, list(schema), sql),
        )
    _check_boolean(loaded, loc, sql, expr, schema, what)
    return Condition(sql, tree, columns, tuple(loc), what)


def _check_boolean(
    loaded: LoadedConfig, loc: tuple[Any, ...], sql: str, expr: pl.Expr, schema: Mapping[str, pl.DataType], what: str
) -> None:
    try:
        # collected (on no rows), not only resolved: type clashes (text > 5) and bad regexes surface here
        dtype = pl.LazyFrame(schema=dict(schema)).select(expr.alias("__c")).collect().schema["__c"]
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


__all__ = [
    "GRAMMAR",
    "Condition",
    "ConfigError",
    "check_condition",
    "parse",
    "polars_expr",
    "referenced_columns",
    "unknown_column_hint",
]
