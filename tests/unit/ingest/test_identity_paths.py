"""The fast paths of identity resolution give what the general path gives.

`resolve` sends only the ids of an email, domain or link shared by several ids through the connected
components, copies a person with one record as it is (no per-person precedence group-by), writes
`identities` rows only for persons known by several ids, and skips change detection on the first import.
Each test below computes the general result (every record a node, every person grouped) or takes the
other path on the same data, and compares.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from pqlcli.ingest import ingest
from pqlcli.ingest.identity import DEFAULT_PRECEDENCE, _picked, aliases_of, canonical_ids, components
from pqlcli.workspace import Workspace
from pqlcli.workspace.doctor import diagnose

PRODUCT = """user_id,email,plan,title,signup_at,account_id
u_1,ana@x.io,team,,2026-01-05,ws_1
u_2,bo@y.io,free,Engineer,2026-02-01,ws_2
u_3,cy@z.io,free,Designer,2026-02-03,9001
u_4,,free,,2026-02-04,ws_2
u_5,Ana@X.io ,pro,Founder,2026-01-01,ws_1
u_2,bo@y.io,team,Engineer,2026-02-01,ws_2
"""
CRM = """Record ID,Email,Contact owner,Plan,Job Title
51,ana@x.io,rep@ourco.com,crm-plan,VP
52,dee@w.io,rep2@ourco.com,,CTO
53,cy@z.io,,enterprise,
"""
ACCOUNTS_PRODUCT = "account_id,name,domain,plan\nws_1,Acme,acme.com,team\nws_2,Beta,beta.io,free\n"
ACCOUNTS_CRM = "Record ID,Company name,Company Domain Name,Company owner\n9001,Acme Inc,https://www.acme.com/,rep@ourco.com\n"


def _write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


def _build(tmp: Path, ws_path: Path) -> Workspace:
    ingest(ws_path, "accounts", [_write(tmp, "ap.csv", ACCOUNTS_PRODUCT)])
    ingest(ws_path, "accounts", [_write(tmp, "ac.csv", ACCOUNTS_CRM)])
    ingest(ws_path, "users", [_write(tmp, "p.csv", PRODUCT)])
    ingest(ws_path, "users", [_write(tmp, "c.csv", CRM)], fmt="hubspot")
    seg = tmp / "seg.jsonl"  # an alias call links old-9 to u_2; u_6 is a user record alone in its person
    seg.write_text(json.dumps({"type": "alias", "previousId": "old-9", "userId": "u_2", "messageId": "a"}) + "\n"
                   + json.dumps({"type": "identify", "userId": "u_6", "messageId": "b", "traits": {"email": "fay@v.io"}}) + "\n")
    ingest(ws_path, "users", [str(seg)])
    return Workspace(ws_path)


def _general(ws: Workspace, kind: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The general path: every record a node of the components, every person grouped by precedence."""
    key = {"users": "user_id", "accounts": "account_id"}[kind]
    records = ws.scan(f"{kind[:-1]}_records").collect()
    crm = pl.col("_source").is_in(["hubspot", "salesforce"])
    nodes = records.select(pl.col(key).alias("id"), pl.when(crm).then(1).otherwise(0).cast(pl.Int32).alias("rank"))
    if kind == "users":
        attr = pl.col("email").str.strip_chars().str.to_lowercase()
    else:
        attr = pl.when(pl.col("domain").is_in(["gmail.com"])).then(None).otherwise(pl.col("domain"))
    keyed = records.select(pl.col(key).alias("a"), attr.alias("v")).drop_nulls("v")
    edges = keyed.join(keyed.group_by("v").agg(pl.col("a").min().alias("b")), on="v").select("a", "b")
    if ws.has_table("identity_links"):
        links = ws.scan("identity_links").filter(pl.col("kind") == kind).select("a", "b").collect()
        edges = pl.concat([edges, links])
    mapping = components(nodes, edges.filter(pl.col("a") != pl.col("b")))
    joined = records.join(mapping.rename({"id": key}), on=key, how="left").lazy()
    columns = [c for c in ws.scan(kind).collect_schema() if c != key]
    return mapping, _picked(joined, key, columns, DEFAULT_PRECEDENCE).collect().sort(key)


def test_fast_paths_give_the_general_tables(tmp_path: Path, ws_path: Path):
    ws = _build(tmp_path, ws_path)
    account_map, accounts = _general(ws, "accounts")
    user_map, users = _general(ws, "users")
    alias = account_map.filter(pl.col("id") != pl.col("canonical"))
    users = users.with_columns(pl.col("account_id").replace(alias["id"], alias["canonical"]))
    assert ws.scan("accounts").collect().equals(accounts)
    assert ws.scan("users").collect().equals(users)
    # the data has merges (so both paths ran): ana (u_1, u_5, 51), cy (u_3, 53), bo (u_2, old-9); Acme (ws_1, 9001)
    assert set(ws.scan("users").collect()["user_id"]) == {"u_1", "u_2", "u_3", "u_4", "u_6", "52"}
    assert dict(users.select("user_id", "account_id").iter_rows())["u_3"] == "ws_1"
    # every id resolves to the general path's canonical id, whether or not it has an identities row
    for kind, full in (("users", user_map), ("accounts", account_map)):
        stored = dict(canonical_ids(ws, kind, everyone=True).iter_rows())
        assert {i: stored.get(i, i) for i in full["id"]} == dict(full.iter_rows())


