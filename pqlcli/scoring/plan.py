"""config + table schemas -> :class:`ScoringPlan`: every scoring decision, made once, for every engine.

The plan is plain data (names, numbers, dtypes and checked :class:`~pqlcli.scoring.conditions.Condition`
trees), built once from the config and the input tables' columns; ``as_of`` is given to the emitters.
It holds the metrics (events, window, aggregation, fill value, account roll-up, dtype), the event
pre-filter, the join graph (canonical casts, orphan users, account columns a user sees, firmographics
precedence), the rules (points, cap, condition), the NULL columns each level sees, the output columns
and their order, tiers, PQL definitions, exclusions, ``users_added_7d`` and the PQA share.
The Polars emitter (``scoring/polars.py``) and the SQL emitter (``scoring/sql/``) only translate it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl

from pqlcli.config import TIERS, Activation, LoadedConfig, Metric, Rule
from pqlcli.errors import Notice, WorkspaceError
from pqlcli.scoring.conditions import Condition, check_condition
from pqlcli.workspace.schema import ACCOUNTS, EVENTS, FIRMOGRAPHICS, USERS, TableSchema, polars_dtype

TS = pl.Datetime("us", "UTC")
Schema = dict[str, Any]  # column -> Polars dtype, in order
TABLES = ("users", "accounts", "events", "firmographics")
CANONICAL = {"users": USERS, "accounts": ACCOUNTS, "events": EVENTS, "firmographics": FIRMOGRAPHICS}
# Firmographic columns a user or an account sees; a provider value wins over a CRM column of that name.
FIRMO_COLUMNS = ("employees", "employees_range", "raised", "annual_revenue", "country", "industry")
# Account columns a user sees under another name (the user's own name/created_at come first).
ACCOUNT_RENAMES = {"name": "account_name", "created_at": "account_created_at"}
# Columns a user has and an account does not: NULL when account fit rules use them.
USER_ONLY: Schema = {
    "user_id": pl.String,
    "email": pl.String,
    "email_domain": pl.String,
    "is_free_email": pl.Boolean,
    "title": pl.String,
    "signup_at": TS,
    "account_name": pl.String,
}
ROLLUP_COUNTS = ("users", "users_added_7d", "pql_users")
USERS_ADDED_SECONDS = 7 * 86400.0
DAY_US = 86_400_000_000


def canonical_schemas() -> dict[str, Schema]:
    """The canonical columns of each table (what `pql sql` assumes without a workspace)."""
    return {name: {c: polars_dtype(t) for c, t in s.columns.items()} for name, s in CANONICAL.items()}


def same_dtype(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


@dataclass(frozen=True)
class InputColumn:
    """A column of an input table after canonicalisation: kept, cast to its canonical type, or added as NULL."""

    name: str
    dtype: Any
    action: str  # "keep" | "cast" | "add"


def canonical_columns(schema: Mapping[str, Any], table: TableSchema) -> list[InputColumn]:
    """The table's own columns in order (canonical ones cast), then missing canonical columns as NULLs."""
    out = []
    for col, dtype in schema.items():
        kind = table.columns.get(col)
        if kind is not None and not same_dtype(dtype, polars_dtype(kind)):
            out.append(InputColumn(col, polars_dtype(kind), "cast"))
        else:
            out.append(InputColumn(col, dtype, "keep"))
    out += [InputColumn(c, polars_dtype(k), "add") for c, k in table.columns.items() if c not in schema]
    return out


@dataclass(frozen=True)
class ContextColumn:
    """A column of a user's context: from the user, from its account, or both (the user's value first)."""

    name: str
    dtype: Any
    user: str | None
    account: str | None  # the account column it reads ("domain": the account's, else the email's company domain)


@dataclass(frozen=True)
class FirmoColumn:
    """A column after the firmographics join: ``own`` (kept), ``both`` (provider value, else own cast), ``firmo``."""

    name: str
    dtype: Any
    source: str  # "own" | "both" | "firmo"
    own_dtype: Any = None


@dataclass(frozen=True)
class MetricPlan:
    name: str
    events: tuple[str, ...] | None  # None: any event
    window_seconds: float | None
    agg: str
    prop: str | None
    decay_kind: str | None
    decay_seconds: float | None
    fill: Any  # value for users without events (None: stays NULL)
    dtype: Any
    rollup: str
    account_dtype: Any
    description: str
    trend_of: str | None = None  # a trend: this metric's window minus the window just before it

    @property
    def window(self) -> timedelta | None:
        return None if self.window_seconds is None else timedelta(seconds=self.window_seconds)

    @property
    def reach_seconds(self) -> float | None:
        """How far back from as_of the metric looks (a trend: two windows)."""
        if self.window_seconds is None:
            return None
        return self.window_seconds * (2 if self.trend_of else 1)


