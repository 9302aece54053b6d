"""The numbers `pql score` prints: tiers, PQL counts and overlap, new PQLs since the last snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pqlcli.config import TIERS


def tier_counts(df: pl.DataFrame, names: dict[str, str]) -> list[dict[str, Any]]:
    total = df.height
    counts = dict(df.group_by("tier").len().iter_rows()) if total else {}
    return [
        {"tier": names.get(t, t), "count": int(counts.get(names.get(t, t), 0)), "share": (counts.get(names.get(t, t), 0) / total) if total else 0.0}
        for t in TIERS
    ]


def pql_counts(users: pl.DataFrame, accounts: pl.DataFrame, pqls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in pqls:
        frame = users if p["level"] == "user" else accounts
        col = f"pql__{p['name']}"
        out.append({"name": p["name"], "level": p["level"], "count": int(frame[col].sum()) if col in frame.columns else 0})
    return out


def pql_overlap(users: pl.DataFrame, pqls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each pair of user-level definitions, how many users both flag."""
    names = [p["name"] for p in pqls if p["level"] == "user"]
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = users.select((pl.col(f"pql__{a}") & pl.col(f"pql__{b}")).sum()).item()
            out.append({"a": a, "b": b, "both": int(both)})
    return out


def new_pqls(users: pl.DataFrame, previous: Path | None) -> pl.DataFrame:
    """Users who are PQLs now and were not in the previous snapshot (all PQLs when there is none)."""
    now = users.filter(pl.col("is_pql")).select("user_id", "email", "tier", "fit_score", "usage_score")
    if previous is None:
        return now
    before = pl.read_parquet(previous / "users.parquet", columns=["user_id", "is_pql"]).filter(pl.col("is_pql"))
    return now.join(before.select("user_id"), on="user_id", how="anti")


def summarize(users: pl.DataFrame, accounts: pl.DataFrame, manifest: dict[str, Any], previous: Path | None) -> dict[str, Any]:
    names = manifest["tiers"]["names"]
    new = new_pqls(users, previous)
    return {
        "as_of": manifest["as_of"],
        "users": tier_counts(users, names),
        "accounts": tier_counts(accounts, names),
        "pqls": pql_counts(users, accounts, manifest["pqls"]),
        "pql_users": int(users["is_pql"].sum()) if users.height else 0,
        "pqas": int(accounts["pqa"].sum()) if accounts.height else 0,
        "overlap": pql_overlap(users, manifest["pqls"]),
        "new_pqls": new.height,
        "new_pql_sample": new.sort("usage_score", descending=True).head(5).to_dicts(),
        "previous": previous.name if previous else None,
        "counts": manifest.get("counts", {}),
    }
