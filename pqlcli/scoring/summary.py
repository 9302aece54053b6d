"""The numbers `pql score` prints: tiers, PQL counts and overlap, new PQLs since the last snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pqlcli.config import TIERS


def tier_counts(df: pl.DataFrame | pl.LazyFrame, names: dict[str, str]) -> list[dict[str, Any]]:
    counts = dict(df.lazy().group_by("tier").len().collect().iter_rows())
    total = sum(counts.values())
    return [
        {"tier": names.get(t, t), "count": int(counts.get(names.get(t, t), 0)), "share": (counts.get(names.get(t, t), 0) / total) if total else 0.0}
        for t in TIERS
    ]


def _sums(df: pl.DataFrame | pl.LazyFrame, exprs: dict[str, pl.Expr]) -> dict[str, int]:
    """Several counts over ``df`` in one pass (0 for an empty frame)."""
    if not exprs:
        return {}
    row = df.lazy().select([e.sum().cast(pl.Int64).alias(k) for k, e in exprs.items()]).collect().row(0)
    return {k: int(v or 0) for k, v in zip(exprs, row, strict=True)}


def pql_counts(users: pl.DataFrame | pl.LazyFrame, accounts: pl.DataFrame, pqls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for level, frame in (("user", users), ("account", accounts)):
        names = frame.lazy().collect_schema().names()
        found = {p["name"]: pl.col(f"pql__{p['name']}") for p in pqls if p["level"] == level and f"pql__{p['name']}" in names}
        sums = _sums(frame, found)
        out += [{"name": p["name"], "level": level, "count": sums.get(p["name"], 0)} for p in pqls if p["level"] == level]
    order = {p["name"]: i for i, p in enumerate(pqls)}
    return sorted(out, key=lambda r: order[r["name"]])


def pql_overlap(users: pl.DataFrame | pl.LazyFrame, pqls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each pair of user-level definitions, how many users both flag."""
    names = [p["name"] for p in pqls if p["level"] == "user"]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    both = _sums(users, {f"{a}\0{b}": pl.col(f"pql__{a}") & pl.col(f"pql__{b}") for a, b in pairs})
    return [{"a": a, "b": b, "both": both[f"{a}\0{b}"]} for a, b in pairs]


def new_pqls(users: pl.DataFrame | pl.LazyFrame, previous: Path | None) -> pl.DataFrame:
    """Users who are PQLs now and were not in the previous snapshot (all PQLs when there is none)."""
    now = users.lazy().filter(pl.col("is_pql")).select("user_id", "email", "tier", "fit_score", "usage_score")
    if previous is None:
        return now.collect()
    before = pl.scan_parquet(previous / "users.parquet").select("user_id", "is_pql").filter(pl.col("is_pql"))
    return now.join(before.select("user_id"), on="user_id", how="anti").collect()


def summarize(users: pl.DataFrame | pl.LazyFrame, accounts: pl.DataFrame, manifest: dict[str, Any], previous: Path | None) -> dict[str, Any]:
    """What `pql score` prints; ``users`` may be lazy (the snapshot's file): only the columns counted are read."""
    names = manifest["tiers"]["names"]
    new = new_pqls(users, previous)
    return {
        "as_of": manifest["as_of"],
        "users": tier_counts(users, names),
        "accounts": tier_counts(accounts, names),
        "pqls": pql_counts(users, accounts, manifest["pqls"]),
        "pql_users": _sums(users, {"n": pl.col("is_pql")})["n"],
        "pqas": _sums(accounts, {"n": pl.col("pqa")})["n"],
        "overlap": pql_overlap(users, manifest["pqls"]),
        "new_pqls": new.height,
        "new_pql_sample": new.sort("usage_score", descending=True).head(5).to_dicts(),
        "previous": previous.name if previous else None,
        "counts": manifest.get("counts", {}),
    }
