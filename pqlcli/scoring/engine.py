"""The scoring engine: the whole config compiled into lazy Polars plans.

Metrics are conditional aggregations in a single pass over events; rules are Polars expressions; there
are no Python loops over rows and no UDFs. ``build_plans`` returns the lazy frames; ``run`` collects
them together (so common sub-plans run once) with the streaming engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from pqlcli.config import TIERS, Config, LoadedConfig, Metric, Rule
from pqlcli.scoring.conditions import compile_condition
from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import ACCOUNTS, EVENTS, FIRMOGRAPHICS, USERS, polars_dtype

TS = pl.Datetime("us", "UTC")
FIRMO_COLUMNS = ("employees", "employees_range", "raised", "annual_revenue", "country", "industry")
# Columns a user has and an account does not: NULL when account fit rules use them.
USER_ONLY = {
    "user_id": pl.String,
    "email": pl.String,
    "email_domain": pl.String,
    "is_free_email": pl.Boolean,
    "title": pl.String,
    "signup_at": TS,
    "account_name": pl.String,
}


@dataclass
class Inputs:
    """The canonical tables as lazy frames (empty frames where a table is missing)."""

    users: pl.LazyFrame
    accounts: pl.LazyFrame
    events: pl.LazyFrame
    firmographics: pl.LazyFrame
    missing: list[str] = field(default_factory=list)

    @classmethod
    def from_workspace(cls, ws: Workspace) -> Inputs:
        missing = []
        frames: dict[str, pl.LazyFrame] = {}
        for name, schema in (("users", USERS), ("accounts", ACCOUNTS), ("events", EVENTS), ("firmographics", FIRMOGRAPHICS)):
            lf = ws.scan_or_none(name)
            if lf is None:
                missing.append(name)
                lf = pl.LazyFrame(schema={c: polars_dtype(t) for c, t in schema.columns.items()})
            frames[name] = lf
        return cls(missing=missing, **frames)


def _ensure(lf: pl.LazyFrame, columns: dict[str, str]) -> pl.LazyFrame:
    """Add canonical columns a table lacks (as typed NULLs) and cast the ones it has."""
    schema = lf.collect_schema()
    exprs = []
    for col, kind in columns.items():
        dtype = polars_dtype(kind)
        if col not in schema:
            exprs.append(pl.lit(None, dtype=dtype).alias(col))
        elif schema[col] != dtype:
            exprs.append(pl.col(col).cast(dtype, strict=False))
    return lf.with_columns(exprs) if exprs else lf


def _free_email_domains() -> list[str]:
    from pqlcli.util.domains import free_email_domains

    return sorted(free_email_domains())


# ---------------------------------------------------------------------------------------------------
# Contexts: what a user's and an account's rules see


def user_base(inputs: Inputs) -> pl.LazyFrame:
    users = _ensure(inputs.users, USERS.columns)
    email = pl.col("email").str.strip_chars().str.to_lowercase()
    domain = email.str.split("@").list.get(1, null_on_oob=True)
    users = users.with_columns(email_domain=domain).with_columns(
        is_free_email=pl.when(pl.col("email_domain").is_null())
        .then(None)
        .otherwise(pl.col("email_domain").is_in(_free_email_domains()))
    )
    # Orphans: a user with no account joins the account whose domain is its email's company domain.
    accounts = _ensure(inputs.accounts, ACCOUNTS.columns)
    by_domain = (
        accounts.filter(pl.col("domain").is_not_null())
        .group_by("domain")
        .agg(pl.col("account_id").min().alias("__orphan_account"))
    )
    users = users.join(by_domain, left_on="email_domain", right_on="domain", how="left")
    users = users.with_columns(
        account_id=pl.coalesce(
            pl.col("account_id"),
            pl.when(pl.col("is_free_email").not_()).then(pl.col("__orphan_account")),
        )
    ).drop("__orphan_account")
    return users


def _firmographics(inputs: Inputs) -> pl.LazyFrame:
    firmo = _ensure(inputs.firmographics, FIRMOGRAPHICS.columns)
    return (
        firmo.filter(pl.col("status") == "found")
        .sort("fetched_at", nulls_last=False)
        .unique(subset="domain", keep="last", maintain_order=False)
        .select("domain", *FIRMO_COLUMNS)
    )


def _join_firmographics(lf: pl.LazyFrame, firmo: pl.LazyFrame) -> pl.LazyFrame:
    """Join firmographics on ``domain``; a provider value wins, a CRM value of the same name fills gaps."""
    names = lf.collect_schema().names()
    renamed = firmo.rename({c: f"__f_{c}" for c in FIRMO_COLUMNS})
    lf = lf.join(renamed, on="domain", how="left")
    exprs = []
    for c in FIRMO_COLUMNS:
        if c in names:
            exprs.append(pl.coalesce(pl.col(f"__f_{c}"), pl.col(c).cast(firmo.collect_schema()[c], strict=False)).alias(c))
        else:
            exprs.append(pl.col(f"__f_{c}").alias(c))
    return lf.with_columns(exprs).drop([f"__f_{c}" for c in FIRMO_COLUMNS])


def account_base(inputs: Inputs) -> pl.LazyFrame:
    accounts = _ensure(inputs.accounts, ACCOUNTS.columns)
    accounts = accounts.unique(subset="account_id", keep="last", maintain_order=False)
    return _join_firmographics(accounts, _firmographics(inputs))


def user_context(users: pl.LazyFrame, accounts: pl.LazyFrame, inputs: Inputs) -> pl.LazyFrame:
    """A user's own columns first, then its account's (plan, owner, domain, ...), then firmographics."""
    user_cols = set(users.collect_schema().names())
    acct_schema = _ensure(inputs.accounts, ACCOUNTS.columns).collect_schema()
    rename = {"name": "account_name", "created_at": "account_created_at"}
    acct_cols = [c for c in acct_schema.names() if c != "account_id"]
    renamed: dict[str, str] = {}
    for c in acct_cols:
        target = rename.get(c, c)
        renamed[c] = f"__a_{target}" if target in user_cols else target
    acct = _ensure(inputs.accounts, ACCOUNTS.columns).unique(subset="account_id", keep="last", maintain_order=False)
    acct = acct.select("account_id", *[pl.col(c).alias(renamed[c]) for c in acct_cols])
    lf = users.join(acct, on="account_id", how="left")
    fills = [
        pl.coalesce(pl.col(t[4:] if t.startswith("__a_") else t), pl.col(t)).alias(t[4:])
        for t in renamed.values()
        if t.startswith("__a_") and t[4:] != "domain"
    ]
    lf = lf.with_columns(fills).drop([t for t in renamed.values() if t.startswith("__a_") and t[4:] != "domain"])
    account_domain = pl.col("__a_domain") if "__a_domain" in renamed.values() else pl.col("domain")
    lf = lf.with_columns(
        domain=pl.coalesce(account_domain, pl.when(pl.col("is_free_email").not_()).then(pl.col("email_domain")))
    )
    if "__a_domain" in renamed.values():
        lf = lf.drop("__a_domain")
    return _join_firmographics(lf, _firmographics(inputs))


# ---------------------------------------------------------------------------------------------------
# Metrics


def _as_of_lit(as_of: datetime) -> pl.Expr:
    return pl.lit(as_of, dtype=TS)


def metric_expr(name: str, m: Metric, as_of: datetime) -> pl.Expr:
    """One metric as an aggregation over a user's events.

    The events are already filtered to ``timestamp < as_of`` (:func:`user_metrics` does it once), so
    the condition does not repeat that test for every metric.
    """
    ts = pl.col("timestamp")
    parts = []
    window = m.window_td
    if window is not None:
        parts.append(ts >= _as_of_lit(as_of - window))
    if not m.any_event:
        events = m.events
        parts.append(pl.col("event") == events[0] if len(events) == 1 else pl.col("event").is_in(events))
    # No condition at all ("*", no window): every event counts. A literal True would not do: its sum
    # in a group-by is 1, not the number of rows.
    cond = pl.all_horizontal(parts) if parts else ts.is_not_null()
    age_seconds = (_as_of_lit(as_of) - ts).dt.total_microseconds().cast(pl.Float64) / 1e6
    if m.decay is not None:
        if m.decay.kind == "half_life":
            weight = pl.lit(0.5).pow(age_seconds / m.decay.seconds)
        else:
            weight = pl.max_horizontal(pl.lit(0.0), 1.0 - age_seconds / m.decay.seconds)
        return weight.filter(cond).sum().cast(pl.Float64).alias(name)
    if m.agg == "count":
        return cond.sum().cast(pl.Int64).alias(name)
    if m.agg == "active_days":
        if window is not None:
            return _active_days_bitmask(name, cond, as_of, window)
        return ts.dt.date().filter(cond).n_unique().cast(pl.Int64).alias(name)
    if m.agg == "sum":
        return pl.col(m.prop or "").cast(pl.Float64, strict=False).filter(cond).sum().alias(name)
    if m.agg == "distinct":
        return pl.col(m.prop or "").filter(cond & pl.col(m.prop or "").is_not_null()).n_unique().cast(pl.Int64).alias(name)
    first_or_last = ts.filter(cond).min() if m.agg == "first_seen" else ts.filter(cond).max()
    return ((_as_of_lit(as_of) - first_or_last).dt.total_microseconds().cast(pl.Float64) / 86_400e6).alias(name)


def _active_days_bitmask(name: str, cond: pl.Expr, as_of: datetime, window: timedelta) -> pl.Expr:
    """Distinct UTC dates with an event in a window, as OR-ed day bits and a popcount.

    Same result as ``n_unique`` of the dates, but the aggregation is a bitwise OR, which the streaming
    group-by reduces in place instead of keeping every date of every user.
    """
    ts = pl.col("timestamp")
    first_day = (as_of - window).date()
    slots = (as_of.date() - first_day).days + 1
    idx = (ts.dt.date() - pl.lit(first_day)).dt.total_days().cast(pl.Int64)
    counts = []
    for word in range((slots + 63) // 64):
        lo = word * 64
        in_word = (idx >= lo) & (idx < lo + 64)
        bit = pl.lit(2, dtype=pl.UInt64).pow((idx - lo).clip(0, 63).cast(pl.UInt64))
        counts.append(bit.filter(cond & in_word).bitwise_or().fill_null(0).bitwise_count_ones().cast(pl.Int64))
    return pl.sum_horizontal(counts).cast(pl.Int64).alias(name)


def metric_fill(m: Metric) -> Any:
    if m.agg in ("first_seen", "last_seen"):
        return None
    return 0.0 if m.is_float else 0


def metric_dtype(m: Metric) -> pl.DataType:
    return pl.Float64() if m.is_float else pl.Int64()


def user_metrics(events: pl.LazyFrame, cfg: Config, as_of: datetime) -> pl.LazyFrame:
    """One pass over events: every metric per user by conditional aggregation."""
    ts = pl.col("timestamp")
    pre = ts < _as_of_lit(as_of)
    metrics = cfg.metrics
    if metrics and all(m.window_td is not None for m in metrics.values()) and not any(
        m.agg in ("first_seen", "last_seen") for m in metrics.values()
    ):
        widest = max(m.window_td or timedelta(0) for m in metrics.values())
        pre = pre & (ts >= _as_of_lit(as_of - widest))
    if metrics and not any(m.any_event for m in metrics.values()):
        names = sorted({e for m in metrics.values() for e in m.events})
        pre = pre & pl.col("event").is_in(names)
    exprs = [metric_expr(name, m, as_of) for name, m in metrics.items()]
    # __events: how many events the metrics looked at, to report events of unknown users
    return events.filter(pre).group_by("user_id").agg(*exprs, pl.len().cast(pl.Int64).alias("__events"))


# ---------------------------------------------------------------------------------------------------
# Rules, scores, tiers


def rule_points(rule: Rule, cond: pl.Expr | None) -> pl.Expr:
    """Points a rule gives: a NULL condition or metric gives 0; a per-unit rule is bounded by ``cap``."""
    if rule.metric is not None:
        raw = pl.col(rule.metric).cast(pl.Float64) * rule.points
        if rule.cap is not None:
            raw = raw.clip(upper_bound=rule.cap) if rule.points >= 0 else raw.clip(lower_bound=-rule.cap)
        return raw.fill_null(0.0)
    assert cond is not None
    return pl.when(cond).then(pl.lit(float(rule.points))).otherwise(pl.lit(0.0))


def score_exprs(prefix: str, rules: list[Rule], conds: dict[str, pl.Expr]) -> tuple[list[pl.Expr], pl.Expr]:
    cols = [rule_points(r, conds.get(r.name)).alias(f"{prefix}__{r.name}") for r in rules]
    total = pl.sum_horizontal([pl.col(f"{prefix}__{r.name}") for r in rules]) if rules else pl.lit(0.0)
    return cols, total.cast(pl.Float64).clip(0.0, 100.0)


def tier_expr(cfg: Config) -> pl.Expr:
    t = cfg.tiers
    good_fit = pl.col("fit_score") >= t.fit
    high_use = pl.col("usage_score") >= t.usage
    return (
        pl.when(good_fit & high_use)
        .then(pl.lit(t.name("tier1")))
        .when(good_fit)
        .then(pl.lit(t.name("tier2")))
        .when(high_use)
        .then(pl.lit(t.name("tier3")))
        .otherwise(pl.lit(t.name("tier4")))
    )


def tier_label_expr(cfg: Config) -> pl.Expr:
    t = cfg.tiers
    expr: Any = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for key in TIERS:
        expr = expr.when(pl.col("tier") == t.name(key)).then(pl.lit(t.label(key)))
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def _compile_rules(
    loaded: LoadedConfig, section: str, rules: list[Rule], schema: dict[str, pl.DataType], level: str
) -> dict[str, pl.Expr]:
    conds = {}
    for i, rule in enumerate(rules):
        if rule.when is not None:
            conds[rule.name] = compile_condition(
                loaded, (section, i, "when"), rule.when, schema, what=f"{section} rule {rule.name!r} ({level}s)"
            )
    return conds


def apply_scores(lf: pl.LazyFrame, loaded: LoadedConfig, schema: dict[str, Any], level: str) -> pl.LazyFrame:
    """Rule points, clamped fit and usage scores, tier and tier label for users or accounts."""
    cfg = loaded.config
    fit_cols, fit_total = score_exprs("fit", cfg.fit, _compile_rules(loaded, "fit", cfg.fit, schema, level))
    usage_cols, usage_total = score_exprs("usage", cfg.usage, _compile_rules(loaded, "usage", cfg.usage, schema, level))
    return (
        lf.with_columns(fit_cols + usage_cols)
        .with_columns(fit_score=fit_total, usage_score=usage_total)
        .with_columns(tier=tier_expr(cfg))
        .with_columns(tier_label=tier_label_expr(cfg))
    )


def _null_columns(lf: pl.LazyFrame, wanted: dict[str, pl.DataType]) -> pl.LazyFrame:
    have = set(lf.collect_schema().names())
    add = [pl.lit(None, dtype=d).alias(c) for c, d in wanted.items() if c not in have]
    return lf.with_columns(add) if add else lf


@dataclass
class Plans:
    users: pl.LazyFrame
    accounts: pl.LazyFrame
    stats: pl.LazyFrame
    as_of: datetime
    warnings: list[str] = field(default_factory=list)
    accounts_for: Any = None


def build_plans(
    loaded: LoadedConfig,
    inputs: Inputs,
    as_of: datetime,
    *,
    metrics: pl.LazyFrame | None = None,
    events_after: pl.LazyFrame | None = None,
) -> Plans:
    """Compile the config into lazy plans for users, accounts and run statistics.

    ``metrics`` may be the per-user metrics already computed (one pass over events); by default they
    are part of the plan. ``Plans.accounts_for(users)`` builds the account plan over scored users, so a
    caller that has collected the users does not compute them twice.
    """
    cfg = loaded.config
    warnings: list[str] = []
    for name in ("users",):
        if name in inputs.missing:
            from pqlcli.errors import WorkspaceError

            raise WorkspaceError("The workspace has no users table yet.", "Run `pql ingest users FILE` first.")
    if "firmographics" in inputs.missing:
        warnings.append("No firmographics yet: fit rules on employees, raised, country... give 0 points. Run `pql enrich`.")
    if "events" in inputs.missing:
        warnings.append("No events yet: every usage metric is 0. Run `pql ingest events FILE`.")

    events = _ensure(inputs.events, EVENTS.columns)
    users = user_base(inputs)
    accounts = account_base(inputs)

    # Metric names must not shadow data columns.
    ctx = user_context(users, accounts, inputs)
    ctx_schema: Any = ctx.collect_schema()
    for name in cfg.metrics:
        if name in ctx_schema:
            raise loaded.error(
                ("metrics", name, "__key__"),
                f"metric {name!r} has the same name as a data column",
                "Rename the metric (e.g. add a window suffix such as _30d).",
            )
    event_schema = events.collect_schema()
    for name, m in cfg.metrics.items():
        if m.prop and m.prop not in event_schema:
            raise loaded.error(
                ("metrics", name, "property"),
                f"metric {name!r} uses the event property {m.prop!r}, which the events table does not have",
                f"Event columns: {', '.join(event_schema.names())}.",
            )

    # ---- exclusions (before scoring) ------------------------------------------------------------
    acct_excl = [(i, e) for i, e in enumerate(cfg.exclude) if e.level == "account"]
    user_excl = [(i, e) for i, e in enumerate(cfg.exclude) if e.level == "user"]
    acct_schema0 = dict(accounts.collect_schema())
    excluded_accounts_expr = pl.lit(False)
    for i, e in acct_excl:
        cond = compile_condition(loaded, ("exclude", i, "when"), e.when, acct_schema0, what=f"exclude {e.name!r}")
        excluded_accounts_expr = excluded_accounts_expr | cond.fill_null(False)
    accounts_flagged = accounts.with_columns(__excluded=excluded_accounts_expr)
    excluded_ids = accounts_flagged.filter(pl.col("__excluded")).select("account_id")
    accounts = accounts_flagged.filter(~pl.col("__excluded")).drop("__excluded")

    if metrics is None:
        metrics = user_metrics(events, cfg, as_of)
    ctx = ctx.join(metrics.drop("__events"), on="user_id", how="left").with_columns(
        [pl.col(n).fill_null(metric_fill(m)).cast(metric_dtype(m)) for n, m in cfg.metrics.items() if metric_fill(m) is not None]
    )
    ctx_schema = dict(ctx.collect_schema())
    user_excluded_expr = pl.lit(False)
    for i, e in user_excl:
        cond = compile_condition(loaded, ("exclude", i, "when"), e.when, ctx_schema, what=f"exclude {e.name!r}")
        user_excluded_expr = user_excluded_expr | cond.fill_null(False)
    ctx = ctx.join(excluded_ids.with_columns(__acct_excluded=pl.lit(True)), on="account_id", how="left")
    ctx = ctx.with_columns(__excluded=user_excluded_expr | pl.col("__acct_excluded").fill_null(False))
    excluded_users = ctx.filter(pl.col("__excluded")).select(pl.len().alias("excluded_users"))
    ctx = ctx.filter(~pl.col("__excluded")).drop("__excluded", "__acct_excluded")

    # ---- user scores ------------------------------------------------------------------------------
    scored = apply_scores(ctx, loaded, ctx_schema, "user")
    pql_schema = dict(scored.collect_schema())
    user_pqls = [(i, p) for i, p in enumerate(cfg.pqls) if p.level == "user"]
    pql_cols = []
    for i, p in user_pqls:
        cond = compile_condition(loaded, ("pqls", i, "when"), p.when, pql_schema, what=f"PQL {p.name!r} (user level)")
        pql_cols.append(cond.fill_null(False).alias(f"pql__{p.name}"))
    scored = scored.with_columns(pql_cols)
    is_pql = pl.any_horizontal([pl.col(f"pql__{p.name}") for _, p in user_pqls]) if user_pqls else pl.lit(False)
    users_out = scored.with_columns(is_pql=is_pql).sort("user_id")

    def accounts_for(users_src: pl.LazyFrame) -> pl.LazyFrame:
        """The account plan over scored users."""
        roll = []
        for n, m in cfg.metrics.items():
            how = m.account_rollup
            if how == "sum":
                roll.append(pl.col(n).sum().cast(metric_dtype(m)).alias(n))
            elif how == "max":
                roll.append(pl.col(n).max().alias(n))
            elif how == "min":
                roll.append(pl.col(n).min().alias(n))
            else:
                roll.append((pl.col(n) > 0).sum().cast(pl.Int64).alias(n))
        signup = pl.col("signup_at")
        added = ((signup >= _as_of_lit(as_of - timedelta(days=7))) & (signup < _as_of_lit(as_of))).sum().cast(pl.Int64)
        rollup = (
            users_src.filter(pl.col("account_id").is_not_null())
            .group_by("account_id")
            .agg(
                *roll,
                pl.len().cast(pl.Int64).alias("users"),
                added.alias("users_added_7d"),
                pl.col("is_pql").sum().cast(pl.Int64).alias("pql_users"),
            )
        )
        acct = accounts.join(rollup, on="account_id", how="left")
        fills = [pl.col(n).fill_null(metric_fill(m)).cast(metric_dtype(m)) for n, m in cfg.metrics.items() if metric_fill(m) is not None]
        fills += [pl.col(c).fill_null(0) for c in ("users", "users_added_7d", "pql_users")]
        acct = acct.with_columns(fills).with_columns(
            pql_share=pl.when(pl.col("users") > 0).then(pl.col("pql_users") / pl.col("users")).otherwise(None)
        )
        acct = acct.with_columns(pqa=(pl.col("users") > 0) & (pl.col("pql_share") >= cfg.accounts.pqa_share).fill_null(False))
        acct_schema = dict(acct.collect_schema())
        # Account fit sees the account's own columns; user-only columns are NULL there.
        fit_refs = {c for r in cfg.fit if r.when for c in _refs(r.when)}
        null_user_cols: dict[str, Any] = {c: d for c, d in USER_ONLY.items() if c in fit_refs and c not in acct_schema}
        for c in fit_refs:
            if c not in acct_schema and c not in null_user_cols and c in ctx_schema:
                null_user_cols[c] = ctx_schema[c]
        acct = _null_columns(acct, null_user_cols)
        acct = apply_scores(acct, loaded, dict(acct.collect_schema()), "account").drop(list(null_user_cols))
        acct_pql_schema = dict(acct.collect_schema())
        user_only_reason = {
            c: "a user-only column; account-level PQL definitions see account columns, roll-ups and scores"
            for c in (set(ctx_schema) | set(pql_schema)) - set(acct_pql_schema)
        }
        apql_cols = []
        for i, p in enumerate(cfg.pqls):
            if p.level != "account":
                continue
            cond = compile_condition(
                loaded, ("pqls", i, "when"), p.when, acct_pql_schema, what=f"PQL {p.name!r} (account level)",
                unavailable=user_only_reason,
            )
            apql_cols.append(cond.fill_null(False).alias(f"pql__{p.name}"))
        return acct.with_columns(apql_cols).sort("account_id")

    accounts_out = accounts_for(users_out)  # compiles (and checks) the account rules

    # ---- run statistics -----------------------------------------------------------------------------
    known_users = _ensure(inputs.users, USERS.columns).select("user_id").unique()
    unknown = (
        metrics.join(known_users, on="user_id", how="anti")
        .select(pl.col("__events").sum().cast(pl.Int64).alias("events_unknown_users"))
    )
    if events_after is None:
        events_after = events_after_as_of(events, as_of)
    stats = pl.concat([excluded_users, unknown, events_after], how="horizontal")
    return Plans(
        users=users_out, accounts=accounts_out, stats=stats, as_of=as_of, warnings=warnings, accounts_for=accounts_for
    )


def events_after_as_of(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """How many events are at or after as_of (they never count)."""
    return events.filter(pl.col("timestamp") >= _as_of_lit(as_of)).select(pl.len().alias("events_after_as_of"))


def _refs(sql: str) -> list[str]:
    from pqlcli.scoring.conditions import referenced_columns

    return referenced_columns(sql)


@dataclass
class ScoreFrames:
    users: pl.DataFrame
    accounts: pl.DataFrame
    stats: dict[str, int]
    as_of: datetime
    warnings: list[str]


def run(loaded: LoadedConfig, inputs: Inputs, as_of: datetime, *, streaming: bool = True) -> ScoreFrames:
    """Score: one streaming pass over events for the metrics, then users, then accounts from the users.

    Only the events pass streams (it is the big one); users and accounts are one row each and run
    faster on the in-memory engine.
    """
    engine: Any = "streaming" if streaming else "auto"
    events = _ensure(inputs.events, EVENTS.columns)
    # the metrics and the after-as_of count read the events in the same streaming run
    metrics, after = pl.collect_all([user_metrics(events, loaded.config, as_of), events_after_as_of(events, as_of)], engine=engine)
    plans = build_plans(loaded, inputs, as_of, metrics=metrics.lazy(), events_after=after.lazy())
    users = plans.users.collect(engine="in-memory")
    accounts, stats = pl.collect_all([plans.accounts_for(users.lazy()), plans.stats], engine="in-memory")
    return ScoreFrames(users, accounts, stats.to_dicts()[0], as_of, plans.warnings)
