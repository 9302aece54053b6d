"""`pql doctor`: every check finds its planted problem with the right count, and clean data is all ok."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pqlcli.config import loads
from pqlcli.workspace import Workspace
from pqlcli.workspace.doctor import CHECKS, diagnose

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
CONFIG = """\
version: 1
as_of: 2026-11-01
metrics:
  projects_30d: {{event: {event}, window: 30d}}
  logins_7d: {{event: login, window: 7d}}
usage:
  - {{name: projects, metric: projects_30d, points: 10, cap: 50}}
"""
NAMES = ["events_unknown_user", "users_without_events", "duplicate_emails", "accounts_shared_domain",
         "users_without_account", "future_events", "config_events_missing", "missing_firmographics",
         "free_email_share", "stale_enrichment", "timezone_suspect", "events_layout"]


def _events(user: str, n: int, start: datetime, *, whole_hours: bool = False) -> list[dict]:
    step = timedelta(hours=1) if whole_hours else timedelta(hours=1, minutes=7, seconds=13)
    return [{"event_id": f"{user}-{start:%m%d%H}-{i}", "user_id": user, "event": ["project_created", "login"][i % 2],
             "timestamp": start + i * step} for i in range(n)]


def _workspace(root: Path, planted: bool) -> Workspace:
    ws = Workspace.open(root, create=True)
    ws.root.mkdir(parents=True, exist_ok=True)
    accounts = [("a1", "acme.com"), ("a2", "beta.io")] + ([("a3", "beta.io"), ("a4", "gamma.dev")] if planted else [])
    users = [("u1", "ana@acme.com", "a1"), ("u2", "bo@acme.com", "a1"), ("u3", "cy@beta.io", "a2"),
             ("u4", "di@beta.io", "a2")]
    if planted:  # u5: no account (joins beta.io by email), no events; u6: u1's email; u7: gmail, no account
        users += [("u5", "ed@beta.io", None), ("u6", "ana@acme.com", "a1"), ("u7", "fay@gmail.com", None)]
    ws.write_table("accounts", pl.DataFrame(accounts, schema=["account_id", "domain"], orient="row"))
    ws.write_table("users", pl.DataFrame(users, schema=["user_id", "email", "account_id"], orient="row"))
    start = AS_OF - timedelta(days=20) + timedelta(minutes=3)
    rows = [e for u in ("u1", "u2", "u3", "u4") for e in _events(u, 25, start)]
    if planted:
        rows += _events("u6", 5, start) + _events("u7", 5, start)
        rows += _events("ghost", 3, start)  # events of no known user
        rows += _events("u1", 2, AS_OF + timedelta(hours=5))  # after as_of
    ws.add_part("events", pl.DataFrame(rows), "20261101T000000000000Z")
    if planted:  # a second export whose times all sit on whole hours
        ws.add_part("events", pl.DataFrame(_events("u2", 24, start.replace(minute=0), whole_hours=True)),
                    "20261101T000001000000Z")
    fetched = datetime.now(UTC)
    firmo = [("acme.com", "found", 120), ("beta.io", "found", 40)] + ([("gamma.dev", "not_found", None)] if planted else [])
    ws.write_table("firmographics", pl.DataFrame(
        [{"domain": d, "status": s, "employees": e, "provider": "file", "fetched_at": fetched} for d, s, e in firmo]))
    return ws


def _by_name(report) -> dict[str, object]:
    return {c.name: c for c in report.checks}


def test_every_check_finds_its_planted_problem(tmp_path: Path, monkeypatch):
    from pqlcli.workspace import doctor

    monkeypatch.setattr(doctor, "MANY_PARTS", 1)  # the planted workspace's two ingested parts (real: 100)
    ws = _workspace(tmp_path / "ws", planted=True)
    loaded = loads(CONFIG.format(event="project_creatd"), "pql.yaml")
    checks = _by_name(diagnose(ws, loaded, now=datetime.now(UTC) + timedelta(days=60)))
    assert list(checks) == NAMES == [c.__name__ for c in CHECKS]
    expected = {"events_unknown_user": 3, "users_without_events": 1, "duplicate_emails": 1,
                "accounts_shared_domain": 1, "users_without_account": 2, "future_events": 2,
                "config_events_missing": 1, "missing_firmographics": 1, "free_email_share": 1,
                "stale_enrichment": 3, "timezone_suspect": 1, "events_layout": 1}
    assert {n: c.count for n, c in checks.items()} == expected
    assert all(c.severity in ("warning", "error") for n, c in checks.items() if n != "free_email_share")
    assert checks["free_email_share"].severity == "ok"  # 1 of 7 users: below the 50% warning line
    assert checks["events_unknown_user"].examples == ["ghost"]
    assert checks["duplicate_emails"].examples == ["ana@acme.com"]
    assert checks["accounts_shared_domain"].examples == ["beta.io"]
    assert "1 of them join an account by their email domain" in checks["users_without_account"].hint
    assert checks["config_events_missing"].severity == "error"
    assert "closest: project_created" in checks["config_events_missing"].examples[0]
    assert checks["missing_firmographics"].examples == ["gamma.dev"]
    assert "whole hours" in checks["timezone_suspect"].examples[0]
    assert checks["events_layout"].examples == ["events: 2 parts"] and "pql optimize --merge" in checks["events_layout"].hint


def test_clean_data_is_all_ok(tmp_path: Path):
    ws = _workspace(tmp_path / "ws", planted=False)
    report = diagnose(ws, loads(CONFIG.format(event="project_created"), "pql.yaml"))
    assert {c.name: (c.severity, c.count) for c in report.checks if c.name != "free_email_share"} == {
        n: ("ok", 0) for n in NAMES if n != "free_email_share"}
    assert report.worst == "ok"


@pytest.mark.parametrize("planted", [True, False])
def test_doctor_cli_json_and_strict(pql, tmp_path: Path, ws_path: Path, planted: bool):
    _workspace(ws_path, planted)
    config = tmp_path / "pql.yaml"
    config.write_text(CONFIG.format(event="project_creatd" if planted else "project_created"), "utf-8")
    code, out, err = pql("doctor", "--config", str(config), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert [c["name"] for c in data["checks"]] == NAMES
    assert all(set(c) == {"name", "severity", "count", "examples", "hint"} for c in data["checks"])
    assert all(len(c["examples"]) <= 5 for c in data["checks"])
    code, out, err = pql("doctor", "--config", str(config), "--strict")
    assert code == (1 if planted else 0), err
    assert "events_unknown_user" in out


def test_timezone_suspect_finds_an_export_whose_daily_rhythm_is_shifted_by_whole_hours(tmp_path: Path):
    """Two exports of the same users' activity: the second's busiest hour is 5 hours later (local times
    read as UTC); a third, unshifted export is not a suspect."""
    ws = Workspace.open(tmp_path / "ws", create=True)
    ws.write_table("users", pl.DataFrame({"user_id": ["u1"], "email": ["a@acme.com"]}))
    day0 = datetime(2026, 9, 1, tzinfo=UTC)

    def export(tag: str, peak_hour: int) -> pl.DataFrame:
        times = [day0 + timedelta(days=d, hours=peak_hour, minutes=(m * 37) % 120 - 60, seconds=m % 59)
                 for d in range(30) for m in range(40)]
        return pl.DataFrame({"event_id": [f"{tag}-{i}" for i in range(len(times))], "user_id": "u1",
                             "event": "login", "timestamp": times})

    for i, (tag, peak) in enumerate([("a", 14), ("b", 19), ("c", 14)]):
        ws.add_part("events", export(tag, peak), f"20261101T00000{i}000000Z")
    check = diagnose(ws, only=["timezone_suspect"]).checks[0]
    assert check.count == 1 and check.examples == ["part-20261101T000001000000Z.parquet: busiest hour +5h from the other exports"]
