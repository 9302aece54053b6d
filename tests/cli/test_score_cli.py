"""`pql score` and `pql explain` through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths

ROOT = paths.ROOT
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


def _clamped_sum(frame: pl.DataFrame, prefix: str) -> pl.Series:
    cols = [c for c in frame.columns if c.startswith(prefix)]
    assert cols, f"no {prefix}* columns in the snapshot"
    return frame.select(pl.sum_horizontal(cols).clip(0, 100)).to_series()


def test_every_snapshot_row_scores_the_clamped_sum_of_its_points(pql, ws_path):
    """config/pql.yaml: points add up, then clamp to 0..100 (fit: 30+30+20+20-20; usage up to 25+30+20+15+10)."""
    ws = _ws(ws_path)
    assert pql("score", "--config", CONFIG)[0] == 0
    for level in ("users", "accounts"):
        frame = pl.read_parquet(ws.snapshot().path / f"{level}.parquet")
        fit, usage = _clamped_sum(frame, "fit__"), _clamped_sum(frame, "usage__")
        assert (fit == frame["fit_score"]).all(), f"{level}: a fit_score is not the clamped sum of its fit__ points"
        assert (usage == frame["usage_score"]).all(), f"{level}: a usage_score is not the clamped sum of its usage__ points"
        if level == "users":  # the 0 clamp is reached in both sections (the config cannot pass 100), so a lost clamp shows
            for prefix in ("fit__", "usage__"):
                assert (frame.select(pl.sum_horizontal(pl.col(f"^{prefix}.*$"))).to_series() < 0).any(), prefix


def _by_hand(ws: Workspace, user_id: str) -> dict:
    """A user's metrics and traits computed straight from the workspace tables (not by pqlcli.scoring)."""
    from datetime import UTC, datetime, timedelta

    as_of = datetime(2026, 11, 1, tzinfo=UTC)
    user = ws.scan("users").filter(pl.col("user_id") == user_id).collect().row(0, named=True)
    ev = ws.scan("events").filter(pl.col("user_id") == user_id, pl.col("timestamp") < as_of).collect()

    def count(event: str, days: int | None) -> int:
        rows = ev.filter(pl.col("event") == event)
        return rows.height if days is None else rows.filter(pl.col("timestamp") >= as_of - timedelta(days=days)).height

    account = ws.scan("accounts").filter(pl.col("account_id") == user["account_id"]).collect()
    domain = account["domain"][0] if account.height else user["email"].split("@")[1]
    firmo = (ws.scan("firmographics").filter(pl.col("domain") == domain, pl.col("status") == "found")
             .sort("fetched_at").collect().tail(1))
    traits = firmo.row(0, named=True) if firmo.height else {"employees": None, "raised": None, "country": None}
    return {
        "projects_30d": count("project_created", 30), "invites_7d": count("user_invited", 7),
        "docs_30d": count("document_published", 30), "pricing_views": count("viewed_pricing", 14),
        "integrations": count("integration_connected", None), "logins_7d": count("login", 7),
        "employees": traits["employees"], "raised": traits["raised"], "country": traits["country"],
        "title": user["title"],
    }


def test_explain_because_values_match_values_computed_by_hand(pql, ws_path):
    ws = _ws(ws_path)
    assert pql("score", "--config", CONFIG)[0] == 0
    users = pl.read_parquet(ws.snapshot().path / "users.parquet")
    picks = [
        users.sort("usage_score", "user_id", descending=True)["user_id"][0],  # the most active
        users.filter(pl.col("usage_score") == 0).sort("user_id")["user_id"][0],  # dormant
        users.filter(pl.col("fit_score") >= 50).sort("user_id")["user_id"][-1],  # good fit
    ]
    for user_id in picks:
        want = _by_hand(ws, user_id)
        rc, out, err = pql("explain", user_id, "--format", "json")
        assert rc == 0, err
        data = json.loads(out)
        metrics = {k: want[k] for k in data["metrics"] if k in want}
        assert len(metrics) == 6 and {k: data["metrics"][k] for k in metrics} == metrics, user_id
        fit = {r["name"]: r for r in data["fit"]["rules"]}
        usage = {r["name"]: r for r in data["usage"]["rules"]}
        assert f"projects_30d = {want['projects_30d']} " in usage["projects"]["because"]
        assert usage["projects"]["points"] == min(5 * want["projects_30d"], 25)
        assert usage["invites"]["points"] == min(10 * want["invites_7d"], 30)
        assert usage["docs"]["points"] == min(2 * want["docs_30d"], 20)
        assert usage["pricing"]["points"] == (15 if want["pricing_views"] > 0 else 0)
        assert usage["dormant"]["points"] == (-10 if want["logins_7d"] == 0 else 0)
        assert f"(logins_7d = {want['logins_7d']})" in usage["dormant"]["because"]
        if want["employees"] is not None:
            assert f"employees = {want['employees']})" in fit["big_company"]["because"]
            assert fit["big_company"]["points"] == (30 if want["employees"] > 100 else 0)
            assert fit["funded"]["points"] == (30 if want["raised"] > 10_000_000 else 0)
            country = "NULL" if want["country"] is None else f"'{want['country']}'"
            assert f"country = {country}" in fit["icp_country"]["because"]
        assert f"title = '{want['title']}'" in fit["buyer_title"]["because"] or fit["buyer_title"]["points"] == 20
        assert data["usage"]["raw"] == sum(r["points"] for r in usage.values())
        assert data["usage"]["score"] == max(0, min(100, data["usage"]["raw"]))
