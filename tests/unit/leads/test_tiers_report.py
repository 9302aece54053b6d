"""`pql tiers report` over hand-built snapshots: the numbers, every format, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pqlcli import leads
from pqlcli.errors import ExitCode
from pqlcli.workspace import Workspace
from tests.factories.snapshot_factory import make_two_snapshots


@pytest.fixture
def snaps(ws_path: Path) -> tuple[Path, Path]:
    return make_two_snapshots(ws_path)


@pytest.fixture
def data(ws_path: Path, snaps) -> dict:
    return leads.tiers_report(Workspace(ws_path).snapshot("latest")).to_dict()


def test_counts_shares_and_matrix_match_the_snapshot(data, snaps):
    for level in ("users", "accounts"):
        frame = pl.read_parquet(snaps[1] / f"{level}.parquet")
        got = data["levels"][level]
        assert got["total"] == frame.height
        for key in leads.CANONICAL_TIERS:
            n = frame.filter(pl.col("tier") == key).height
            assert got["tiers"][key]["count"] == n
            assert got["tiers"][key]["share"] == pytest.approx(n / frame.height, abs=1e-4)
            fit, usage = leads.TIER_CELL[key]
            assert got["matrix"][fit][usage] == n
        assert sum(v["count"] for v in got["tiers"].values()) == frame.height


def test_breakdowns_add_up(data, snaps, ws_path):
    users = pl.read_parquet(snaps[1] / "users.parquet")
    owners = {r["value"]: r for r in data["levels"]["users"]["by"]["owner"]}
    assert sum(r["total"] for r in owners.values()) == users.height
    assert owners["(unowned)"]["total"] == users.filter(pl.col("owner").is_null()).height
    ana = users.filter(pl.col("owner") == "ana@example.com")
    assert owners["ana@example.com"]["tiers"]["tier1"] == ana.filter(pl.col("tier") == "tier1").height
    assert set(data["levels"]["users"]["by"]) == {"owner", "plan"}
    other = leads.tiers_report(Workspace(ws_path).snapshot("latest"), by=["industry,country"]).to_dict()
    assert set(other["levels"]["accounts"]["by"]) == {"industry", "country"}


def test_top_accounts_are_best_first_within_their_tier(data, snaps):
    accounts = pl.read_parquet(snaps[1] / "accounts.parquet")
    for key, rows in data["levels"]["accounts"]["top"].items():
        expected = accounts.filter(pl.col("tier") == key).sort(["usage_score", "fit_score"], descending=True)
        assert [r["account_id"] for r in rows] == expected["account_id"].head(5).to_list()
        assert all("why" in r for r in rows)


def test_movement_matrix_and_entered_tier1(data, snaps):
    before = pl.read_parquet(snaps[0] / "users.parquet").select("user_id", pl.col("tier").alias("b"))
    now = pl.read_parquet(snaps[1] / "users.parquet").select("user_id", pl.col("tier").alias("a"))
    move = data["levels"]["users"]["movement"]
    joined = now.join(before, on="user_id", how="left")
    assert move["matrix"]["tier3"]["tier1"] == joined.filter((pl.col("b") == "tier3") & (pl.col("a") == "tier1")).height
    assert move["matrix"]["new"] == {"tier1": 0, "tier2": 0, "tier3": 0, "tier4": 0, "gone": 0} | {
        joined.filter(pl.col("b").is_null())["a"][0]: 1
    }
    entered = joined.filter((pl.col("a") == "tier1") & (pl.col("b").fill_null("") != "tier1"))
    assert move["entered_tier1_count"] == entered.height
    assert {r["user_id"] for r in move["entered_tier1"]} == set(entered["user_id"])


def test_conversion_rates_lift_and_funnel(data, snaps):
    accounts = pl.read_parquet(snaps[1] / "accounts.parquet")
    conv = data["levels"]["accounts"]["conversion"]
    for key in leads.CANONICAL_TIERS:
        part = accounts.filter(pl.col("tier") == key)
        won = part.filter(pl.col("converted_at").is_not_null()).height
        assert conv["tiers"][key]["converted"] == won
        assert conv["tiers"][key]["rate"] == (pytest.approx(won / part.height, abs=1e-4) if part.height else None)
    t4 = conv["tiers"]["tier4"]["rate"]
    for key in leads.CANONICAL_TIERS:
        rate = conv["tiers"][key]["rate"]
        lift = conv["tiers"][key]["lift_vs_tier4"]
        assert lift is None if not t4 or rate is None else lift == pytest.approx(rate / t4, abs=0.01)
    funnel = data["levels"]["users"]["conversion"]["funnel"]
    users = pl.read_parquet(snaps[1] / "users.parquet")
    assert funnel["signed_up"] == users.height
    assert funnel["qualified"] == users.filter("is_pql").height


def test_no_previous_snapshot_and_no_outcomes(ws_path):
    from tests.factories.snapshot_factory import build_frames, write_snapshot

    users, accounts = build_frames(seed=5)
    write_snapshot(ws_path, "20261101T000000000000Z", users.drop("converted_at"), accounts.drop("converted_at"))
    got = leads.tiers_report(Workspace(ws_path).snapshot("latest")).to_dict()
    assert got["previous_snapshot"] is None
    assert got["levels"]["users"]["movement"] is None and got["levels"]["users"]["conversion"] is None


def test_cli_json_md_terminal(pql, snaps, data):
    code, out, _ = pql("tiers", "report", "--format", "json")
    assert code == 0 and json.loads(out) == json.loads(json.dumps(data))
    code, out, _ = pql("tiers", "report", "--format", "md")
    assert code == 0 and out.startswith("# PQL tier report")
    t1 = data["levels"]["users"]["tiers"]["tier1"]
    assert f"**Tier 1 · call now**: {t1['count']}" in out
    assert "### By owner" in out and "### Movement since" in out and "### Conversion" in out
    code, out, _ = pql("tiers", "report", "--format", "terminal", "--by", "country")
    assert code == 0 and "Fit × usage" in out and "By country" in out and "Conversion per tier" in out


def test_cli_bad_input(pql, snaps, tmp_path):
    code, _, err = pql("tiers", "report", "--by", "colour")
    assert code == ExitCode.USAGE and "owner, plan, industry, country" in err
    code, _, err = pql("tiers", "report", "--format", "html", "--out", str(tmp_path / "nope" / "r.html"))
    assert code == ExitCode.USAGE and "does not exist" in err
    code, _, err = pql("tiers", "report", "--snapshot", "19990101T000000Z")
    assert code == ExitCode.DATA_ERROR and "Snapshots available" in err


def test_no_snapshot_says_run_score(pql):
    code, _, err = pql("tiers", "report", "--format", "json")
    assert code == ExitCode.DATA_ERROR and "pql score" in err


def test_html_is_self_contained_and_matches_json(pql, snaps, data, tmp_path):
    target = tmp_path / "report.html"
    code, out, err = pql("tiers", "report", "--out", str(target))
    assert code == 0 and out == "" and target.exists(), err
    page = target.read_text("utf-8")
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert "<link rel=\"stylesheet\"" not in page and "src=" not in page
    for level, got in data["levels"].items():
        for key in leads.CANONICAL_TIERS:
            assert f'data-tier="{key}" data-count="{got["tiers"][key]["count"]}"' in page
        assert f'id="heatmap-{level}"' in page and f'id="by-owner-{level}"' in page and f'id="conversion-{level}"' in page
    assert "=cmd|&#x27; /C calc&#x27;!A0" in page  # text is escaped, never markup


def test_by_typo_gets_did_you_mean_and_the_library_names_the_parameter(pql, snaps):
    from pqlcli.leads import ParameterError

    code, _, err = pql("tiers", "report", "--by", "ownr")
    assert code == ExitCode.USAGE and "--by ownr is not a column of the snapshot's users or accounts. Did you mean 'owner'?" in " ".join(err.split())
    with pytest.raises(ParameterError) as info:
        leads.tiers_report(snaps[1], by="ownr")
    assert info.value.param == "by" and "--by" not in info.value.message


def test_report_model_is_typed(snaps):
    report = leads.tiers_report(snaps[1])
    assert isinstance(report, leads.TiersReport)
    users = report.levels["users"]
    assert users.tiers["tier1"].count == pl.read_parquet(snaps[1] / "users.parquet").filter(pl.col("tier") == "tier1").height
    assert users.top is None and "top" not in report.to_dict()["levels"]["users"]  # accounts only, as before
    assert report.levels["accounts"].top is not None


def test_the_api_hangs_off_the_snapshot(snaps):
    snap = leads.open_snapshot(snaps[1])
    assert snap.tiers_report(by="country").to_dict() == leads.tiers_report(snaps[1], by="country").to_dict()
    assert snap.leads("users", tier="1", columns="user_id")["user_id"].to_list() == (
        leads.list_leads(snaps[1], "users", tier="1", columns="user_id")["user_id"].to_list()
    )