def test_identities_rows_only_for_persons_known_by_several_ids(tmp_path: Path, ws_path: Path):
    ws = _build(tmp_path, ws_path)
    table = ws.scan("identities").filter(pl.col("kind") == "user").collect()
    assert set(table["alias"]) == {"u_1", "u_5", "51", "u_3", "53", "u_2", "old-9"}
    # a lone id has no row, yet aliases_of (explain's "Known as") still finds it and where it was seen
    assert aliases_of(ws, "u_4") == [{"alias": "u_4", "source": "generic", "canonical": True, "record": True}]
    assert aliases_of(ws, "52") == [{"alias": "52", "source": "hubspot", "canonical": True, "record": True}]
    assert aliases_of(ws, "ws_2", "account") == [{"alias": "ws_2", "source": "generic", "canonical": True, "record": True}]
    assert aliases_of(ws, "nobody") == []
    assert {(a["alias"], a["canonical"]) for a in aliases_of(ws, "old-9")} == {("u_2", True), ("old-9", False)}


def test_first_import_gives_what_an_import_into_existing_records_gives(tmp_path: Path):
    """The first import of users skips change detection and the merge with stored records; the same
    file ingested after another users file takes the general upsert: same people, same counts."""
    product = _write(tmp_path, "p.csv", PRODUCT)
    first = ingest(tmp_path / "a", "users", [product])
    ingest(tmp_path / "b", "users", [_write(tmp_path, "other.csv", "user_id,email,plan\nz_9,zed@q.io,free\n")])
    later = ingest(tmp_path / "b", "users", [product])
    assert (first.added, first.updated, first.duplicates) == (later.added, later.updated, later.duplicates) == (5, 0, 1)
    a = Workspace(tmp_path / "a").scan("users").collect()
    b = Workspace(tmp_path / "b").scan("users").collect().filter(pl.col("user_id") != "z_9")
    assert a.equals(b.select(a.columns)) and a.filter(pl.col("user_id") == "u_2")["plan"].item() == "team"  # the later row wins
    assert Workspace(tmp_path / "a").scan("identities").collect().equals(Workspace(tmp_path / "b").scan("identities").collect())


def test_a_person_who_splits_gets_their_events_back(tmp_path: Path, ws_path: Path):
    """51 merges into u_1 (one email), its events move to u_1; the CRM then changes 51's email: 51 is
    alone again (no identities row), and its events move back."""
    ingest(ws_path, "users", [_write(tmp_path, "p.csv", "user_id,email\nu_1,a@x.io\n")])
    ingest(ws_path, "users", [_write(tmp_path, "c.csv", "Record ID,Email\n51,a@x.io\n")], fmt="hubspot")
    ingest(ws_path, "events", [_write(tmp_path, "e.csv", "event_id,user_id,event,timestamp\n1,51,login,2026-10-01\n")])
    ws = Workspace(ws_path)
    assert ws.scan("events").collect()["user_id"].to_list() == ["u_1"]
    result = ingest(ws_path, "users", [_write(tmp_path, "c2.csv", "Record ID,Email\n51,b@x.io\n")], fmt="hubspot")
    assert result.parts_rekeyed == 1 and result.users_merged == 0
    assert ws.scan("events").collect()["user_id"].to_list() == ["51"]
    assert ws.scan("identities").collect().is_empty()


def test_doctor_counts_events_of_lone_users_as_known(tmp_path: Path, ws_path: Path):
    ingest(ws_path, "users", [_write(tmp_path, "p.csv", "user_id,email\nu_1,a@x.io\nu_2,b@x.io\n")])
    ingest(ws_path, "events", [_write(tmp_path, "e.csv", "user_id,event,timestamp\nu_1,login,2026-10-01\n"
                                                          "u_2,login,2026-10-01\nghost,login,2026-10-02\n")])
    numbers = diagnose(Workspace(ws_path)).identities
    assert numbers is not None and numbers["events_of_no_known_person"] == 1 and numbers["orphan_examples"] == ["ghost"]


def test_repeated_is_is_duplicated():
    """The hash-first duplicate check that the fast paths branch on agrees with Polars' exact one, on
    one column and several, with NULLs and empty frames."""
    import random

    from pqlcli.ingest.identity import repeated

    rng = random.Random(12)
    for _ in range(200):
        n = rng.randint(0, 40)
        frame = pl.DataFrame({"a": [rng.choice(["x", "y", "z", None, "w"]) for _ in range(n)],
                              "b": [rng.choice(["p", "q", None]) for _ in range(n)]}, schema={"a": pl.String, "b": pl.String})
        assert repeated(frame, ["a"]).to_list() == frame["a"].is_duplicated().to_list()
        assert repeated(frame, ["a", "b"]).to_list() == frame.select(pl.struct("a", "b").is_duplicated()).to_series().to_list()