@dataclass(frozen=True)
class ActivationPlan:
    """A milestone: each step's first event in [signup_at, min(signup_at + within, as_of))."""

    name: str
    within_seconds: float
    steps: tuple[str, ...]

    @property
    def within_us(self) -> int:
        return round(self.within_seconds * 1_000_000)

    @property
    def columns(self) -> Schema:
        return {self.name: pl.Boolean(), f"{self.name}_steps": pl.Int64(), f"{self.name}_days": pl.Float64()}

    @property
    def users_column(self) -> str:
        return f"{self.name}_users"

    @property
    def description(self) -> str:
        return f"activation {self.name}: {', '.join(self.steps)} within {self.within_seconds / 86400:g} days of signup"


@dataclass(frozen=True)
class EventFilter:
    """What every metric shares, tested once per event: window start and event names (None: no test).

    ``terms``: exactly the events some metric looks at, as a union of (event names or None for any,
    reach in seconds before ``as_of`` or None for all time); None when a metric looks at every event.
    """

    widest_window_seconds: float | None
    event_names: tuple[str, ...] | None
    terms: tuple[tuple[tuple[str, ...] | None, float | None], ...] | None = None


@dataclass(frozen=True)
class RulePlan:
    section: str  # the score dimension: fit | usage | a scores: name
    name: str
    column: str  # <dimension>__<name>
    points: float
    cap: float | None
    metric: str | None
    when: Condition | None
    description: str


@dataclass(frozen=True)
class FlagPlan:
    """A PQL definition or an exclusion at one level."""

    name: str
    column: str
    when: Condition


@dataclass(frozen=True)
class RoutePlan:
    """A routing rule: when ``when`` holds (None: always), ``owner`` or one of ``round_robin``."""

    when: Condition | None
    owner: str | None
    round_robin: tuple[str, ...] | None


@dataclass(frozen=True)
class TierPlan:
    fit: float
    usage: float
    names: dict[str, str]
    labels: dict[str, str]
    x: str = "fit"  # the dimension deciding "good fit" (tier1/tier2)
    y: str = "usage"  # the dimension deciding "high usage" (tier1/tier3)
    x_min: float = 50.0
    y_min: float = 40.0

    @property
    def x_column(self) -> str:
        return f"{self.x}_score"

    @property
    def y_column(self) -> str:
        return f"{self.y}_score"


@dataclass
class ScoringPlan:
    """Every decision of a scoring run; see the module docstring."""

    inputs: dict[str, list[InputColumn]]
    user_base: Schema
    context: list[ContextColumn]
    user_firmo: list[FirmoColumn]
    account_firmo: list[FirmoColumn]
    firmo_schema: Schema
    metrics: list[MetricPlan]
    activation: list[ActivationPlan]
    dimensions: list[str]
    event_filter: EventFilter
    exclude_accounts: list[FlagPlan]
    exclude_users: list[FlagPlan]
    user_rules: list[RulePlan]
    account_rules: list[RulePlan]
    account_nulls: Schema
    user_pqls: list[FlagPlan]
    account_pqls: list[FlagPlan]
    tiers: TierPlan
    pqa_share: float
    users_added_seconds: float
    context_schema: Schema
    account_base: Schema
    users_out: Schema
    accounts_out: Schema
    warnings: list[str] = field(default_factory=list)
    # routing runs after scoring, on every engine's result (scoring/routing.py)
    user_routes: list[RoutePlan] = field(default_factory=list)
    account_routes: list[RoutePlan] = field(default_factory=list)
    account_route_nulls: Schema = field(default_factory=dict)

    @property
    def fit_rules(self) -> list[RulePlan]:
        return [r for r in self.user_rules if r.section == "fit"]

    @property
    def usage_rules(self) -> list[RulePlan]:
        return [r for r in self.user_rules if r.section == "usage"]

    def ensured(self, table: str) -> Schema:
        return {c.name: c.dtype for c in self.inputs[table]}


def coalesce_dtype(a: Any, b: Any) -> Any:
    """The dtype of COALESCE(a, b) (Polars' supertype rules)."""
    if same_dtype(a, b):
        return a
    return pl.LazyFrame(schema={"a": a, "b": b}).select(pl.coalesce("a", "b")).collect_schema()["a"]


