"""The hand-written Polars baseline of `bench/bench_engines.py` computes what pql computes.

A benchmark ratio only means something when both sides do the same work: on synthetic data, the
baseline's per-user metrics (the counts, active days, the logins trend and the activation steps of
config/pql.yaml) must equal `pql score`'s.
"""

from __future__ import annotations

import importlib.util

import polars as pl

from pqlcli import config, scoring
from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths

COLUMNS = ["projects_30d", "invites_7d", "docs_30d", "pricing_views", "integrations", "logins_7d",
           "active_days_30d", "logins_trend", "activated_steps"]


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_engines", paths.ROOT / "bench" / "bench_engines.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_hand_written_baseline_equals_pql(tmp_path):
    ws = Workspace.open(tmp_path / "ws", create=True)
    synth_workspace(ws, users=3000, accounts=400, events=150_000)
    loaded = config.load(paths.ROOT / "config" / "pql.yaml")
    pql = scoring.compute(ws, loaded).users.select("user_id", *COLUMNS)
    hand = _bench_module()._hand_metrics(loaded.as_of(), ws.root).collect()
    hand = pql.select("user_id").join(hand, on="user_id", how="left").with_columns(pl.col(COLUMNS).fill_null(0))
    hand = hand.select("user_id", *[pl.col(c).cast(pql.schema[c]) for c in COLUMNS]).sort("user_id")
    assert (pql["activated_steps"] == 3).any() and (pql["logins_trend"] != 0).any()  # the data exercises them
    for col in COLUMNS:
        bad = pql.sort("user_id")[col].ne_missing(hand[col])
        assert not bad.any(), f"{col}: {int(bad.sum())} users differ"


def test_hand_written_scores_equal_pql(tmp_path):
    """The baseline's fit and usage scores and PQL flag (bench_engines.hand_scored, which bench_scale runs
    pass by pass) equal pql's for every user pql keeps (the baseline has no exclusion rules)."""
    ws = Workspace.open(tmp_path / "ws", create=True)
    synth_workspace(ws, users=3000, accounts=400, events=150_000)
    loaded = config.load(paths.ROOT / "config" / "pql.yaml")
    pql = scoring.compute(ws, loaded).users.select("user_id", "fit_score", "usage_score", "is_pql").sort("user_id")
    bench = _bench_module()
    metrics = bench._hand_metrics(loaded.as_of(), ws.root)
    hand = bench.hand_scored(bench.hand_context(pl.scan_parquet(ws.root / "users.parquet"), ws.root), metrics).collect()
    hand = pql.select("user_id").join(hand, on="user_id", how="left").sort("user_id")
    assert pql["is_pql"].any() and (~pql["is_pql"]).any()  # the data exercises both
    for col in ("fit_score", "usage_score", "is_pql"):
        bad = pql[col].cast(pl.Float64).ne_missing(hand[col].cast(pl.Float64))
        assert not bad.any(), f"{col}: {int(bad.sum())} users differ"
