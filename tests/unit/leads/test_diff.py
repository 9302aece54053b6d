"""`pql diff` over hand-built snapshots: entered/left per tier and definition, moves, configs, formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pqlcli.errors import ExitCode
from pqlcli.leads import diff
from pqlcli.workspace import Workspace
from tests.factories.snapshot_factory import build_frames, make_two_snapshots, write_snapshot


@pytest.fixture
def snaps(ws_path: Path) -> tuple[Path, Path]:
    return make_two_snapshots(ws_path)


def _sets(path: Path, level: str, expr: pl.Expr) -> set[str]:
    id_col = "user_id" if level == "users" else "account_id"
    return set(pl.read_parquet(path / f"{level}.parquet").filter(expr)[id_col].to_list())


def test_json_shape_and_who_entered_and_left(pql, snaps):
    old, new = snaps
    code, out, err = pql("diff", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"old", "new", "users", "accounts"}
    assert (result["old"], result["new"]) == (old.name, new.name)
    users = result["users"]
    assert set(users) == {"tiers", "pqls", "moves", "columns"}
    assert set(users["tiers"]) == {"tier1", "tier2", "tier3", "tier4"}
    for tier in ("tier1", "tier2", "tier3", "tier4"):
        was, now = _sets(old, "users", pl.col("tier") == tier), _sets(new, "users", pl.col("tier") == tier)
        assert users["tiers"][tier] == {"entered": sorted(now - was), "left": sorted(was - now)}
    was, now = _sets(old, "users", pl.col("pql__free_to_paid")), _sets(new, "users", pl.col("pql__free_to_paid"))
    assert users["pqls"]["free_to_paid"] == {"entered": sorted(now - was), "left": sorted(was - now)}
    assert "u039" in users["tiers"][pl.read_parquet(new / "users.parquet").filter(pl.col("user_id") == "u039")["tier"][0]]["entered"]
    accounts = result["accounts"]
    assert set(accounts["pqls"]) == {"seat_expansion", "any", "pqa"}
    was, now = _sets(old, "accounts", pl.col("pqa")), _sets(new, "accounts", pl.col("pqa"))
    assert accounts["pqls"]["pqa"] == {"entered": sorted(now - was), "left": sorted(was - now)}


def test_moves_are_the_biggest_with_the_rules_that_changed(pql, snaps):
    old, new = snaps
    result = json.loads(pql("diff", "--format", "json", "--top", "5")[1])
    moves = result["users"]["moves"]
    assert len(moves) == 5
    assert set(moves[0]) == {"id", "fit_before", "fit_after", "usage_before", "usage_after", "rules"}
    a = pl.read_parquet(old / "users.parquet").join(pl.read_parquet(new / "users.parquet"), on="user_id", suffix="_new")
    size = (pl.col("fit_score_new") - pl.col("fit_score")).abs() + (pl.col("usage_score_new") - pl.col("usage_score")).abs()
    top = a.with_columns(s=size).sort(["s", "user_id"], descending=[True, False]).head(5)
    assert [m["id"] for m in moves] == top["user_id"].to_list()
    row = a.filter(pl.col("user_id") == moves[0]["id"]).row(0, named=True)
    changed = {c for c in a.columns if c.startswith(("fit__", "usage__")) and not c.endswith("_new")
               and row[c] != row[f"{c}_new"]}
    assert {r["rule"] for r in moves[0]["rules"]} == changed
    assert (moves[0]["fit_before"], moves[0]["fit_after"]) == (row["fit_score"], row["fit_score_new"])


def test_snapshots_scored_with_different_configs(pql, ws_path):
    users, accounts = build_frames(seed=2)
    write_snapshot(ws_path, "20261025T000000000000Z", users, accounts)
    users, accounts = build_frames(seed=1)
    users = users.drop("usage__docs").with_columns(usage__trial_started=pl.lit(5.0), pql__sales_assist=pl.col("fit_score") > 70)
    write_snapshot(ws_path, "20261101T000000000000Z", users, accounts)
    code, out, err = pql("diff", "-f", "json")
    assert code == 0, err
    part = json.loads(out)["users"]
    assert part["columns"] == {"only_in_old": ["usage__docs"], "only_in_new": ["pql__sales_assist", "usage__trial_started"]}
    assert "sales_assist" not in part["pqls"]  # cannot say who entered a definition the old config lacked
    rules = {r["rule"]: r for m in part["moves"] for r in m["rules"]}
    assert rules["usage__trial_started"]["before"] is None and rules["usage__trial_started"]["after"] == 5.0
    assert any(r["rule"] == "usage__docs" and r["after"] is None for m in part["moves"] for r in m["rules"])
    code, out, _ = pql("diff", "-f", "md")
    assert "Columns only in the old snapshot: usage__docs" in out


def test_fewer_than_two_snapshots_is_refused_clearly(pql, ws_path):
    code, _, err = pql("diff")
    assert code == ExitCode.DATA_ERROR and "needs two snapshots" in err and "has 0" in err
    users, accounts = build_frames(seed=1)
    write_snapshot(ws_path, "20261101T000000000000Z", users, accounts)
    code, _, err = pql("diff")
    assert code == ExitCode.DATA_ERROR and "has 1" in err and "pql score" in err and "Traceback" not in err
    code, _, err = pql("diff", "nope", "latest")
    assert code == ExitCode.DATA_ERROR and "No snapshot 'nope'" in err


def test_owner_since_and_ids(pql, snaps, ws_path):
    old, new = snaps
    result = json.loads(pql("diff", "--owner", "ana@example.com", "-f", "json")[1])
    owned = _sets(old, "users", pl.col("owner") == "ana@example.com") | _sets(new, "users", pl.col("owner") == "ana@example.com")
    ids = {i for t in result["users"]["tiers"].values() for i in t["entered"] + t["left"]}
    assert ids and ids <= owned
    same = json.loads(pql("diff", old.name, new.name, "-f", "json")[1])
    assert same == json.loads(pql("diff", "-f", "json")[1])
    ws = Workspace.open(ws_path)
    now = datetime(2026, 11, 3, tzinfo=UTC)
    picked = diff.pick_pair(ws, since=timedelta(days=7), now=now)
    assert (picked[0].id, picked[1].id) == (old.name, new.name)
    with pytest.raises(Exception, match="No snapshot is at least 30 days old"):
        diff.pick_pair(ws, since=timedelta(days=30), now=now)
    code, _, err = pql("diff", old.name, "--since", "7d")
    assert code == ExitCode.USAGE and "either an OLD snapshot or --since" in err


def test_csv_and_jsonl_rows(pql, snaps, tmp_path):
    code, out, _ = pql("diff", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and list(rows[0]) == list(diff.ROW_COLUMNS)
    result = json.loads(pql("diff", "-f", "json")[1])
    entered = [r["id"] for r in rows if (r["level"], r["kind"], r["name"], r["change"]) == ("users", "tier", "tier1", "entered")]
    assert entered == result["users"]["tiers"]["tier1"]["entered"]
    target = tmp_path / "d.jsonl"
    assert pql("diff", "-f", "jsonl", "--out", str(target))[0] == 0
    lines = [json.loads(x) for x in target.read_text().splitlines()]
    assert len(lines) == len(rows) and {x["kind"] for x in lines} == {"tier", "pql", "move"}