# ---------------------------------------------------------------------------------------------------
# The join graph


def _firmo_join(schema: Schema, firmo: Schema) -> list[FirmoColumn]:
    out = []
    for c, dtype in schema.items():
        out.append(FirmoColumn(c, firmo[c], "both", dtype) if c in FIRMO_COLUMNS else FirmoColumn(c, dtype, "own"))
    out += [FirmoColumn(c, firmo[c], "firmo") for c in FIRMO_COLUMNS if c not in schema]
    return out


def _context(user_base: Schema, accounts: Schema) -> list[ContextColumn]:
    """A user's own columns first, then its account's (renamed), the domain from the account or the email."""
    targets = {c: ACCOUNT_RENAMES.get(c, c) for c in accounts if c != "account_id"}
    collide = {t: c for c, t in targets.items() if t in user_base}
    out = []
    for c, dtype in user_base.items():
        if c == "domain" and "domain" in collide:
            out.append(ContextColumn(c, pl.String, c, "domain"))
        elif c in collide:
            out.append(ContextColumn(c, coalesce_dtype(dtype, accounts[collide[c]]), c, collide[c]))
        else:
            out.append(ContextColumn(c, dtype, c, None))
    for c, t in targets.items():
        if t not in user_base:
            out.append(ContextColumn(t, pl.String if t == "domain" else accounts[c], None, c))
    return out


# ---------------------------------------------------------------------------------------------------
# Metrics


# How an account rolls a metric up over its users unless the config says: active_days become the
# distinct days on which any of its users was active (never more than the window), not a sum over users.
DEFAULT_ROLLUP = {"first_seen": "max", "last_seen": "min", "active_days": "distinct_days"}
def _trend(name: str, m: Metric, base: MetricPlan) -> MetricPlan:
    w = base.window_seconds or 0.0
    return MetricPlan(
        name=name, events=base.events, window_seconds=w, agg=base.agg, prop=base.prop, decay_kind=None,
        decay_seconds=None, fill=base.fill, dtype=base.dtype, rollup=base.rollup, account_dtype=base.account_dtype,
        description=f"trend {name}: {base.name} in the last {w / 86400:g} days minus the {w / 86400:g} days before",
        trend_of=base.name,
    )


def _metrics(loaded: LoadedConfig) -> list[MetricPlan]:
    metrics = loaded.config.metrics
    plain = {n: _metric(n, m) for n, m in metrics.items() if m.trend is None}
    return [plain[n] if m.trend is None else _trend(n, m, plain[m.trend]) for n, m in metrics.items()]


def _activation(a: Activation) -> ActivationPlan:
    return ActivationPlan(a.name, a.within_td.total_seconds(), tuple(a.unique_steps))


def _metric(name: str, m: Metric) -> MetricPlan:
    window = m.window_td
    fill = None if m.agg in ("first_seen", "last_seen") else (0.0 if m.is_float else 0)
    dtype = pl.Float64() if m.is_float else pl.Int64()
    rollup = m.rollup or DEFAULT_ROLLUP.get(m.agg, "sum")
    account_dtype = pl.Int64() if rollup == "count_positive" and fill is None else dtype
    desc = f"metric {name}: {', '.join(m.events)}" + (f" in the last {m.window}" if m.window else " up to as_of")
    desc += f", {m.agg}" + (f" of {m.prop}" if m.prop else "")
    if m.decay is not None:
        desc += f", decay {m.decay.kind} {m.decay.half_life or m.decay.lifespan}"
    return MetricPlan(
        name=name,
        events=None if m.any_event else tuple(m.events),
        window_seconds=None if window is None else window.total_seconds(),
        agg=m.agg,
        prop=m.prop,
        decay_kind=None if m.decay is None else m.decay.kind,
        decay_seconds=None if m.decay is None else m.decay.seconds,
        fill=fill,
        dtype=dtype,
        rollup=rollup,
        account_dtype=account_dtype,
        description=desc,
    )


def _event_filter(metrics: list[MetricPlan]) -> EventFilter:
    """The widest window when every metric has one (and none looks at first/last events); the event names
    when no metric counts any event."""
    widest = None
    if metrics and all(m.window_seconds is not None for m in metrics) and not any(
        m.agg in ("first_seen", "last_seen") for m in metrics
    ):
        widest = max(m.reach_seconds or 0.0 for m in metrics)
    names = None
    if metrics and all(m.events is not None for m in metrics):
        names = tuple(sorted({e for m in metrics for e in m.events or ()}))
    return EventFilter(widest, names, _filter_terms(metrics))


