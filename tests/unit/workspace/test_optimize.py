"""`pql optimize`: event parts rewritten in time order, with the same rows and the same scores."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pqlcli import config, scoring
from pqlcli.errors import WorkspaceError
from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from pqlcli.workspace import optimize as opt
from tests import paths


def _random_order_ws(tmp_path, buckets: int = 2) -> Workspace:
    ws = Workspace.open(tmp_path / "ws", create=True)
    # the generator writes events in random time order, as an unsorted export would be ingested
    synth_workspace(ws, users=400, accounts=50, events=20_000, chunk=4_000, buckets=buckets)
    return ws


def _in_order(path) -> bool:
    return pl.read_parquet(path)["timestamp"].diff().drop_nulls().min() >= pl.Series([0]).cast(pl.Duration("us"))[0]


def _all_events(ws: Workspace) -> pl.DataFrame:
    return ws.scan("events").collect().sort(pl.all())


def test_every_part_is_sorted_by_time_with_the_same_rows_names_and_scores(tmp_path):
    ws = _random_order_ws(tmp_path)
    loaded = config.load(paths.ROOT / "config" / "pql.yaml")
    parts = ws.table_files("events")
    assert len(parts) > 2 and not any(_in_order(p) for p in parts)  # the case the command is for
    events_before, scored_before = _all_events(ws), scoring.compute(ws, loaded)

    result = opt.sort_events(ws)

    assert (result.parts, result.sorted, result.in_order, result.too_large) == (len(parts), len(parts), 0, [])
    assert result.rows_sorted == events_before.height
    assert ws.table_files("events") == parts  # each part keeps its name (and its bucket)
    assert all(_in_order(p) for p in parts)
    assert_frame_equal(_all_events(ws), events_before)
    scored_after = scoring.compute(ws, loaded)
    assert_frame_equal(scored_after.users.sort("user_id"), scored_before.users.sort("user_id"))
    assert_frame_equal(scored_after.accounts.sort("account_id"), scored_before.accounts.sort("account_id"))
    assert scored_after.stats == scored_before.stats
    assert not list(ws.root.glob(".commit-*"))  # no staging folder or journal left behind

    again = opt.sort_events(ws)  # nothing left to do
    assert (again.in_order, again.sorted) == (len(parts), 0)


def test_merge_leaves_one_sorted_part_per_bucket_with_the_same_rows_and_scores(tmp_path):
    ws = _random_order_ws(tmp_path)
    loaded = config.load(paths.ROOT / "config" / "pql.yaml")
    parts = ws.table_files("events")
    events_before, scored_before = _all_events(ws), scoring.compute(ws, loaded)

    result = opt.sort_events(ws, merge=True)

    after = ws.table_files("events")
    assert sorted({p.parent for p in after}) == sorted({p.parent for p in parts})  # every bucket keeps its events
    assert len(after) == len({p.parent for p in after}) == 2 and not set(after) & set(parts)
    assert (result.merged, result.sorted, result.rows_sorted) == (len(parts), 2, events_before.height)
    assert all(_in_order(p) for p in after)
    assert_frame_equal(_all_events(ws), events_before)
    scored_after = scoring.compute(ws, loaded)
    assert_frame_equal(scored_after.users.sort("user_id"), scored_before.users.sort("user_id"))
    assert_frame_equal(scored_after.accounts.sort("account_id"), scored_before.accounts.sort("account_id"))
    assert not list(ws.root.glob(".commit-*"))
    again = opt.sort_events(ws, merge=True)  # one part per bucket, in order: nothing to do
    assert (again.in_order, again.sorted, again.merged) == (2, 0, 0)
    # over the limit, the parts are sorted one by one instead of merged
    ws2 = _random_order_ws(tmp_path / "two")
    result = opt.sort_events(ws2, merge=True, max_rows=5_000)
    assert result.merged == 0 and result.sorted == len(ws2.table_files("events"))


def test_a_part_larger_than_the_limit_is_left_as_it_was_and_reported(tmp_path):
    ws = _random_order_ws(tmp_path, buckets=1)
    parts = ws.table_files("events")
    before = {p: p.read_bytes() for p in parts}
    result = opt.sort_events(ws, max_rows=1_000)
    large = [p for p, _ in result.too_large]
    assert len(large) >= 5 and all(n > 1_000 for _, n in result.too_large)  # the 4,000-event parts
    assert all(p.read_bytes() == before[p] for p in large)
    assert all(_in_order(p) for p in parts if p not in large)  # the small part of unknown users' events


def test_a_sorted_part_that_lost_rows_is_never_swapped_in(tmp_path, monkeypatch):
    ws = _random_order_ws(tmp_path, buckets=1)
    first = ws.table_files("events")[0]
    before = first.read_bytes()

    def short(frame: pl.DataFrame, target) -> None:  # e.g. a full disk cutting the write short
        frame.head(frame.height - 1).write_parquet(target)

    monkeypatch.setattr(opt, "_write_sorted", short)
    with pytest.raises(WorkspaceError, match="instead of"):
        opt.sort_events(ws)
    assert first.read_bytes() == before
    assert not list(ws.root.glob(".commit-*"))


def test_a_workspace_without_events_gets_a_clear_error(tmp_path):
    ws = Workspace.open(tmp_path / "ws", create=True)
    with pytest.raises(WorkspaceError, match="no events"):
        opt.sort_events(ws)


def test_the_command_reports_what_it_sorted_and_fails_cleanly_without_events(pql, ws_path):
    code, _, err = pql("optimize")
    assert code != 0 and "no events" in err and "pql ingest events" in err and "Traceback" not in err
    synth_workspace(Workspace.open(ws_path, create=True), users=200, accounts=20, events=5_000, chunk=1_000)
    code, _, err = pql("optimize")
    assert code == 0 and "sorted now" in err and "5" in err
    code, _, err = pql("optimize")
    assert code == 0 and "already in time order" in err


def _events_csv(path, times) -> None:
    lines = ["event_id,user_id,event,timestamp"]
    lines += [f"e{i},u{i % 50},login,{t.isoformat()}" for i, t in enumerate(times)]
    path.write_text("\n".join(lines) + "\n")


def test_an_ingest_says_when_its_events_are_in_no_useful_time_order(tmp_path, monkeypatch, pql, ws_path):
    import random
    from datetime import UTC, datetime, timedelta

    import pqlcli.ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "ORDER_NOTE_ROWS", 100)  # the real threshold is 1M events
    rng = random.Random(5)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    history = sorted(start + timedelta(seconds=rng.randrange(60 * 86_400)) for _ in range(2_000))
    one_day = [start + timedelta(seconds=rng.randrange(86_400)) for _ in range(2_000)]  # a daily export, unsorted
    shuffled = rng.sample(history, len(history))
    expected = {"history-in-order": (history, False), "day-unsorted": (one_day, False), "history-shuffled": (shuffled, True)}
    for name, (times, out_of_order) in expected.items():
        _events_csv(tmp_path / f"{name}.csv", times)
        result = ingest_mod.ingest(Workspace.open(tmp_path / name, create=True), "events", [str(tmp_path / f"{name}.csv")])
        assert (result.added, result.out_of_order) == (2_000, out_of_order), name
    code, _, err = pql("ingest", "events", str(tmp_path / "history-shuffled.csv"))
    assert code == 0 and "pql optimize" in err
    code, _, err = pql("optimize")
    assert code == 0 and "sorted now" in err
    code, _, err = pql("ingest", "events", str(tmp_path / "history-in-order.csv"))  # the same ids: nothing added
    assert code == 0 and "pql optimize" not in err


def test_doctor_points_to_optimize_until_the_events_are_in_time_order_and_merged(tmp_path, monkeypatch, pql):
    from pqlcli.workspace import doctor

    ws = _random_order_ws(tmp_path)  # 20,000 events in random order over ~93 days, 2 buckets of several parts
    monkeypatch.setattr(doctor, "ORDER_ROWS", 1_000)  # the real thresholds: 1M events, 100 parts
    monkeypatch.setattr(doctor, "MANY_PARTS", 3)
    parts_per_bucket = {p.parent.name: 0 for p in ws.table_files("events")}
    for p in ws.table_files("events"):
        parts_per_bucket[p.parent.name] += 1
    assert min(parts_per_bucket.values()) > 3

    check = doctor.diagnose(ws, only=["events_layout"]).checks[0]
    assert check.severity == "warning" and "pql optimize" in check.hint
    files = {p.name for p in ws.table_files("events")}
    assert {e.split(":")[0] for e in check.examples if e.startswith("part-")} <= files
    assert any("days apart on average" in e for e in check.examples)
    assert {e.split(":")[0] for e in check.examples if e.startswith("bucket=")} == set(parts_per_bucket)

    opt.sort_events(ws)  # in time order, still several parts per bucket
    check = doctor.diagnose(ws, only=["events_layout"]).checks[0]
    assert check.severity == "warning" and all(e.startswith("bucket=") for e in check.examples)

    opt.sort_events(ws, merge=True)  # one sorted part per bucket
    check = doctor.diagnose(ws, only=["events_layout"]).checks[0]
    assert (check.severity, check.count) == ("ok", 0)

    code, out, _ = pql("--workspace", str(ws.root), "doctor", "--format", "json")
    assert code == 0 and '"events_layout"' in out


def test_a_score_whose_parts_are_merged_away_while_it_runs_scores_again_on_the_new_parts(tmp_path, monkeypatch):
    """`pql optimize --merge` runs between the score listing the parts and reading them: the score finds
    a part gone, drops its half-written snapshot and scores once more, with the same result."""
    from pqlcli.scoring import runners

    ws = _random_order_ws(tmp_path)
    loaded = config.load(paths.ROOT / "config" / "pql.yaml")
    expected = scoring.compute(ws, loaded)
    real, calls = runners.run_to, []

    def merged_meanwhile(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            opt.sort_events(ws, merge=True)  # the listed parts are deleted now
        return real(*args, **kwargs)

    monkeypatch.setattr(runners, "run_to", merged_meanwhile)
    result = scoring.score(ws, loaded)
    assert len(calls) == 2
    assert [s.path for s in ws.snapshots()] == [result.snapshot]  # no half-written snapshot left
    assert not list(ws.scores_dir.glob(".tmp-*"))
    assert_frame_equal(result.users.collect().sort("user_id"), expected.users.sort("user_id"), check_column_order=False)


def test_a_doctor_whose_parts_are_merged_away_while_it_runs_checks_again_on_the_new_parts(tmp_path, monkeypatch):
    """The same for `pql doctor`: a merge after its tables were listed, before a check reads them."""
    from pqlcli.workspace import doctor

    ws = _random_order_ws(tmp_path)
    expected = doctor.diagnose(ws, only=["events_unknown_user", "users_without_events"]).as_dict()
    runs = []

    def merge_first(t):
        runs.append(1)
        if len(runs) == 1:
            opt.sort_events(ws, merge=True)  # the parts the doctor listed are deleted now
        return doctor.Check("merge_first", "ok", 0)

    monkeypatch.setattr(doctor, "CHECKS", (merge_first, doctor.events_unknown_user, doctor.users_without_events))
    got = doctor.diagnose(ws).as_dict()
    assert len(runs) == 2
    assert got["checks"][1:] == expected["checks"]
