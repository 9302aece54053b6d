"""Imports that fail loudly: reject rate, NULLed optional values, date orders, mappings, wrong tables, Excel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pqlcli.errors import DataError, UsageError
from pqlcli.ingest import IngestOptions, ingest
from pqlcli.workspace import Workspace


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def test_mostly_rejected_file_exits_1_names_rows_and_writes_nothing(pql, tmp_path, ws_path):
    csv = write(tmp_path, "e.csv", "user_id,event,timestamp\nu1,login,2026-10-01\n,login,2026-10-01\nu2,login,soon\n")
    code, _, err = pql("ingest", "events", csv)
    flat = " ".join(err.split())
    assert code == 1
    assert "2 of 3 events row(s) (67%)" in flat and "row 2: missing user_id" in flat and "row 3: unparseable timestamp" in flat
    assert "--max-reject-rate" in flat and "rejects" in flat
    assert not Workspace(ws_path).has_table("events")  # nothing ingested
    assert len(list((ws_path / "rejects").glob("events-*.csv"))) == 1  # the reasons are kept
    code, _, err = pql("ingest", "events", csv, "--max-reject-rate", "0.9")
    assert code == 0, err
    assert "First: row 2: missing user_id" in " ".join(err.split())


def test_unparseable_optional_date_becomes_null_not_a_dropped_row(tmp_path, ws_path):
    csv = write(tmp_path, "u.csv", "user_id,email,signup_at\nu1,a@x.io,2026-10-01\nu2,b@x.io,next tuesday\n")
    result = ingest(ws_path, "users", [csv])
    assert (result.added, result.rejected, result.nulled) == (2, 0, {"signup_at": 1})
    rejects = pl.read_csv(result.rejects_path)
    assert rejects.select("row", "outcome").rows() == [(2, "kept, value set to NULL")]
    assert "signup_at set to NULL" in rejects["reason"][0] and "next tuesday" in rejects["reason"][0]
    users = dict(Workspace(ws_path).scan("users").select("user_id", "signup_at").collect().iter_rows())
    assert users["u2"] is None and users["u1"] == datetime(2026, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize(("values", "expected"), [
    (["05/02/2024", "25/12/2024"], datetime(2024, 2, 5, tzinfo=UTC)),  # 25 proves day-first
    (["05/02/2024", "12/25/2024 10:30"], datetime(2024, 5, 2, tzinfo=UTC)),  # 25 proves month-first
])
def test_day_or_month_first_is_proved_by_the_values(tmp_path, ws_path, values, expected):
    csv = write(tmp_path, "a.csv", "account_id,domain,created_at\n" + "".join(f"a{i},x{i}.com,{v}\n" for i, v in enumerate(values)))
    ingest(ws_path, "accounts", [csv])
    created = dict(Workspace(ws_path).scan("accounts").select("account_id", "created_at").collect().iter_rows())
    assert created["a0"] == expected and created["a1"] is not None


def test_ambiguous_dates_are_an_error_unless_a_format_is_given(pql, tmp_path, ws_path):
    csv = write(tmp_path, "a.csv", "account_id,domain,created_at\na1,x.com,05/02/2024\na2,y.com,03/04/2024\n")
    code, _, err = pql("ingest", "accounts", csv)
    assert code == 1 and "day-first or month-first" in err and "%d/%m/%Y" in err
    code, _, err = pql("ingest", "accounts", csv, "--date-format", "%d/%m/%Y")
    assert code == 0, err
    created = dict(Workspace(ws_path).scan("accounts").select("account_id", "created_at").collect().iter_rows())
    assert created["a1"] == datetime(2024, 2, 5, tzinfo=UTC)


def test_map_target_must_be_a_canonical_column(pql, tmp_path):
    csv = write(tmp_path, "u.csv", "uid,mail\n1,a@x.io\n")
    code, _, err = pql("ingest", "users", csv, "--map", "userid=uid")
    assert code == 2 and "'userid' is not a column of users; did you mean 'user_id'?" in " ".join(err.split())


def test_mapped_values_must_look_right(tmp_path, ws_path):
    csv = write(tmp_path, "u.csv", "uid,name,mail\n1,Ana,a@x.io\n2,Bo,b@x.io\n")
    with pytest.raises(DataError, match="do not look like an email address"):
        ingest(ws_path, "users", [csv], mapping={"user_id": "uid", "email": "name"})
    assert ingest(ws_path, "users", [csv], mapping={"user_id": "uid", "email": "mail"}).added == 2


def test_contacts_ingested_as_accounts_are_refused_unless_forced(pql, tmp_path, ws_path):
    csv = write(tmp_path, "contacts.csv", "Record ID,First Name,Last Name,Email\n51,Ana,Lima,ana@x.io\n")
    code, _, err = pql("ingest", "accounts", csv)
    flat = " ".join(err.split())
    assert code == 1 and "looks like a users export" in flat and "--force" in flat
    assert not Workspace(ws_path).has_table("accounts")
    code, _, err = pql("ingest", "accounts", csv, "--force")
    assert code == 0, err


def test_events_file_ingested_as_users_is_refused(tmp_path, ws_path):
    csv = write(tmp_path, "e.csv", "user_id,event,timestamp\nu1,login,2026-10-01\n")
    with pytest.raises(DataError, match="looks like a events export"):
        ingest(ws_path, "users", [csv])
    assert ingest(ws_path, "users", [csv], options=IngestOptions(force=True)).added == 1


def test_hubspot_domain_falls_back_to_website_per_row(tmp_path, ws_path):
    csv = write(tmp_path, "co.csv", "Record ID,Company name,Company Domain Name,Website URL\n"
                "1,Acme,acme.com,https://other.com\n2,Globex,,https://www.globex.com/about\n3,None,,\n")
    ingest(ws_path, "accounts", [csv])
    domains = dict(Workspace(ws_path).scan("accounts").select("account_id", "domain").collect().iter_rows())
    assert domains == {"1": "acme.com", "2": "globex.com", "3": None}


def test_xlsx_export_is_read_and_trailing_empty_column_dropped(tmp_path, ws_path):
    frame = pl.DataFrame({"Record ID": [9001, 9002], "Company name": ["Acme", "Globex"],
                          "Company Domain Name": ["acme.com", None], "Website URL": [None, "globex.com"],
                          "Create Date": ["2024-05-02 10:00", "2024-06-01"], "": [None, None]})
    path = tmp_path / "companies.xlsx"
    frame.write_excel(path)
    result = ingest(ws_path, "accounts", [str(path)])
    assert result.formats == ("hubspot",) and (result.added, result.rejected) == (2, 0)
    accounts = Workspace(ws_path).scan("accounts").collect().sort("account_id")
    assert accounts["account_id"].to_list() == ["9001", "9002"] and accounts["domain"].to_list() == ["acme.com", "globex.com"]
    assert accounts["created_at"][0] == datetime(2024, 5, 2, 10, tzinfo=UTC)
    assert not any(c.startswith(("column", "unnamed")) for c in accounts.columns)


def test_bad_options_are_usage_errors(pql, tmp_path):
    csv = write(tmp_path, "e.csv", "user_id,event,timestamp\nu1,login,2026-10-01\n")
    assert pql("ingest", "events", csv, "--dedupe-window", "soon")[0] == 2
    assert pql("ingest", "events", csv, "--max-reject-rate", "7")[0] == 2
    with pytest.raises(UsageError):
        ingest(tmp_path / "w", "users", [csv], mapping={"mail": "x"})
