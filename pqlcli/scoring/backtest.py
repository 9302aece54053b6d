"""Backtests: replay the scoring as of a past date and compare it with what happened next.

Leakage rules (a replay sees only what was known at ``as_of``):

- events with ``timestamp < as_of``; users who signed up and accounts created before ``as_of`` (a missing
  date counts as "before": nothing says otherwise);
- ``converted_at`` values at or after ``as_of`` are hidden (NULL) from the scoring, so no rule can see them;
- a record that had already converted before ``as_of`` is scored (its account still counts) but left out
  of the evaluation, and counted in ``excluded.converted_before``.

A record is **converted** when its conversion time (a user's own ``converted_at``, else its account's)
falls in ``[as_of, as_of + horizon)``. With ``label=COLUMN`` the outcome is instead a 0/1 or boolean
column (a static evaluation: nothing is replayed).

Scoring goes through the public scoring API (``Inputs`` + ``run``) on filtered lazy frames: there is no
second scoring implementation here. The report is a plain dict whose keys are fixed (see ``docs/backtest.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from pqlcli.config import TIERS, LoadedConfig
from pqlcli.errors import DataError

TS = pl.Datetime("us", "UTC")
ID = {"user": "user_id", "account": "account_id"}
ALWAYS_LEAKY = ("converted_at",)


class BacktestError(DataError):
    """The data cannot answer the question; ``kind`` lets the CLI add the right option to the hint."""

    def __init__(self, kind: str, message: str, hint: str | None = None, **facts: Any):
        super().__init__(message, hint)
        self.kind = kind
        self.facts = facts


@dataclass(frozen=True)
class BacktestSpec:
    """What to evaluate: one as-of date (or a static label), a horizon, a level."""

    as_of: datetime
    horizon: timedelta = timedelta(days=90)
    level: str = "user"
    label: str | None = None
    min_conversions: int = 20
    strict: bool = False


@dataclass
class Evaluation:
    """One level's scored records with their outcome, ready to be summarised."""

    frame: pl.DataFrame  # id, fit_score, usage_score, tier_key, pql flags, rule points, converted, days_to_convert
    pql_columns: list[str]
    rules: list[tuple[str, str]]  # (kind, name)
    excluded: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Leakage guard


def leakage_warnings(loaded: LoadedConfig, label: str | None = None) -> list[str]:
    """A warning per rule or PQL definition whose condition names a column known only after conversion."""
    from pqlcli.scoring.conditions import referenced_columns

    cfg = loaded.config
    leaky = {*ALWAYS_LEAKY, *cfg.backtest.leaky_columns, *([label] if label else [])}
    found: list[str] = []
    named = [("fit rule", r.name, r.when) for r in cfg.fit] + [("usage rule", r.name, r.when) for r in cfg.usage]
    named += [("PQL definition", p.name, p.when) for p in cfg.pqls]
    for what, name, when in named:
        if not when:
            continue
        hits = sorted(set(referenced_columns(when)) & leaky)
        if hits:
            found.append(
                f"{what} {name!r} uses {', '.join(hits)}, known only after a conversion: "
                "its lift in a backtest is not a prediction."
            )
    return found


def check_leakage(loaded: LoadedConfig, spec: BacktestSpec) -> list[str]:
    warnings = leakage_warnings(loaded, spec.label)
    if warnings and spec.strict:
        raise BacktestError(
            "leakage",
            "The config uses columns known only after a conversion (strict mode): " + " ".join(warnings),
            "Remove those conditions from the config, or drop the column from backtest.leaky_columns if it is "
            "in fact known before a conversion.",
        )
    return warnings


# ---------------------------------------------------------------------------------------------------
# Replay: only what was known at as_of


def _ensure_col(lf: pl.LazyFrame, name: str, dtype: pl.DataType) -> pl.LazyFrame:
    if name in lf.collect_schema().names():
        return lf.with_columns(pl.col(name).cast(dtype, strict=False))
    return lf.with_columns(pl.lit(None, dtype=dtype).alias(name))


def replay_inputs(inputs: Any, as_of: datetime) -> Any:
    """The inputs as they were at ``as_of``: later events, sign-ups and conversions are not there."""
    at = pl.lit(as_of, dtype=TS)

    def known(lf: pl.LazyFrame, date_col: str) -> pl.LazyFrame:
        lf = _ensure_col(_ensure_col(lf, date_col, TS), "converted_at", TS)
        lf = lf.filter(pl.col(date_col).is_null() | (pl.col(date_col) < at))
        return lf.with_columns(converted_at=pl.when(pl.col("converted_at") < at).then(pl.col("converted_at")))

    return type(inputs)(
        users=known(inputs.users, "signup_at"),
        accounts=known(inputs.accounts, "created_at"),
        events=inputs.events.filter(pl.col("timestamp") < at),
        firmographics=inputs.firmographics,
        missing=list(getattr(inputs, "missing", [])),
    )


