"""ScoringPlan -> lazy Polars: one streaming pass over events, then users, then accounts from the users.

Metrics are conditional aggregations in a single group-by over the events (``active_days`` as OR-ed day
bits, which the streaming engine reduces in place); rules are Polars expressions; no Python loops over
rows and no UDFs. This module translates the plan (``scoring/plan.py``) and decides nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import polars.selectors as cs

from pqlcli.scoring.conditions import polars_expr
from pqlcli.scoring.frames import Inputs, ScoreFrames
from pqlcli.scoring.plan import (
    TS,
    ContextColumn,
    FirmoColumn,
    FlagPlan,
    InputColumn,
    MetricPlan,
    RulePlan,
    ScoringPlan,
)


def _lit_ts(value: datetime) -> pl.Expr:
    return pl.lit(value, dtype=TS)


def ensure(lf: pl.LazyFrame, columns: list[InputColumn]) -> pl.LazyFrame:
    """Cast canonical columns to their type and add the missing ones as typed NULLs."""
    exprs = [
        pl.lit(None, dtype=c.dtype).alias(c.name) if c.action == "add" else pl.col(c.name).cast(c.dtype, strict=False)
        for c in columns
        if c.action != "keep"
    ]
    return lf.with_columns(exprs) if exprs else lf


def _free_email_domains() -> list[str]:
    from pqlcli.util.domains import free_email_domains

    return sorted(free_email_domains())


# ---------------------------------------------------------------------------------------------------
# The join graph


def user_base(plan: ScoringPlan, inputs: Inputs) -> pl.LazyFrame:
    """Users with email_domain, is_free_email, and orphans joined to the account of their email's domain."""
    users = ensure(inputs.users, plan.inputs["users"])
    email = pl.col("email").str.strip_chars().str.to_lowercase()
    users = users.with_columns(email_domain=email.str.split("@").list.get(1, null_on_oob=True)).with_columns(
        is_free_email=pl.when(pl.col("email_domain").is_null())
        .then(None)
        .otherwise(pl.col("email_domain").is_in(_free_email_domains()))
    )
    by_domain = (
        ensure(inputs.accounts, plan.inputs["accounts"])
        .filter(pl.col("domain").is_not_null())
        .group_by("domain")
        .agg(pl.col("account_id").min().alias("__orphan_account"))
    )
    users = users.join(by_domain, left_on="email_domain", right_on="domain", how="left")
    orphan = pl.when(pl.col("is_free_email").not_()).then(pl.col("__orphan_account"))
    return users.with_columns(account_id=pl.coalesce(pl.col("account_id"), orphan)).drop("__orphan_account")


def firmographics(plan: ScoringPlan, inputs: Inputs) -> pl.LazyFrame:
    """The latest row with status 'found' per domain."""
    firmo = ensure(inputs.firmographics, plan.inputs["firmographics"])
    return (
        firmo.filter(pl.col("status") == "found")
        .sort("fetched_at", nulls_last=False)
        .unique(subset="domain", keep="last", maintain_order=False)
        .select(list(plan.firmo_schema))
    )


def join_firmographics(lf: pl.LazyFrame, columns: list[FirmoColumn], firmo: pl.LazyFrame) -> pl.LazyFrame:
    """Firmographics joined on ``domain``: a provider value wins, a CRM value of the same name fills gaps."""
    renamed = firmo.rename({c.name: f"__f_{c.name}" for c in columns if c.source != "own"})
    exprs = []
    for c in columns:
        if c.source == "own":
            exprs.append(pl.col(c.name))
        elif c.source == "both":
            exprs.append(pl.coalesce(pl.col(f"__f_{c.name}"), pl.col(c.name).cast(c.dtype, strict=False)).alias(c.name))
        else:
            exprs.append(pl.col(f"__f_{c.name}").alias(c.name))
    return lf.join(renamed, on="domain", how="left").select(exprs)


def _accounts(plan: ScoringPlan, inputs: Inputs) -> pl.LazyFrame:
    accounts = ensure(inputs.accounts, plan.inputs["accounts"])
    return accounts.unique(subset="account_id", keep="last", maintain_order=False)


