"""ScoringPlan -> lazy Polars: one streaming pass over events, then users, then accounts from the users.

Metrics are conditional aggregations in a single group-by over the events, and each ``active_days``
metric its own pass over the same filtered events (distinct user-day pairs, counted), run together in one
streaming ``collect_all`` and joined back; rules are Polars expressions; no Python loops over
rows and no UDFs. This module translates the plan (``scoring/plan.py``) and decides nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
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
from pqlcli.util.frames import reordered


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


def user_base(plan: ScoringPlan, inputs: Inputs, side: AccountSide | None = None) -> pl.LazyFrame:
    """Users with email_domain, is_free_email, and orphans joined to the account of their email's domain."""
    side = side or account_side(plan, inputs)
    users = ensure(inputs.users, plan.inputs["users"])
    email = pl.col("email").str.strip_chars().str.to_lowercase()
    users = users.with_columns(email_domain=email.str.split("@").list.get(1, null_on_oob=True)).with_columns(
        is_free_email=pl.when(pl.col("email_domain").is_null())
        .then(None)
        .otherwise(pl.col("email_domain").is_in(_free_email_domains()))
    )
    users = users.join(side.by_domain, left_on="email_domain", right_on="domain", how="left")
    orphan = pl.when(pl.col("is_free_email").not_()).then(pl.col("__orphan_account"))
    return users.with_columns(account_id=pl.coalesce(pl.col("account_id"), orphan)).drop("__orphan_account")


@dataclass
class AccountSide:
    """Everything scoring takes from accounts and firmographics, whatever the users: built once per run
    (``account_side``) and, when users are scored bucket by bucket, collected once (``collected``) instead
    of being rebuilt for every bucket (at 10M users that is 1.25M accounts per bucket)."""

    accounts: pl.LazyFrame  # account_base with ``__excluded`` (by an account rule)
    by_domain: pl.LazyFrame  # domain -> the lowest account_id (``__orphan_account``), for orphan users
    context: pl.LazyFrame  # account_id and the ``__a_<column>`` columns users take from their account
    firmo: pl.LazyFrame  # the latest found firmographics row per domain

    def collected(self) -> AccountSide:
        frames = pl.collect_all([self.accounts, self.by_domain, self.context, self.firmo], engine="in-memory")
        return AccountSide(*[f.lazy() for f in frames])


def account_side(plan: ScoringPlan, inputs: Inputs) -> AccountSide:
    accounts = _accounts(plan, inputs)
    firmo = firmographics(plan, inputs)
    by_domain = (
        ensure(inputs.accounts, plan.inputs["accounts"])
        .filter(pl.col("domain").is_not_null())
        .group_by("domain")
        .agg(pl.col("account_id").min().alias("__orphan_account"))
    )
    account_cols = [c for c in plan.ensured("accounts") if c != "account_id"]
    context = accounts.select("account_id", *[pl.col(c).alias(f"__a_{c}") for c in account_cols])
    base = join_firmographics(accounts, plan.account_firmo, firmo).with_columns(__excluded=_any(plan.exclude_accounts))
    return AccountSide(base, by_domain, context, firmo)


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


def _context_expr(c: ContextColumn) -> pl.Expr:
    if c.name == "domain" and c.account == "domain":
        company = pl.when(pl.col("is_free_email").not_()).then(pl.col("email_domain"))
        return pl.coalesce(pl.col("__a_domain"), company).alias("domain")
    if c.user is not None and c.account is not None:
        return pl.coalesce(pl.col(c.user), pl.col(f"__a_{c.account}")).alias(c.name)
    if c.user is not None:
        return pl.col(c.user)
    return pl.col(f"__a_{c.account}").alias(c.name)


def user_context(plan: ScoringPlan, users: pl.LazyFrame, side: AccountSide) -> pl.LazyFrame:
    """A user's own columns first, then its account's (plan, owner, domain, ...), then firmographics."""
    lf = users.join(side.context, on="account_id", how="left").select([_context_expr(c) for c in plan.context])
    return join_firmographics(lf, plan.user_firmo, side.firmo)


# ---------------------------------------------------------------------------------------------------
# Metrics


def metric_expr(m: MetricPlan, as_of: datetime) -> pl.Expr:
    """One metric as an aggregation over a user's events (already filtered to ``timestamp < as_of``).

    A trend is the metric over its window minus the metric over the window just before it.
    """
    if m.trend_of is not None and m.window is not None:
        w = m.window
        return (_agg(m, as_of, as_of - w, None) - _agg(m, as_of, as_of - 2 * w, as_of - w)).alias(m.name)
    return _agg(m, as_of, None if m.window is None else as_of - m.window, None).alias(m.name)


