"""End to end: HubSpot contacts + Segment tracks/identify + Mixpanel, the same people under different ids.

Every person is one record, their events count once after `pql score`, and their rep sees them with usage.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pqlcli.ingest.identity import aliases_of
from pqlcli.workspace import Workspace

CONFIG = """\
version: 1
as_of: 2026-11-01
metrics:
  projects_30d: {event: project_created, window: 30d}
  invites_30d: {event: Workspace Invite Sent, window: 30d}
  page_views: {event: $mp_web_page_view, window: 30d}
fit:
  - {name: vp, when: "regexp_like(title, 'VP')", points: 60}
usage:
  - {name: projects, metric: projects_30d, points: 10, cap: 50}
  - {name: invites, metric: invites_30d, points: 10, cap: 50}
tiers: {fit: 50, usage: 10}
"""

CONTACTS = """\
Record ID,First Name,Last Name,Email,Job Title,Contact owner,Create Date
51001,Dana,Diaz, DANA@Northwind.io ,VP Product,rep@ourco.com,2026-09-01
51002,Eli,Park,eli@globex.com,Engineer,rep@ourco.com,2026-09-02
51003,Fay,Wu,fay@initech.com,CTO,other@ourco.com,2026-09-03
"""


def epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def write_exports(tmp: Path) -> dict[str, str]:
    (tmp / "contacts.csv").write_text(CONTACTS)
    tracks = jsonl(tmp / "tracks.jsonl", [
        {"type": "track", "event": "project_created", "userId": "u_1", "messageId": "s1",
         "timestamp": "2026-10-20T10:00:00Z"},
        # before signing in: only an anonymousId (linked to u_1 by the identify call below)
        {"type": "track", "event": "project_created", "anonymousId": "anon-1", "messageId": "s2",
         "timestamp": "2026-10-21T10:00:00Z"},
        {"type": "track", "event": "Workspace Invite Sent", "userId": "u_1", "messageId": "s3",
         "timestamp": "2026-10-22T09:00:00Z"},
    ])
    identify = jsonl(tmp / "identify.jsonl", [
        {"type": "identify", "userId": "u_1", "anonymousId": "anon-1", "messageId": "i1",
         "timestamp": "2026-10-01T00:00:00Z", "traits": {"email": "dana@northwind.io", "plan": "trial"}},
        {"type": "identify", "userId": "u_2", "messageId": "i2", "timestamp": "2026-10-01T00:00:00Z",
         "traits": {"email": "Eli@Globex.com", "plan": "free"}},
        {"type": "alias", "previousId": "anon-9", "userId": "u_2", "messageId": "i3", "timestamp": "2026-10-01T00:00:00Z"},
    ])
    mixpanel = jsonl(tmp / "mixpanel.jsonl", [
        # the same invite, forwarded by Mixpanel too, one second later and with its own id
        {"event": "Workspace Invite Sent", "properties": {"time": epoch(2026, 10, 22, 9, 0, 1), "distinct_id": "u_1", "$insert_id": "m1"}},
        {"event": "$identify", "properties": {"time": epoch(2026, 10, 23), "distinct_id": "u_2", "$insert_id": "m2",
                                              "$anon_distinct_id": "$device:xyz", "$identified_id": "u_2"}},
        {"event": "project_created", "properties": {"time": epoch(2026, 10, 23, 8), "distinct_id": "$device:xyz", "$insert_id": "m3"}},
        {"event": "$mp_web_page_view", "properties": {"time": epoch(2026, 10, 23, 9), "distinct_id": "u_2", "$insert_id": "m4"}},
        {"event": "project_created", "properties": {"time": epoch(2026, 10, 24), "distinct_id": "anon-9", "$insert_id": "m5"}},
    ])
    return {"contacts": str(tmp / "contacts.csv"), "tracks": tracks, "identify": identify, "mixpanel": mixpanel}


def ingest_exports(pql, tmp_path: Path) -> Path:
    """The exports written and ingested in the order a team would (events first, under the export's ids;
    the identity calls later, so stored events are re-keyed); returns the config's path."""
    files = write_exports(tmp_path)
    config = tmp_path / "pql.yaml"
    config.write_text(CONFIG)
    for args in (("users", files["contacts"]), ("events", files["tracks"]), ("users", files["identify"]),
                 ("events", files["mixpanel"], "--dedupe-window", "2s")):
        code, _, err = pql("ingest", *args)
        assert code == 0, err
    return config


def test_one_person_one_record_events_once_rep_sees_them(pql, tmp_path: Path, ws_path: Path):
    config = ingest_exports(pql, tmp_path)
    ws = Workspace(ws_path)
    users = ws.scan("users").collect().sort("user_id")
    assert users["user_id"].to_list() == ["51003", "u_1", "u_2"]  # three people, product ids preferred
    dana = users.row(1, named=True)
    assert (dana["owner"], dana["plan"], dana["title"], dana["email"]) == ("rep@ourco.com", "trial", "VP Product", "dana@northwind.io")

    events = ws.scan("events").collect()
    per_user = dict(events.group_by("user_id").len().iter_rows())
    # Dana: 2 projects (one anonymous) + 1 invite (the Mixpanel copy dropped); Eli: project via $device, alias, page view
    assert per_user == {"u_1": 3, "u_2": 3}
    assert "$identify" not in events["event"].to_list() and "$mp_web_page_view" in events["event"].to_list()
    assert sorted(events.filter(pl.col("user_id") == "u_1")["source_user_id"].to_list()) == ["anon-1", "u_1", "u_1"]

    assert {a["alias"] for a in aliases_of(ws, "51001")} == {"51001", "u_1", "anon-1"}
    assert [a["alias"] for a in aliases_of(ws, "anon-1") if a["canonical"]] == ["u_1"]

    code, _, err = pql("score", "--config", config)
    assert code == 0, err
    assert "not in the users table" not in err
    code, out, err = pql("list", "users", "--owner", "rep@ourco.com", "--format", "json",
                         "--columns", "user_id,projects_30d,invites_30d,usage_score")
    assert code == 0, err
    listed = {r["user_id"]: r for r in json.loads(out)}
    assert set(listed) == {"u_1", "u_2"}
    assert listed["u_1"]["projects_30d"] == 2 and listed["u_1"]["invites_30d"] == 1
    assert listed["u_1"]["usage_score"] == 30 and listed["u_2"]["usage_score"] == 20
    assert all(r["usage_score"] > 0 for r in listed.values())


def test_same_inputs_same_canonical_ids_in_any_order(tmp_path: Path):
    from pqlcli.ingest import ingest

    files = write_exports(tmp_path)
    results = []
    for name, order in (("a", ("contacts", "identify")), ("b", ("identify", "contacts"))):
        ws = Workspace.open(tmp_path / name, create=True)
        for key in order:
            ingest(ws, "users", [files[key]])
        ingest(ws, "events", [files["tracks"]])
        results.append((ws.scan("users").collect().sort("user_id"), ws.scan("identities").collect()))
    assert results[0][0].equals(results[1][0]) and results[0][1].equals(results[1][1])