def account_base(plan: ScoringPlan, inputs: Inputs) -> pl.LazyFrame:
    return join_firmographics(_accounts(plan, inputs), plan.account_firmo, firmographics(plan, inputs))


def _context_expr(c: ContextColumn) -> pl.Expr:
    if c.name == "domain" and c.account == "domain":
        company = pl.when(pl.col("is_free_email").not_()).then(pl.col("email_domain"))
        return pl.coalesce(pl.col("__a_domain"), company).alias("domain")
    if c.user is not None and c.account is not None:
        return pl.coalesce(pl.col(c.user), pl.col(f"__a_{c.account}")).alias(c.name)
    if c.user is not None:
        return pl.col(c.user)
    return pl.col(f"__a_{c.account}").alias(c.name)


def user_context(plan: ScoringPlan, users: pl.LazyFrame, inputs: Inputs) -> pl.LazyFrame:
    """A user's own columns first, then its account's (plan, owner, domain, ...), then firmographics."""
    account_cols = [c for c in plan.ensured("accounts") if c != "account_id"]
    acct = _accounts(plan, inputs).select("account_id", *[pl.col(c).alias(f"__a_{c}") for c in account_cols])
    lf = users.join(acct, on="account_id", how="left").select([_context_expr(c) for c in plan.context])
    return join_firmographics(lf, plan.user_firmo, firmographics(plan, inputs))


# ---------------------------------------------------------------------------------------------------
# Metrics


def metric_expr(m: MetricPlan, as_of: datetime) -> pl.Expr:
    """One metric as an aggregation over a user's events (already filtered to ``timestamp < as_of``)."""
    ts = pl.col("timestamp")
    cond = _metric_cond(m, as_of)
    if m.decay_kind is not None:
        age_seconds = (_lit_ts(as_of) - ts).dt.total_microseconds().cast(pl.Float64) / 1e6
        if m.decay_kind == "half_life":
            weight = pl.lit(0.5).pow(age_seconds / m.decay_seconds)
        else:
            weight = pl.max_horizontal(pl.lit(0.0), 1.0 - age_seconds / m.decay_seconds)
        return weight.filter(cond).sum().cast(pl.Float64).alias(m.name)
    if m.agg == "count":
        return cond.sum().cast(pl.Int64).alias(m.name)
    if m.agg == "active_days":
        if m.window is not None:
            return _popcount(_day_words(cond, as_of, m.window)).alias(m.name)
        return ts.dt.date().filter(cond).n_unique().cast(pl.Int64).alias(m.name)
    prop = pl.col(m.prop or "")
    if m.agg == "sum":
        return prop.cast(pl.Float64, strict=False).filter(cond).sum().alias(m.name)
    if m.agg == "distinct":
        return prop.filter(cond & prop.is_not_null()).n_unique().cast(pl.Int64).alias(m.name)
    edge = ts.filter(cond).min() if m.agg == "first_seen" else ts.filter(cond).max()
    return ((_lit_ts(as_of) - edge).dt.total_microseconds().cast(pl.Float64) / 86_400e6).alias(m.name)


def _metric_cond(m: MetricPlan, as_of: datetime) -> pl.Expr:
    ts = pl.col("timestamp")
    parts = []
    if m.window is not None:
        parts.append(ts >= _lit_ts(as_of - m.window))
    if m.events is not None:
        parts.append(pl.col("event") == m.events[0] if len(m.events) == 1 else pl.col("event").is_in(m.events))
    # No condition at all ("*", no window): every event counts. A literal True would not do: its sum
    # in a group-by is 1, not the number of rows.
    return pl.all_horizontal(parts) if parts else ts.is_not_null()


