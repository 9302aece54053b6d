"""Property tests for the timestamp parser and the domain normaliser, plus idempotence and updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from pqlcli.ingest import ingest
from pqlcli.ingest.normalize import normalize_domain, parse_timestamps
from pqlcli.workspace import Workspace

instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(lambda q: timedelta(minutes=15 * q))


@settings(max_examples=150, deadline=None)
@given(instants, offsets, st.sampled_from(["iso_z", "iso_offset", "iso_offset_nocolon", "space", "epoch_s", "epoch_ms"]))
def test_timestamp_round_trip(instant, offset, shape):
    local = instant.astimezone(timezone(offset))
    if shape == "iso_z":
        text, expected = instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), instant
    elif shape == "iso_offset":
        text, expected = local.isoformat(), instant
    elif shape == "iso_offset_nocolon":
        text, expected = local.strftime("%Y-%m-%dT%H:%M:%S%z"), instant.replace(microsecond=0)
    elif shape == "space":
        text, expected = instant.strftime("%Y-%m-%d %H:%M:%S"), instant.replace(microsecond=0)
    elif shape == "epoch_s":
        seconds = int(instant.timestamp())
        text, expected = str(seconds), datetime.fromtimestamp(seconds, UTC)
    else:
        millis = int(instant.timestamp() * 1000)
        text, expected = str(millis), datetime.fromtimestamp(millis / 1000, UTC).replace(
            microsecond=(millis % 1000) * 1000
        )
    assert parse_timestamps([text]) == [expected]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["2026-10-01T10:00:00Z", "2026-10-01 12:00", "1790812800", "nope", None,
                                 "2026-10-01T10:00:00.5+02:00", "2026-10-01"]), max_size=30))
def test_mixed_batches_match_one_by_one(values):
    assert parse_timestamps(values) == [parse_timestamps([v])[0] for v in values]


def _general(values: list[str | None]) -> list[datetime | None]:
    """The general parser alone (every accepted shape, no first pass with one format)."""
    from pqlcli.ingest.normalize import timestamp_expr

    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(timestamp_expr("v", pl.String())).to_series().to_list()


@settings(max_examples=150, deadline=None)
@given(instants, offsets, st.sampled_from(["T", "t", " "]), st.sampled_from(["Z", "z", "+00:00", "offset", "offset_nocolon", ""]),
       st.sampled_from(["", ".%f", ".%f000"]))
def test_first_pass_format_agrees_with_general_parser(instant, offset, sep, zone, fraction):
    # ingest parses a column with the one format its first values use and only the rest the general way:
    # both must read every value they both accept as the same instant
    local = instant.astimezone(timezone(offset)) if zone.startswith("offset") else instant
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S{fraction}")
    text += {"offset": local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:], "offset_nocolon": local.strftime("%z")}.get(zone, zone)
    assert parse_timestamps([text] * 3) == _general([text] * 3)


def test_first_pass_misses_go_the_general_way(tmp_path: Path, ws_path: Path):
    # the first 200 rows decide the format (ISO with Z); later rows in other shapes are still read, and a
    # naive one in the --timezone given
    from pqlcli.ingest import IngestOptions

    rows = [f"e{i},u1,login,2026-10-01T00:00:{i % 60:02d}Z" for i in range(250)]
    rows += ["x1,u1,login,2026-10-01 12:00", "x2,u1,login,1790812800", "x3,u1,login,2026-10-01T10:00:00+0200", "x4,u1,login,soon"]
    ev = tmp_path / "e.csv"
    ev.write_text("event_id,user_id,event,timestamp\n" + "\n".join(rows) + "\n")
    result = ingest(ws_path, "events", [str(ev)], options=IngestOptions(timezone="Europe/Paris"))
    assert (result.read, result.added, result.rejected) == (254, 253, 1)
    got = dict(Workspace(ws_path).scan("events").filter(pl.col("event_id").str.starts_with("x"))
               .select("event_id", "timestamp").collect().iter_rows())
    assert got == {"x1": datetime(2026, 10, 1, 10, 0, tzinfo=UTC), "x2": datetime.fromtimestamp(1790812800, UTC),
                   "x3": datetime(2026, 10, 1, 8, 0, tzinfo=UTC)}


labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
domains = st.lists(labels, min_size=1, max_size=3).map(lambda parts: ".".join([*parts, "com"]))


@settings(max_examples=200, deadline=None)
@given(domains, st.sampled_from(["", "http://", "https://", "HTTPS://"]), st.booleans(),
       st.sampled_from(["", "/", "/pricing?x=1", ":8080/a", "#top"]), st.booleans(), st.booleans())
def test_domain_from_url(domain, scheme, www, path, upper, spaces):
    if domain.startswith("www"):
        return
    text = f"{scheme}{'www.' if www else ''}{domain}{path}"
    text = text.upper() if upper else text
    text = f"  {text} " if spaces else text
    assert normalize_domain(text) == domain
    frame = pl.DataFrame({"d": [text]})
    from pqlcli.ingest.normalize import domain_expr

    assert frame.select(domain_expr("d")).item() == domain


def test_domain_examples():
    assert normalize_domain("https://www.Acme.com/") == "acme.com"
    assert normalize_domain("jane@Acme.com") == "acme.com"
    assert normalize_domain("  ") is None and normalize_domain(None) is None


def test_reingest_adds_nothing_and_newer_export_updates(tmp_path: Path, ws_path: Path):
    v1 = tmp_path / "u1.csv"
    v1.write_text("user_id,email,plan\n1,a@x.com,free\n2,b@x.com,free\n")
    first = ingest(ws_path, "users", [str(v1)])
    again = ingest(ws_path, "users", [str(v1)])
    assert (first.added, again.added, again.updated, again.duplicates) == (2, 0, 0, 2)
    v2 = tmp_path / "u2.csv"
    v2.write_text("user_id,email,plan\n2,b@x.com,team\n3,c@x.com,free\n")
    newer = ingest(ws_path, "users", [str(v2)])
    assert (newer.added, newer.updated, newer.duplicates) == (1, 1, 0)
    plans = dict(Workspace(ws_path).scan("users").select("user_id", "plan").collect().iter_rows())
    assert plans == {"1": "free", "2": "team", "3": "free"}
    info = Workspace(ws_path).table_info("users")
    assert info["rows"] == 3 and len(info["sources"]) == 3
    # each source's fingerprint is the XXH3-128 of the file's bytes: the same file twice, then another
    digests = [s["xxh3_128"] for s in info["sources"]]
    assert digests[0] == digests[1] == xxhash.xxh3_128(v1.read_bytes()).hexdigest() != digests[2]


def test_events_without_ids_dedupe_on_row_hash(tmp_path: Path, ws_path: Path):
    ev = tmp_path / "e.csv"
    ev.write_text("user_id,event,timestamp\nu1,login,2026-10-01T00:00:00Z\nu1,login,2026-10-01T00:00:00Z\nu2,login,2026-10-02\n")
    first = ingest(ws_path, "events", [str(ev)])
    again = ingest(ws_path, "events", [str(ev)])
    assert (first.read, first.added, first.duplicates) == (3, 2, 1)
    assert (again.added, again.duplicates) == (0, 3)
    ids = Workspace(ws_path).scan("events").collect()["event_id"]
    # sha1 of "u1\x1flogin\x1f2026-10-01T00:00:00.000000Z" (docs/ingest.md): fixed, whatever the Polars version
    assert sorted(ids.to_list()) == ["s1:4125102ae31b8a0b72b61f7c8e705f861a312415",
                                     "s1:4d22fbda7042371e55f4aea19f45ad86dda5bbd8"]
    assert Workspace(ws_path).table_info("events")["event_id_scheme"] == "sha1-v1"
    assert len(list((ws_path / "events").glob("part-*.parquet"))) == 1  # an empty re-ingest adds no part


def test_rows_without_an_id_get_the_row_hash_when_others_have_one(tmp_path: Path, ws_path: Path):
    ev = tmp_path / "e.csv"
    ev.write_text("event_id,user_id,event,timestamp\nx1,u1,login,2026-10-01T00:00:00Z\n,u1,login,2026-10-01T00:00:00Z\n"
                  " ,u2,login,2026-10-02\n")
    assert ingest(ws_path, "events", [str(ev)]).added == 3
    ids = Workspace(ws_path).scan("events").collect()["event_id"].to_list()
    # the same fixed values as a file without an event_id column (test above)
    assert ids[0] == "x1" and sorted(ids[1:]) == ["s1:4125102ae31b8a0b72b61f7c8e705f861a312415",
                                                  "s1:4d22fbda7042371e55f4aea19f45ad86dda5bbd8"]


def test_events_take_account_from_users_where_missing(tmp_path: Path, ws_path: Path):
    users = tmp_path / "u.csv"
    users.write_text("user_id,account_id\nu1,a1\nu2,\nu3,a3\n")
    ingest(ws_path, "users", [str(users)])
    no_col = tmp_path / "e1.csv"
    no_col.write_text("event_id,user_id,event,timestamp\n1,u3,login,2026-10-01T00:00:00Z\n2,u1,login,2026-10-01T00:00:00Z\n"
                      "3,u9,login,2026-10-01T00:00:00Z\n4,u2,login,2026-10-01T00:00:00Z\n")
    some = tmp_path / "e2.csv"
    some.write_text("event_id,user_id,account_id,event,timestamp\n5,u1,,login,2026-10-01T00:00:00Z\n"
                    "6,u1,zz,login,2026-10-01T00:00:00Z\n7,u3,,login,2026-10-01T00:00:00Z\n")
    ingest(ws_path, "events", [str(no_col)])
    ingest(ws_path, "events", [str(some)])
    ws = Workspace(ws_path)
    got = dict(ws.scan_events_with_accounts().select("event_id", "account_id").collect().iter_rows())
    assert got == {"1": "a3", "2": "a1", "3": None, "4": None, "5": "a1", "6": "zz", "7": "a3"}
    # the table stores the export's own account_id; the user's is taken when read, so a later users
    # export that moves u1 to another account moves its events with it
    stored = dict(ws.scan("events").select("event_id", "account_id").collect().iter_rows())
    assert stored == {"1": None, "2": None, "3": None, "4": None, "5": None, "6": "zz", "7": None}
    users.write_text("user_id,account_id\nu1,a9\n")
    ingest(ws_path, "users", [str(users)])
    got = dict(ws.scan_events_with_accounts().select("event_id", "account_id").collect().iter_rows())
    assert got["2"] == got["5"] == "a9" and got["6"] == "zz"
    first = pl.read_parquet(sorted((ws_path / "events").glob("part-*.parquet"))[0])
    assert first["event_id"].to_list() == ["1", "2", "3", "4"]  # input order kept


@pytest.mark.parametrize("bucket_rows", [8_000_000, 2])
def test_event_dedupe_within_file_and_against_table(tmp_path: Path, ws_path: Path, monkeypatch, bucket_rows):
    import pqlcli.ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "_DEDUPE_BUCKET_ROWS", bucket_rows)  # 2: the checks run in many hash buckets
    head = "event_id,user_id,event,timestamp\n"
    first = tmp_path / "a.csv"
    first.write_text(head + "".join(f"e{i},u1,login,2026-10-01T00:00:0{i}Z\n" for i in range(6)))
    second = tmp_path / "b.csv"  # e4, e5 known; e6 twice; e7 new
    second.write_text(head + "e4,u1,login,2026-10-01T00:00:04Z\ne6,u1,a,2026-10-02T00:00:00Z\n"
                      "e5,u1,login,2026-10-01T00:00:05Z\ne6,u1,b,2026-10-03T00:00:00Z\ne7,u2,c,2026-10-04T00:00:00Z\n")
    a = ingest(ws_path, "events", [str(first)])
    b = ingest(ws_path, "events", [str(second)])
    again = ingest(ws_path, "events", [str(second)])
    assert (a.added, b.read, b.added, b.duplicates) == (6, 5, 2, 3)
    assert (again.added, again.duplicates) == (0, 5)
    events = Workspace(ws_path).scan("events").collect()
    assert sorted(events["event_id"].to_list()) == [f"e{i}" for i in range(8)]
    assert events.filter(pl.col("event_id") == "e6")["event"].to_list() == ["a"]  # the first row of an id wins
    assert len(list((ws_path / "events").glob("part-*.parquet"))) == 2


def test_examples_generate_is_deterministic(pql, tmp_path: Path):
    for out in ("a", "b"):
        code, _, err = pql("examples", "generate", "--users", "300", "--out", str(tmp_path / out), "--seed", "3")
        assert code == 0, err
    for name in ("users.csv", "accounts.csv", "events.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    events = pl.read_csv(tmp_path / "a" / "events.csv")
    assert events.height == 300 * 50 and set(events.columns) == {"event_id", "user_id", "event", "timestamp"}
    assert pl.read_csv(tmp_path / "a" / "accounts.csv").height == 300 // 8


def test_cli_summary(pql, tmp_path: Path):
    ev = tmp_path / "e.csv"
    ev.write_text("user_id,event,timestamp\nu1,login,2026-10-01T00:00:00Z\nu1,login,bad\n")
    code, _, err = pql("ingest", "events", str(ev))
    assert code == 0
    for word in ("read", "added", "updated", "duplicates", "rejected"):
        assert word in err
    assert "rejects" in err and "reason" in err
