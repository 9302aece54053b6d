"""Calibration: suggest better tier thresholds and rule points from the same leakage-free replay.

- **Thresholds**: for every pair of tier thresholds (multiples of 5), the volume and lift Tier 1 would have;
  the suggestion maximises Tier 1 lift among pairs whose volume fits the team's capacity.
- **Points**: a regularised logistic regression (scikit-learn, the optional ``calibrate`` extra) on the rule
  indicators (``when`` rules) and the capped metric units (per-unit rules), fitted on a seeded training
  split; each score's coefficients are scaled so its best case is 100 and rounded to integer points.
- The suggested config is scored through the same scoring API, so the train and held-out AUC of the
  current and the suggested config are measured the same way, side by side.

Nothing here writes the user's config: ``suggested_config_text`` returns a new, validated YAML text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from pqlcli import config as config_mod
from pqlcli.config import LoadedConfig, Rule
from pqlcli.errors import PqlError
from pqlcli.scoring import backtest as bt

GRID = list(range(0, 101, 5))
SUGGESTED_MARK = "# Suggested by pql calibrate"


@dataclass(frozen=True)
class CalibrateSpec:
    backtest: bt.BacktestSpec
    capacity: int | None = None  # Tier 1 records the team can work per horizon; default: today's Tier 1 volume
    seed: int = 0
    test_share: float = 0.3
    min_tier1_conversions: int = 5
    regularisation: float = 1.0  # scikit-learn's C (smaller = stronger)


def require_sklearn() -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise PqlError(
            "Fitting rule points needs scikit-learn, which is not installed.",
            "Install the extra: pip install 'pqlcli[calibrate]' (or pip install scikit-learn).",
        )
    return LogisticRegression


# ---------------------------------------------------------------------------------------------------
# Thresholds


def threshold_grid(frame: pl.DataFrame) -> pl.DataFrame:
    """Tier 1 volume, conversions, rate and lift for every (fit, usage) threshold pair on the grid."""
    step = GRID[1] - GRID[0]
    cells = frame.select(
        (pl.col("fit_score").fill_null(0).clip(0, 100) // step).cast(pl.Int64).alias("f"),
        (pl.col("usage_score").fill_null(0).clip(0, 100) // step).cast(pl.Int64).alias("u"),
        pl.col("converted").cast(pl.Int64).alias("c"),
    ).group_by("f", "u").agg(pl.len().alias("n"), pl.col("c").sum().alias("k"))
    size = len(GRID)
    n = np.zeros((size, size), dtype=np.int64)
    k = np.zeros((size, size), dtype=np.int64)
    for f, u, cnt, conv in cells.iter_rows():
        n[f, u], k[f, u] = cnt, conv
    # records with fit >= GRID[i] and usage >= GRID[j]: 2-D suffix sums
    n_at = n[::-1, ::-1].cumsum(0).cumsum(1)[::-1, ::-1]
    k_at = k[::-1, ::-1].cumsum(0).cumsum(1)[::-1, ::-1]
    base = float(frame["converted"].mean()) if frame.height else None  # type: ignore[arg-type]
    rows = []
    for i, ft in enumerate(GRID):
        for j, ut in enumerate(GRID):
            records, converted = int(n_at[i, j]), int(k_at[i, j])
            rate = converted / records if records else None
            rows.append({"fit": ft, "usage": ut, "records": records, "converted": converted, "rate": rate,
                         "lift": rate / base if rate is not None and base else None})
    return pl.DataFrame(rows, schema={"fit": pl.Int64, "usage": pl.Int64, "records": pl.Int64, "converted": pl.Int64,
                                      "rate": pl.Float64, "lift": pl.Float64})


def best_thresholds(grid: pl.DataFrame, capacity: int, min_conversions: int) -> dict[str, Any] | None:
    """The highest-lift pair that fills between half the capacity and all of it (ties: more records,
    then lower thresholds); a handful of lucky records is not a tier, so it needs ``min_conversions``."""
    fill = (pl.col("records") <= capacity) & (pl.col("records") >= (capacity + 1) // 2)
    ok = grid.filter(fill & (pl.col("converted") >= min_conversions) & pl.col("lift").is_not_null())
    if ok.height == 0:
        return None
    best = ok.sort(["lift", "records", "fit", "usage"], descending=[True, True, False, False]).row(0, named=True)
    return _rounded(best)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}


def tier1_stats(frame: pl.DataFrame, fit: float, usage: float) -> dict[str, Any]:
    """Tier 1 (fit >= fit and usage >= usage) volume, conversions, rate and lift on ``frame``."""
    t1 = frame.filter((pl.col("fit_score") >= fit) & (pl.col("usage_score") >= usage))
    base = float(frame["converted"].mean()) if frame.height else None  # type: ignore[arg-type]
    k = int(t1["converted"].sum())
    rate = k / t1.height if t1.height else None
    lift = rate / base if rate is not None and base else None
    return _rounded({"fit": fit, "usage": usage, "records": t1.height, "converted": k, "rate": rate, "lift": lift})


# ---------------------------------------------------------------------------------------------------
# Points


@dataclass(frozen=True)
class Feature:
    kind: str  # fit | usage
    rule: Rule
    units_cap: float | None  # per-unit rules: the units at which the cap binds (or a high percentile)

    @property
    def column(self) -> str:
        return f"rule:{self.kind}:{self.rule.name}"


def features(loaded: LoadedConfig, frame: pl.DataFrame) -> list[Feature]:
    out = []
    for kind, rules in (("fit", loaded.config.fit), ("usage", loaded.config.usage)):
        for r in rules:
            if f"rule:{kind}:{r.name}" not in frame.columns:
                continue
            cap_units = None
            if r.metric:
                if r.cap is not None and r.points:
                    cap_units = r.cap / abs(r.points)
                else:
                    q = frame[f"metric:{r.metric}"].fill_null(0).quantile(0.99) if f"metric:{r.metric}" in frame.columns else None
                    cap_units = float(q) if q else 1.0
            out.append(Feature(kind, r, cap_units))
    return out


def design_matrix(frame: pl.DataFrame, feats: list[Feature]) -> np.ndarray:
    """One column per rule: 0/1 when it fires (when rules), capped metric units (per-unit rules)."""
    exprs = []
    for f in feats:
        if f.rule.metric:
            exprs.append(pl.col(f"metric:{f.rule.metric}").fill_null(0).clip(0, f.units_cap).alias(f.column))
        else:
            exprs.append((pl.col(f.column) != 0).cast(pl.Float64).alias(f.column))
    return frame.select(exprs).to_numpy().astype(float) if exprs else np.zeros((frame.height, 0))


def split(frame: pl.DataFrame, seed: int, test_share: float) -> pl.Series:
    """True for the training rows: a seeded hash of the record id, so the split is stable and reproducible."""
    cut = round((1 - test_share) * 10_000)
    return frame.select((pl.col("id").hash(seed) % 10_000 < cut).alias("train")).to_series()


def fit_points(loaded: LoadedConfig, frame: pl.DataFrame, train: pl.Series, spec: CalibrateSpec) -> list[dict[str, Any]]:
    """Integer points per rule from a regularised logistic regression on the training rows."""
    logistic = require_sklearn()
    feats = features(loaded, frame)
    x = design_matrix(frame, feats)
    y = frame["converted"].to_numpy()
    mask = train.to_numpy()
    if len(set(y[mask].tolist())) < 2:
        raise bt.BacktestError("few_conversions", "The training split has no conversions (or only conversions): nothing to learn from.",
                               "Evaluate more records or a longer horizon.")
    model = logistic(C=spec.regularisation, max_iter=2000, random_state=spec.seed)
    model.fit(x[mask], y[mask])
    coef = model.coef_[0]
    out = []
    for kind in ("fit", "usage"):
        idx = [i for i, f in enumerate(feats) if f.kind == kind]
        best_case = sum(coef[i] * (feats[i].units_cap or 1.0) for i in idx if coef[i] > 0)
        scale = 100 / best_case if best_case > 0 else 0.0
        for i in idx:
            out.append(_new_points(feats[i], float(coef[i]), scale))
    return out


def _new_points(f: Feature, coef: float, scale: float) -> dict[str, Any]:
    new = round(coef * scale)
    cap = None
    if f.rule.metric and f.rule.cap is not None:
        cap = round(abs(new) * (f.units_cap or 0))
    return {"name": f.rule.name, "kind": f.kind, "per_unit": bool(f.rule.metric), "coef": round(coef, 4),
            "old": f.rule.points, "new": new, "old_cap": f.rule.cap, "new_cap": cap}


# ---------------------------------------------------------------------------------------------------
# The suggested config


def _flow(obj: Any) -> str:
    """One line of YAML: flow style for mappings and lists, a plain (or quoted) scalar otherwise."""
    if isinstance(obj, dict | list):
        return yaml.safe_dump(obj, default_flow_style=True, width=10**6, sort_keys=False, allow_unicode=True).strip()
    return _flow([obj])[1:-1]


def _block(key: str, value: Any) -> list[str]:
    """A top-level key: mappings and lists one entry per line (each entry in flow style), scalars inline."""
    if isinstance(value, dict):
        return [f"{key}:", *[f"  {_flow(k)}: {_flow(v)}" for k, v in value.items()]]
    if isinstance(value, list):
        return [f"{key}:", *[f"  - {_flow(v)}" for v in value]]
    return [f"{key}: {_flow(value)}"]


def _rule_line(raw: dict[str, Any], change: dict[str, Any], lift: float | None) -> str:
    rule = {**raw, "points": change["new"]}
    if change["new_cap"] is not None:
        rule["cap"] = change["new_cap"]
    lift_text = "never fired" if lift is None else f"lift {lift:.2f}x"
    old = f"{change['old']:g}" + (f" (cap {change['old_cap']:g})" if change["old_cap"] is not None else "")
    new = f"{change['new']}" + (f" (cap {change['new_cap']})" if change["new_cap"] is not None else "")
    unit = " per unit" if change["per_unit"] else ""
    return f"  - {_flow(rule)}   # {lift_text}; points{unit} {old} -> {new}"


def suggested_config_text(
    loaded: LoadedConfig, points: list[dict[str, Any]], tiers: dict[str, float], lifts: dict[str, float | None], header: str
) -> str:
    """The user's config with new points, caps and tier thresholds, one comment per rule; validated."""
    raw = yaml.safe_load(loaded.text) or {}
    by_rule = {(p["kind"], p["name"]): p for p in points}
    lines = [f"{SUGGESTED_MARK}: {header}", "# Review it, then copy what you agree with into your config.", ""]
    if "tiers" not in raw:
        raw["tiers"] = {}
    for key, value in raw.items():
        if key in ("fit", "usage"):
            lines.append(f"{key}:")
            for rule in value or []:
                change = by_rule.get((key, rule.get("name")))
                lines.append(_rule_line(rule, change, lifts.get(rule.get("name"))) if change else f"  - {_flow(rule)}")
        elif key == "tiers":
            old = {"fit": (value or {}).get("fit", 50), "usage": (value or {}).get("usage", 40)}
            new = {**(value or {}), "fit": tiers["fit"], "usage": tiers["usage"]}
            lines.append(f"tiers: {_flow(new)}   # was fit {old['fit']:g}, usage {old['usage']:g}")
        else:
            lines += _block(key, value)
    text = "\n".join(lines) + "\n"
    config_mod.loads(text, loaded.path.with_name("pql.suggested.yaml"))  # raises if we wrote something invalid
    return text


