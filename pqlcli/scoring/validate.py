"""`pql config validate`: check a config (and, when there is one, against the workspace) without scoring."""

from __future__ import annotations

import difflib
import math
from datetime import datetime
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig
from pqlcli.scoring.conditions import parse
from pqlcli.scoring.frames import Inputs
from pqlcli.scoring.plan import build_plan
from pqlcli.workspace import Workspace


def unknown_event_warnings(loaded: LoadedConfig, known: list[str]) -> list[str]:
    warnings = []
    known_set = set(known)
    for name, m in loaded.config.metrics.items():
        for ev in m.events:
            if ev == "*" or ev in known_set:
                continue
            close = difflib.get_close_matches(ev, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            shown = ", ".join(sorted(known)[:30]) + (" ..." if len(known) > 30 else "")
            pos = loaded.where(("metrics", name, "event"))
            at = f"{loaded.path}:{pos[0]}:{pos[1]}: " if pos else ""
            warnings.append(
                f"{at}metric {name!r} counts event {ev!r}, which no ingested event has (so it is 0 for everyone).{hint} "
                f"Known events: {shown or 'none'}."
            )
    return warnings


def _day_bounds(loaded: LoadedConfig) -> dict[str, tuple[int, int]]:
    """Per windowed active_days metric bounded at both levels: (days of its window, the most it can be).

    A 30d window touches 30 UTC dates when as_of is at midnight, 31 otherwise (a partial day at each end).
    The account roll-up (distinct days, or max/min over users) is never more than a user's bound."""
    as_of = loaded.config.as_of
    midnight = as_of is not None and (not isinstance(as_of, datetime) or as_of.time() == datetime.min.time())
    out = {}
    for name, m in loaded.config.metrics.items():
        window = m.window_td
        if m.agg != "active_days" or window is None or m.rollup not in (None, "distinct_days", "max", "min"):
            continue
        days = window.total_seconds() / 86_400
        whole = days.is_integer()
        out[name] = (math.ceil(days), int(days) if whole and midnight else math.ceil(days) + 1)
    return out


def _needs(tree: Any, metric: str) -> list[tuple[str, int]]:
    """The least value of ``metric`` each comparison with a number in a condition needs: (text, value)."""
    from sqlglot import exp

    out = []
    flipped = {exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE, exp.EQ: exp.EQ}
    for node in tree.find_all(exp.GT, exp.GTE, exp.EQ, exp.LT, exp.LTE, exp.Between):
        if isinstance(node, exp.Between):
            if isinstance(node.this, exp.Column) and node.this.name == metric and node.args["low"].is_number:
                out.append((node.sql(), math.ceil(float(node.args["low"].this))))
            continue
        kind, col, num = type(node), node.left, node.right
        if isinstance(num, exp.Column):
            kind, col, num = flipped[kind], num, col
        if not (isinstance(col, exp.Column) and col.name == metric and num.is_number):
            continue
        value = float(num.this)
        if kind is exp.GT:
            out.append((node.sql(), math.floor(value) + 1))
        elif kind in (exp.GTE, exp.EQ):
            out.append((node.sql(), math.ceil(value)))
    return out


def _reach(what: str, need: int, metric: str, days: int, most: int) -> str | None:
    if need <= days:
        return None
    if need <= most:
        return (f"{what} needs {metric} = {need}, reached only when as_of is not at midnight UTC (the "
                f"{days}-day window then touches {days + 1} dates); a user or an account is active on at most {days} "
                "days of its window otherwise.")
    return (f"{what} can never be reached: {metric} counts distinct days, at most {most} for a user and for an "
            f"account (the days on which any of its users was active), and it needs {need}.")


def unreachable_warnings(loaded: LoadedConfig) -> list[str]:
    """Rules and PQL definitions that ask an active_days metric for more days than its window has."""
    cfg, bounds, out = loaded.config, _day_bounds(loaded), []
    for section, rules in (("fit", cfg.fit), ("usage", cfg.usage)):
        for r in rules:
            if r.metric in bounds and r.cap is not None and r.points:
                days, most = bounds[r.metric]
                msg = _reach(f"{section} rule {r.name!r}: cap {r.cap:g}", math.ceil(r.cap / abs(r.points)), r.metric, days, most)
                out += [msg] if msg else []
            conds = [(f"{section} rule {r.name!r}", r.when)] if r.when else []
            out += _condition_warnings(conds, bounds)
    out += _condition_warnings([(f"PQL definition {p.name!r}", p.when) for p in cfg.pqls if p.when], bounds)
    return out


def _condition_warnings(conds: list[tuple[str, str]], bounds: dict[str, tuple[int, int]]) -> list[str]:
    out: list[str] = []
    for what, sql in conds:
        try:
            tree = parse(sql)
        except ValueError:
            continue  # scoring reports a bad condition with its position
        for metric, (days, most) in bounds.items():
            for text, need in _needs(tree, metric):
                msg = _reach(f"{what}: {text}", need, metric, days, most)
                out += [msg] if msg else []
    return out


def validate(loaded: LoadedConfig, ws: Workspace | None) -> dict[str, Any]:
    cfg = loaded.config
    warnings: list[str] = unreachable_warnings(loaded)
    checked = False
    if ws is not None and ws.has_table("users"):
        inputs = Inputs.from_workspace(ws)
        warnings += build_plan(loaded, inputs.schemas(), inputs.missing).warnings
        if ws.has_table("events"):
            known = ws.scan("events").select(pl.col("event").unique()).collect()["event"].drop_nulls().to_list()
            warnings += unknown_event_warnings(loaded, known)
        checked = True
    return {
        "path": str(loaded.path),
        "metrics": len(cfg.metrics),
        "fit": len(cfg.fit),
        "usage": len(cfg.usage),
        "pqls": len(cfg.pqls),
        "workspace": checked,
        "warnings": warnings,
    }