def score_frames(loaded: LoadedConfig, inputs: Any, as_of: datetime) -> Any:
    """The one call into the scoring API: the Polars engine, which takes the filtered lazy frames."""
    from pqlcli.scoring import run

    return run(loaded, inputs, as_of, engine="polars")


def check_events(loaded: LoadedConfig, inputs: Any, as_of: datetime) -> int:
    """Events inside the longest metric window before ``as_of``; none means nothing to score on."""
    windows = [m.window_td for m in loaded.config.metrics.values() if m.window_td is not None]
    start = as_of - max(windows) if windows else None
    ts = pl.col("timestamp")
    cond = ts < pl.lit(as_of, dtype=TS)
    if start is not None:
        cond = cond & (ts >= pl.lit(start, dtype=TS))
    n = int(inputs.events.filter(cond).select(pl.len()).collect().item())
    if n == 0:
        since = f" (from {start:%Y-%m-%d})" if start is not None else ""
        raise BacktestError(
            "no_events",
            f"There are no events before {as_of:%Y-%m-%d}{since}: a replay as of that date would score "
            "everyone's usage as zero.",
            "Pick an as-of date inside the period your events cover.",
            as_of=as_of,
        )
    return n


# ---------------------------------------------------------------------------------------------------
# Outcomes: what happened next


def _label_values(frame: pl.DataFrame, column: str) -> pl.Series:
    """A 0/1, boolean or yes/no column as booleans (empty means no); anything else is an error."""
    if column not in frame.columns:
        raise BacktestError(
            "no_label", f"There is no column {column!r} to use as the outcome.",
            f"Columns that exist: {', '.join(sorted(frame.columns))}.",
        )
    s = frame[column]
    if s.dtype == pl.Boolean:
        return s.fill_null(False)
    text = s.cast(pl.String).str.strip_chars().str.to_lowercase().fill_null("")
    yes, no = ["1", "1.0", "true", "yes", "y", "t"], ["0", "0.0", "false", "no", "n", "f", ""]
    bad = text.filter(~text.is_in(yes + no)).unique().sort().head(5).to_list()
    if bad:
        raise BacktestError(
            "bad_label", f"The outcome column {column!r} has values that are not 0/1 or true/false: {bad}.",
            "Use a column whose values are 1/0, true/false or yes/no (empty counts as no).",
        )
    return text.is_in(yes)


def _outcome_times(level: str, frame: pl.DataFrame, inputs: Any) -> pl.DataFrame:
    """``id, __t``: each record's conversion time, a user's own converted_at else its account's (unreplayed)."""
    accounts = _ensure_col(inputs.accounts, "converted_at", TS).select(
        pl.col("account_id").cast(pl.String), pl.col("converted_at").alias("__a")
    ).unique("account_id", keep="last")
    if level == "account":
        keys = frame.lazy().select(pl.col("account_id").cast(pl.String))
        out = keys.join(accounts, on="account_id", how="left").select(pl.col("account_id").alias("id"), pl.col("__a").alias("__t"))
    else:
        keys = frame.lazy().select(pl.col("user_id").cast(pl.String), pl.col("account_id").cast(pl.String))
        users = _ensure_col(inputs.users, "converted_at", TS).select(
            pl.col("user_id").cast(pl.String), pl.col("converted_at").alias("__u")
        ).unique("user_id", keep="last")
        out = (
            keys.join(users, on="user_id", how="left")
            .join(accounts, on="account_id", how="left")
            .select(pl.col("user_id").alias("id"), pl.coalesce("__u", "__a").alias("__t"))
        )
    return out.collect()