def _day_words(cond: pl.Expr, as_of: datetime, window: timedelta) -> list[pl.Expr]:
    """The UTC dates with an event in a window as OR-ed day bits: one UInt64 word per 64 days.

    The aggregation is a bitwise OR, which the streaming group-by reduces in place instead of keeping
    every date of every user; OR-ing the words of several users gives exactly their distinct days.
    """
    ts = pl.col("timestamp")
    first_day = (as_of - window).date()
    idx = (ts.dt.date() - pl.lit(first_day)).dt.total_days().cast(pl.Int64)
    words = []
    for word in range(_word_count(as_of, window)):
        lo = word * 64
        in_word = (idx >= lo) & (idx < lo + 64)
        bit = pl.lit(2, dtype=pl.UInt64).pow((idx - lo).clip(0, 63).cast(pl.UInt64))
        words.append(bit.filter(cond & in_word).bitwise_or().fill_null(0))
    return words


def _word_count(as_of: datetime, window: timedelta) -> int:
    """How many 64-day words cover the window's UTC dates (as_of's date included)."""
    slots = (as_of.date() - (as_of - window).date()).days + 1
    return (slots + 63) // 64


def _popcount(words: list[pl.Expr]) -> pl.Expr:
    return pl.sum_horizontal([w.bitwise_count_ones().cast(pl.Int64) for w in words]).cast(pl.Int64)


def _days_column(m: MetricPlan, word: int | None = None) -> str:
    """The hidden per-user column an account's distinct active days are rolled up from."""
    return f"__days_{m.name}" + ("" if word is None else f"_{word}")


def _day_sources(m: MetricPlan, as_of: datetime) -> list[pl.Expr]:
    """Per user, what an account needs to count its distinct active days: the day words, or the dates."""
    if m.rollup != "distinct_days":
        return []
    cond = _metric_cond(m, as_of)
    if m.window is not None:
        return [w.alias(_days_column(m, i)) for i, w in enumerate(_day_words(cond, as_of, m.window))]
    return [pl.col("timestamp").dt.date().filter(cond).unique().alias(_days_column(m))]


