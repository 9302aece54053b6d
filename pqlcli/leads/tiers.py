"""``pql tiers report``: the fit × usage matrix, breakdowns, top accounts, movement and conversion per tier.

The report is a typed model (:class:`TiersReport`); ``to_dict()`` is the JSON every renderer and
``--format json`` share.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from pqlcli.config import TIERS
from pqlcli.leads.errors import ParameterError, did_you_mean
from pqlcli.leads.filters import qualified_expr
from pqlcli.leads.snapshot import ID_COLUMN, LEVELS, LeadSnapshot, SnapshotRef, open_snapshot
from pqlcli.leads.why import WHY, add_why

if TYPE_CHECKING:
    import polars as pl

CANONICAL_TIERS = TIERS
# Where each canonical tier sits in the fit × usage matrix.
TIER_CELL = {
    "tier1": ("good_fit", "high_usage"),
    "tier2": ("good_fit", "low_usage"),
    "tier3": ("weak_fit", "high_usage"),
    "tier4": ("weak_fit", "low_usage"),
}
BREAKDOWNS = ("owner", "plan", "industry", "country")
MAX_GROUPS = 25
UNOWNED = "(unowned)"
MISSING = "(none)"
Row = dict[str, Any]  # one lead, with the columns the snapshot has


class TierInfo(BaseModel):
    key: str
    name: str
    label: str
    short: str  # the label's head ("Tier 1" of "Tier 1 · call now"; a custom label as it is), for column heads
    fit: str
    usage: str


class Thresholds(BaseModel):
    fit: int | float | None = None
    usage: int | float | None = None


class TierCount(BaseModel):
    count: int
    share: float | None


class BreakdownRow(BaseModel):
    value: str
    total: int
    tiers: dict[str, int]
    tier1_share: float | None


class Movement(BaseModel):
    previous_snapshot: str
    previous_label: str  # its readable date beside the id
    config_changes: list[str]  # config keys that differ between the two snapshots ([]: the same config)
    matrix: dict[str, dict[str, int]]
    changed: int
    entered_tier1_count: int
    entered_tier1: list[Row]


class TierConversion(BaseModel):
    count: int
    converted: int
    rate: float | None
    lift_vs_tier4: float | None = None


class Funnel(BaseModel):
    signed_up: int
    qualified: int
    customers_from_qualified: int
    signup_to_qualified: float | None
    qualified_to_customer: float | None
    unqualified_to_customer: float | None


class Conversion(BaseModel):
    tiers: dict[str, TierConversion]
    converted: int
    funnel: Funnel


class LevelReport(BaseModel):
    total: int
    qualified: int
    tiers: dict[str, TierCount]
    matrix: dict[str, dict[str, int]]
    by: dict[str, list[BreakdownRow]]
    top: dict[str, list[Row]] | None = None  # accounts only
    movement: Movement | None = None
    conversion: Conversion | None = None

    @model_serializer(mode="wrap")
    def _drop_top_of_users(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("top") is None:
            data.pop("top", None)
        return data


class TiersReport(BaseModel):
    snapshot: str
    snapshot_label: str  # ``2026-11-30 01:02 UTC (id)``
    as_of: str | None
    previous_snapshot: str | None
    previous_label: str | None
    thresholds: Thresholds
    tiers: list[TierInfo]
    breakdowns: list[str]
    levels: dict[str, LevelReport]

    def tier_info(self) -> dict[str, TierInfo]:
        """Canonical key -> name and label, in tier order."""
        return {t.key: t for t in self.tiers}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what ``--format json`` prints)."""
        return self.model_dump(mode="json")