def write_suggestion(target: Path, text: str, user_config: Path) -> None:
    """Write atomically; never over the config that was read, nor over a file pql did not suggest."""
    from pqlcli.util import atomic

    if target.resolve() == user_config.resolve():
        raise PqlError(f"Refusing to overwrite the config that was calibrated ({user_config}).",
                       "Write the suggestion to another file, e.g. config/pql.suggested.yaml, and compare.")
    if target.exists() and not target.read_text(encoding="utf-8", errors="replace").startswith(SUGGESTED_MARK):
        raise PqlError(f"Refusing to overwrite {target}: it is not a config pql calibrate suggested.",
                       "Pick a new file name, or move that file away first.")
    atomic.write_text(target, text)


# ---------------------------------------------------------------------------------------------------
# Side by side


def _tier_order(fit: float, usage: float) -> pl.Expr:
    good, high = pl.col("fit_score") >= fit, pl.col("usage_score") >= usage
    return pl.when(good & high).then(4).when(good).then(3).when(high).then(2).otherwise(1).cast(pl.Float64)


def auc_table(frame: pl.DataFrame, train: pl.Series, tiers: dict[str, float]) -> dict[str, dict[str, float | None]]:
    """AUC of fit, usage, fit + usage and the tier order, on the training and the held-out rows."""
    scored = frame.select(
        "fit_score", "usage_score", "converted",
        (pl.col("fit_score") + pl.col("usage_score")).alias("score"),
        _tier_order(tiers["fit"], tiers["usage"]).alias("tier"),
    ).with_columns(train=train)
    out: dict[str, dict[str, float | None]] = {}
    for part, rows in (("train", scored.filter(pl.col("train"))), ("test", scored.filter(~pl.col("train")))):
        out[part] = {
            name: bt.round_or_none(bt.roc_auc(rows[col], rows["converted"]))
            for name, col in (("fit", "fit_score"), ("usage", "usage_score"), ("score", "score"), ("tier", "tier"))
        }
    return out


