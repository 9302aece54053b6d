"""`pql export crm`: HubSpot and Salesforce import files (pinned headers, values, RFC 4180, guard, changed-only)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from pqlcli import leads
from pqlcli.errors import ExitCode
from tests import paths
from tests.factories.snapshot_factory import build_frames, write_snapshot

DATA = paths.DATA / "ingest"
PROPS_HUBSPOT = "pql_tier,pql_fit_score,pql_usage_score,pql_is_pql,pql_definitions,pql_reason,pql_scored_at"
PROPS_SALESFORCE = ("PQL_Tier__c,PQL_Fit_Score__c,PQL_Usage_Score__c,PQL_Is_PQL__c,PQL_Definitions__c,"
                    "PQL_Reason__c,PQL_Scored_At__c")


@pytest.fixture
def snap(ws_path: Path) -> Path:
    users, accounts = build_frames(seed=1)
    return write_snapshot(ws_path, "20261101T000000000000Z", users, accounts)


def _export(pql, tmp_path: Path, *args: str) -> tuple[bytes, str]:
    target = tmp_path / "crm.csv"
    code, _, err = pql("export", "crm", *args, "--out", str(target))
    assert code == 0, err
    return target.read_bytes(), err


def _rows(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))


@pytest.mark.parametrize(("to", "level", "ids", "expected"), [
    ("hubspot", "user", False, "Email," + PROPS_HUBSPOT),
    ("hubspot", "user", True, "Email,Record ID," + PROPS_HUBSPOT),
    ("hubspot", "account", False, "Company Domain Name," + PROPS_HUBSPOT),
    ("hubspot", "account", True, "Company Domain Name,Record ID," + PROPS_HUBSPOT),
    ("salesforce", "user", False, "Email," + PROPS_SALESFORCE),
    ("salesforce", "user", True, "Id,Email," + PROPS_SALESFORCE),
    ("salesforce", "account", False, "Website," + PROPS_SALESFORCE),
    ("salesforce", "account", True, "Id,Website," + PROPS_SALESFORCE),
])
def test_header_rows_are_exactly_what_the_crm_import_expects(pql, snap, tmp_path, to, level, ids, expected):
    raw, _ = _export(pql, tmp_path, "--to", to, "--level", level, "--record-id" if ids else "--no-record-id")
    assert raw.split(b"\r\n")[0].decode() == expected
    assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM


def test_values_match_the_snapshot_and_the_why_of_pql_list(pql, snap, tmp_path):
    raw, err = _export(pql, tmp_path, "--to", "hubspot", "--level", "user", "--record-id")
    rows = {r["Record ID"]: r for r in _rows(raw)}
    users = pl.read_parquet(snap / "users.parquet")
    why = dict(leads.list_leads(snap, "users", columns="user_id,why").iter_rows())
    assert len(rows) == users.height and "Wrote 40 users" in err
    for user in users.iter_rows(named=True):
        row = rows[user["user_id"]]
        assert row["pql_tier"] == user["tier"]
        assert float(row["pql_fit_score"]) == pytest.approx(user["fit_score"], abs=0.05)
        assert float(row["pql_usage_score"]) == pytest.approx(user["usage_score"], abs=0.05)
        assert row["pql_is_pql"] == ("true" if user["is_pql"] else "false")
        assert row["pql_definitions"] == ("free_to_paid" if user["pql__free_to_paid"] else "")
        assert row["pql_reason"] == why[user["user_id"]]
        assert row["pql_scored_at"] == "2026-11-01T00:00:00Z"
        email = user["email"]
        assert row["Email"] == ("'" + email if email[0] in "=+-@" else email)
    accounts = _rows(_export(pql, tmp_path, "--to", "salesforce", "--level", "account")[0])
    pqa = pl.read_parquet(snap / "accounts.parquet").filter(pl.col("pqa"))["domain"].to_list()
    assert sorted(r["Website"] for r in accounts if "pqa" in r["PQL_Definitions__c"].split(";")) == sorted(pqa)
    assert {r["PQL_Is_PQL__c"] for r in accounts if r["Website"] in pqa} == {"true"}


def test_record_ids_by_default_when_the_users_came_from_hubspot(pql, ws_path, snap, tmp_path):
    code, _, err = pql("ingest", "users", str(DATA / "hubspot-contacts.csv"), "--format", "hubspot")
    assert code == 0, err
    assert "hubspot" in json.loads((ws_path / "manifest.json").read_text())["tables"]["users"]["formats"]
    raw, _ = _export(pql, tmp_path, "--to", "hubspot")
    assert raw.startswith(b"Email,Record ID,")
    raw, _ = _export(pql, tmp_path, "--to", "salesforce")
    assert raw.startswith(b"Email,pql_tier".replace(b"pql_tier", b"PQL_Tier__c"))  # not from Salesforce


def test_rfc4180_quoting_and_the_formula_guard_on_every_cell(pql, ws_path, tmp_path):
    users, accounts = build_frames(seed=1, n_users=6)
    rule = "usage__" + "x" * 300
    users = users.with_columns(
        email=pl.Series(["=1+1@evil.com", "+a@b.co", "@c@d.co", 'q"uote,comma@e.co', "tab\t@f.co", "ok@g.co"]),
        tier=pl.Series(['tier "one", best', "-tier", "=tier", "tier\r\nbreak", "@tier", "tier4"]),
        **{rule: pl.lit(50.0), "usage__y" + "y" * 300: pl.lit(40.0), "pql__=cmd": pl.lit(True)},
    )
    write_snapshot(ws_path, "20261101T000000000000Z", users, accounts)
    raw, _ = _export(pql, tmp_path, "--to", "hubspot", "--record-id")
    text = raw.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "").replace("break", "")
    assert '"\'tier ""one"", best"' not in text and '"tier ""one"", best"' in text  # quotes doubled, field quoted
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    cells = [cell for row in parsed[1:] for cell in row]
    assert cells and not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    emails = {row[0] for row in parsed[1:]}
    assert {"'=1+1@evil.com", "'+a@b.co", "'@c@d.co", 'q"uote,comma@e.co', "tab\t@f.co"} <= emails
    assert "'-tier" in cells and "tier\r\nbreak" in cells
    definitions = {row[6] for row in parsed[1:]}
    assert definitions <= {"'=cmd", "free_to_paid;=cmd", "'=cmd;free_to_paid"}
    reasons = [row[7] for row in parsed[1:]]
    assert all(len(r) <= 500 for r in reasons) and all(r.endswith("…") for r in reasons)


def test_changed_only_writes_what_changed_since_the_last_export(pql, ws_path, snap, tmp_path):
    first = _rows(_export(pql, tmp_path, "--to", "hubspot", "--changed-only")[0])
    assert len(first) == 40
    raw, err = _export(pql, tmp_path, "--to", "hubspot", "--changed-only")
    assert _rows(raw) == [] and "40 unchanged" in err
    users, accounts = build_frames(seed=1, n_users=41)
    users = users.with_columns(
        usage__docs=pl.when(pl.col("user_id") == "u003").then(pl.col("usage__docs") + 7).otherwise(pl.col("usage__docs")),
    ).with_columns(usage_score=pl.sum_horizontal(pl.col("^usage__.*$")).clip(0, 100))
    write_snapshot(ws_path, "20261102T000000000000Z", users, accounts)
    changed = _rows(_export(pql, tmp_path, "--to", "hubspot", "--changed-only")[0])
    assert sorted(r["Email"] for r in changed) == sorted(
        users.filter(pl.col("user_id").is_in(["u003", "u040"]))["email"].to_list())
    # another target keeps its own memory
    assert len(_rows(_export(pql, tmp_path, "--to", "salesforce", "--changed-only")[0])) == 41


def test_bad_input(pql, snap, tmp_path):
    code, _, err = pql("export", "crm", "--to", "pipedrive", "--out", str(tmp_path / "x.csv"))
    assert code == ExitCode.USAGE
    code, _, err = pql("export", "crm", "--to", "hubspot", "--out", str(tmp_path / "missing" / "x.csv"))
    assert code == ExitCode.USAGE and "does not exist" in err