def user_metrics(plan: ScoringPlan, events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """One pass over events: every metric per user by conditional aggregation."""
    ts = pl.col("timestamp")
    pre = ts < _lit_ts(as_of)
    f = plan.event_filter
    if f.widest_window_seconds is not None:
        pre = pre & (ts >= _lit_ts(as_of - timedelta(seconds=f.widest_window_seconds)))
    if f.event_names is not None:
        pre = pre & pl.col("event").is_in(f.event_names)
    exprs = [metric_expr(m, as_of) for m in plan.metrics]
    exprs += [e for m in plan.metrics for e in _day_sources(m, as_of)]
    # __events: how many events the metrics looked at, to report events of unknown users
    return events.filter(pre).group_by("user_id").agg(*exprs, pl.len().cast(pl.Int64).alias("__events"))


def _fill_metrics(lf: pl.LazyFrame, plan: ScoringPlan) -> pl.LazyFrame:
    return lf.with_columns([pl.col(m.name).fill_null(m.fill).cast(m.dtype) for m in plan.metrics if m.fill is not None])


def events_after_as_of(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """How many events are at or after as_of (they never count)."""
    return events.filter(pl.col("timestamp") >= _lit_ts(as_of)).select(pl.len().alias("events_after_as_of"))


# ---------------------------------------------------------------------------------------------------
# Rules, scores, tiers, flags


def rule_points(rule: RulePlan) -> pl.Expr:
    """Points a rule gives: a NULL condition or metric gives 0; a per-unit rule is bounded by ``cap``."""
    if rule.metric is not None:
        raw = pl.col(rule.metric).cast(pl.Float64) * rule.points
        if rule.cap is not None:
            raw = raw.clip(upper_bound=rule.cap) if rule.points >= 0 else raw.clip(lower_bound=-rule.cap)
        return raw.fill_null(0.0).alias(rule.column)
    assert rule.when is not None
    return pl.when(polars_expr(rule.when)).then(pl.lit(rule.points)).otherwise(pl.lit(0.0)).alias(rule.column)


def _total(rules: list[RulePlan], section: str) -> pl.Expr:
    cols = [pl.col(r.column) for r in rules if r.section == section]
    total = pl.sum_horizontal(cols) if cols else pl.lit(0.0)
    return total.cast(pl.Float64).clip(0.0, 100.0)


def _tier(plan: ScoringPlan) -> pl.Expr:
    t = plan.tiers
    good_fit, high_use = pl.col("fit_score") >= t.fit, pl.col("usage_score") >= t.usage
    return (
        pl.when(good_fit & high_use).then(pl.lit(t.names["tier1"]))
        .when(good_fit).then(pl.lit(t.names["tier2"]))
        .when(high_use).then(pl.lit(t.names["tier3"]))
        .otherwise(pl.lit(t.names["tier4"]))
    )


def _tier_label(plan: ScoringPlan) -> pl.Expr:
    expr: Any = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for key, name in plan.tiers.names.items():
        expr = expr.when(pl.col("tier") == name).then(pl.lit(plan.tiers.labels[key]))
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def apply_scores(lf: pl.LazyFrame, plan: ScoringPlan, rules: list[RulePlan]) -> pl.LazyFrame:
    """Rule points, clamped fit and usage scores, tier and tier label."""
    return (
        lf.with_columns([rule_points(r) for r in rules])
        .with_columns(fit_score=_total(rules, "fit"), usage_score=_total(rules, "usage"))
        .with_columns(tier=_tier(plan))
        .with_columns(tier_label=_tier_label(plan))
    )


def _any(flags: list[FlagPlan]) -> pl.Expr:
    """Whether any flag's condition holds (a NULL condition is false)."""
    out = pl.lit(False)
    for f in flags:
        out = out | polars_expr(f.when).fill_null(False)
    return out


def _flag_columns(flags: list[FlagPlan]) -> list[pl.Expr]:
    return [polars_expr(f.when).fill_null(False).alias(f.column) for f in flags]


# ---------------------------------------------------------------------------------------------------
# Users, accounts, statistics


@dataclass
class Plans:
    """The lazy plans of one run; ``accounts_for(users)`` builds the account plan over scored users."""

    plan: ScoringPlan
    users: pl.LazyFrame
    kept_accounts: pl.LazyFrame
    stats: pl.LazyFrame
    as_of: datetime
    warnings: list[str] = field(default_factory=list)

    def accounts_for(self, users: pl.LazyFrame) -> pl.LazyFrame:
        return account_scores(self.plan, self.kept_accounts, users, self.as_of)


def _rollup_expr(m: MetricPlan, as_of: datetime) -> pl.Expr:
    col = pl.col(m.name)
    if m.rollup == "distinct_days":
        # the distinct UTC days on which any of the account's users was active (never more than the window)
        if m.window is not None:
            words = range(_word_count(as_of, m.window))
            return _popcount([pl.col(_days_column(m, i)).bitwise_or() for i in words]).alias(m.name)
        return pl.col(_days_column(m)).explode().drop_nulls().n_unique().cast(pl.Int64).alias(m.name)
    if m.rollup == "sum":
        return col.sum().cast(m.dtype).alias(m.name)
    if m.rollup == "max":
        return col.max().alias(m.name)
    if m.rollup == "min":
        return col.min().alias(m.name)
    return (col > 0).sum().cast(pl.Int64).alias(m.name)


def account_scores(plan: ScoringPlan, accounts: pl.LazyFrame, users: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Roll-ups over the scored users, PQA, account fit and usage (user-only columns NULL), account PQLs."""
    signup = pl.col("signup_at")
    week = timedelta(seconds=plan.users_added_seconds)
    added = ((signup >= _lit_ts(as_of - week)) & (signup < _lit_ts(as_of))).sum().cast(pl.Int64)
    rollup = (
        users.filter(pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(
            *[_rollup_expr(m, as_of) for m in plan.metrics],
            pl.len().cast(pl.Int64).alias("users"),
            added.alias("users_added_7d"),
            pl.col("is_pql").sum().cast(pl.Int64).alias("pql_users"),
        )
    )
    acct = _fill_metrics(accounts.join(rollup, on="account_id", how="left"), plan)
    acct = acct.with_columns([pl.col(c).fill_null(0) for c in ("users", "users_added_7d", "pql_users")])
    share = pl.when(pl.col("users") > 0).then(pl.col("pql_users") / pl.col("users")).otherwise(None)
    acct = acct.with_columns(pql_share=share).with_columns(
        pqa=(pl.col("users") > 0) & (pl.col("pql_share") >= plan.pqa_share).fill_null(False)
    )
    acct = acct.with_columns([pl.lit(None, dtype=d).alias(c) for c, d in plan.account_nulls.items()])
    acct = apply_scores(acct, plan, plan.account_rules).drop(list(plan.account_nulls))
    return acct.with_columns(_flag_columns(plan.account_pqls)).sort("account_id")


def build(
    plan: ScoringPlan,
    inputs: Inputs,
    as_of: datetime,
    *,
    metrics: pl.LazyFrame | None = None,
    events_after: pl.LazyFrame | None = None,
) -> Plans:
    """The lazy plans for users, accounts and run statistics.

    ``metrics`` may be the per-user metrics already computed (one pass over events); by default they
    are part of the plan.
    """
    events = ensure(inputs.events, plan.inputs["events"])
    accounts = account_base(plan, inputs).with_columns(__excluded=_any(plan.exclude_accounts))
    excluded_ids = accounts.filter(pl.col("__excluded")).select("account_id")
    kept_accounts = accounts.filter(~pl.col("__excluded")).drop("__excluded")

    if metrics is None:
        metrics = user_metrics(plan, events, as_of)
    ctx = user_context(plan, user_base(plan, inputs), inputs)
    ctx = _fill_metrics(ctx.join(metrics.drop("__events"), on="user_id", how="left"), plan)
    ctx = ctx.join(excluded_ids.with_columns(__acct_excluded=pl.lit(True)), on="account_id", how="left")
    ctx = ctx.with_columns(__excluded=_any(plan.exclude_users) | pl.col("__acct_excluded").fill_null(False))
    excluded_users = ctx.filter(pl.col("__excluded")).select(pl.len().alias("excluded_users"))
    ctx = ctx.filter(~pl.col("__excluded")).drop("__excluded", "__acct_excluded")

    scored = apply_scores(ctx, plan, plan.user_rules).with_columns(_flag_columns(plan.user_pqls))
    is_pql = pl.any_horizontal([pl.col(p.column) for p in plan.user_pqls]) if plan.user_pqls else pl.lit(False)
    users_out = scored.with_columns(is_pql=is_pql).sort("user_id")

    known_users = ensure(inputs.users, plan.inputs["users"]).select("user_id").unique()
    unknown = metrics.join(known_users, on="user_id", how="anti").select(
        pl.col("__events").sum().cast(pl.Int64).alias("events_unknown_users")
    )
    if events_after is None:
        events_after = events_after_as_of(events, as_of)
    stats = pl.concat([excluded_users, unknown, events_after], how="horizontal")
    return Plans(plan, users_out, kept_accounts, stats, as_of, list(plan.warnings))


def run(plan: ScoringPlan, inputs: Inputs, as_of: datetime, *, streaming: bool = True) -> ScoreFrames:
    """Score: one streaming pass over events for the metrics, then users, then accounts from the users.

    Only the events pass streams (it is the big one); users and accounts are one row each and run
    faster on the in-memory engine.
    """
    engine: Any = "streaming" if streaming else "auto"
    events = ensure(inputs.events, plan.inputs["events"])
    # the metrics and the after-as_of count read the events in the same streaming run
    metrics, after = pl.collect_all([user_metrics(plan, events, as_of), events_after_as_of(events, as_of)], engine=engine)
    plans = build(plan, inputs, as_of, metrics=metrics.lazy(), events_after=after.lazy())
    users = plans.users.collect(engine="in-memory")
    accounts, stats = pl.collect_all([plans.accounts_for(users.lazy()), plans.stats], engine="in-memory")
    users = users.drop(cs.starts_with("__days_"))
    return ScoreFrames(users, accounts, stats.to_dicts()[0], as_of, plans.warnings)


__all__ = ["Plans", "account_scores", "build", "ensure", "metric_expr", "run", "user_metrics"]
