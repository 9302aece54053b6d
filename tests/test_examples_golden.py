"""The bundled examples double as fixtures: ingest → firmographics → score, against golden outputs.

Regenerate after an intended change with `PQL_UPDATE_GOLDEN=1 pytest tests/test_examples_golden.py`
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from pqlcli import config, scoring
from pqlcli.ingest import ingest
from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import FIRMOGRAPHICS, polars_dtype

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"
GOLDEN = Path(__file__).resolve().parent / "golden" / "examples_score.json"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    ws = Workspace.open(tmp_path_factory.mktemp("golden") / ".pql", create=True)
    ingest(ws, "accounts", [str(DATA / "hubspot-companies.csv")], fmt="hubspot")
    ingest(ws, "users", [str(DATA / "users.csv")])
    ingest(ws, "events", [str(DATA / "segment-tracks.jsonl")], fmt="segment")
    ingest(ws, "events", [str(DATA / "mixpanel-export.jsonl")], fmt="mixpanel")
    ingest(ws, "events", [str(DATA / "amplitude-export.zip")], fmt="amplitude")
    firmo = pl.read_csv(DATA / "firmographics.csv").with_columns(
        provider=pl.lit("file"), status=pl.lit("found"), reason=pl.lit(None, dtype=pl.String),
        fetched_at=pl.datetime(2026, 10, 30, time_zone="UTC"),
    )
    firmo = firmo.select([pl.col(c).cast(polars_dtype(t)) for c, t in FIRMOGRAPHICS.columns.items()])
    ws.write_table("firmographics", firmo)
    return scoring.compute(ws, config.load(ROOT / "config" / "pql.yaml"))


def _summary(frames) -> dict:
    users = frames.users.sort("user_id")
    accounts = frames.accounts.sort("account_id")
    return {
        "user_tiers": dict(sorted(users.group_by("tier").len().iter_rows())),
        "account_tiers": dict(sorted(accounts.group_by("tier").len().iter_rows())),
        "pql_users": int(users["is_pql"].sum()),
        "pqas": accounts.filter(pl.col("pqa"))["account_id"].to_list(),
        "seat_expansion": accounts.filter(pl.col("pql__seat_expansion"))["account_id"].to_list(),
        "users": {
            r["user_id"]: [r["fit_score"], r["usage_score"], r["tier"], r["is_pql"]]
            for r in users.select("user_id", "fit_score", "usage_score", "tier", "is_pql").iter_rows(named=True)
        },
        "accounts": {
            r["account_id"]: [r["fit_score"], r["usage_score"], r["tier"], r["users"], r["pql_users"]]
            for r in accounts.select("account_id", "fit_score", "usage_score", "tier", "users", "pql_users").iter_rows(named=True)
        },
    }


def test_examples_match_golden(scored):
    got = _summary(scored)
    if os.environ.get("PQL_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got["user_tiers"] == want["user_tiers"]
    assert got["account_tiers"] == want["account_tiers"]
    assert got["pqas"] == want["pqas"] and got["seat_expansion"] == want["seat_expansion"]
    changed = {k: (want["users"].get(k), v) for k, v in got["users"].items() if want["users"].get(k) != v}
    assert not changed, f"{len(changed)} users changed, e.g. {list(changed.items())[:3]}"
    assert got["accounts"] == want["accounts"]


def test_examples_hand_checked(scored):
    """A few rows worked out by hand from the example files and config/pql.yaml."""
    users = scored.users
    grace = users.filter(pl.col("email") == "grace.lopez@northwind.io").row(0, named=True)
    # northwind.io: 420 employees (>100: +30), raised 25M (>10M: +30), US (+20), VP title (+20) = 100
    assert grace["fit__big_company"] == 30 and grace["fit__funded"] == 30
    assert grace["fit__icp_country"] == 20 and grace["fit__buyer_title"] == 20 and grace["fit_score"] == 100
    free = users.filter(pl.col("is_free_email")).row(0, named=True)
    assert free["fit__personal_email"] == -20 and free["account_id"] is None
    # events after as_of (2026-11-01) exist in the exports and never count
    assert scored.stats["events_after_as_of"] > 0
    # orphans: users with no account id on a company domain that has an account joined it
    accounts = scored.accounts
    assert accounts["users"].sum() == users.filter(pl.col("account_id").is_not_null()).height
