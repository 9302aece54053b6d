"""ScoringPlan -> warehouse SQL (``pql sql`` and the DuckDB/Spark runners), same results as Polars.

The query is written once, as DuckDB-dialect SQL built from the plan (conditions are the checked sqlglot
trees, never pasted text), then transpiled by sqlglot to each dialect. Every step is a CTE with a
comment, so an analyst can read it top to bottom (see :mod:`.compiler`). The output columns, their
order and meaning are the plan's (docs/snapshot.md). This package never imports the Polars emitter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig
from pqlcli.errors import UsageError
from pqlcli.scoring.plan import ScoringPlan, build_plan, canonical_schemas
from pqlcli.scoring.sql.compiler import SqlCompiler
from pqlcli.scoring.sql.dialect import DIALECTS, check_dialect, transpile_statements

TABLE_KEYS = ("users", "accounts", "events", "firmographics", "free_email_domains", "user_scores", "account_scores")
DEFAULT_TABLES = {
    "users": "users",
    "accounts": "accounts",
    "events": "events",
    "firmographics": "firmographics",
    "user_scores": "pql_user_scores",
    "account_scores": "pql_account_scores",
}
OUTPUTS = ("users", "accounts", "accounts_from_users", "script", "stats", "event_stats")


def parse_tables(tables: Mapping[str, str] | None) -> dict[str, str]:
    """The table names to read and write: the defaults, overridden by ``tables``."""
    out = dict(DEFAULT_TABLES)
    for key, value in (tables or {}).items():
        if key not in TABLE_KEYS:
            raise UsageError(
                f"Table {key}={value}: {key!r} is not a table pql reads or writes.",
                f"Tables: {', '.join(TABLE_KEYS)}.",
                param="tables",
            )
        if not value.strip():
            raise UsageError(f"Table {key}= needs a table name.", f"For example {key}=analytics.{key}.", param="tables")
        out[key] = value.strip()
    return out


def check_conditions(loaded: LoadedConfig, plan: ScoringPlan, dialect: str) -> None:
    """Name the rule when a dialect cannot express one of its conditions."""
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel, UnsupportedError

    conds = [r.when for r in plan.user_rules if r.when is not None]
    conds += [f.when for f in (*plan.user_pqls, *plan.account_pqls, *plan.exclude_accounts, *plan.exclude_users)]
    for cond in conds:
        try:
            for node in cond.tree.find_all(exp.RegexpLike):
                if node.args.get("flag") is not None and dialect in ("spark", "bigquery", "trino"):
                    raise UnsupportedError(f"{dialect} regular expressions take no flags argument")
            cond.tree.sql(dialect, unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            what = cond.what.rsplit(" (", 1)[0]
            raise loaded.error(
                cond.loc,
                f"{what}: the condition {cond.sql!r} cannot be written in {dialect} SQL ({exc})",
                "Rewrite the condition with standard SQL (for a case-insensitive match put (?i) in the "
                "pattern), or pick another dialect.",
            )


@dataclass
class Compiled:
    """SQL per output: ``sql`` with a header comment, ``statements`` as bare statements for a runner."""

    sql: dict[str, str]
    statements: dict[str, list[str]]
    users_schema: dict[str, Any]
    accounts_schema: dict[str, Any]


def _sources(comp: SqlCompiler, tables: Mapping[str, str]) -> dict[str, tuple[bool, str, str]]:
    us, acs = tables["user_scores"], tables["account_scores"]
    from_users = comp.accounts_from_users_sql(us)
    script = [
        f"DROP TABLE IF EXISTS {us}",
        f"CREATE TABLE {us} AS {comp.users_sql()}",
        f"DROP TABLE IF EXISTS {acs}",
        f"CREATE TABLE {acs} AS {from_users}",
    ]
    return {  # output -> (with the header, DuckDB SQL, what it is)
        "users": (True, comp.users_sql(), "user scores query"),
        "accounts": (True, comp.accounts_sql(), "account scores query"),
        "accounts_from_users": (True, from_users, "account scores query"),
        "script": (True, ";\n".join(script), "scoring script"),
        "stats": (False, comp.stats_sql(), "statistics query"),
        "event_stats": (False, comp.stats_sql(excluded=False), "statistics query"),
    }


def compile_plan(
    loaded: LoadedConfig,
    plan: ScoringPlan,
    as_of: datetime,
    dialect: str = "duckdb",
    tables: Mapping[str, str] | None = None,
    outputs: tuple[str, ...] | None = None,
) -> Compiled:
    """Compile a plan into SQL for ``dialect`` (the outputs named, default all of :data:`OUTPUTS`)."""
    dialect = check_dialect(dialect)
    names = parse_tables(tables)
    check_conditions(loaded, plan, dialect)
    comp = SqlCompiler(plan, as_of, names, free_email_inline="free_email_domains" not in (tables or {})).build()
    header = (
        f"-- pql scores compiled from {loaded.path} (config sha256 {loaded.sha256[:12]}) "
        f"as of {as_of.astimezone(UTC).isoformat()} for {dialect}\n"
    )
    sql, statements = {}, {}
    for key, (with_header, text, what) in _sources(comp, names).items():
        if outputs is None or key in outputs:
            statements[key] = transpile_statements(text, dialect, what)
            sql[key] = (header if with_header else "") + ";\n\n".join(statements[key]) + ";\n"
    return Compiled(sql, statements, dict(plan.users_out), dict(plan.accounts_out))


def plan_for_sql(loaded: LoadedConfig, schemas: Mapping[str, Mapping[str, Any]] | None = None) -> ScoringPlan:
    """The plan over the given tables' columns (default: the canonical columns)."""
    given = {k: dict(v) for k, v in (schemas or {}).items()}
    canon = canonical_schemas()
    pick = {k: dict(given.get(k) or canon[k]) for k in canon}
    if "events" not in given:  # without the real columns, event properties the metrics name are numbers
        for m in loaded.config.metrics.values():
            if m.prop:
                pick["events"].setdefault(m.prop, pl.Float64())
    return build_plan(loaded, pick)


