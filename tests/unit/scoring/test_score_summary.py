"""The tier table `pql score` prints (pqlcli.scoring.summary.tier_counts); written to kill surviving mutants."""

from __future__ import annotations

import polars as pl

from pqlcli.scoring.summary import tier_counts


def test_tier_counts_with_renamed_and_default_tiers():
    # a config that renames two tiers: the others keep their keys
    names = {"tier1": "hot", "tier2": "warm"}
    frame = pl.DataFrame({"tier": ["hot", "hot", "warm", "tier4"]})
    assert tier_counts(frame, names) == [
        {"tier": "hot", "count": 2, "share": 0.5},
        {"tier": "warm", "count": 1, "share": 0.25},
        {"tier": "tier3", "count": 0, "share": 0.0},
        {"tier": "tier4", "count": 1, "share": 0.25},
    ]


def test_tier_counts_of_no_rows():
    empty = pl.DataFrame({"tier": []}, schema={"tier": pl.String})
    assert [(r["tier"], r["count"], r["share"]) for r in tier_counts(empty, {})] == [
        ("tier1", 0, 0.0), ("tier2", 0, 0.0), ("tier3", 0, 0.0), ("tier4", 0, 0.0)]
