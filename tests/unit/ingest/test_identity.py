"""Identity resolution at ingest: merges by email/domain, links, precedence, re-keying, dedupe, event ids."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from pqlcli.ingest import IngestOptions, ingest
from pqlcli.ingest.identity import aliases_of, components
from pqlcli.workspace import Workspace


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def users(ws_path: Path) -> dict[str, dict]:
    return {r["user_id"]: r for r in Workspace(ws_path).scan("users").collect().to_dicts()}


def test_components_prefer_product_ids_then_smallest_and_follow_chains():
    nodes = pl.DataFrame({"id": ["51", "u_9", "u_1", "60"], "rank": [1, 0, 0, 1]}, schema_overrides={"rank": pl.Int32})
    edges = pl.DataFrame({"a": ["51", "anon", "dev"], "b": ["anon", "u_9", "anon"]})  # 51 - anon - u_9, dev - anon
    got = dict(components(nodes, edges).iter_rows())
    assert got == {"51": "u_9", "anon": "u_9", "u_9": "u_9", "dev": "u_9", "u_1": "u_1", "60": "60"}
    shuffled = dict(components(nodes.reverse(), edges.reverse()).iter_rows())
    assert shuffled == got


def test_crm_and_product_records_merge_by_email_with_precedence(tmp_path, ws_path):
    crm = write(tmp_path, "c.csv", "Record ID,Email,Contact owner,Plan,Job Title\n51,Ana@X.io ,rep@ourco.com,crm-plan,VP\n")
    product = write(tmp_path, "p.csv", "user_id,email,plan,owner,title\nu_1,ana@x.io,team,someone@else.com,\n")
    ingest(ws_path, "users", [crm], fmt="hubspot")
    result = ingest(ws_path, "users", [product])
    assert result.users_merged == 1
    ana = users(ws_path)
    assert list(ana) == ["u_1"]  # one person; the product id is canonical
    # owner from the CRM, plan from the product, others newest non-null (title only the CRM has)
    assert (ana["u_1"]["owner"], ana["u_1"]["plan"], ana["u_1"]["title"]) == ("rep@ourco.com", "team", "VP")
    assert {(a["alias"], a["source"], a["canonical"]) for a in aliases_of(ws_path, "51")} == {
        ("51", "hubspot", False), ("u_1", "generic", True)}


def test_precedence_is_configurable_and_remembered(tmp_path, ws_path):
    crm = write(tmp_path, "c.csv", "Record ID,Email,Plan\n51,a@x.io,crm-plan\n")
    product = write(tmp_path, "p.csv", "user_id,email,plan\nu_1,a@x.io,team\n")
    ingest(ws_path, "users", [crm], fmt="hubspot", options=IngestOptions(precedence={"plan": ["hubspot"]}))
    ingest(ws_path, "users", [product])  # the stored precedence still applies
    assert users(ws_path)["u_1"]["plan"] == "crm-plan"


def test_accounts_merge_by_domain_and_users_follow(tmp_path, ws_path):
    crm = write(tmp_path, "co.csv", "Record ID,Company name,Company Domain Name,Company owner\n9001,Acme,https://www.acme.com/,rep@ourco.com\n")
    product = write(tmp_path, "ws.csv", "account_id,name,domain,plan\nws_1,Acme Inc,acme.com,team\nws_2,Gmail team,gmail.com,free\n"
                    "ws_3,Other gmail,gmail.com,free\n")
    ingest(ws_path, "accounts", [crm])
    result = ingest(ws_path, "accounts", [product])
    assert result.accounts_merged == 1  # free-email domains never merge accounts
    accounts = {r["account_id"]: r for r in Workspace(ws_path).scan("accounts").collect().to_dicts()}
    assert set(accounts) == {"ws_1", "ws_2", "ws_3"} and accounts["ws_1"]["owner"] == "rep@ourco.com"
    ingest(ws_path, "users", [write(tmp_path, "u.csv", "user_id,email,account_id\nu_1,a@acme.com,9001\n")])
    assert users(ws_path)["u_1"]["account_id"] == "ws_1"  # the CRM company id maps to the canonical account


def test_only_parts_with_changed_ids_are_rekeyed(tmp_path, ws_path):
    head = "event_id,user_id,event,timestamp\n"
    ingest(ws_path, "events", [write(tmp_path, "a.csv", head + "1,51,login,2026-10-01\n")])
    ingest(ws_path, "events", [write(tmp_path, "b.csv", head + "2,u_7,login,2026-10-02\n")])
    parts = sorted((ws_path / "events").glob("part-*.parquet"))
    before = {p: p.stat().st_mtime_ns for p in parts}
    ingest(ws_path, "users", [write(tmp_path, "c.csv", "Record ID,Email\n51,a@x.io\n")], fmt="hubspot")
    result = ingest(ws_path, "users", [write(tmp_path, "p.csv", "user_id,email\nu_1,a@x.io\n")])
    assert result.parts_rekeyed == 1
    assert parts[0].stat().st_mtime_ns != before[parts[0]] and parts[1].stat().st_mtime_ns == before[parts[1]]
    events = Workspace(ws_path).scan("events").collect().sort("event_id")
    assert events["user_id"].to_list() == ["u_1", "u_7"] and events["source_user_id"].to_list() == ["51", "u_7"]
    # the files store the export's id only where it is not the canonical one (NULL: the same as user_id)
    stored = pl.read_parquet(parts).sort("event_id")
    assert stored["source_user_id"].to_list() == ["51", None]
    after = {p: p.stat().st_mtime_ns for p in parts}
    unrelated = ingest(ws_path, "users", [write(tmp_path, "q.csv", "user_id,email\nu_8,z@y.io\n")])
    assert unrelated.parts_rekeyed == 0 and {p: p.stat().st_mtime_ns for p in parts} == after


def test_segment_alias_and_mixpanel_merge_feed_identities(tmp_path, ws_path):
    seg = tmp_path / "seg.jsonl"
    seg.write_text(json.dumps({"type": "alias", "previousId": "old-9", "userId": "u_1", "messageId": "a"}) + "\n"
                   + json.dumps({"type": "identify", "userId": "u_1", "messageId": "b", "traits": {"email": "a@x.io"}}) + "\n")
    result = ingest(ws_path, "users", [str(seg)])
    assert result.skipped == {"Segment alias call": 1} and result.links == 1
    mp = tmp_path / "mp.jsonl"
    rows = [{"event": "$merge", "properties": {"time": 1790812800, "distinct_id": "u_1", "$anon_distinct_id": "$device:d1",
                                               "$identified_id": "u_1", "$insert_id": "m0"}},
            {"event": "$create_alias", "properties": {"time": 1790812800, "distinct_id": "u_1", "alias": "crm-1", "$insert_id": "m1"}},
            {"event": "login", "properties": {"time": 1790812801, "distinct_id": "$device:d1", "$insert_id": "m2"}},
            {"event": "login", "properties": {"time": 1790812802, "distinct_id": "old-9", "$insert_id": "m3"}}]
    mp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    events = ingest(ws_path, "events", [str(mp)])
    assert events.skipped == {"Mixpanel $create_alias (identity bookkeeping)": 1, "Mixpanel $merge (identity bookkeeping)": 1}
    assert (events.read, events.added, events.rejected) == (4, 2, 0)
    stored = Workspace(ws_path).scan("events").collect()
    assert stored["user_id"].to_list() == ["u_1", "u_1"]
    assert {a["alias"] for a in aliases_of(ws_path, "u_1")} == {"u_1", "old-9", "$device:d1", "crm-1"}


@pytest.mark.parametrize("window", [None, timedelta(seconds=2)])
def test_cross_source_dedupe_window(tmp_path, ws_path, window):
    seg = tmp_path / "s.jsonl"
    seg.write_text(json.dumps({"type": "track", "event": "Invite", "userId": "u_1", "messageId": "s1",
                               "timestamp": "2026-10-22T09:00:00Z"}) + "\n")
    ingest(ws_path, "events", [str(seg)])
    mp = tmp_path / "m.jsonl"
    mp.write_text("".join(json.dumps({"event": "Invite", "properties": {"time": t, "distinct_id": "u_1", "$insert_id": i}}) + "\n"
                          for t, i in ((1792659601, "m1"), (1792659610, "m2"))))  # +1s (a copy) and +10s (another)
    result = ingest(ws_path, "events", [str(mp)], options=IngestOptions(dedupe_window=window))
    assert (result.added, result.duplicates) == ((2, 0) if window is None else (1, 1))
    # the same source is never deduplicated by time
    again = tmp_path / "m2.jsonl"
    again.write_text(json.dumps({"event": "Invite", "properties": {"time": 1792659611, "distinct_id": "u_1", "$insert_id": "m9"}}) + "\n")
    assert ingest(ws_path, "events", [str(again)], options=IngestOptions(dedupe_window=window)).added == 1


def test_event_id_scheme_is_fixed_and_documented(tmp_path, ws_path):
    line = '{"user_id": "u_1", "event": "Invite", "timestamp": "2026-10-22 09:00:00.5", "seats": 3}\n'
    ingest(ws_path, "events", [write(tmp_path, "e.jsonl", line)])
    got = Workspace(ws_path).scan("events").collect()["event_id"].item()
    text = "u_1\x1fInvite\x1f2026-10-22T09:00:00.500000Z\x1fseats=3.0"
    assert got == "s1:" + hashlib.sha1(text.encode()).hexdigest()  # the serialisation docs/ingest.md describes
    assert got == "s1:f6e5f939c06a910d4b525ee1870c8334b36f27ec"  # and a fixed value: an upgrade must not change it


def test_cli_ingest_reports_identity_and_status(pql, tmp_path, ws_path):
    crm = write(tmp_path, "c.csv", "Record ID,Email\n51,a@x.io\n")
    product = write(tmp_path, "p.csv", "user_id,email\nu_1,a@x.io\n")
    events = write(tmp_path, "e.csv", "user_id,event,timestamp\n51,login,2026-10-01\nghost,login,2026-10-01\n")
    for args in (("users", crm), ("users", product), ("events", events)):
        code, _, err = pql("ingest", *args)
        assert code == 0, err
    from pqlcli.ingest.identity import identity_status

    identity = identity_status(Workspace(ws_path))
    assert identity["users_merged"] == 1 and identity["events_unknown_user"] == 1
    assert identity["unknown_user_examples"] == ["ghost"] and "pql ingest users" in identity["hint"]
    code, _, err = pql("status")
    assert code == 0, err
    assert "1 user record(s)" in err and "1 event(s) belong to no known person (e.g. ghost)" in " ".join(err.split())


def test_tied_records_give_the_same_traits_whatever_the_row_order(tmp_path):
    rows = ["u_2,a@x.io,Designer", "u_1,a@x.io,Marketing Manager"]
    got = []
    for name, order in (("a", rows), ("b", rows[::-1])):
        csv = write(tmp_path, f"{name}.csv", "user_id,email,title\n" + "\n".join(order) + "\n")
        ingest(tmp_path / name, "users", [csv])
        got.append(users(tmp_path / name))
    assert got[0] == got[1] and list(got[0]) == ["u_1"]
