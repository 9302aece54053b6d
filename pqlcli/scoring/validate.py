"""`pql config validate`: check a config (and, when there is one, against the workspace) without scoring."""

from __future__ import annotations

import difflib
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig
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


def validate(loaded: LoadedConfig, ws: Workspace | None) -> dict[str, Any]:
    cfg = loaded.config
    warnings: list[str] = []
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