def _base_columns(loaded: LoadedConfig, level: str, frame: pl.DataFrame) -> tuple[list[pl.Expr], list[str], list[tuple[str, str]]]:
    """Score, tier, PQL flags, rule points and metric columns of a scored frame, under stable names."""
    cfg = loaded.config
    key_of = {cfg.tiers.name(k): k for k in TIERS}
    exprs = [
        pl.col(ID[level]).cast(pl.String).alias("id"),
        pl.col("fit_score").cast(pl.Float64),
        pl.col("usage_score").cast(pl.Float64),
        pl.col("tier").cast(pl.String).replace_strict(key_of, default=pl.col("tier").cast(pl.String)).alias("tier_key"),
    ]
    pqls = [p.name for p in cfg.pqls if p.level == level and f"pql__{p.name}" in frame.columns]
    flags = [f"pql:{n}" for n in pqls]
    exprs += [pl.col(f"pql__{n}").fill_null(False).alias(f"pql:{n}") for n in pqls]
    if level == "user" and "is_pql" in frame.columns:
        exprs.append(pl.col("is_pql").fill_null(False).alias("pql:any"))
        flags.append("pql:any")
    elif level == "account" and "pqa" in frame.columns:
        exprs.append(pl.col("pqa").fill_null(False).alias("pql:pqa"))
        anyone = pl.any_horizontal([pl.col("pqa").fill_null(False), *[pl.col(f"pql__{n}").fill_null(False) for n in pqls]])
        exprs.append(anyone.alias("pql:any"))
        flags += ["pql:pqa", "pql:any"]
    rules = [(kind, r.name) for kind, rs in (("fit", cfg.fit), ("usage", cfg.usage)) for r in rs]
    exprs += [pl.col(f"{k}__{n}").cast(pl.Float64).fill_null(0).alias(f"rule:{k}:{n}") for k, n in rules if f"{k}__{n}" in frame.columns]
    exprs += [pl.col(m).cast(pl.Float64).alias(f"metric:{m}") for m in cfg.metrics if m in frame.columns]
    return exprs, flags, rules


def evaluate(loaded: LoadedConfig, inputs: Any, spec: BacktestSpec) -> Evaluation:
    """Score as of ``spec.as_of`` with only what was known then, and attach each record's outcome."""
    warnings = check_leakage(loaded, spec)
    if not spec.label:  # a static evaluation may be of fit alone (a CRM export with no events)
        check_events(loaded, inputs, spec.as_of)
    replayed = inputs if spec.label else replay_inputs(inputs, spec.as_of)
    frames = score_frames(loaded, replayed, spec.as_of)
    scored = frames.users if spec.level == "user" else frames.accounts
    exprs, flags, rules = _base_columns(loaded, spec.level, scored)
    frame = scored.select(exprs)
    excluded: dict[str, int] = {}
    if spec.label:
        frame = frame.with_columns(converted=_label_values(scored, spec.label), days_to_convert=pl.lit(None, pl.Float64))
    else:
        at, end = spec.as_of, spec.as_of + spec.horizon
        frame = frame.join(_outcome_times(spec.level, scored, inputs), on="id", how="left").with_columns(
            converted=pl.col("__t").is_not_null() & (pl.col("__t") >= at) & (pl.col("__t") < end)
        )
        before = frame.filter(pl.col("__t") < at).height
        frame = frame.filter(pl.col("__t").is_null() | (pl.col("__t") >= at))
        days = (pl.col("__t") - pl.lit(at, dtype=TS)).dt.total_seconds() / 86400
        frame = frame.with_columns(days_to_convert=pl.when(pl.col("converted")).then(days)).drop("__t")
        table, col = (inputs.users, "signup_at") if spec.level == "user" else (inputs.accounts, "created_at")
        later = _ensure_col(table, col, TS).filter(pl.col(col) >= pl.lit(at, dtype=TS))
        excluded = {"converted_before": before, "not_yet_signed_up": _count(later)}
    return Evaluation(frame, flags, rules, excluded, [*warnings, *frames.warnings])


def _count(lf: pl.LazyFrame) -> int:
    return int(lf.select(pl.len()).collect().item())


# ---------------------------------------------------------------------------------------------------
# Measures


def roc_auc(scores: pl.Series, labels: pl.Series) -> float | None:
    """ROC AUC by ranks (Mann-Whitney U), ties counted half: None when a class is missing."""
    frame = pl.DataFrame({"s": scores.cast(pl.Float64), "y": labels.cast(pl.Boolean)}).drop_nulls()
    pos = int(frame["y"].sum())
    neg = frame.height - pos
    if pos == 0 or neg == 0:
        return None
    rank_sum = float(frame.select(pl.col("s").rank("average").filter(pl.col("y")).sum()).item())
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def _lift(rate: float | None, base: float | None) -> float | None:
    return rate / base if rate is not None and base else None