def tiers_report(snapshot: SnapshotRef, by: list[str] | str | None = None, top: int = 5) -> TiersReport:
    """The tier report of a snapshot, compared with the snapshot before it when there is one."""
    snap = open_snapshot(snapshot)
    dims = breakdowns(by, {c for level in LEVELS if snap.has(level) for c in snap.scan(level).collect_schema().names()})
    prev = snap.previous()
    names, labels = snap.tier_names(), snap.tier_labels()
    thresholds = snap.manifest.get("tiers") or {}
    levels = {
        level: _level_report(level, snap, prev if prev is not None and prev.has(level) else None, dims, top)
        for level in LEVELS
        if snap.has(level)
    }
    return TiersReport(
        snapshot=snap.name,
        snapshot_label=snap.snapshot.label,
        as_of=snap.manifest.get("as_of"),
        previous_snapshot=prev.name if prev else None,
        previous_label=prev.snapshot.label if prev else None,
        thresholds=Thresholds(fit=thresholds.get("fit"), usage=thresholds.get("usage")),
        tiers=[
            TierInfo(key=key, name=names[key], label=labels[key], short=labels[key].split(" · ")[0].strip() or labels[key],
                     fit=TIER_CELL[key][0], usage=TIER_CELL[key][1])
            for key in CANONICAL_TIERS
        ],
        breakdowns=dims,
        levels=levels,
    )


def breakdowns(by: list[str] | str | None, columns: set[str] | None = None) -> list[str]:
    """The breakdown dimensions asked for (repeated or comma-separated), default owner and plan.

    Any column of the snapshot's users or accounts (``columns``) is a breakdown; without ``columns``,
    the usual ones (owner, plan, industry, country)."""
    if by is None:
        return ["owner", "plan"]
    allowed = sorted(columns) if columns else list(BREAKDOWNS)
    lower = {c.lower(): c for c in allowed}
    items = [by] if isinstance(by, str) else list(by)
    asked = [d.strip() for item in items for d in item.split(",") if d.strip()]
    dims = [d if d in allowed else lower.get(d.lower(), d) for d in asked]
    bad = [d for d in dims if d not in allowed]
    if bad:
        usual = [c for c in BREAKDOWNS if c in allowed]
        rest = [c for c in allowed if c not in usual and not c.startswith(("fit__", "usage__", "pql__"))]
        raise ParameterError(
            "by",
            f"{{param}} {', '.join(bad)} is not a column of the snapshot's users or accounts."
            f"{did_you_mean(bad[0], allowed)}",
            f"Use one or more of: {', '.join(usual)}" + (f"; or any other column: {', '.join(rest)}." if rest else "."),
        )
    return list(dict.fromkeys(dims))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _level_report(level: str, snap: LeadSnapshot, prev: LeadSnapshot | None, dims: list[str], top: int) -> LevelReport:
    import polars as pl

    frame = snap.read(level)
    key_of = snap.tier_keys()
    total = frame.height
    counts_frame = frame.group_by("tier").agg(pl.len().alias("n"))
    counts = {key_of.get(t, str(t)): int(n) for t, n in counts_frame.iter_rows()}
    matrix: dict[str, dict[str, int]] = {"good_fit": {}, "weak_fit": {}}
    for key, (fit, usage) in TIER_CELL.items():
        matrix[fit][usage] = counts.get(key, 0)
    qualified = frame.select(qualified_expr(level, frame.columns).alias("q"))["q"]
    return LevelReport(
        total=total,
        qualified=int(qualified.sum()),
        tiers={key: TierCount(count=counts.get(key, 0), share=_share(counts.get(key, 0), total)) for key in CANONICAL_TIERS},
        matrix=matrix,
        by={dim: _breakdown(frame, dim, key_of) for dim in dims if dim in frame.columns},
        top=_top(frame, snap.tier_names(), top) if level == "accounts" else None,
        movement=_movement(level, frame, snap, prev) if prev is not None else None,
        conversion=_conversion(frame, qualified, key_of) if _has_outcomes(frame) else None,
    )


