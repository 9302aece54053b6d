"""`pql explain` shows every alias and source of the record, and says when a query matched several records."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths
from tests.e2e.test_identity_e2e import ingest_exports

ROOT = paths.ROOT


def _ingest_and_score(pql, tmp_path: Path) -> None:
    config = ingest_exports(pql, tmp_path)
    code, _, err = pql("score", "--config", config)
    assert code == 0, err


def test_explain_lists_every_alias_and_its_source(pql, tmp_path: Path, ws_path: Path):
    _ingest_and_score(pql, tmp_path)
    code, out, err = pql("explain", "dana@northwind.io")
    assert code == 0, err
    assert "User u_1" in out and "Known as (3 ids, one user)" in out
    assert re.search(r"\(snapshot \d{4}-\d\d-\d\d \d\d:\d\d UTC \(\d{8}T", " ".join(out.split()))  # a readable date
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and " from " in line}
    assert {"u_1", "51001", "anon-1"} <= set(lines)
    assert "hubspot" in lines["51001"] and "canonical" in lines["u_1"]
    code, out, err = pql("explain", "dana@northwind.io", "--format", "json")
    data = json.loads(out)["identity"]
    assert {a["alias"] for a in data["aliases"]} == {"u_1", "51001", "anon-1"} and data["others"] == []


def test_explain_finds_a_record_by_any_alias(pql, tmp_path: Path, ws_path: Path):
    """The HubSpot Record ID a rep has in the CRM finds the person, and says whose alias it is."""
    _ingest_and_score(pql, tmp_path)
    for alias in ("51001", "anon-1"):
        code, out, err = pql("explain", alias)
        assert code == 0, err
        assert "User u_1" in out and f"'{alias}' is an alias of user u_1" in out


def test_explain_says_when_an_email_or_domain_matched_several_records(pql, ws_path: Path):
    """A workspace written before identity resolution (or by hand) can hold two users with one email,
    two accounts with one domain: explain shows one and names the others, never silently."""
    ws = Workspace.open(ws_path, create=True)
    synth_workspace(ws, users=60, seed=2)
    users = ws.scan("users").collect().sort("user_id")
    email = users["email"][0]
    twin = users["user_id"][1]
    ws.write_table("users", users.with_columns(
        email=pl.when(pl.col("user_id") == twin).then(pl.lit(email.upper())).otherwise(pl.col("email"))))
    accounts = ws.scan("accounts").collect().sort("account_id")
    domain, other = accounts["domain"][0], accounts["account_id"][1]
    ws.write_table("accounts", accounts.with_columns(
        domain=pl.when(pl.col("account_id") == other).then(pl.lit(domain)).otherwise(pl.col("domain"))))
    code, _, err = pql("score", "--config", ROOT / "config" / "pql.yaml")
    assert code == 0, err

    code, out, err = pql("explain", email)
    assert code == 0, err
    first = users["user_id"][0]
    assert f"User {first}" in out
    assert f"matched 2 users: {first}, {twin}" in " ".join(err.split())
    code, out, err = pql("explain", domain, "--format", "json")
    data = json.loads(out)
    assert data["who"]["id"] == accounts["account_id"][0] and data["identity"]["others"] == [other]
    # an exact id is never ambiguous
    code, out, err = pql("explain", twin)
    assert f"User {twin}" in out and "matched" not in err
