"""`pql explain`: every rule's points and the values behind them, tier thresholds and headroom, PQLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pqlcli.config import Config, Rule
from pqlcli.errors import UsageError
from pqlcli.scoring.conditions import referenced_columns
from pqlcli.workspace import Workspace
from pqlcli.workspace import snapshot as snap


def _fmt(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.4g}" if not v.is_integer() else f"{int(v)}"
    return repr(v) if isinstance(v, str) else str(v)


def _values(row: dict[str, Any], sql: str) -> str:
    cols = referenced_columns(sql)
    return ", ".join(f"{c} = {_fmt(row.get(c))}" for c in cols)


def _rule_because(rule: Rule, cfg: Config, row: dict[str, Any], points: float) -> str:
    if rule.metric is not None:
        m = cfg.metrics[rule.metric]
        value = row.get(rule.metric)
        raw = float(value or 0) * rule.points
        text = f"{rule.metric} = {_fmt(value)} × {rule.points:g} = {_fmt(float(raw))}"
        if rule.cap is not None and abs(raw) > rule.cap:
            text += f", capped at {'-' if rule.points < 0 else ''}{rule.cap:g}"
        if m.decay is not None:
            text += f" (decayed events, {m.decay.kind.replace('_', '-')} {m.decay.half_life or m.decay.lifespan})"
        if m.window:
            text += f" [window {m.window}]"
        return text
    assert rule.when is not None
    values = _values(row, rule.when)
    if points != 0:
        return f"{rule.when}  ({values})"
    cols = referenced_columns(rule.when)
    if any(row.get(c) is None for c in cols):
        return f"not applied: missing data ({values})"
    return f"not true ({values})"


def _section(name: str, rules: list[Rule], cfg: Config, row: dict[str, Any]) -> dict[str, Any]:
    out = []
    raw = 0.0
    for r in rules:
        pts = float(row.get(f"{name}__{r.name}") or 0.0)
        raw += pts
        out.append({"name": r.name, "points": pts, "because": _rule_because(r, cfg, row, pts)})
    out.sort(key=lambda d: (-abs(float(d["points"])), str(d["name"])))  # type: ignore[arg-type]
    return {"score": float(row[f"{name}_score"]), "raw": raw, "rules": out}


def _headroom(cfg: Config, row: dict[str, Any]) -> list[str]:
    """How far each of the tier matrix's two dimensions (fit and usage unless tiers x:/y: say) is from its threshold."""
    lines = []
    for dim, good in ((cfg.tiers.x, "good fit"), (cfg.tiers.y, "high usage")):
        score, need = float(row[f"{dim}_score"]), cfg.tiers.threshold(dim) or 0.0
        if dim not in ("fit", "usage"):
            good = f"{good} ({dim})"
        if score < need:
            lines.append(f"needs {need - score:g} more {dim} points for {good} ({dim} ≥ {need:g})")
        else:
            lines.append(f"{good}: {score - need:g} points above the {dim} threshold")
    return lines


MAX_MATCHES = 20


def _matches(snapshot_dir: Path, level: str, key: str) -> list[dict[str, Any]]:
    """Rows of ``level`` whose id is ``key`` or whose email/domain is ``key`` (any case), by id."""
    id_col, text_col = ("user_id", "email") if level == "user" else ("account_id", "domain")
    frame = pl.scan_parquet(snapshot_dir / f"{level}s.parquet")
    text = pl.col(text_col).str.strip_chars().str.to_lowercase()
    hit = frame.filter((pl.col(id_col) == key) | (text == key.lower())).sort(
        pl.col(id_col) != key, pl.col(id_col)  # an exact id first, then by id
    )
    return hit.head(MAX_MATCHES).collect().to_dicts()