def _agg(m: MetricPlan, as_of: datetime, lo: datetime | None, hi: datetime | None) -> pl.Expr:
    """The metric's aggregation over events with ``lo <= timestamp < hi`` (``hi`` None: as_of)."""
    ts = pl.col("timestamp")
    cond = _window_cond(m, lo, hi)
    if m.decay_kind is not None:
        age_seconds = (_lit_ts(as_of) - ts).dt.total_microseconds().cast(pl.Float64) / 1e6
        if m.decay_kind == "half_life":
            weight = pl.lit(0.5).pow(age_seconds / m.decay_seconds)
        else:
            weight = pl.max_horizontal(pl.lit(0.0), 1.0 - age_seconds / m.decay_seconds)
        return weight.filter(cond).sum().cast(pl.Float64)
    if m.agg == "count":
        return cond.sum().cast(pl.Int64)
    if m.agg == "active_days":
        if lo is not None:
            return _popcount(_day_words(ts.dt.date(), lo, hi or as_of, cond))
        return ts.dt.date().filter(cond).n_unique().cast(pl.Int64)
    prop = pl.col(m.prop or "")
    if m.agg == "sum":
        return prop.cast(pl.Float64, strict=False).filter(cond).sum()
    if m.agg == "distinct":
        return prop.filter(cond & prop.is_not_null()).n_unique().cast(pl.Int64)
    edge = ts.filter(cond).min() if m.agg == "first_seen" else ts.filter(cond).max()
    return (_lit_ts(as_of) - edge).dt.total_microseconds().cast(pl.Float64) / 86_400e6


def _window_cond(m: MetricPlan, lo: datetime | None, hi: datetime | None = None) -> pl.Expr:
    """Which events the metric counts among ``lo <= timestamp < hi`` (None: no bound; the events are already
    before ``as_of``)."""
    ts = pl.col("timestamp")
    parts = []
    if lo is not None:
        parts.append(ts >= _lit_ts(lo))
    if hi is not None:
        parts.append(ts < _lit_ts(hi))
    if m.events is not None:
        parts.append(pl.col("event") == m.events[0] if len(m.events) == 1 else pl.col("event").is_in(m.events))
    # No condition at all ("*", no window): every event counts. A literal True would not do: its sum
    # in a group-by is 1, not the number of rows.
    return pl.all_horizontal(parts) if parts else ts.is_not_null()


def _metric_cond(m: MetricPlan, as_of: datetime) -> pl.Expr:
    """Which events the metric counts: its event names in its window."""
    return _window_cond(m, None if m.window is None else as_of - m.window)