def compile_full(
    loaded: LoadedConfig,
    as_of: datetime,
    dialect: str = "duckdb",
    tables: Mapping[str, str] | None = None,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    outputs: tuple[str, ...] | None = None,
) -> Compiled:
    """:func:`compile_sql` plus the bare statements and the output schemas."""
    check_dialect(dialect)
    return compile_plan(loaded, plan_for_sql(loaded, schemas), as_of, dialect, tables, outputs)


def compile_sql(
    loaded: LoadedConfig,
    as_of: datetime,
    dialect: str = "duckdb",
    tables: Mapping[str, str] | None = None,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    outputs: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """Compile the config into SQL for ``dialect``.

    Returns ``{"users", "accounts", "accounts_from_users", "script", "stats", "event_stats"}`` (or the
    ``outputs`` named): ``users`` and ``accounts`` are single self-contained SELECT statements;
    ``accounts_from_users`` reads user scores from the ``user_scores`` table; ``script`` creates
    ``pql_user_scores`` and ``pql_account_scores``; ``stats`` counts excluded users, events of unknown
    users and events at or after as_of.

    ``tables`` maps users/accounts/events/firmographics (and free_email_domains, user_scores,
    account_scores) to table names; without a free_email_domains table the domains are inlined as a
    VALUES list. ``schemas`` gives the input tables' columns as Polars dtypes (default: the canonical
    columns), so extra traits are carried through as in the snapshot.
    """
    return compile_full(loaded, as_of, dialect, tables, schemas, outputs).sql


__all__ = [
    "DEFAULT_TABLES",
    "DIALECTS",
    "OUTPUTS",
    "TABLE_KEYS",
    "Compiled",
    "canonical_schemas",
    "check_conditions",
    "compile_full",
    "compile_plan",
    "compile_sql",
    "parse_tables",
    "plan_for_sql",
]
