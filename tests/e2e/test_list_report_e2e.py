"""`pql list` and `pql tiers report` over snapshots written by the real `pql score`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths

ROOT = paths.ROOT
CONFIG = ROOT / "config" / "pql.yaml"


@pytest.fixture
def scored(pql, ws_path: Path) -> Workspace:
    ws = Workspace.open(ws_path, create=True)
    synth_workspace(ws, users=300)
    for as_of in ("2026-10-25", "2026-11-01"):
        code, _, err = pql("score", "--config", CONFIG, "--as-of", as_of)
        assert code == 0, err
    assert len(ws.snapshots()) == 2
    return ws


def test_rep_list_agrees_with_the_report_row_by_row(pql, scored, monkeypatch, tmp_path):
    code, out, err = pql("tiers", "report", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    users = data["levels"]["users"]
    assert users["total"] == 300 and users["movement"] is not None
    for row in users["by"]["owner"]:
        owner = "none" if row["value"] == "(unowned)" else row["value"]
        for tier in ("1", "2", "3", "4"):
            code, out, _ = pql("list", "users", "--owner", owner, "--tier", tier, "--format", "json")
            assert code == 0 and len(json.loads(out)) == row["tiers"][f"tier{tier}"], (owner, tier)

    owner = next(r["value"] for r in users["by"]["owner"] if r["value"] != "(unowned)")
    monkeypatch.setenv("PQL_OWNER", owner.upper())
    code, out, _ = pql("list", "users", "--owner", "me", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and rows and all(r["owner"] == owner for r in rows)
    ranks = [(r["tier"], -r["usage_score"], -r["fit_score"]) for r in rows]
    assert ranks == sorted(ranks)  # best first
    fired = [r for r in rows if r["why"]]
    assert fired and all(re.fullmatch(r"(\w+ [+-][\d.]+)(, \w+ [+-][\d.]+){0,2}", r["why"]) for r in fired)

    code, out, _ = pql("list", "users", "--new", "--format", "json", "--columns", "user_id,is_pql")
    assert code == 0 and json.loads(out) and all(r["is_pql"] for r in json.loads(out))
    code, out, _ = pql("list", "accounts", "--where", "employees > 100 AND pql_share >= 0", "-f", "csv")
    assert code == 0 and out.startswith("account_id,")

    page = tmp_path / "report.html"
    code, _, err = pql("tiers", "report", "--out", str(page))
    assert code == 0, err
    html = page.read_text("utf-8")
    for key, tier in users["tiers"].items():
        assert f'data-tier="{key}" data-count="{tier["count"]}"' in html