def _filter_terms(metrics: list[MetricPlan]) -> tuple[tuple[tuple[str, ...] | None, float | None], ...] | None:
    """The union of what the metrics look at, one term per reach (their event names merged; None: any)."""
    by_reach: dict[float | None, set[str] | None] = {}
    for m in metrics:
        reach = m.reach_seconds
        if reach in by_reach and by_reach[reach] is None:
            continue
        by_reach[reach] = None if m.events is None else (by_reach.get(reach) or set()) | set(m.events)
    if not metrics or by_reach.get(None, set()) is None:
        return None
    # a term for any event within a reach covers every term of a shorter (or equal) reach
    any_reach = max((r or 0.0 for r, ev in by_reach.items() if ev is None and r is not None), default=None)
    terms = []
    for reach, events in sorted(by_reach.items(), key=lambda t: (t[0] is None, t[0] or 0.0)):
        if any_reach is not None and reach is not None and events is not None and reach <= any_reach:
            continue
        terms.append((None if events is None else tuple(sorted(events)), reach))
    return tuple(terms)


def _check_metrics(loaded: LoadedConfig, context: Schema, events: Schema) -> None:
    for name in loaded.config.metrics:
        if name in context:
            raise loaded.error(
                ("metrics", name, "__key__"),
                f"metric {name!r} has the same name as a data column",
                "Rename the metric (e.g. add a window suffix such as _30d).",
            )
    for i, act in enumerate(loaded.config.activation):
        clash = [c for c in (act.name, f"{act.name}_steps", f"{act.name}_days") if c in context]
        if clash:
            raise loaded.error(
                ("activation", i, "name"),
                f"activation {act.name!r} makes the column {clash[0]!r}, which the data already has",
                "Rename the milestone.",
            )
    for name, m in loaded.config.metrics.items():
        if m.prop and m.prop not in events:
            raise loaded.error(
                ("metrics", name, "property"),
                f"metric {name!r} uses the event property {m.prop!r}, which the events table does not have",
                f"Event columns: {', '.join(events)}.",
            )


# ---------------------------------------------------------------------------------------------------
# Rules, flags


def _rule_description(rule: Rule) -> str:
    if rule.metric is not None:
        return f"{rule.points:g} x {rule.metric}" + (f", at most {rule.cap:g}" if rule.cap is not None else "")
    return f"{rule.when} -> {rule.points:+g}"


def _rules(loaded: LoadedConfig, schema: Schema, level: str) -> list[RulePlan]:
    out = []
    for section in loaded.config.dimensions:
        loc = (section,) if section in ("fit", "usage") else ("scores", section)
        for i, rule in enumerate(loaded.config.rules(section)):
            cond = None
            if rule.when is not None:
                what = f"{section} rule {rule.name!r} ({level}s)"
                cond = check_condition(loaded, (*loc, i, "when"), rule.when, schema, what=what)
            out.append(
                RulePlan(section, rule.name, f"{section}__{rule.name}", float(rule.points), rule.cap, rule.metric, cond,
                         _rule_description(rule))
            )
    return out


def _exclusions(loaded: LoadedConfig, schema: Schema, level: str) -> list[FlagPlan]:
    return [
        FlagPlan(e.name, f"exclude__{e.name}",
                 check_condition(loaded, ("exclude", i, "when"), e.when, schema, what=f"exclude {e.name!r}"))
        for i, e in enumerate(loaded.config.exclude)
        if e.level == level
    ]


def _pqls(loaded: LoadedConfig, schema: Schema, level: str, unavailable: Mapping[str, str] | None = None) -> list[FlagPlan]:
    return [
        FlagPlan(p.name, f"pql__{p.name}", check_condition(
            loaded, ("pqls", i, "when"), p.when, schema, what=f"PQL {p.name!r} ({level} level)", unavailable=unavailable
        ))
        for i, p in enumerate(loaded.config.pqls)
        if p.level == level
    ]


def _scores_schema(rules: Iterable[RulePlan], dimensions: Iterable[str]) -> Schema:
    out: Schema = {r.column: pl.Float64() for r in rules}
    out.update({f"{d}_score": pl.Float64() for d in dimensions})
    return {**out, "tier": pl.String(), "tier_label": pl.String()}