def _breakdown(frame: pl.DataFrame, dim: str, key_of: dict[str, str]) -> list[BreakdownRow]:
    import polars as pl

    blank = UNOWNED if dim == "owner" else MISSING
    col = "assigned_owner" if dim == "owner" and "assigned_owner" in frame.columns else dim  # routed owners count
    value = pl.col(col).cast(pl.String).str.strip_chars()
    grouped = (
        frame.with_columns(pl.when(value.is_null() | (value == "")).then(pl.lit(blank)).otherwise(value).alias("_v"))
        .group_by("_v", "tier")
        .agg(pl.len().alias("n"))
    )
    rows: dict[str, dict[str, int]] = {}
    for v, t, n in grouped.iter_rows():
        key = key_of.get(t, str(t))
        rows.setdefault(v, {}).setdefault(key, 0)
        rows[v][key] += int(n)
    ordered = sorted(rows.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    if len(ordered) > MAX_GROUPS:
        rest: dict[str, int] = {}
        for _, c in ordered[MAX_GROUPS - 1 :]:
            for k, n in c.items():
                rest[k] = rest.get(k, 0) + n
        ordered = [*ordered[: MAX_GROUPS - 1], ("(other)", rest)]
    return [
        BreakdownRow(
            value=v,
            total=sum(c.values()),
            tiers={key: c.get(key, 0) for key in CANONICAL_TIERS},
            tier1_share=_share(c.get("tier1", 0), sum(c.values())),
        )
        for v, c in ordered
    ]


def _top(frame: pl.DataFrame, names: dict[str, str], top: int) -> dict[str, list[Row]]:
    import polars as pl

    keep = [c for c in ("account_id", "name", "owner", "plan", "users", "fit_score", "usage_score") if c in frame.columns]
    # the best usage first; ties broken by fit, then by the number of users, then by id (stable)
    scores = [c for c in ("usage_score", "fit_score", "users") if c in frame.columns]
    ranked = frame.sort([*scores, "account_id"], descending=[True] * len(scores) + [False], nulls_last=True)
    out: dict[str, list[Row]] = {}
    for key in CANONICAL_TIERS:
        part = ranked.filter(pl.col("tier") == names[key]).head(top)
        out[key] = _jsonable_rows(add_why(part).select([*keep, WHY]))
    return out


def _jsonable_rows(frame: pl.DataFrame) -> list[Row]:
    rows = frame.to_dicts()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, datetime):
                row[k] = v.isoformat()
            elif isinstance(v, float):
                row[k] = round(v, 4)
    return rows


