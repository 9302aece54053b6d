"""The bucket function of stored events is fixed (scheme xxh64-v1): the same id is in the same bucket on
any Polars version, and a bucketed table's multi-file changes are atomic (the commit journal)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from pqlcli.errors import WorkspaceError
from pqlcli.workspace import Workspace, buckets, commit
from pqlcli.workspace.buckets import bucket_expr, choose_count, xxh64
from pqlcli.workspace.lock import LOCK_FILE

IDS = ["u_1", "u_2", "51001", "anon-1", "$device:abc", "ünïcode-id", ""]
# XXH64 (seed 0) of the ids' UTF-8 bytes, and their buckets for 16, 7 and 1000 buckets: if any of these
# changes, every bucketed workspace would have its users in the wrong buckets.
XXH64 = [0xC108A679DEBC8D9E, 0xF6874A6A6B179337, 0xDEBCB361325A5BA6, 0x683BB4AD57E5DADD, 0x4CDE1E972AAFB9CD,
         0x4A6E25224127513A, 0xEF46DB3751D8E999]
B16 = [14, 7, 6, 13, 13, 10, 9]
B7 = [4, 2, 6, 1, 0, 0, 6]
B1000 = [502, 743, 238, 501, 181, 938, 921]


def test_bucket_function_gives_fixed_buckets_for_fixed_ids():
    frame = pl.DataFrame({"user_id": IDS}).select(
        xxh64().alias("h"), bucket_expr(16).alias("b16"), bucket_expr(7).alias("b7"), bucket_expr(1000).alias("b1000"))
    assert frame["h"].to_list() == XXH64
    assert (frame["b16"].to_list(), frame["b7"].to_list(), frame["b1000"].to_list()) == (B16, B7, B1000)
    # the published XXH64 test vectors: the function is the specified hash, not an implementation detail
    assert buckets.SPEC_VECTORS == {"": 0xEF46DB3751D8E999, "abc": 0x44BC2CF5AD770999}
    buckets.check_scheme()
    # one bucket: everything in bucket 0; a NULL id (never stored, but safe) also in bucket 0
    assert pl.DataFrame({"user_id": ["x", None]}).select(bucket_expr(1).alias("b"))["b"].to_list() == [0]
    assert pl.DataFrame({"user_id": ["x", None]}).select(bucket_expr(4))["user_id"].to_list()[1] == 0


def test_bucket_count_grows_with_the_events_in_powers_of_two():
    per = buckets.EVENTS_PER_STORED_BUCKET
    assert [choose_count(n) for n in (0, 1000, per, per + 1, 3 * per, 10 * per)] == [1, 1, 1, 2, 4, 16]
    assert [choose_count(users * 50) for users in (100_000, 1_000_000, 3_000_000, 10_000_000)] == [1, 4, 16, 64]
    assert choose_count(10**15) == buckets.MAX_BUCKETS


def test_bucket_count_is_recorded_and_cannot_change_once_events_are_stored(ws_path):
    ws = Workspace.open(ws_path, create=True)
    ws.set_event_bucket_count(4)
    assert ws.manifest()["tables"]["events"]["buckets"] == {"scheme": "xxh64-v1", "n": 4}
    ws.add_part("events", pl.DataFrame({"user_id": IDS, "event": "login", "event_id": IDS}), "p1")
    homes = {p.parent.name: pl.read_parquet(p)["user_id"].to_list() for p in ws.table_files("events")}
    want: dict[str, list[str]] = {}
    for uid, b in zip(IDS, pl.DataFrame({"user_id": IDS}).select(bucket_expr(4))["user_id"], strict=True):
        want.setdefault(f"bucket={b:03d}", []).append(uid)
    assert homes == want
    with pytest.raises(WorkspaceError, match="cannot be changed to 8"):
        ws.set_event_bucket_count(8)
    manifest = ws.manifest()
    manifest["tables"]["events"]["buckets"]["scheme"] = "md5-v9"
    ws.save_manifest(manifest)
    with pytest.raises(WorkspaceError, match="md5-v9"):
        ws.event_bucket_count()


def test_a_commit_killed_after_its_journal_is_completed_by_the_next_reader(ws_path, monkeypatch):
    """The journal is the commit point: a process that dies after writing it (here: its first rename
    fails) leaves it, and the next reader performs every step, so all new parts appear together."""
    ws = Workspace.open(ws_path, create=True)
    ws.set_event_bucket_count(8)
    ws.add_part("events", pl.DataFrame({"user_id": IDS, "event": "a", "event_id": IDS}), "p1")
    real = commit._steps

    def dies(root, steps):
        raise OSError("killed")

    monkeypatch.setattr(commit, "_steps", dies)
    with pytest.raises(OSError, match="killed"):
        ws.add_part("events", pl.DataFrame({"user_id": IDS, "event": "b", "event_id": IDS}), "p2")
    monkeypatch.setattr(commit, "_steps", real)
    journals = list(ws_path.glob(".commit-*.json"))
    holding = pl.DataFrame({"user_id": IDS}).select(bucket_expr(8))["user_id"].n_unique()
    assert len(journals) == 1 and len(json.loads(journals[0].read_text())["moves"]) == holding
    events = ws.scan("events").collect()  # the reader completes the commit first
    assert sorted(events["event"].to_list()) == ["a"] * len(IDS) + ["b"] * len(IDS)
    assert list(ws_path.glob(".commit-*")) == []


def test_a_commit_that_fails_before_its_journal_changes_nothing(ws_path, monkeypatch):
    ws = Workspace.open(ws_path, create=True)
    ws.set_event_bucket_count(8)
    ws.add_part("events", pl.DataFrame({"user_id": IDS, "event": "a", "event_id": IDS}), "p1")
    before = sorted(p.relative_to(ws_path) for p in ws.table_files("events"))

    def full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(commit.atomic, "write_json", full)
    with pytest.raises(OSError, match="disk full"):
        ws.add_part("events", pl.DataFrame({"user_id": IDS, "event": "b", "event_id": IDS}), "p2")
    assert sorted(p.relative_to(ws_path) for p in ws.table_files("events")) == before
    # its staged files were removed (the write lock's file stays: pqlcli.workspace.lock)
    assert [p.name for p in ws_path.rglob("*") if p.name.startswith(".") and p.name != LOCK_FILE] == []
