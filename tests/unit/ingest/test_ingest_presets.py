"""Each exporter preset ingests a realistic sample into the canonical columns (checked column by column)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pqlcli.ingest import ingest
from pqlcli.workspace import Workspace
from tests import paths

DATA = paths.DATA / "ingest"
EXAMPLES = paths.ROOT / "examples" / "data"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def ws(ws_path: Path) -> Workspace:
    return Workspace.open(ws_path, create=True)


def rows(ws: Workspace, table: str, key: str) -> dict[str, dict]:
    return {r[key]: r for r in ws.scan(table).collect().to_dicts()}


def test_hubspot_companies_example(ws):
    result = ingest(ws, "accounts", [str(EXAMPLES / "hubspot-companies.csv")])
    assert result.formats == ("hubspot",) and result.read == result.added == 212 and result.rejected == 0
    frame = ws.scan("accounts").collect()
    assert frame.schema["account_id"] == pl.String
    assert frame.schema["created_at"] == pl.Datetime("us", "UTC")
    assert frame.schema["employees"] == pl.Int64
    globex = rows(ws, "accounts", "account_id")
    row = next(r for r in globex.values() if r["name"] == "Globex Corporation")
    assert row["domain"] == "globex.com" and row["owner"] == "ben@ourco.com" and row["plan"] == "team"
    assert row["employees"] == 1800 and row["converted_at"] is not None
    assert row["lifecycle_stage"] == "Customer" and row["industry"] == "Manufacturing"  # extras kept, snake_cased
    initech = next(r for r in globex.values() if r["name"] == "Initech")
    assert initech["owner"] is None and initech["converted_at"] is None


def test_hubspot_contacts(ws):
    ingest(ws, "users", [str(DATA / "hubspot-contacts.csv")], fmt="hubspot")
    users = rows(ws, "users", "user_id")
    assert set(users) == {"51", "52", "53"}
    ana = users["51"]
    assert ana["email"] == "ana.lima@northwind.io"  # trimmed and lower-cased
    assert ana["name"] == "Ana Lima" and ana["title"] == "VP Engineering"
    assert ana["signup_at"] == utc(2026, 9, 14, 8, 30)
    assert ana["account_id"] == "9120000331" and ana["owner"] == "ana@ourco.com"
    assert users["52"]["account_id"] is None and users["52"]["title"] is None
    assert users["53"]["account_id"] == "9120001404"  # first of "a;b" is the primary company
    assert users["53"]["name"] == "Cy"


def test_salesforce_accounts_and_contacts(ws):
    ingest(ws, "accounts", [str(DATA / "salesforce-accounts.csv")])  # auto-detected
    accounts = rows(ws, "accounts", "account_id")
    acme = accounts["0015g00000AbCdEAAV"]
    assert acme["name"] == "Acme Corp" and acme["domain"] == "acme.com"
    assert acme["owner"] == "0055g000001XyZqAAK" and acme["employees"] == 1200
    assert acme["created_at"] == utc(2025, 3, 4, 10, 15)
    assert accounts["0015g00000AbCdFAAV"]["created_at"] == utc(2024, 11, 30, 22, 0)
    assert accounts["0015g00000AbCdFAAV"]["employees"] is None
    assert acme["billingcountry"] == "US"
    ingest(ws, "users", [str(DATA / "salesforce-contacts.csv")], fmt="salesforce")
    users = rows(ws, "users", "user_id")
    dana = users["0035g00000QwErTAAV"]
    assert dana["email"] == "dana@acme.com" and dana["name"] == "Dana Scully" and dana["title"] == "Head of Data"
    assert dana["account_id"] == "0015g00000AbCdEAAV" and dana["signup_at"] == utc(2026, 10, 1, 9)
    assert users["0035g00000QwErUAAV"]["account_id"] is None


def test_segment_raw_jsonl(ws):
    result = ingest(ws, "events", [str(DATA / "segment-raw.jsonl")])
    assert result.formats == ("segment",)
    # the identify call is identity bookkeeping: skipped and counted, not usage and not a reject
    assert (result.read, result.added, result.rejected) == (3, 2, 0)
    assert result.skipped == {"Segment identify call": 1} and result.rejects_path is None
    events = rows(ws, "events", "event_id")
    first = events["msg-1"]
    assert first["user_id"] == "usr_1" and first["event"] == "project_created"
    assert first["timestamp"] == utc(2026, 10, 1, 10) and first["account_id"] == "9120000331"
    assert first["templates"] == 3.0  # flat numeric property kept as Float64
    assert "name" not in ws.scan("events").collect_schema()  # text properties are not kept
    assert events["msg-3"]["timestamp"] == utc(2026, 10, 1, 10)  # +02:00 to UTC
    assert first["source_user_id"] == "usr_1" and first["source"] == "segment"


def test_segment_tracks_table_csv(ws):
    result = ingest(ws, "events", [str(DATA / "segment-tracks-table.csv")], fmt="segment")
    assert result.added == 3
    events = rows(ws, "events", "event_id")
    assert events["ajs-1"]["timestamp"] == datetime(2026, 10, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert events["ajs-1"]["account_id"] == "9120000331" and events["ajs-1"]["event"] == "project_created"
    assert events["ajs-2"]["account_id"] is None and events["ajs-3"]["timestamp"] == utc(2026, 10, 3, 12)


def test_mixpanel_export_and_timezone(ws, ws_path):
    result = ingest(ws, "events", [str(DATA / "mixpanel-local.jsonl")])
    assert result.formats == ("mixpanel",) and result.added == 2
    events = rows(ws, "events", "event_id")
    assert events["m1"]["timestamp"] == datetime.fromtimestamp(1790812800, UTC)
    assert events["m1"]["user_id"] == "usr_1" and events["m1"]["duration"] == 12.5
    # an old project exporting Los Angeles wall-clock seconds: 7 hours are added in October (PDT)
    other = Workspace.open(ws_path.parent / "la", create=True)
    ingest(other, "events", [str(DATA / "mixpanel-local.jsonl")], fmt="mixpanel", timezone="America/Los_Angeles")
    shifted = rows(other, "events", "event_id")
    assert (shifted["m1"]["timestamp"] - events["m1"]["timestamp"]).total_seconds() == 7 * 3600


def test_amplitude_zip(ws):
    result = ingest(ws, "events", [str(DATA / "amplitude.zip")])
    assert result.formats == ("amplitude",) and result.added == 2
    events = rows(ws, "events", "event_id")
    assert events["a1"]["timestamp"] == datetime(2026, 10, 5, 9, 30, 0, 123456, tzinfo=UTC)
    assert events["a1"]["event"] == "document_published" and events["a1"]["word_count"] == 420.0


def test_examples_ingest_all(ws):
    ingest(ws, "accounts", [str(EXAMPLES / "hubspot-companies.csv")])
    ingest(ws, "users", [str(EXAMPLES / "users.csv")])
    seg = ingest(ws, "events", [str(EXAMPLES / "segment-tracks.jsonl")], fmt="segment")
    mix = ingest(ws, "events", [str(EXAMPLES / "mixpanel-export.jsonl")], fmt="mixpanel")
    amp = ingest(ws, "events", [str(EXAMPLES / "amplitude-export.zip")], fmt="amplitude")
    assert min(seg.added, mix.added, amp.added) > 500
    assert seg.rejected == mix.rejected == amp.rejected == 0
    events = ws.scan_events_with_accounts().collect()
    assert events["event"].is_in(["project_created", "user_invited", "viewed_pricing"]).sum() > 100
    assert events["timestamp"].max() > utc(2026, 11, 1)  # some events after as_of, on purpose
    # account_id taken from users where the export had none
    users = ws.scan("users").collect()
    joined = events.join(users.select("user_id", pl.col("account_id").alias("ua")), on="user_id", how="left")
    assert joined.filter(pl.col("ua").is_not_null() & pl.col("account_id").is_null()).height == 0