def round_or_none(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def _group(n: int, k: int, base: float | None, total_converted: int) -> dict[str, Any]:
    rate = _rate(k, n)
    return {
        "records": n, "converted": k, "rate": round_or_none(rate), "lift": round_or_none(_lift(rate, base), 3),
        "recall": round_or_none(_rate(k, total_converted)),
    }


def tier_order() -> pl.Expr:
    """1 for Tier 1 ... 4 for Tier 4 (lower is better), 5 for anything else."""
    return pl.col("tier_key").replace_strict({k: i + 1 for i, k in enumerate(TIERS)}, default=5, return_dtype=pl.Int64)


def _tiers(frame: pl.DataFrame, base: float | None, total: int) -> dict[str, Any]:
    per = frame.group_by("tier_key").agg(
        pl.len().alias("n"), pl.col("converted").sum().alias("k"), pl.col("days_to_convert").median().alias("d")
    )
    stats = {t: (int(n), int(k), d) for t, n, k, d in per.iter_rows()}
    out = {}
    for key in TIERS:
        n, k, d = stats.get(key, (0, 0, None))
        out[key] = {**_group(n, k, base, total), "median_days_to_convert": round_or_none(d, 1)}
    return out


def _pqls(frame: pl.DataFrame, flags: list[str], base: float | None, total: int) -> dict[str, Any]:
    out = {}
    for col in flags:
        sub = frame.filter(pl.col(col))
        g = _group(sub.height, int(sub["converted"].sum()), base, total)
        out[col.removeprefix("pql:")] = {**g, "precision": g["rate"]}
    return out


def _rules(frame: pl.DataFrame, rules: list[tuple[str, str]], base: float | None) -> list[dict[str, Any]]:
    out = []
    for kind, name in rules:
        col = f"rule:{kind}:{name}"
        if col not in frame.columns:
            continue
        fires = pl.col(col) != 0
        row = frame.select(
            fires.sum().alias("f"),
            (fires & pl.col("converted")).sum().alias("kf"),
            (~fires & pl.col("converted")).sum().alias("ko"),
        ).row(0)
        f, kf, ko = (int(x) for x in row)
        when, other = _rate(kf, f), _rate(ko, frame.height - f)
        out.append({
            "name": name, "kind": kind, "fires": f, "share_fires": round_or_none(_rate(f, frame.height)),
            "rate_when_fires": round_or_none(when), "rate_otherwise": round_or_none(other), "lift": round_or_none(_lift(when, base), 3),
        })
    return out


def ranked(frame: pl.DataFrame) -> pl.DataFrame:
    """Best first, the way `pql list` orders leads: tier, then usage, then fit (ties by id)."""
    return frame.with_columns(__order=tier_order()).sort(
        ["__order", "usage_score", "fit_score", "id"], descending=[False, True, True, False], nulls_last=True
    ).drop("__order")


def _gains(frame: pl.DataFrame, base: float | None, total: int) -> list[dict[str, Any]]:
    """Ten groups of (nearly) equal size, best scores first, with cumulative recall: the gains curve."""
    n = frame.height
    if n == 0:
        return []
    r = ranked(frame).with_columns(decile=(pl.int_range(pl.len()) * 10 // n + 1).cast(pl.Int64))
    per = r.group_by("decile").agg(pl.len().alias("n"), pl.col("converted").sum().alias("k")).sort("decile")
    out, seen, caught = [], 0, 0
    for d, m, k in per.iter_rows():
        seen, caught = seen + int(m), caught + int(k)
        out.append({
            "decile": int(d), "records": int(m), "converted": int(k), "rate": round_or_none(_rate(int(k), int(m))),
            "lift": round_or_none(_lift(_rate(int(k), int(m)), base), 3),
            "cum_share_records": round_or_none(seen / n), "cum_recall": round_or_none(_rate(caught, total)),
        })
    return out


def summarise(ev: Evaluation) -> dict[str, Any]:
    """The report of one evaluation (one as-of date, or several pooled)."""
    f = ev.frame
    total = int(f["converted"].sum())
    base = _rate(total, f.height)
    order = (5 - tier_order()).cast(pl.Float64)
    auc = {
        "fit": roc_auc(f["fit_score"], f["converted"]),
        "usage": roc_auc(f["usage_score"], f["converted"]),
        "tier": roc_auc(f.select(order).to_series(), f["converted"]),
    }
    rules = _rules(f, ev.rules, base)
    return {
        "records": f.height,
        "converted": total,
        "base_rate": round_or_none(base),
        "excluded": ev.excluded,
        "tiers": _tiers(f, base, total),
        "pqls": _pqls(f, ev.pql_columns, base, total),
        "auc": {k: round_or_none(v) for k, v in auc.items()},
        "gains": _gains(f, base, total),
        "rules": rules,
        "never_firing_rules": [r["name"] for r in rules if r["fires"] == 0],
        "warnings": list(dict.fromkeys(ev.warnings)),
    }


# ---------------------------------------------------------------------------------------------------
# Entry points


def check_outcomes(inputs: Any, spec: BacktestSpec) -> None:
    """Refuse when there is nothing to compare with: no converted_at anywhere (and no label)."""
    if "users" in getattr(inputs, "missing", []):
        from pqlcli.errors import WorkspaceError

        raise WorkspaceError("The workspace has no users table yet: there is nothing to replay.", "Ingest users, accounts and events first.")
    if spec.label:
        return
    known = 0
    for lf in (inputs.users, inputs.accounts):
        if "converted_at" in lf.collect_schema().names():
            known += int(lf.select(pl.col("converted_at").is_not_null().sum()).collect().item())
    if known == 0:
        raise BacktestError(
            "no_outcome",
            "There are no outcomes to test against: no user or account has a converted_at date.",
            "Ingest accounts (or users) with their conversion date (HubSpot 'Became a Customer Date', Salesforce "
            "'Converted_Date__c', or a converted_at column), or evaluate against a 0/1 outcome column.",
        )


def header(loaded: LoadedConfig, spec: BacktestSpec) -> dict[str, Any]:
    days = spec.horizon.total_seconds() / 86400
    cfg = loaded.config
    return {
        "level": spec.level,
        "as_of": spec.as_of.isoformat(),
        "horizon_days": None if spec.label else (int(days) if days.is_integer() else days),
        "label": spec.label,
        "tier_labels": {k: cfg.tiers.label(k) for k in TIERS},
    }


def check_enough(report: dict[str, Any], spec: BacktestSpec) -> dict[str, Any]:
    n = report["converted"]
    if n < spec.min_conversions:
        where = "with that label" if spec.label else "in the horizon"
        raise BacktestError(
            "few_conversions",
            f"Only {n} conversion{'s' if n != 1 else ''} {where} among {report['records']} {spec.level}s: fewer than "
            f"{spec.min_conversions}, too few for rates and lifts to mean much.",
            "Use a longer horizon, an earlier as-of date or several dates, or lower the minimum knowingly.",
            converted=n,
        )
    return report


def run_backtest(loaded: LoadedConfig, inputs: Any, spec: BacktestSpec) -> dict[str, Any]:
    """One replay as of ``spec.as_of``: the report dict (keys documented in docs/backtest.md)."""
    check_outcomes(inputs, spec)
    ev = evaluate(loaded, inputs, spec)
    return check_enough({**header(loaded, spec), **summarise(ev)}, spec)


def as_of_dates(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    if end < start:
        raise BacktestError("bad_range", f"The last as-of date ({end:%Y-%m-%d}) is before the first ({start:%Y-%m-%d}).")
    out, d = [], start
    while d <= end:
        out.append(d)
        d += every
    return out


def run_rolling(
    loaded: LoadedConfig, inputs: Any, spec: BacktestSpec, start: datetime, end: datetime, every: timedelta
) -> dict[str, Any]:
    """Replays as of ``start, start + every, ... <= end``: all of them pooled, and each one."""
    check_outcomes(inputs, spec)
    evaluations: list[tuple[datetime, Evaluation]] = []
    skipped: list[str] = []
    for d in as_of_dates(start, end, every):
        one = BacktestSpec(d, spec.horizon, spec.level, spec.label, spec.min_conversions, spec.strict)
        try:
            evaluations.append((d, evaluate(loaded, inputs, one)))
        except BacktestError as err:
            if err.kind != "no_events":
                raise
            skipped.append(f"As of {d:%Y-%m-%d}: no events yet, date skipped.")
    if not evaluations:
        raise BacktestError("no_events", f"None of the as-of dates from {start:%Y-%m-%d} to {end:%Y-%m-%d} has events before it.",
                            "Pick dates inside the period your events cover.")
    pooled = Evaluation(
        pl.concat([ev.frame for _, ev in evaluations], how="vertical"),
        evaluations[0][1].pql_columns, evaluations[0][1].rules,
        {k: sum(ev.excluded.get(k, 0) for _, ev in evaluations) for k in evaluations[0][1].excluded},
        [w for _, ev in evaluations for w in ev.warnings] + skipped,
    )
    per_date = [{**header(loaded, BacktestSpec(d, spec.horizon, spec.level, spec.label)), **summarise(ev)} for d, ev in evaluations]
    report = {
        **header(loaded, BacktestSpec(evaluations[0][0], spec.horizon, spec.level, spec.label)),
        **summarise(pooled),
        "as_of_dates": [d.isoformat() for d, _ in evaluations],
        "every_days": every.total_seconds() / 86400,
        "per_date": per_date,
    }
    return check_enough(report, spec)
