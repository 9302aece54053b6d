"""The "no firmographics yet" warning appears only when a fit rule needs a column nothing else provides."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths

ROOT = paths.ROOT

TITLE_ONLY = """\
version: 1
metrics:
  logins_7d: {event: login, window: 7d}
fit:
  - {name: buyer, when: "regexp_like(title, 'VP')", points: 60}
usage:
  - {name: logins, metric: logins_7d, points: 10, cap: 50}
"""


@pytest.fixture
def no_firmo(ws_path: Path) -> Workspace:
    ws = Workspace.open(ws_path, create=True)
    synth_workspace(ws, users=80, seed=5)
    ws.table_path("firmographics").unlink()
    assert not ws.has_table("firmographics")
    return ws


def _score(pql, config) -> str:
    code, _, err = pql("score", "--config", config)
    assert code == 0, err
    return " ".join(err.split())


def test_warns_when_fit_rules_need_provider_columns(pql, no_firmo):
    err = _score(pql, ROOT / "config" / "pql.yaml")
    assert "No firmographics yet" in err
    # the synthetic accounts (like a CRM export) have employees: big_company is not named, funded is
    assert "funded" in err and "raised" in err and "big_company" not in err and "buyer_title" not in err


def test_no_warning_when_the_crm_accounts_have_the_columns(pql, no_firmo):
    accounts = no_firmo.scan("accounts").collect()
    no_firmo.write_table("accounts", accounts.with_columns(
        employees=pl.lit(250), raised=pl.lit(2e7), country=pl.lit("US")))
    assert "No firmographics" not in _score(pql, ROOT / "config" / "pql.yaml")


def test_no_warning_when_no_fit_rule_uses_firmographics(pql, no_firmo, tmp_path):
    config = tmp_path / "pql.yaml"
    config.write_text(TITLE_ONLY)
    assert "No firmographics" not in _score(pql, config)
