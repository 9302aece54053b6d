"""Events ingested into a bucketed workspace: each person's events in the bucket of their canonical id
(also after a later identity merge moves them), re-ingest adds nothing, a day of new events is checked
against its own buckets, and the stored buckets score exactly as the single pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pqlcli import config, scoring
from pqlcli.errors import WorkspaceError
from pqlcli.ingest import IngestOptions, ingest
from pqlcli.workspace import Workspace
from pqlcli.workspace.buckets import bucket_expr
from tests import paths

N = 16
HEAD = "event_id,user_id,event,timestamp\n"
# with 16 buckets: 51001 -> 6, anon-1 -> 13, u_1 -> 14, u_2 -> 7 (tests/unit/workspace/test_buckets.py)
EVENTS = HEAD + "".join(
    f"{uid}-{i},{uid},project_created,2026-10-{10 + i:02d}T10:00:00Z\n" for uid in ("51001", "anon-1", "u_1", "u_2")
    for i in range(3))


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def homes(ws: Workspace) -> dict[str, set[str]]:
    """user_id -> the bucket folders holding its events (must be exactly one, its own)."""
    out: dict[str, set[str]] = {}
    for part in ws.table_files("events"):
        for uid in pl.read_parquet(part, columns=["user_id"])["user_id"].unique():
            out.setdefault(uid, set()).add(part.parent.name)
    return out


def own_bucket(uid: str, n: int = N) -> str:
    b = pl.DataFrame({"user_id": [uid]}).select(bucket_expr(n))["user_id"][0]
    return f"bucket={b:03d}"


def test_aliases_events_move_to_the_canonical_bucket_after_a_later_merge(tmp_path, ws_path):
    events = write(tmp_path, "events.csv", EVENTS)
    result = ingest(ws_path, "events", [events], options=IngestOptions(buckets=N))
    assert result.added == 12
    ws = Workspace(ws_path)
    assert homes(ws) == {uid: {own_bucket(uid)} for uid in ("51001", "anon-1", "u_1", "u_2")}
    assert len({own_bucket(u) for u in ("51001", "anon-1", "u_1")}) == 3  # three buckets before the merge
    # later: a CRM contact 51001 and the product user u_1 share an email; an identify call links anon-1 to u_1
    ingest(ws_path, "users", [write(tmp_path, "c.csv", "Record ID,Email\n51001,dana@x.io\n")], fmt="hubspot")
    merged = ingest(ws_path, "users", [write(tmp_path, "p.csv", "user_id,email\nu_1,dana@x.io\nu_2,eli@y.io\n")])
    assert merged.parts_rekeyed == 1  # only bucket 6's part held a changed id
    identify = tmp_path / "identify.jsonl"
    identify.write_text(json.dumps({"type": "identify", "userId": "u_1", "anonymousId": "anon-1", "messageId": "i1",
                                    "timestamp": "2026-10-01T00:00:00Z", "traits": {"email": "dana@x.io"}}) + "\n")
    ingest(ws_path, "users", [str(identify)])
    # all of Dana's events (under three ids) are now in u_1's bucket; nothing lost, nothing doubled
    assert homes(ws) == {"u_1": {own_bucket("u_1")}, "u_2": {own_bucket("u_2")}}
    stored = ws.scan("events").collect()
    assert stored.height == 12 and stored["event_id"].n_unique() == 12
    assert sorted(stored.filter(pl.col("user_id") == "u_1")["source_user_id"].unique()) == ["51001", "anon-1", "u_1"]
    assert not any(ws.table_path("events").glob("bucket=006/*")) and not any(ws.table_path("events").glob("bucket=013/*"))
    # the same export again (now keyed to u_1, in u_1's bucket): nothing added
    again = ingest(ws_path, "events", [events])
    assert (again.added, again.duplicates) == (0, 12)
    assert ws.scan("events").select(pl.len()).collect().item() == 12


def test_reingest_adds_nothing_and_a_new_day_adds_only_its_rows(tmp_path, ws_path):
    rows = [f"e{i},u_{i % 40},login,2026-10-{1 + i % 20:02d}T0{i % 10}:00:00Z" for i in range(400)]
    history = write(tmp_path, "history.csv", HEAD + "\n".join(rows) + "\n")
    first = ingest(ws_path, "events", [history], options=IngestOptions(buckets=4))
    assert first.added == 400
    again = ingest(ws_path, "events", [history])
    assert (again.added, again.duplicates) == (0, 400)
    # the next day's export repeats the last day (overlap) and has 30 new events, two of them twice
    last_day = [r for r in rows if "2026-10-20" in r]
    new = [f"n{i},u_{i % 50},login,2026-10-21T0{i % 10}:30:00Z" for i in range(30)]
    day = write(tmp_path, "day.csv", HEAD + "\n".join(last_day + new + new[:2]) + "\n")
    daily = ingest(ws_path, "events", [day])
    assert (daily.added, daily.duplicates) == (30, len(last_day) + 2)
    ws = Workspace(ws_path)
    stored = ws.scan("events").collect()
    assert stored.height == 430 and stored["event_id"].n_unique() == 430
    assert all(folders == {own_bucket(uid, 4)} for uid, folders in homes(ws).items())


def test_the_bucket_count_of_a_stored_table_cannot_change(tmp_path, ws_path):
    events = write(tmp_path, "events.csv", EVENTS)
    ingest(ws_path, "events", [events])  # small: one bucket, parts in events/ as before bucketing
    assert Workspace(ws_path).event_bucket_count() == 1
    assert [p.parent.name for p in Workspace(ws_path).table_files("events")] == ["events"]
    with pytest.raises(WorkspaceError, match="stored in 1 bucket"):
        ingest(ws_path, "events", [events], options=IngestOptions(buckets=4))


def test_stored_buckets_score_as_the_single_pass_after_ingest_and_merge(tmp_path, ws_path):
    from pqlcli.examples_gen import generate

    data = generate(tmp_path / "data", users=600, events_per_user=15)
    for kind in ("accounts", "users"):
        ingest(ws_path, kind, [str(data.folder / f"{kind}.csv")])
    ingest(ws_path, "events", [str(data.folder / "events.csv")], options=IngestOptions(buckets=8))
    ws = Workspace(ws_path)
    assert all(folders == {own_bucket(uid, 8)} for uid, folders in homes(ws).items())
    loaded = config.load(paths.ROOT / "config" / "pql.yaml")
    inputs = scoring.Inputs.from_workspace(ws)
    assert inputs.event_buckets is not None and len(inputs.event_buckets) == 8
    stored = scoring.run(loaded, inputs, loaded.as_of())
    single = scoring.run(loaded, inputs, loaded.as_of(), buckets=1)  # one pass over every part
    assert stored.stats == single.stats
    assert_frame_equal(stored.users, single.users, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert_frame_equal(stored.accounts, single.accounts, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


def test_sigkill_mid_bucketed_ingest_leaves_the_old_table_or_the_whole_new_one(tmp_path, ws_path):
    """One ingest writes a part in every bucket; killed at any instant, readers see the old rows or old +
    all new rows (a journal left by the kill is completed by the next reader), never some buckets' rows."""
    from pqlcli.examples_gen import generate

    data = generate(tmp_path / "big", users=4_000, events_per_user=50)
    new_rows = pl.scan_csv(data.folder / "events.csv").select(pl.len()).collect().item()
    first = write(tmp_path, "small.csv", HEAD + "x1,u1,login,2026-10-01T00:00:00Z\n")
    ingest(ws_path, "events", [first], options=IngestOptions(buckets=8))
    env = {**os.environ, "PQL_WORKSPACE": str(ws_path)}
    killed = 0
    for delay in (0.2, 0.6, 1.0, 1.4, 1.8):
        proc = subprocess.Popen([sys.executable, "-m", "pqlcli", "ingest", "events", str(data.folder / "events.csv")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.kill()
        proc.communicate(timeout=60)
        killed += proc.returncode == -signal.SIGKILL
        ws = Workspace(ws_path)
        rows = ws.scan("events").select(pl.len()).collect().item()
        assert rows in (1, 1 + new_rows), f"killed after {delay}s: {rows} rows"
        assert not list(ws_path.glob(".commit-*.json"))  # the reader completed any commit the kill left
        if rows > 1:
            assert all(folders == {own_bucket(uid, 8)} for uid, folders in homes(ws).items())
            break
    assert killed, "every ingest finished before it could be killed"
