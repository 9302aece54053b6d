"""Routing of unowned records (config `routing:`): first match wins, round robin by rendezvous hashing."""

from __future__ import annotations

import polars as pl

from pqlcli import config, scoring
from pqlcli.scoring.routing import pick
from tests.factories.scoring_helpers import AS_OF, make_ws

BASE = """
version: 1
fit:
  - {name: big, when: "employees > 1000", points: 60}
routing:
  - {when: "country IN ('DE', 'FR')", owner: emea@ourco.com}
  - {when: "employees > 1000", owner: enterprise@ourco.com}
  - {round_robin: [ana@ourco.com, ben@ourco.com]}
"""


def _ws(tmp_path):
    users = [
        {"user_id": f"u{i}", "email": f"p{i}@c{i % 7}.example", "account_id": f"a{i % 7}",
         "owner": "owner@ourco.com" if i % 10 == 0 else None}
        for i in range(200)
    ]
    accounts = [{"account_id": f"a{i}", "domain": f"c{i}.example", "owner": "crm@ourco.com" if i == 6 else None}
                for i in range(7)]
    firmo = [{"domain": f"c{i}.example", "country": ["DE", "US", "FR", "US", "GB", "US", "DE"][i],
              "employees": [10, 5000, 10, 20, 30, 40, 50][i]} for i in range(7)]
    return make_ws(tmp_path / "ws", users, accounts, [], firmo)


def _score(ws, text):
    return scoring.compute(ws, config.loads(text, "routing.yaml"), AS_OF)


def test_first_matching_rule_then_round_robin(tmp_path):
    out = _score(_ws(tmp_path), BASE)
    users = out.users
    owned = users.filter(pl.col("owner").is_not_null())
    assert owned["assigned_owner"].to_list() == owned["owner"].to_list() and not owned["routed"].any()
    assert owned["routed_owner"].is_null().all()
    free = users.filter(pl.col("owner").is_null())
    assert free["routed"].all()
    country = dict(zip([f"a{i}" for i in range(7)], ["DE", "US", "FR", "US", "GB", "US", "DE"], strict=True))
    for r in free.iter_rows(named=True):
        c = country[r["account_id"]]
        if c in ("DE", "FR"):
            want = "emea@ourco.com"  # the first rule wins even where the second also holds
        elif r["account_id"] == "a1":
            want = "enterprise@ourco.com"
        else:
            want = pick(("ana@ourco.com", "ben@ourco.com"), r["user_id"])
        assert r["assigned_owner"] == want == r["routed_owner"], r
    spread = free.filter(pl.col("account_id").is_in(["a3", "a4", "a5"]))["assigned_owner"].value_counts()
    assert spread.height == 2 and spread["count"].min() > 10  # both reps get a share
    accts = {r["account_id"]: r for r in out.accounts.iter_rows(named=True)}
    assert accts["a6"]["assigned_owner"] == "crm@ourco.com" and not accts["a6"]["routed"]
    assert accts["a0"]["assigned_owner"] == "emea@ourco.com" and accts["a1"]["routed_owner"] == "enterprise@ourco.com"


def test_round_robin_is_stable_and_a_new_rep_moves_few(tmp_path):
    ws = _ws(tmp_path)
    first, again = _score(ws, BASE), _score(ws, BASE)
    assert first.users["assigned_owner"].to_list() == again.users["assigned_owner"].to_list()
    more = _score(ws, BASE.replace("[ana@ourco.com, ben@ourco.com]", "[ana@ourco.com, ben@ourco.com, cy@ourco.com]"))
    before = dict(zip(first.users["user_id"], first.users["assigned_owner"], strict=True))
    after = dict(zip(more.users["user_id"], more.users["assigned_owner"], strict=True))
    moved = [u for u in before if before[u] != after[u]]
    assert moved and all(after[u] == "cy@ourco.com" for u in moved)  # only records the new rep wins move
    rr = [u for u in before if before[u] in ("ana@ourco.com", "ben@ourco.com") and first.users.filter(
        pl.col("user_id") == u)["routed"][0]]
    assert len(moved) < 0.6 * len(rr)


def test_list_owner_and_tiers_by_owner_use_assigned_owner(tmp_path, pql, ws_path):
    _ws(ws_path.parent)
    cfg = tmp_path / "routing.yaml"
    cfg.write_text(BASE + "as_of: 2026-11-01\n")
    rc, _, err = pql("score", "--config", cfg)
    assert rc == 0, err
    rc, out, err = pql("list", "users", "--owner", "emea@ourco.com", "--format", "csv", "--columns",
                       "user_id,owner,assigned_owner,routed")
    assert rc == 0, err
    lines = out.strip().splitlines()[1:]
    assert lines and all(line.endswith(",emea@ourco.com,true") for line in lines)
    rc, out, err = pql("tiers", "report", "--format", "json")
    assert rc == 0, err
    assert "emea@ourco.com" in out and "ben@ourco.com" in out


def test_round_robin_hash_is_the_published_xxhash64_and_assignments_are_pinned():
    """The weights are standard xxHash64 (seed 0), so assignments survive Polars and pql upgrades."""
    import polars as pl
    from polars_hash import NonCryptographicHashingNameSpace

    from pqlcli.scoring.routing import round_robin, weight

    xxh = NonCryptographicHashingNameSpace(pl.lit("abc")).xxhash64()
    assert pl.select(xxh).item() == 0x44BC2CF5AD770999  # the reference vector of the xxHash spec
    assert weight("ana@ourco.com", "usr_0") == 7331781615487618183
    reps = ("ana@ourco.com", "ben@ourco.com", "cy@ourco.com")
    ids = pl.DataFrame({"user_id": [f"usr_{i}" for i in range(8)]})
    got = ids.select(round_robin(reps, pl.col("user_id")))["literal"].to_list()
    assert got == ["ana@ourco.com"] * 3 + ["cy@ourco.com"] + ["ben@ourco.com"] * 3 + ["ana@ourco.com"]
    assert got == [pick(reps, i) for i in ids["user_id"]]