def _account_nulls(loaded: LoadedConfig, accounts: Schema, context: Schema) -> Schema:
    """Columns account rules (every score dimension) read that accounts lack: user-only columns (a milestone's
    ``_steps`` and ``_days`` too), NULL at the account level.

    A rule over such a column gives accounts 0 points (a NULL condition), whether it is a fit rule (``title``)
    or a usage rule over a user trait (``time_on_site`` of a lead export); :func:`_null_notes` says so.
    """
    from pqlcli.scoring.conditions import referenced_columns

    rules = [r for d in loaded.config.dimensions for r in loaded.config.rules(d)]
    refs = list(dict.fromkeys(c for r in rules if r.when for c in referenced_columns(r.when)))
    nulls: Schema = {c: d for c, d in USER_ONLY.items() if c in refs and c not in accounts}
    for c in refs:
        if c not in accounts and c not in nulls and c in context:
            nulls[c] = context[c]
    return nulls


def _null_notes(loaded: LoadedConfig, nulls: Schema) -> list[str]:
    """One note per usage rule that reads a user-only column: accounts get 0 points from it."""
    from pqlcli.scoring.conditions import referenced_columns

    out = []
    for rule in loaded.config.usage:
        cols = [c for c in referenced_columns(rule.when) if c in nulls] if rule.when else []
        if cols:
            out.append(
                f"Usage rule {rule.name!r} reads user-only column(s) {', '.join(cols)}: accounts get 0 points "
                "from it (users are scored on it as usual)."
            )
    return out


def _routes(loaded: LoadedConfig, schema: Schema, level: str) -> list[RoutePlan]:
    out = []
    for i, r in enumerate(loaded.config.routing):
        cond = None
        if r.when is not None:
            cond = check_condition(loaded, ("routing", i, "when"), r.when, schema, what=f"routing rule #{i + 1} ({level}s)")
        out.append(RoutePlan(cond, r.owner, None if r.round_robin is None else tuple(r.round_robin)))
    return out


def _route_nulls(loaded: LoadedConfig, accounts: Schema, users: Schema) -> Schema:
    """User-only columns routing conditions read: NULL for accounts (the rule does not match)."""
    from pqlcli.scoring.conditions import referenced_columns

    refs = [c for r in loaded.config.routing if r.when for c in referenced_columns(r.when)]
    return {c: users[c] for c in dict.fromkeys(refs) if c not in accounts and c in users}


def _tiers(loaded: LoadedConfig) -> TierPlan:
    t = loaded.config.tiers
    return TierPlan(
        t.fit, t.usage, {k: t.name(k) for k in TIERS}, {k: t.label(k) for k in TIERS},
        x=t.x, y=t.y, x_min=t.threshold(t.x) or 0.0, y_min=t.threshold(t.y) or 0.0,
    )


def _firmo_warning(loaded: LoadedConfig, user_firmo: list[FirmoColumn]) -> list[str]:
    """Warn of missing firmographics only when a fit rule needs a provider column that neither the users
    nor the accounts table (a CRM export's employees, country...) provides."""
    from pqlcli.scoring.conditions import referenced_columns

    only_provider = {c.name for c in user_firmo if c.source == "firmo"}
    needing = {
        r.name: [c for c in referenced_columns(r.when) if c in only_provider] for r in loaded.config.fit if r.when
    }
    needing = {name: cols for name, cols in needing.items() if cols}
    if not needing:
        return []
    cols = ", ".join(dict.fromkeys(c for cols in needing.values() for c in cols))
    return [Notice(
        f"No firmographics yet: fit rule(s) {', '.join(needing)} use {cols}, which neither the users nor the accounts "
        "table has, so they give 0 points until the workspace is enriched (or accounts with those columns are ingested).",
        command="enrich",
    )]


def _warnings(missing: Iterable[str]) -> list[str]:
    missing = set(missing)
    if "users" in missing:
        raise WorkspaceError("The workspace has no users table yet.", "Ingest a users table first.", command="ingest users FILE")
    out: list[str] = []
    if "events" in missing:
        out.append(Notice("No events yet: every usage metric is 0 until events are ingested.", command="ingest events FILE"))
    if "accounts" in missing:
        out.append(Notice(
            "No accounts table: users are scored alone (no account columns, roll-ups or PQAs; users with a "
            "company email are enriched by its domain) until accounts are ingested.", command="ingest accounts FILE"))
    return out


# ---------------------------------------------------------------------------------------------------
# The plan