def _day_bits(day: pl.Expr, lo: datetime, hi: datetime) -> list[pl.Expr]:
    """Per event, its UTC date (``day``, within ``[lo, hi)``) as a bit of one UInt64 word per 64 days (0 in
    the other words). OR-ing a user's bits gives their distinct days; OR-ing users' words, an account's."""
    idx = (day - pl.lit(lo.date())).dt.total_days().cast(pl.Int64)
    bit = pl.lit(2, dtype=pl.UInt64).pow((idx % 64).cast(pl.UInt64))
    zero = pl.lit(0, dtype=pl.UInt64)
    return [pl.when(idx // 64 == word).then(bit).otherwise(zero) for word in range(_word_count(lo, hi))]


def _day_words(day: pl.Expr, lo: datetime, hi: datetime, cond: pl.Expr) -> list[pl.Expr]:
    """The day bits of the events where ``cond`` holds (a window within ``[lo, hi)``), OR-ed: an aggregation
    the streaming group-by reduces in place instead of keeping every date of every user."""
    return [bits.filter(cond).bitwise_or().fill_null(0) for bits in _day_bits(day, lo, hi)]


def _word_count(lo: datetime, hi: datetime) -> int:
    """How many 64-day words cover the UTC dates of ``[lo, hi)`` (hi's date included)."""
    slots = (hi.date() - lo.date()).days + 1
    return (slots + 63) // 64


def _popcount(words: list[pl.Expr]) -> pl.Expr:
    return pl.sum_horizontal([w.bitwise_count_ones().cast(pl.Int64) for w in words]).cast(pl.Int64)


def _days_column(m: MetricPlan, word: int | None = None, half: str = "") -> str:
    """The hidden per-user column an account's distinct active days are rolled up from."""
    return f"__days_{m.name}" + (f"_{half}" if half else "") + ("" if word is None else f"_{word}")


def _day_sources(m: MetricPlan, as_of: datetime) -> list[pl.Expr]:
    """Per user, over the distinct (user, ``__day``) pairs of an unwindowed ``_active_days_pass``: the
    list of dates an account counts its distinct active days from."""
    return [pl.col("__day").alias(_days_column(m))] if m.rollup == "distinct_days" else []


def _trend_day_sources(m: MetricPlan, as_of: datetime) -> list[pl.Expr]:
    """For the main group-by: a trend of ``active_days`` keeps each half's day words for its account roll-up."""
    if m.rollup != "distinct_days" or m.trend_of is None or m.window is None:
        return []
    w, day = m.window, pl.col("timestamp").dt.date()
    out = []
    for half, lo, hi in (("now", as_of - w, as_of), ("before", as_of - 2 * w, as_of - w)):
        words = _day_words(day, lo, hi, _window_cond(m, lo, hi))
        out += [e.alias(_days_column(m, i, half)) for i, e in enumerate(words)]
    return out


def _active_days_pass(m: MetricPlan, events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """An ``active_days`` metric as its own pass over the events it looks at.

    With a window: per user, the UTC dates as OR-ed day bits (one UInt64 word per 64 days), then their
    popcount. The group-by keeps one small state per user, which at 1M users is faster and about half the
    memory of de-duplicating (user, day) pairs; the words stay (hidden ``__days_*`` columns) when the
    account roll-up needs them (OR-ing users' words gives the account's distinct days). Without a window
    the dates are unbounded: the distinct (user, date) pairs, counted per user.
    """
    ts = pl.col("timestamp")
    seen = events.filter(_metric_cond(m, as_of))
    if m.window is None:
        pairs = seen.select("user_id", __day=ts.dt.date()).unique()
        return pairs.group_by("user_id").agg(pl.len().cast(pl.Int64).alias(m.name), *_day_sources(m, as_of))
    day_bits = _day_bits(ts.dt.date(), as_of - m.window, as_of)
    names = [_days_column(m, i) for i in range(len(day_bits))]
    # the bits as plain columns first: a column's OR is the cheapest aggregation for the streaming group-by
    bits = seen.select("user_id", *[b.alias(n) for b, n in zip(day_bits, names, strict=True)])
    out = bits.group_by("user_id").agg(pl.col(names).bitwise_or())
    out = out.with_columns(_popcount([pl.col(n) for n in names]).alias(m.name))
    return out if m.rollup == "distinct_days" else out.drop(names)


def looked_at(plan: ScoringPlan, as_of: datetime) -> pl.Expr:
    """The events some metric looks at: before ``as_of`` and in the union of the metrics' event names and
    windows (``EventFilter.terms``). The main group-by reads only these (a metric of every event in 30
    days does not make it read every event of all time)."""
    ts = pl.col("timestamp")
    pre = ts < _lit_ts(as_of)
    terms = plan.event_filter.terms
    if not terms:
        return pre
    parts = []
    for names, reach in terms:
        term = [] if names is None else [pl.col("event") == names[0] if len(names) == 1 else pl.col("event").is_in(names)]
        term += [] if reach is None else [ts >= _lit_ts(as_of - timedelta(seconds=reach))]
        parts.append(pl.all_horizontal(term))
    return pre & pl.any_horizontal(parts)


def metric_passes(plan: ScoringPlan, events: pl.LazyFrame, as_of: datetime) -> list[pl.LazyFrame]:
    """The passes over events: one group-by of conditional aggregations for every metric but
    ``active_days`` (plus ``__events``), then one pass per ``active_days`` metric over the same
    filtered events. ``join_metrics`` puts them together; ``collect_all`` runs them in one go."""
    seen = events.filter(looked_at(plan, as_of))
    # a trend of active_days is two windows of day bits in the main group-by
    own = [m for m in plan.metrics if m.agg == "active_days" and m.trend_of is None]
    exprs = [metric_expr(m, as_of) for m in plan.metrics if m not in own]
    exprs += [e for m in plan.metrics for e in _trend_day_sources(m, as_of)]
    # __events: how many events the metrics looked at, to report events of unknown users
    main = seen.group_by("user_id").agg(*exprs, pl.len().cast(pl.Int64).alias("__events"))
    return [main, *[_active_days_pass(m, seen, as_of) for m in own]]


def join_metrics(plan: ScoringPlan, passes: list[pl.LazyFrame]) -> pl.LazyFrame:
    """The passes of ``metric_passes`` as one frame: user_id, the metrics in plan order, __events."""
    out, rest = passes[0], passes[1:]
    if not rest:
        return out
    for frame in rest:  # every user with an active day is in the main pass: its events pass the filter
        out = out.join(frame, on="user_id", how="left")
    days = [m.name for m in plan.metrics if m.agg == "active_days" and m.trend_of is None]
    words = cs.starts_with("__days_") & cs.integer()
    out = out.with_columns([pl.col(name).fill_null(0) for name in days]).with_columns(words.fill_null(0))
    return out.select("user_id", *[m.name for m in plan.metrics], "__events", cs.starts_with("__days_"))


def user_metrics(plan: ScoringPlan, events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Every metric per user (``metric_passes`` joined) as one lazy frame."""
    return join_metrics(plan, metric_passes(plan, events, as_of))


def user_activation(plan: ScoringPlan, events: pl.LazyFrame, users: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Per user and milestone: each step's first event in [signup_at, min(signup_at + within, as_of)),
    then ``<name>`` (all steps), ``<name>_steps`` and ``<name>_days`` (to the last step's first event)."""
    steps = sorted({s for a in plan.activation for s in a.steps})
    ts, signup = pl.col("timestamp"), pl.col("signup_at")
    signups = users.select("user_id", "signup_at").filter(signup.is_not_null()).unique("user_id", keep="any")
    firsts = []
    for i, a in enumerate(plan.activation):
        inside = (ts >= signup) & (ts < signup + pl.duration(microseconds=a.within_us))
        firsts += [ts.filter(inside & (pl.col("event") == st)).min().alias(f"__a{i}_{j}") for j, st in enumerate(a.steps)]
    firsts.append(signup.first().alias("__signup"))
    longest = max(a.within_us for a in plan.activation)
    grouped = (
        events.filter((ts < _lit_ts(as_of)) & pl.col("event").is_in(steps))
        .join(signups, on="user_id", how="inner")
        .filter((ts >= signup) & (ts < signup + pl.duration(microseconds=longest)))  # rows no milestone can use
        .group_by("user_id")
        .agg(firsts)
    )
    cols = []
    for i, a in enumerate(plan.activation):
        f = [pl.col(f"__a{i}_{j}") for j in range(len(a.steps))]
        done = pl.sum_horizontal([c.is_not_null().cast(pl.Int64) for c in f]).cast(pl.Int64)
        days = (pl.max_horizontal(f) - pl.col("__signup")).dt.total_microseconds().cast(pl.Float64) / 86_400e6
        cols += [
            (done == len(a.steps)).alias(a.name),
            done.alias(f"{a.name}_steps"),
            pl.when(done == len(a.steps)).then(days).otherwise(None).alias(f"{a.name}_days"),
        ]
    return grouped.select("user_id", *cols)


def with_activation(metrics: pl.LazyFrame, activation: pl.LazyFrame) -> pl.LazyFrame:
    """The per-user metrics with the milestone columns (a user may have step events and no metric row)."""
    return metrics.join(activation, on="user_id", how="full", coalesce=True)


def _fill_activation(lf: pl.LazyFrame, plan: ScoringPlan) -> pl.LazyFrame:
    """Users with no step in time: false and 0 steps (``<name>_days`` stays NULL)."""
    fills = []
    for a in plan.activation:
        fills += [pl.col(a.name).fill_null(False), pl.col(f"{a.name}_steps").fill_null(0)]
    return lf.with_columns(fills) if fills else lf


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
    good_fit, high_use = pl.col(t.x_column) >= t.x_min, pl.col(t.y_column) >= t.y_min
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
    """Rule points, each dimension's clamped score (fit, usage, then the extra ones), tier and tier label."""
    return (
        lf.with_columns([rule_points(r) for r in rules])
        .with_columns([_total(rules, d).alias(f"{d}_score") for d in plan.dimensions])
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
    flagged: pl.LazyFrame | None = None  # every user, excluded ones marked, before scoring

    def accounts_for(self, users: pl.LazyFrame) -> pl.LazyFrame:
        return account_scores(self.plan, self.kept_accounts, users, self.as_of)


def _distinct_days(m: MetricPlan, as_of: datetime) -> pl.Expr:
    """An account's distinct active days: the popcount of the OR of its users' day words (or the distinct
    dates without a window). A trend: the recent half's days minus the half before's."""
    if m.trend_of is not None and m.window is not None:
        w = m.window
        now = _popcount([pl.col(_days_column(m, i, "now")).bitwise_or() for i in range(_word_count(as_of - w, as_of))])
        before = [pl.col(_days_column(m, i, "before")).bitwise_or() for i in range(_word_count(as_of - 2 * w, as_of - w))]
        return (now - _popcount(before)).alias(m.name)
    if m.window is not None:
        words = range(_word_count(as_of - m.window, as_of))
        return _popcount([pl.col(_days_column(m, i)).bitwise_or() for i in words]).alias(m.name)
    return pl.col(_days_column(m)).explode().drop_nulls().n_unique().cast(pl.Int64).alias(m.name)


def _rollup(m: MetricPlan, col: pl.Expr) -> pl.Expr:
    if m.rollup == "sum":
        return col.sum().cast(m.dtype)
    if m.rollup == "max":
        return col.max()
    if m.rollup == "min":
        return col.min()
    return (col > 0).sum().cast(pl.Int64)


def _rollup_expr(m: MetricPlan, as_of: datetime) -> pl.Expr:
    """A metric's account roll-up; a trend rolls up its metric's two halves (M and M - trend), then the delta."""
    if m.rollup == "distinct_days":
        # the distinct UTC days on which any of the account's users was active (never more than the window)
        return _distinct_days(m, as_of)
    if m.trend_of is not None:
        base = pl.col(m.trend_of)
        return (_rollup(m, base) - _rollup(m, base - pl.col(m.name))).alias(m.name)
    return _rollup(m, pl.col(m.name)).alias(m.name)


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
            *[e for a in plan.activation for e in (pl.col(a.name).sum().cast(pl.Int64).alias(a.users_column), pl.col(a.name).any().alias(a.name))],
            pl.len().cast(pl.Int64).alias("users"),
            added.alias("users_added_7d"),
            pl.col("is_pql").sum().cast(pl.Int64).alias("pql_users"),
        )
    )
    acct = _fill_metrics(accounts.join(rollup, on="account_id", how="left"), plan)
    counts = [a.users_column for a in plan.activation] + ["users", "users_added_7d", "pql_users"]
    acct = acct.with_columns([pl.col(c).fill_null(0) for c in counts]).with_columns([pl.col(a.name).fill_null(False) for a in plan.activation])
    share = pl.when(pl.col("users") > 0).then(pl.col("pql_users") / pl.col("users")).otherwise(None)
    acct = acct.with_columns(pql_share=share).with_columns(
        pqa=(pl.col("users") > 0) & (pl.col("pql_share") >= plan.pqa_share).fill_null(False)
    )
    acct = acct.with_columns([pl.lit(None, dtype=d).alias(c) for c, d in plan.account_nulls.items()])
    acct = apply_scores(acct, plan, plan.account_rules).drop(list(plan.account_nulls))
    return acct.with_columns(_flag_columns(plan.account_pqls)).sort("account_id")


def user_frame(plan: ScoringPlan, inputs: Inputs, side: AccountSide) -> pl.LazyFrame:
    """Every user with its context (own columns, its account's, firmographics) and ``__acct_excluded``
    (its account is excluded by an account rule): all scoring takes from users, accounts and
    firmographics, whatever the events. A bucketed workspace builds it once for every pass."""
    excluded_ids = side.accounts.filter(pl.col("__excluded")).select("account_id", __acct_excluded=pl.lit(True))
    return user_context(plan, user_base(plan, inputs, side), side).join(excluded_ids, on="account_id", how="left")


def flagged_users(plan: ScoringPlan, users: pl.LazyFrame, metrics: pl.LazyFrame) -> pl.LazyFrame:
    """``user_frame``'s users with their metrics and ``__excluded`` (by a user rule or its account's)."""
    ctx = _fill_metrics(users.join(metrics.drop("__events"), on="user_id", how="left"), plan)
    ctx = _fill_activation(ctx, plan)
    ctx = ctx.with_columns(__excluded=_any(plan.exclude_users) | pl.col("__acct_excluded").fill_null(False))
    return ctx.drop("__acct_excluded")


def score_users(plan: ScoringPlan, flagged: pl.LazyFrame) -> pl.LazyFrame:
    """The kept users of ``flagged_users`` with rule points, scores, tier, PQL flags and ``is_pql``."""
    ctx = flagged.filter(~pl.col("__excluded")).drop("__excluded")
    scored = apply_scores(ctx, plan, plan.user_rules).with_columns(_flag_columns(plan.user_pqls))
    is_pql = pl.any_horizontal([pl.col(p.column) for p in plan.user_pqls]) if plan.user_pqls else pl.lit(False)
    return scored.with_columns(is_pql=is_pql).sort("user_id")


def _unknown_events(metrics: pl.LazyFrame, known_users: pl.LazyFrame) -> pl.LazyFrame:
    """How many of the events the metrics looked at belong to no known user."""
    return metrics.join(known_users.select("user_id").unique(), on="user_id", how="anti").select(
        pl.col("__events").sum().cast(pl.Int64).alias("events_unknown_users")
    )


def build(
    plan: ScoringPlan,
    inputs: Inputs,
    as_of: datetime,
    *,
    metrics: pl.LazyFrame | None = None,
    events_after: pl.LazyFrame | None = None,
    side: AccountSide | None = None,
) -> Plans:
    """The lazy plans for users, accounts and run statistics.

    ``metrics`` may be the per-user metrics already computed (one pass over events); by default they
    are part of the plan. ``side``: the account side already built (``account_side``), e.g. collected
    once for every bucket.
    """
    events = ensure(inputs.events, plan.inputs["events"])
    side = side or account_side(plan, inputs)
    kept_accounts = _kept(side)

    if metrics is None:
        metrics = user_metrics(plan, events, as_of)
        if plan.activation:
            users = ensure(inputs.users, plan.inputs["users"])
            metrics = with_activation(metrics, user_activation(plan, events, users, as_of))
    flagged = flagged_users(plan, user_frame(plan, inputs, side), metrics)
    excluded_users = flagged.select(pl.col("__excluded").sum().cast(pl.Int64).alias("excluded_users"))
    unknown = _unknown_events(metrics, ensure(inputs.users, plan.inputs["users"]))
    if events_after is None:
        events_after = events_after_as_of(events, as_of)
    stats = pl.concat([excluded_users, unknown, events_after], how="horizontal")
    return Plans(plan, score_users(plan, flagged), kept_accounts, stats, as_of, list(plan.warnings), flagged)


# Above this many events, the events pass runs bucket by bucket (a bucket's group-by holds only its users).
EVENTS_PER_BUCKET = 100_000_000


def bucket_of(n: int) -> pl.Expr:
    """A user's bucket, 0..n-1: a hash of ``user_id``, so all of a user's events fall in one bucket."""
    return (pl.col("user_id").hash(seed=0) % n).cast(pl.Int64)


def choose_buckets(events: pl.LazyFrame) -> int:
    """How many buckets the events pass needs: one per ``EVENTS_PER_BUCKET`` events (a metadata read)."""
    rows = int(events.select(pl.len()).collect().item())
    return max(1, -(-rows // EVENTS_PER_BUCKET))


def bucketed_metrics(
    plan: ScoringPlan,
    events: pl.LazyFrame,
    as_of: datetime,
    buckets: int,
    engine: Any = "streaming",
    users: pl.LazyFrame | None = None,
    stored: list[pl.LazyFrame] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-user metrics and the after-as_of count, the events pass run bucket by bucket.

    Every event of a user is in the user's bucket, so each bucket's metrics are complete for its users
    and the buckets' rows are disjoint: their concatenation is the single pass's result (in another row
    order, which the scoring that follows does not depend on). Peak memory is one bucket's group-by.
    With activation milestones (and ``users``), the milestones' own pass over the bucket's step events
    (joined to the bucket's users) runs in the same ``collect_all`` and is joined in (``with_activation``). ``stored``: the events of each bucket of a bucketed
    workspace, each read alone (its own files); otherwise bucket ``b`` is ``events`` filtered to
    ``hash(user_id) % buckets == b``.
    """
    if stored is not None:
        frames = [ensure(s, plan.inputs["events"]) for s in stored]
    else:
        frames = [events if buckets <= 1 else events.filter(bucket_of(buckets) == b) for b in range(max(1, buckets))]
    split = _user_split(len(frames), stored is not None)
    after_parts: list[pl.DataFrame] = []
    parts: list[pl.DataFrame] = []
    for i, frame in enumerate(frames):
        # the after-as_of count: each stored bucket counts its own rows; otherwise it reads the events in
        # the same streaming run as the first bucket's passes
        after = [events_after_as_of(frame if stored is not None else events, as_of)] if stored is not None or i == 0 else []
        act = []
        if plan.activation and users is not None:
            act = [user_activation(plan, frame, users if split is None else users.filter(split == i), as_of)]
        done = pl.collect_all([*metric_passes(plan, frame, as_of), *act, *after], engine=engine)
        if after:
            after_parts.append(done.pop())
        activation = done.pop() if act else None
        metrics = join_metrics(plan, [p.lazy() for p in done])
        if activation is not None:
            metrics = with_activation(metrics, activation.lazy())
        parts.append(metrics.collect(engine="in-memory"))
    after_df = after_parts[0] if len(after_parts) == 1 else pl.concat(after_parts).select(pl.col("events_after_as_of").sum())
    return (parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")), after_df


def _user_split(n: int, stored: bool) -> pl.Expr | None:
    """A user's bucket among ``n``: the stored buckets' function, or the hash the events are filtered by."""
    if n <= 1:
        return None
    if stored:
        from pqlcli.workspace.buckets import bucket_expr

        return bucket_expr(n)
    return bucket_of(n)


def run(
    plan: ScoringPlan, inputs: Inputs, as_of: datetime, *, streaming: bool = True, buckets: int | None = None
) -> ScoreFrames:
    """Score: the streaming pass(es) over events for the metrics, then users, then accounts from the users.

    Only the events pass streams (it is the big one); users and accounts are one row each and run
    faster on the in-memory engine. The run statistics come from frames already in memory (the users
    before exclusion, the per-user metrics), not from further passes over the inputs. A bucketed
    workspace (``inputs.event_buckets``) is scored one stored bucket at a time, its users too
    (``_run_stored``); otherwise ``buckets`` is how many hash buckets the events pass runs in (default:
    from the number of events, see ``choose_buckets``). An explicit ``buckets`` always filters the whole
    events table by hash.
    """
    engine: Any = "streaming" if streaming else "auto"
    events = ensure(inputs.events, plan.inputs["events"])
    users_in = ensure(inputs.users, plan.inputs["users"])
    stored = inputs.event_buckets if buckets is None else None
    if stored is not None and len(stored) > 1:
        return _run_stored(plan, inputs, as_of, stored, engine)
    n = buckets if buckets is not None else choose_buckets(events)
    metrics, after = bucketed_metrics(plan, events, as_of, n, engine, users_in)
    plans = build(plan, inputs, as_of, metrics=metrics.lazy(), events_after=after.lazy())
    assert plans.flagged is not None
    flagged = plans.flagged.collect(engine="in-memory")
    users = score_users(plan, flagged.lazy()).collect(engine="in-memory")
    accounts = plans.accounts_for(users.lazy()).collect(engine="in-memory")
    users = users.drop(cs.starts_with("__days_"))  # the day words only served the account roll-up
    unknown = _unknown_events(metrics.lazy(), flagged.lazy()).collect(engine="in-memory")
    stats = {
        "excluded_users": int(flagged["__excluded"].sum()),
        "events_unknown_users": int(unknown.item()),
        "events_after_as_of": int(after.item()),
    }
    return ScoreFrames(users, accounts, stats, as_of, plans.warnings)


def _stored_users(
    plan: ScoringPlan, inputs: Inputs, as_of: datetime, stored: list[pl.LazyFrame], engine: Any, side: AccountSide, stats: dict[str, int]
) -> Iterator[pl.DataFrame]:
    """Each pass's scored users (sorted by ``user_id``, with the hidden ``__days_*`` words the account
    roll-up needs), one pass at a time: a pass is one or more consecutive stored buckets
    (``_buckets_per_pass``); its events passes, then its users (every user's events are in the user's
    bucket). Adds the run statistics into ``stats``. A pass's users with their context: with more than
    ``SPLIT_USERS_ABOVE`` passes, split by pass once (``_split_users``), so a pass reads only its own;
    with fewer, each pass filters the users table and builds its own users' context after its events
    pass (no temporary files; each pass reads the users table once more)."""
    import contextlib
    import tempfile

    split = _user_split(len(stored), stored=True)
    assert split is not None
    per_pass = _buckets_per_pass(stored)
    batches = [pl.concat(stored[i : i + per_pass]) for i in range(0, len(stored), per_pass)]
    which = split // per_pass
    users = ensure(inputs.users, plan.inputs["users"])
    split_files = len(batches) > SPLIT_USERS_ABOVE
    with tempfile.TemporaryDirectory(prefix="pql-users-") if split_files else contextlib.nullcontext("") as tmp:
        schema = _split_users(plan, inputs, side, which, Path(tmp)) if split_files else None
        for b, frame in enumerate(batches):
            if schema is not None:
                files = sorted(Path(tmp).glob(f"{b:05d}-*.parquet"))
                own = pl.scan_parquet(files) if files else pl.LazyFrame(schema=schema)
            else:
                own = users.filter(which == b)
            metrics, after = bucketed_metrics(plan, frame, as_of, 1, engine, own, [frame])
            mine = own if schema is not None else user_frame(plan, replace(inputs, users=own), side).collect(engine="in-memory").lazy()
            # the scored users and the pass's statistics in one collect: the flagged users are computed
            # once (a common subplan), never materialised on their own
            flagged = flagged_users(plan, mine, metrics.lazy())
            scored, excluded, unknown = pl.collect_all(
                [score_users(plan, flagged), flagged.select(pl.col("__excluded").sum()), _unknown_events(metrics.lazy(), mine)],
                engine="in-memory",
            )
            stats["excluded_users"] += int(excluded.item())
            stats["events_unknown_users"] += int(unknown.item())
            stats["events_after_as_of"] += int(after.item())
            yield scored


# With more passes than this, the users' context is built once and split by pass into temporary files
# (``_split_users``); with this many or fewer, each pass builds its own users' context from the users table
# (at 1M users, 4 passes: 0.5 s less of ~10 s, no temporary files; at 10M, 32 passes would each read all
# 10M users and join them to 1.25M accounts again).
SPLIT_USERS_ABOVE = 4


# The users' context is built this many users at a time (``_split_users``).
USERS_PER_CHUNK = 2_000_000


def _split_users(plan: ScoringPlan, inputs: Inputs, side: AccountSide, which: pl.Expr, folder: Path) -> pl.Schema:
    """Every user's context (``user_frame``: the joins to accounts and firmographics), split by pass
    (``which``) into temporary Parquet files ``<pass>-<chunk>.parquet``, so a pass reads only its own
    users and never joins them to every account again. Built ``USERS_PER_CHUNK`` users at a time in
    memory: each join hashes every account once per chunk (once per pass cost 27 s at 10M users), and
    Polars' streaming joins were slower still. Returns the context's schema."""
    users = ensure(inputs.users, plan.inputs["users"])
    schema = user_frame(plan, inputs, side).collect_schema()
    total = int(users.select(pl.len()).collect().item())
    for c, start in enumerate(range(0, total, USERS_PER_CHUNK)):
        chunk = users.slice(start, USERS_PER_CHUNK).collect(engine="in-memory").lazy()
        frame = user_frame(plan, replace(inputs, users=chunk), side).with_columns(which.alias("__b")).collect(engine="in-memory")
        for (b,), part in frame.partition_by("__b", as_dict=True, include_key=False).items():
            part.write_parquet(folder / f"{b:05d}-{c:05d}.parquet", compression="lz4", statistics=False)
    return schema


# One scoring pass takes this many events, as several consecutive stored buckets when they are smaller:
# a pass has a fixed cost (plans, file opens, the joins of its metrics and users), so at 10M users 32 passes of
# ~16M events are cheaper than 64 of ~8M, and still far below the memory goal (docs/performance.md).
EVENTS_PER_PASS = 16_000_000


def _buckets_per_pass(stored: list[pl.LazyFrame]) -> int:
    """How many consecutive stored buckets one pass scores: their events about ``EVENTS_PER_PASS``
    (the row counts are a metadata read)."""
    # counted one bucket at a time, and at most 32 buckets per pass: each bucket is its own files, and
    # hundreds read in one query exhaust Polars' IO threads
    rows = sum(int(f.select(pl.len()).collect().item()) for f in stored)
    mean = max(1.0, rows / len(stored))
    return max(1, min(len(stored), 32, int(EVENTS_PER_PASS // mean)))


def _stored_setup(plan: ScoringPlan, inputs: Inputs) -> tuple[AccountSide, dict[str, int]]:
    """The account side collected once (every pass joins its users to it), zero stats."""
    return account_side(plan, inputs).collected(), dict.fromkeys(("excluded_users", "events_unknown_users", "events_after_as_of"), 0)


def _kept(side: AccountSide) -> pl.LazyFrame:
    return side.accounts.filter(~pl.col("__excluded")).drop("__excluded")


def _run_stored(plan: ScoringPlan, inputs: Inputs, as_of: datetime, stored: list[pl.LazyFrame], engine: Any) -> ScoreFrames:
    """``run`` over stored buckets (``_stored_users``), every scored user held in memory; the account
    roll-ups run once over the scored users. ``score_stored_to`` is the same run with bounded memory."""
    side, stats = _stored_setup(plan, inputs)
    users = _sorted_by_id(list(_stored_users(plan, inputs, as_of, stored, engine, side, stats)))
    accounts = account_scores(plan, _kept(side), users.lazy(), as_of).collect(engine="in-memory")
    return ScoreFrames(users.drop(cs.starts_with("__days_")), accounts, stats, as_of, list(plan.warnings))


def score_stored_to(
    plan: ScoringPlan,
    inputs: Inputs,
    as_of: datetime,
    target: Path,
    finish: Callable[[pl.LazyFrame], pl.LazyFrame],
    schema: Mapping[str, Any],
    stored: list[pl.LazyFrame] | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Score a bucketed workspace with bounded memory, writing the users into ``target`` (Parquet).

    The passes run inside one streaming ``sink_parquet``: a Polars IO source yields each pass's scored
    users, made final by ``finish`` (``schema``: the snapshot's columns and types, routing), so every
    user is encoded once, straight into ``target``, pass after pass (each pass in ``user_id`` order; a
    k-way merge into one global order cost more time and memory than the whole run; readers do not depend
    on the row order). Only the columns the account roll-ups read (the metrics, the hidden day words,
    ``signup_at``, ``is_pql``) are kept, in a temporary Parquet file per pass, and rolled up at the end.
    Returns the scored accounts and the run statistics; peak memory is one pass, never every user."""
    import tempfile

    from polars.io.plugins import register_io_source

    stored = stored if stored is not None else inputs.event_buckets
    assert stored
    side, stats = _stored_setup(plan, inputs)
    with tempfile.TemporaryDirectory(prefix="pql-scored-", dir=target.parent) as tmp:
        files: list[Path] = []

        def passes(with_columns: list[str] | None, *_: Any) -> Iterator[pl.DataFrame]:
            for b, users in enumerate(_stored_users(plan, inputs, as_of, stored, "streaming", side, stats)):
                files.append(Path(tmp) / f"{b:05d}.parquet")
                users.select(pl.col(_rollup_columns(plan)), cs.starts_with("__days_")).write_parquet(files[-1], compression="lz4")
                done = finish(users.drop(cs.starts_with("__days_")).lazy()).collect(engine="in-memory")
                del users
                yield done if with_columns is None else done.select(with_columns)

        register_io_source(passes, schema=pl.Schema(schema)).sink_parquet(target, statistics=False)
        accounts = account_scores(plan, _kept(side), pl.scan_parquet(files), as_of).collect(engine="in-memory")
    return accounts, stats


def _rollup_columns(plan: ScoringPlan) -> list[str]:
    """The scored users' columns the account roll-up reads (besides the ``__days_*`` words)."""
    return ["account_id", "signup_at", "is_pql", *[m.name for m in plan.metrics], *[a.name for a in plan.activation]]


def _sorted_by_id(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The buckets' scored users as one frame sorted by ``user_id``, one column at a time (a whole-frame
    sort would hold two copies of every user)."""
    users = pl.concat(parts, how="vertical", rechunk=False)
    parts.clear()
    return reordered(users, users["user_id"].arg_sort())


__all__ = ["EVENTS_PER_BUCKET", "AccountSide", "Plans", "account_scores", "account_side", "bucket_of", "bucketed_metrics", "build", "choose_buckets", "ensure", "flagged_users", "join_metrics", "metric_expr", "metric_passes", "run", "score_stored_to", "score_users", "user_activation", "user_frame", "user_metrics", "with_activation"]
