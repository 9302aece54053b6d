"""`pql tiers report`: config changes before tier moves, custom labels everywhere, `--by` any column,
readable snapshot dates, and ties in top accounts broken by usage, fit, then users."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from pqlcli import leads
from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths
from tests.factories.snapshot_factory import AS_OF, build_frames, make_two_snapshots, write_snapshot

ROOT = paths.ROOT
LABELS = "  labels: {tier1: 'Hot leads', tier2: 'Grow them', tier3: 'Self-serve', tier4: 'Nurture'}\n"


def _config(tmp_path: Path, name: str, fit: int = 50, labels: str = "") -> Path:
    text = (ROOT / "config" / "pql.yaml").read_text()
    text, n = re.subn(r"(?m)^tiers: \{.*\}.*\n", f"tiers:\n  fit: {fit}\n  usage: 40\n{labels}", text)
    assert n == 1
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def workspace(ws_path: Path) -> Workspace:
    ws = Workspace.open(ws_path, create=True)
    synth_workspace(ws, users=200, seed=4)
    return ws


def _score_twice(pql, first: Path, second: Path) -> None:
    for cfg, as_of in ((first, "2026-10-25"), (second, "2026-11-01")):
        code, _, err = pql("score", "--config", cfg, "--as-of", as_of)
        assert code == 0, err


def test_movement_says_the_configs_differ_before_the_moves(pql, workspace, tmp_path):
    _score_twice(pql, _config(tmp_path, "a.yaml", fit=50), _config(tmp_path, "b.yaml", fit=60))
    code, out, err = pql("tiers", "report", "--format", "md")
    assert code == 0, err
    said = out.index("The two snapshots used different configs (tiers.fit: 50 -> 60)")
    assert out.index("### Movement since") < said < out.index("from \\ to")
    code, out, _ = pql("tiers", "report", "--format", "json")
    assert json.loads(out)["levels"]["users"]["movement"]["config_changes"] == ["tiers.fit: 50 -> 60"]
    code, out, _ = pql("tiers", "report", "--format", "terminal")
    assert "used different configs" in " ".join(out.split())


def test_movement_with_the_same_config_says_so(pql, workspace, tmp_path):
    cfg = _config(tmp_path, "a.yaml")
    _score_twice(pql, cfg, cfg)
    code, out, _ = pql("tiers", "report", "--format", "md")
    assert code == 0
    assert "Both snapshots used the same config" in out and "different configs" not in out


def test_custom_tier_labels_appear_everywhere(pql, workspace, tmp_path):
    cfg = _config(tmp_path, "a.yaml", labels=LABELS)
    _score_twice(pql, cfg, cfg)
    code, md, _ = pql("tiers", "report", "--format", "md", "--by", "owner,plan")
    html_file = tmp_path / "r.html"
    code, _, err = pql("tiers", "report", "--out", html_file)
    assert code == 0, err
    html = html_file.read_text()
    code, term, _ = pql("tiers", "report", "--format", "terminal")
    for text in (md, html, " ".join(term.split())):
        assert "Hot leads" in text and "Nurture" in text
        assert "Tier 1" not in text and "Tier 4" not in text and "T1 %" not in text
    assert "Hot leads share" in md and "entered Hot leads" in md and "Lift vs Nurture" in md
    heat = html[html.index('id="heatmap-users"'):]
    assert "Hot leads" in heat[: heat.index("</svg>")]


def test_by_accepts_any_user_or_account_column(pql, workspace, tmp_path):
    cfg = _config(tmp_path, "a.yaml")
    _score_twice(pql, cfg, cfg)
    code, out, err = pql("tiers", "report", "--format", "json", "--by", "title,is_free_email")
    assert code == 0, err
    users = json.loads(out)["levels"]["users"]
    assert sum(r["total"] for r in users["by"]["title"]) == users["total"]
    assert {r["value"] for r in users["by"]["is_free_email"]} <= {"true", "false", "(none)"}
    code, _, err = pql("tiers", "report", "--by", "titel")
    assert code == 2 and "Did you mean 'title'?" in " ".join(err.split())


def test_snapshots_are_shown_with_a_readable_date(pql, ws_path):
    make_two_snapshots(ws_path)
    code, out, _ = pql("tiers", "report", "--format", "md")
    assert code == 0
    assert "Snapshot 2026-11-01 00:00 UTC (20261101T000000000000Z)" in out
    assert "Movement since 2026-10-25 00:00 UTC (20261025T000000000000Z)" in out


def test_ties_in_top_accounts_go_to_usage_then_fit_then_users(ws_path):
    users, accounts = build_frames(seed=1)
    # every account in one tier with the same scores, except a0 (more usage) and a1 (more fit); users differ
    accounts = accounts.with_columns(
        tier=pl.lit("tier1"), tier_label=pl.lit("Tier 1 · call now"),
        usage_score=pl.when(pl.col("account_id") == "a0").then(90.0).otherwise(60.0),
        fit_score=pl.when(pl.col("account_id") == "a1").then(90.0).otherwise(60.0),
        users=pl.col("account_id").str.slice(1).cast(pl.Int64),  # a9 has the most users
    )
    snap = write_snapshot(ws_path, "20261101T000000000000Z", users, accounts, AS_OF)
    top = leads.tiers_report(snap, top=5).levels["accounts"].top
    assert top is not None
    assert [r["account_id"] for r in top["tier1"]] == ["a0", "a1", "a9", "a8", "a7"]