def find(snapshot_dir: Path, ref: str, ws: Workspace | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Find ``ref`` (user id, email, account id, domain, or any alias of one) in a snapshot.

    Returns (level, row, match): ``match`` says how ``ref`` was found — ``others``: the other records an
    email or domain also matched (the first by id is shown), ``alias_of``: the canonical id ``ref`` is an
    alias of."""
    key = ref.strip()
    for level in ("user", "account"):
        rows = _matches(snapshot_dir, level, key)
        if rows:
            id_col = f"{level}_id"
            return level, rows[0], {"query": key, "others": [r[id_col] for r in rows[1:]], "alias_of": None}
    if ws is not None:
        from pqlcli.ingest.identity import aliases_of

        for level in ("user", "account"):
            canonical = [a["alias"] for a in aliases_of(ws, key, level) if a["canonical"]]
            rows = _matches(snapshot_dir, level, canonical[0]) if canonical else []
            if rows:
                return level, rows[0], {"query": key, "others": [], "alias_of": canonical[0]}
    raise UsageError(
        f"No user or account {ref!r} in snapshot {snapshot_dir.name}.",
        "Pass a user id, an email, an account id or a company domain, e.g. 'ana@acme.com'.",
        param="ref",
    )


def _identity(ws: Workspace, level: str, record_id: str, match: dict[str, Any]) -> dict[str, Any]:
    """The record's aliases and their sources, and how the query matched it."""
    from pqlcli.ingest.identity import aliases_of

    aliases = sorted(aliases_of(ws, record_id, level), key=lambda a: (not a["canonical"], str(a["alias"])))
    return {**match, "aliases": aliases}


def explain(ws: Workspace, ref: str, snapshot_ref: str | None = None) -> dict[str, Any]:
    snapshot = ws.snapshot(snapshot_ref)
    snapshot_dir = snapshot.path
    manifest = snap.read_manifest(snapshot_dir)
    cfg = Config.model_validate(manifest["config"])
    level, row, match = find(snapshot_dir, ref, ws)
    record_id = row["user_id"] if level == "user" else row["account_id"]
    tier_key = next((k for k, v in manifest["tiers"]["names"].items() if v == row["tier"]), row["tier"])
    data: dict[str, Any] = {
        "snapshot": snapshot_dir.name,
        "snapshot_label": snapshot.label,
        "as_of": manifest["as_of"],
        "level": level,
        "who": {
            "id": record_id,
            "label": (row.get("email") or row.get("name")) if level == "user" else (row.get("domain") or row.get("name")),
            "account_id": row.get("account_id"),
            "owner": row.get("owner"),
            "plan": row.get("plan"),
        },
        "identity": _identity(ws, level, record_id, match),
        "metrics": {m: row.get(m) for m in cfg.metrics},
        "dimensions": cfg.dimensions,
        **{dim: _section(dim, cfg.rules(dim), cfg, row) for dim in cfg.dimensions},
        "activation": {
            a.name: {"done": row.get(a.name), "steps": row.get(f"{a.name}_steps"), "of": len(a.unique_steps),
                     "days": row.get(f"{a.name}_days"), "users": row.get(f"{a.name}_users")}
            for a in cfg.activation
        },
        "tier": {
            "tier": row["tier"],
            "key": tier_key,
            "label": row.get("tier_label") or cfg.tiers.label(tier_key) if tier_key.startswith("tier") else row["tier"],
            "fit_threshold": cfg.tiers.fit,
            "usage_threshold": cfg.tiers.usage,
            "x": cfg.tiers.x,
            "y": cfg.tiers.y,
            "x_threshold": cfg.tiers.threshold(cfg.tiers.x),
            "y_threshold": cfg.tiers.threshold(cfg.tiers.y),
            "headroom": _headroom(cfg, row),
        },
        "pqls": [
            {
                "name": p.name,
                "level": p.level,
                "when": p.when,
                "value": bool(row.get(f"pql__{p.name}")),
                "because": _values(row, p.when),
            }
            for p in cfg.pqls
            if p.level == level
        ],
        "pqa": None,
    }
    if level == "account":
        data["pqa"] = {
            "value": bool(row["pqa"]),
            "users": row["users"],
            "pql_users": row["pql_users"],
            "share": None if row["pql_share"] is None else round(float(row["pql_share"]), 4),
            "threshold": cfg.accounts.pqa_share,
        }
    else:
        data["is_pql"] = bool(row.get("is_pql"))
    return data