def _movement(level: str, frame: pl.DataFrame, snap: LeadSnapshot, prev: LeadSnapshot) -> Movement:
    import polars as pl

    id_col = ID_COLUMN[level]
    before = prev.read(level, [id_col, "tier"]).select(
        pl.col(id_col).cast(pl.String), pl.col("tier").replace_strict(prev.tier_keys(), default=pl.col("tier")).alias("before")
    )
    now = frame.select(
        pl.col(id_col).cast(pl.String), pl.col("tier").replace_strict(snap.tier_keys(), default=pl.col("tier")).alias("after")
    )
    joined = now.join(before, on=id_col, how="full", coalesce=True).with_columns(
        pl.col("before").fill_null("new"), pl.col("after").fill_null("gone")
    )
    cols = [*CANONICAL_TIERS, "gone"]
    matrix = {r: dict.fromkeys(cols, 0) for r in [*CANONICAL_TIERS, "new"]}
    for b, a, n in joined.group_by("before", "after").agg(pl.len().alias("n")).iter_rows():
        matrix.setdefault(b, dict.fromkeys(cols, 0))[a] = int(n)
    entered = joined.filter((pl.col("after") == "tier1") & (pl.col("before") != "tier1"))
    show = [c for c in (id_col, "name", "email", "owner", "fit_score", "usage_score") if c in frame.columns]
    entered_rows = (
        frame.with_columns(pl.col(id_col).cast(pl.String))
        .join(entered.select(id_col, "before"), on=id_col, how="inner")
        .sort(["usage_score", "fit_score", id_col], descending=[True, True, False], nulls_last=True)
        .select([*show, "before"])
    )
    return Movement(
        previous_snapshot=prev.name,
        previous_label=prev.snapshot.label,
        config_changes=_snapshot_config_changes(prev, snap),
        matrix=matrix,
        changed=int(joined.filter(pl.col("before") != pl.col("after")).height),
        entered_tier1_count=entered_rows.height,
        entered_tier1=_jsonable_rows(entered_rows.head(25)),
    )


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys -> values; a list of named items (rules, PQL definitions) is keyed by their names."""
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        for v in value:
            _flatten({k: x for k, x in v.items() if k != "name"}, f"{prefix}.{v['name']}", out)
    else:
        out[prefix] = value
    return out


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The config keys whose value differs between two snapshots' configs (as_of aside: it always moves).

    ``tiers.fit: 50 -> 60``; a rule, metric or PQL definition only one side has: ``usage.docs (added)``."""
    a, b = _flatten(before, "", {}), _flatten(after, "", {})
    out: list[str] = []
    for k in sorted(set(a) | set(b)):
        if k == "as_of" or a.get(k) == b.get(k):
            continue
        head = k.rsplit(".", 1)[0] if k.count(".") >= 2 else k
        if head != k and not any(x.startswith(head + ".") for x in a):
            change = f"{head} (added)"
        elif head != k and not any(x.startswith(head + ".") for x in b):
            change = f"{head} (removed)"
        else:
            change = f"{k}: {_short_value(a.get(k))} -> {_short_value(b.get(k))}"
        if change not in out:
            out.append(change)
    return out


def _snapshot_config_changes(prev: LeadSnapshot, snap: LeadSnapshot) -> list[str]:
    before, after = prev.manifest.get("config"), snap.manifest.get("config")
    if before is not None and after is not None:
        return config_changes(before, after)
    if prev.manifest.get("config_hash") == snap.manifest.get("config_hash"):
        return []
    return ["the config (the older snapshot does not record its keys)"]


def _short_value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = "—" if v is None else str(v)
    return text if len(text) <= 40 else text[:39] + "…"


def _has_outcomes(frame: pl.DataFrame) -> bool:
    return "converted_at" in frame.columns and frame["converted_at"].null_count() < frame.height


def _conversion(frame: pl.DataFrame, qualified: pl.Series, key_of: dict[str, str]) -> Conversion:
    import polars as pl

    conv = frame.select(pl.col("tier"), pl.col("converted_at").is_not_null().alias("c")).with_columns(q=qualified)
    per = conv.group_by("tier").agg(pl.len().alias("n"), pl.col("c").sum().alias("k"))
    stats = {key_of.get(t, str(t)): (int(n), int(k)) for t, n, k in per.iter_rows()}
    tiers = {key: TierConversion(count=n, converted=k, rate=_share(k, n)) for key, (n, k) in ((key, stats.get(key, (0, 0))) for key in CANONICAL_TIERS)}
    base = tiers["tier4"].rate
    for tier in tiers.values():
        tier.lift_vs_tier4 = round(tier.rate / base, 2) if tier.rate is not None and base else None
    total = conv.height
    n_q = int(conv["q"].sum())
    q_conv = int(conv.filter(pl.col("q"))["c"].sum())
    other_conv = int(conv.filter(~pl.col("q"))["c"].sum())
    return Conversion(
        tiers=tiers,
        converted=int(conv["c"].sum()),
        funnel=Funnel(
            signed_up=total,
            qualified=n_q,
            customers_from_qualified=q_conv,
            signup_to_qualified=_share(n_q, total),
            qualified_to_customer=_share(q_conv, n_q),
            unqualified_to_customer=_share(other_conv, total - n_q),
        ),
    )