def _aligned(frame: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
    """``other``'s scores in ``frame``'s row order (same records: same replay)."""
    return frame.select("id", "converted").join(
        other.select("id", "fit_score", "usage_score"), on="id", how="left", maintain_order="left"
    )


def calibrate(loaded: LoadedConfig, inputs: Any, spec: CalibrateSpec) -> tuple[dict[str, Any], str]:
    """The calibration report and the suggested config's text (validated, not written)."""
    cfg = loaded.config
    bspec = spec.backtest
    bt.check_outcomes(inputs, bspec)
    ev = bt.evaluate(loaded, inputs, bspec)
    summary = bt.check_enough({**bt.header(loaded, bspec), **bt.summarise(ev)}, bspec)
    frame = ev.frame
    train = split(frame, spec.seed, spec.test_share)
    current = {"fit": cfg.tiers.fit, "usage": cfg.tiers.usage}
    now = tier1_stats(frame, **current)
    capacity = spec.capacity if spec.capacity is not None else max(now["records"], 1)
    grid = threshold_grid(frame)
    points = fit_points(loaded, frame, train, spec)
    lifts = {r["name"]: r["lift"] for r in summary["rules"]}
    header = (f"from {loaded.path.name}, {bspec.level}s as of {bspec.as_of:%Y-%m-%d}"
              + ("" if bspec.label else f", {summary['horizon_days']}-day horizon") + f", seed {spec.seed}")
    draft = suggested_config_text(loaded, points, current, lifts, header)
    rescored = _aligned(frame, bt.evaluate(config_mod.loads(draft, loaded.path), inputs, bspec).frame)
    grid2 = threshold_grid(rescored)
    best = best_thresholds(grid2, capacity, spec.min_tier1_conversions)
    tiers = {"fit": best["fit"], "usage": best["usage"]} if best else current
    text = suggested_config_text(loaded, points, tiers, lifts, header)
    report = {
        **{k: summary[k] for k in ("level", "as_of", "horizon_days", "label", "records", "converted", "base_rate")},
        "seed": spec.seed,
        "train_records": int(train.sum()),
        "test_records": int((~train).sum()),
        "capacity": capacity,
        "thresholds": {
            "current": now,
            "best_for_current_points": best_thresholds(grid, capacity, spec.min_tier1_conversions),
            "suggested": tier1_stats(rescored, **tiers),
            "grid": [_rounded(r) for r in grid.filter(pl.col("records") > 0).iter_rows(named=True)],
        },
        "points": [{**p, "lift": lifts.get(p["name"])} for p in points],
        "auc": {"current": auc_table(frame, train, current), "suggested": auc_table(rescored, train, tiers)},
        "warnings": summary["warnings"],
    }
    return report, text
