"""The bundled examples double as fixtures: ingest → firmographics → score, against golden outputs.

The golden file is never written by a test: after an intended change, regenerate it with
`python -m tests.update_golden` and review the diff (a test that rewrites its expectation cannot fail).
Running the tests with PQL_UPDATE_GOLDEN set fails, so the old habit cannot pass silently.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pqlcli import config, scoring
from pqlcli.ingest import ingest
from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import FIRMOGRAPHICS, polars_dtype
from tests import paths

ROOT = paths.ROOT
DATA = ROOT / "examples" / "data"
GOLDEN = paths.GOLDEN / "examples_score.json"
UPDATE_REQUESTED = os.environ.get("PQL_UPDATE_GOLDEN")  # read at import: conftest clears it for every test


def score_examples(root: Path):
    """The bundled example exports ingested and scored with config/pql.yaml, in a workspace at ``root``."""
    ws = Workspace.open(root, create=True)
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


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    return score_examples(tmp_path_factory.mktemp("golden") / ".pql")


def summary(frames) -> dict:
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


def test_golden_is_not_updated_by_tests():
    assert not UPDATE_REQUESTED, (
        "PQL_UPDATE_GOLDEN is set: tests never rewrite their expectations. "
        "Run `python -m tests.update_golden`, review the diff, then run the tests without it."
    )


def test_examples_match_golden(scored):
    got = summary(scored)
    want = json.loads(GOLDEN.read_text())
    assert set(got) == set(want)
    for key in ("user_tiers", "account_tiers", "pql_users", "pqas", "seat_expansion", "accounts"):
        assert got[key] == want[key], key
    changed = {k: (want["users"].get(k), v) for k, v in got["users"].items() if want["users"].get(k) != v}
    assert not changed, f"{len(changed)} users changed, e.g. {list(changed.items())[:3]}"
    assert got == want


def test_examples_hand_checked(scored):
    """A few rows worked out by hand from the example files and config/pql.yaml (as of 2026-11-01)."""
    users = scored.users
    uma = users.filter(pl.col("email") == "uma.adams@northwind.io").row(0, named=True)
    # northwind.io: 420 employees (>100: +30), raised 25M (>10M: +30), US (+20), "VP Marketing" (+20) = 100
    assert uma["fit__big_company"] == 30 and uma["fit__funded"] == 30
    assert uma["fit__icp_country"] == 20 and uma["fit__buyer_title"] == 20 and uma["fit_score"] == 100
    # her events before as_of, all on 2026-10-31: document_published (Amplitude), user_invited and
    # viewed_pricing (Mixpanel), project_created (Segment); her login on 2026-11-01 comes too late, so
    # projects 1x5 + invites 1x10 + docs 1x2 + pricing 15 + dormant (no login in 7 days) -10 = 22: Tier 2
    assert (uma["projects_30d"], uma["invites_7d"], uma["docs_30d"], uma["pricing_views"]) == (1, 1, 1, 1)
    assert uma["logins_7d"] == 0 and uma["usage__dormant"] == -10
    assert uma["usage_score"] == 22 and uma["tier"] == "tier2" and not uma["is_pql"]
    # activation (signup 2026-10-28 20:37, 14 days): project_created and user_invited on 10-31, no
    # integration_connected -> 2 of 3 steps, not activated, no days; no logins in either week: trend 0
    assert (uma["activated"], uma["activated_steps"], uma["activated_days"]) == (False, 2, None)
    assert uma["logins_trend"] == 0 and uma["usage__activated"] == 0 and uma["usage__growing"] == 0
    maya = users.filter(pl.col("email") == "maya.schmidt@northwind.io").row(0, named=True)
    # logins on 10-27 (twice) and 10-29, a project on 10-29, an invite on 10-30, pricing on 10-31:
    # 5 + 10 + 15 = 30, and she signed up on 10-26, so no logins in the week before 10-25: logins_trend
    # 3 - 0 = 3 > 0, growing +5 -> 35 ("Head of Product": fit 100) -> Tier 2; her 11-01 project and
    # invite do not count; no integration_connected: 2 of 3 activation steps
    assert (maya["projects_30d"], maya["invites_7d"], maya["logins_7d"], maya["logins_trend"]) == (1, 1, 3, 3)
    assert (maya["activated"], maya["activated_steps"], maya["usage__growing"]) == (False, 2, 5)
    assert maya["usage_score"] == 35 and maya["fit_score"] == 100 and maya["tier"] == "tier2"
    # an orphan: no account id in users.csv, on northwind.io, joins Northwind by domain; keeps her own plan
    quinn = users.filter(pl.col("user_id") == "usr_46509a26").row(0, named=True)
    assert quinn["account_id"] == "9120000617" and quinn["plan"] == "free" and quinn["fit_score"] == 100
    free = users.filter(pl.col("is_free_email")).row(0, named=True)
    assert free["fit__personal_email"] == -20 and free["account_id"] is None
    # outcomes: Globex's "Became a Customer Date" (2025-07-23 08:17) is its users' converted_at too
    globex = scored.accounts.filter(pl.col("name") == "Globex Corporation").row(0, named=True)
    assert globex["converted_at"] == datetime(2025, 7, 23, 8, 17, tzinfo=UTC)
    assert users.filter(pl.col("account_id") == globex["account_id"])["converted_at"].unique().to_list() == [
        globex["converted_at"]
    ]
    # an account scores its firmographics: Northwind 420 employees (+30), 25M raised (+30), US (+20); no title or
    # email at account level = 80. Its users: 17 rows with its Record ID in users.csv and 3 orphans on
    # northwind.io (Quinn Ivanova, Grace Okafor, Kira Brown), but two rows are one person (Victor Garcia,
    # usr_10381d14 signed up 10-27 and usr_d2f139fc 08-22, the same email): 19 people. 6 signed up from 10-25 on
    # (Bruno Okafor, Ines Lopez, Uma Adams, Farid Chen, Maya Schmidt, Carmen Tanaka); merged Victor keeps the
    # earliest signup (08-22), so he no longer counts
    northwind = scored.accounts.filter(pl.col("account_id") == "9120000617").row(0, named=True)
    assert (northwind["fit__big_company"], northwind["fit__funded"], northwind["fit__icp_country"]) == (30, 30, 20)
    assert northwind["fit_score"] == 80 and northwind["users"] == 19 and northwind["users_added_7d"] == 6
    assert sorted(users.filter(pl.col("account_id") == "9120000617", pl.col("plan") == "free")["user_id"]) == [
        "usr_46509a26", "usr_577d445b", "usr_d2c97906"]  # the orphans keep their own plan
    # Globex: 1800 employees, 80M, US = 80; 19 rows with its Record ID + Maya Schmidt (orphan on globex.com),
    # of which two are one person (Carmen Garcia, 10-29 and 10-30, the same email): 19 people, and 6 (not 7)
    # signed up in the last 7 days
    assert globex["fit_score"] == 80 and globex["users"] == 19 and globex["users_added_7d"] == 6
    # an account's active days are the distinct days any of its users was active, not their sum: Nova Health's
    # Hiro Lopez was active on 10-08, 10-16, 10-24, 10-27 and 10-30 (his 10-01 login is before the window),
    # Olga Patel on 10-13, 10-26 and 10-27: 5 + 3 = 8 user-days, but 7 days (both on 10-27)
    nova = scored.accounts.filter(pl.col("account_id") == "9120064803").row(0, named=True)
    per_user = users.filter(pl.col("account_id") == "9120064803").sort("user_id")["active_days_30d"].to_list()
    assert per_user == [3, 5] and nova["active_days_30d"] == 7
    # and never more than the window: Northwind's 19 users were active on every day of the 30 (234 user-days)
    assert northwind["active_days_30d"] == 30
    # " Noahchen74@Hotmail.Com " (spaces, capitals): a personal address, no account, no firmographics;
    # "Designer" is no buyer title: -20 clamps to 0
    noah = users.filter(pl.col("user_id") == "usr_8938ab85").row(0, named=True)
    assert noah["is_free_email"] and noah["account_id"] is None and noah["employees"] is None
    assert noah["fit__personal_email"] == -20 and noah["fit__buyer_title"] == 0 and noah["fit_score"] == 0
    # events after as_of (2026-11-01) exist in the exports and never count
    assert scored.stats["events_after_as_of"] > 0
    # orphans: users with no account id on a company domain that has an account joined it
    accounts = scored.accounts
    assert accounts["users"].sum() == users.filter(pl.col("account_id").is_not_null()).height
