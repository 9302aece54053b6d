"""`pql score` and `pql explain` through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "pql.yaml"


def _ws(ws_path: Path) -> Workspace:
    ws = Workspace.open(ws_path, create=True)
    synth_workspace(ws, users=400)
    return ws


def test_score_writes_snapshot_and_summary(pql, ws_path):
    ws = _ws(ws_path)
    rc, out, err = pql("score", "--config", CONFIG)
    assert rc == 0, err
    assert "tier1" in out and "free_to_paid" in out and "New PQLs (first snapshot)" in out
    snap = ws.snapshot().path
    users = pl.read_parquet(snap / "users.parquet")
    manifest = json.loads((snap / "manifest.json").read_text())
    assert users.height == 400 and manifest["as_of"].startswith("2026-11-01")
    assert manifest["config_hash"] and manifest["inputs"]["events"]
    assert {"fit_score", "usage_score", "tier", "pql__free_to_paid", "is_pql", "fit__funded"} <= set(users.columns)
    assert "belong to users that are not in the users table" in err  # synth adds stray events
    # a second run: the summary compares with the previous snapshot
    rc, out, _ = pql("score", "--config", CONFIG, "--format", "json")
    info = json.loads(out)
    assert rc == 0 and info["new_pqls"] == 0 and info["previous"] == snap.name
    assert sum(t["count"] for t in info["users"]) == 400


def test_as_of_override_changes_windows(pql, ws_path):
    _ws(ws_path)
    _, out1, _ = pql("score", "--config", CONFIG, "--format", "json")
    _, out2, _ = pql("score", "--config", CONFIG, "--format", "json", "--as-of", "2027-06-01")
    a, b = json.loads(out1), json.loads(out2)
    assert b["as_of"].startswith("2027-06-01")
    # seven months later nothing is in any window: every user is dormant
    assert sum(t["count"] for t in b["users"] if t["tier"] in ("tier1", "tier3")) == 0
    assert a["users"] != b["users"]


def test_bad_as_of_and_engine(pql, ws_path):
    _ws(ws_path)
    rc, _, err = pql("score", "--config", CONFIG, "--as-of", "yesterday-ish")
    assert rc == 1 and "--as-of" in err
    rc, _, err = pql("score", "--config", CONFIG, "--engine", "pandas")
    assert rc == 2 and "polars" in err


def test_score_without_users_table(pql):
    rc, _, err = pql("score", "--config", CONFIG)
    assert rc == 1 and "pql ingest users" in err


def test_explain_user_and_account(pql, ws_path):
    ws = _ws(ws_path)
    assert pql("score", "--config", CONFIG)[0] == 0
    users = pl.read_parquet(ws.snapshot().path / "users.parquet")
    top = users.filter(pl.col("tier") != "tier1").sort("usage_score", descending=True).row(0, named=True)
    rc, out, _ = pql("explain", top["email"], "--format", "json")
    assert rc == 0
    data = json.loads(out)
    assert data["level"] == "user" and data["who"]["id"] == top["user_id"]
    assert data["fit"]["score"] == top["fit_score"] and data["usage"]["score"] == top["usage_score"]
    assert sum(r["points"] for r in data["usage"]["rules"]) == data["usage"]["raw"]
    assert any("more fit points" in h or "more usage points" in h for h in data["tier"]["headroom"])
    projects = next(r for r in data["usage"]["rules"] if r["name"] == "projects")
    assert f"projects_30d = {top['projects_30d']}" in projects["because"]
    rc, out, _ = pql("explain", top["user_id"])
    assert rc == 0 and "Fit score" in out and "Tier:" in out and "free_to_paid" in out
    acct = pl.read_parquet(ws.snapshot().path / "accounts.parquet").filter(pl.col("users") > 0).row(0, named=True)
    rc, out, _ = pql("explain", acct["domain"], "--format", "json")
    data = json.loads(out)
    assert rc == 0 and data["level"] == "account" and data["pqa"]["users"] == acct["users"]
    rc, _, err = pql("explain", "nobody@nowhere.test")
    assert rc == 2 and "No user or account" in err


def test_config_from_env(pql, ws_path, monkeypatch):
    _ws(ws_path)
    monkeypatch.setenv("PQL_CONFIG", str(CONFIG))
    rc, out, err = pql("score", "--format", "json")
    assert rc == 0, err
    assert json.loads(out)["as_of"].startswith("2026-11-01")
    monkeypatch.setenv("PQL_CONFIG", str(ws_path / "missing.yaml"))
    rc, _, err = pql("config", "validate")
    assert rc == 1 and "missing.yaml" in err


def test_sql_unknown_dialect_is_usage_error_before_config(pql):
    rc, _, err = pql("sql", "--dialect", "oracle")
    assert rc == 2 and "snowflake" in err