def build_plan(loaded: LoadedConfig, schemas: Mapping[str, Mapping[str, Any]], missing: Iterable[str] = ()) -> ScoringPlan:
    """Check the config against the tables' columns and make every scoring decision once."""
    missing = set(missing)
    warnings = _warnings(missing)
    inputs = {name: canonical_columns(schemas[name], CANONICAL[name]) for name in TABLES}
    ensured = {name: {c.name: c.dtype for c in cols} for name, cols in inputs.items()}
    firmo = {c: ensured["firmographics"][c] for c in ("domain", *FIRMO_COLUMNS)}
    user_base = {**ensured["users"], "email_domain": pl.String(), "is_free_email": pl.Boolean()}
    context = _context(user_base, ensured["accounts"])
    user_firmo = _firmo_join({c.name: c.dtype for c in context}, firmo)
    account_firmo = _firmo_join(ensured["accounts"], firmo)
    ctx_schema: Schema = {c.name: c.dtype for c in user_firmo}
    acct_base: Schema = {c.name: c.dtype for c in account_firmo}
    if "firmographics" in missing:
        warnings += _firmo_warning(loaded, user_firmo)
    _check_metrics(loaded, ctx_schema, ensured["events"])
    metrics = _metrics(loaded)
    activation = [_activation(a) for a in loaded.config.activation]
    dims = loaded.config.dimensions

    exclude_accounts = _exclusions(loaded, acct_base, "account")
    user_schema = {**ctx_schema, **{m.name: m.dtype for m in metrics}}
    for a in activation:
        user_schema.update(a.columns)
    exclude_users = _exclusions(loaded, user_schema, "user")
    user_rules = _rules(loaded, user_schema, "user")
    scored = {**user_schema, **_scores_schema(user_rules, dims)}
    user_pqls = _pqls(loaded, scored, "user")
    users_out = {**scored, **{p.column: pl.Boolean() for p in user_pqls}, "is_pql": pl.Boolean()}

    rolled = {**acct_base, **{m.name: m.account_dtype for m in metrics}}
    for a in activation:  # users who reached the milestone; the account reached it when any of them did
        rolled.update({a.users_column: pl.Int64(), a.name: pl.Boolean()})
    rolled.update({c: pl.Int64() for c in ROLLUP_COUNTS})
    rolled.update(pql_share=pl.Float64(), pqa=pl.Boolean())
    nulls = _account_nulls(loaded, rolled, user_schema)
    account_rules = _rules(loaded, {**rolled, **nulls}, "account")
    warnings += _null_notes(loaded, nulls)
    acct_scored = {**rolled, **_scores_schema(account_rules, dims)}
    unavailable = {
        c: "a user-only column; account-level PQL definitions see account columns, roll-ups and scores"
        for c in (set(user_schema) | set(scored)) - set(acct_scored)
    }
    account_pqls = _pqls(loaded, acct_scored, "account", unavailable)
    accounts_out = {**acct_scored, **{p.column: pl.Boolean() for p in account_pqls}}
    route_nulls = _route_nulls(loaded, accounts_out, users_out)
    routes = _routes(loaded, users_out, "user"), _routes(loaded, {**accounts_out, **route_nulls}, "account")
    return ScoringPlan(
        inputs=inputs, user_base=user_base, context=context, user_firmo=user_firmo, account_firmo=account_firmo,
        firmo_schema=firmo, metrics=metrics, activation=activation, dimensions=dims, event_filter=_event_filter(metrics), exclude_accounts=exclude_accounts,
        exclude_users=exclude_users, user_rules=user_rules, account_rules=account_rules, account_nulls=nulls,
        user_pqls=user_pqls, account_pqls=account_pqls, tiers=_tiers(loaded), pqa_share=loaded.config.accounts.pqa_share,
        users_added_seconds=USERS_ADDED_SECONDS, context_schema=ctx_schema, account_base=acct_base,
        users_out=users_out, accounts_out=accounts_out, warnings=warnings,
        user_routes=routes[0], account_routes=routes[1], account_route_nulls=route_nulls,
    )


__all__ = [
    "ACCOUNT_RENAMES",
    "DAY_US",
    "FIRMO_COLUMNS",
    "ROLLUP_COUNTS",
    "TS",
    "USER_ONLY",
    "ActivationPlan",
    "ContextColumn",
    "EventFilter",
    "FirmoColumn",
    "FlagPlan",
    "InputColumn",
    "MetricPlan",
    "RoutePlan",
    "RulePlan",
    "ScoringPlan",
    "TierPlan",
    "build_plan",
    "canonical_schemas",
]
