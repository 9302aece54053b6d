"""`pql ingest --timezone` through the real command: offset-less times, a DST gap, an unknown zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pqlcli.errors import ExitCode
from pqlcli.workspace import Workspace

EVENTS = (
    "user_id,event,timestamp\n"
    "summer,login,2026-07-01T09:00:00\n"  # EDT, UTC-4
    "winter,login,2026-01-15 09:00\n"  # EST, UTC-5
    "gap,login,2026-03-08T02:30:00\n"  # 02:00-03:00 does not exist in New York that night
    "fold,login,2026-11-01T01:30:00\n"  # 01:00-02:00 happens twice: the earlier (EDT) is taken
    "zulu,login,2026-07-01T09:00:00Z\n"  # an explicit offset wins over --timezone
    "plus2,login,2026-07-01T09:00:00+02:00\n"
)


def _times(ws_path: Path) -> dict[str, datetime]:
    rows = Workspace(ws_path).scan("events").select("user_id", "timestamp").collect().iter_rows()
    return dict(rows)


def test_offset_less_times_are_read_in_the_zone(pql, tmp_path, ws_path):
    src = tmp_path / "tz.csv"
    src.write_text(EVENTS)
    code, _, err = pql("ingest", "events", str(src), "--timezone", "America/New_York")
    assert code == 0, err
    assert _times(ws_path) == {
        "summer": datetime(2026, 7, 1, 13, tzinfo=UTC),
        "winter": datetime(2026, 1, 15, 14, tzinfo=UTC),
        "fold": datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        "zulu": datetime(2026, 7, 1, 9, tzinfo=UTC),
        "plus2": datetime(2026, 7, 1, 7, tzinfo=UTC),
    }
    # the DST-gap time is not shifted to a neighbour nor dropped silently: it is a counted reject
    assert "1 row(s) could not be used" in err
    rejects = pl.read_csv(next((ws_path / "rejects").glob("events-*.csv")))
    assert rejects["row"].to_list() == [3] and rejects["user_id"].to_list() == ["gap"]
    assert "2026-03-08T02:30:00" in rejects["reason"][0]


def test_without_timezone_offset_less_times_are_utc(pql, tmp_path, ws_path):
    src = tmp_path / "tz.csv"
    src.write_text(EVENTS)
    assert pql("ingest", "events", str(src))[0] == 0
    times = _times(ws_path)
    assert times["summer"] == datetime(2026, 7, 1, 9, tzinfo=UTC) and times["gap"] == datetime(2026, 3, 8, 2, 30, tzinfo=UTC)


def test_unknown_zone_is_a_usage_error_that_writes_nothing(pql, tmp_path, ws_path):
    src = tmp_path / "tz.csv"
    src.write_text(EVENTS)
    code, _, err = pql("ingest", "events", str(src), "--timezone", "Mars/Olympus_Mons")
    assert code == ExitCode.USAGE
    assert "Mars/Olympus_Mons" in err and "America/Los_Angeles" in err and "Traceback" not in err
    assert not Workspace(ws_path).has_table("events")
