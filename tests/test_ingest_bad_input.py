"""Bad input: each case gets a clear error or a counted reject, never a traceback or a silent drop."""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest

from pqlcli.errors import DataError, ExitCode
from pqlcli.ingest import ingest
from pqlcli.workspace import Workspace

USERS_CSV = "user_id,email,signup_at\nu1,a@x.com,2026-01-01\nu2,b@x.com,2026-01-02T10:00:00Z\n"


def write(tmp_path: Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_empty_file(pql, tmp_path):
    code, _, err = pql("ingest", "users", write(tmp_path, "empty.csv", ""))
    assert code == ExitCode.DATA_ERROR and "is empty" in err and "Traceback" not in err


def test_header_only_adds_nothing(pql, tmp_path, ws_path):
    code, _, err = pql("ingest", "users", write(tmp_path, "h.csv", "user_id,email\n"))
    assert code == 0, err
    assert "read" in err


def test_wrong_delimiter_is_sniffed(tmp_path, ws_path):
    result = ingest(ws_path, "users", [write(tmp_path, "semi.csv", USERS_CSV.replace(",", ";"))])
    assert result.added == 2


def test_missing_required_column_names_it(pql, tmp_path):
    code, _, err = pql("ingest", "users", write(tmp_path, "u.csv", "ident,mail\n1,a@x.com\n"))
    assert code == ExitCode.DATA_ERROR
    assert "'user_id'" in err and "'ident'" in err and "'mail'" in err and "--map" in err
    code, _, err = pql("ingest", "users", str(tmp_path / "u.csv"), "--map", "user_id=ident")
    assert code == 0, err


def test_bad_map_source(pql, tmp_path):
    code, _, err = pql("ingest", "users", write(tmp_path, "u.csv", USERS_CSV), "--map", "user_id=nope")
    assert code == ExitCode.USAGE and "nope" in err


def test_latin1_bytes(tmp_path, ws_path):
    data = "user_id,name\nu1,Jos\xe9 Mu\xf1oz\n".encode("latin-1")
    ingest(ws_path, "users", [write(tmp_path, "l1.csv", data)])
    assert Workspace(ws_path).scan("users").collect()["name"].to_list() == ["José Muñoz"]


def test_quoted_newline(tmp_path, ws_path):
    result = ingest(ws_path, "users", [write(tmp_path, "q.csv", 'user_id,title\nu1,"Head of\nGrowth"\nu2,CTO\n')])
    assert result.added == 2
    titles = Workspace(ws_path).scan("users").sort("user_id").collect()["title"].to_list()
    assert titles == ["Head of\nGrowth", "CTO"]


def test_duplicate_ids_in_one_file_keep_last(tmp_path, ws_path):
    result = ingest(ws_path, "users", [write(tmp_path, "d.csv", "user_id,plan\nu1,free\nu2,free\nu1,team\n")])
    assert (result.read, result.added, result.duplicates) == (3, 2, 1)
    plans = dict(Workspace(ws_path).scan("users").select("user_id", "plan").collect().iter_rows())
    assert plans == {"u1": "team", "u2": "free"}


def test_mixed_timestamp_formats_and_rejects(tmp_path, ws_path):
    csv = (
        "user_id,event,timestamp\n"
        "u1,login,2026-10-01T10:00:00Z\n"
        "u1,login,2026-10-01 12:00\n"
        "u1,login,1790812800\n"
        "u1,login,1790812800123\n"
        "u1,login,2026-10-01T10:00:00+0200\n"
        "u1,login,yesterday\n"
        ",login,2026-10-01\n"
    )
    result = ingest(ws_path, "events", [write(tmp_path, "e.csv", csv)])
    assert (result.read, result.added, result.rejected) == (7, 5, 2)
    rejects = pl.read_csv(result.rejects_path)
    assert rejects["row"].to_list() == [6, 7]
    assert "unparseable timestamp" in rejects["reason"][0] and "yesterday" in rejects["reason"][0]
    assert "missing user_id" in rejects["reason"][1]
    assert {"event", "timestamp"} <= set(rejects.columns)  # the original fields


def test_jsonl_line_that_is_not_json(tmp_path, ws_path):
    lines = '{"user_id":"u1","event":"login","timestamp":"2026-10-01T00:00:00Z"}\n{not json\n[1,2]\n'
    result = ingest(ws_path, "events", [write(tmp_path, "e.jsonl", lines)])
    assert (result.read, result.added, result.rejected) == (1, 1, 2) or (result.added, result.rejected) == (1, 2)
    rejects = pl.read_csv(result.rejects_path)
    assert sorted(rejects["row"].to_list()) == [2, 3] and "not valid JSON" in " ".join(rejects["reason"])


def test_zip_without_json(pql, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    code, _, err = pql("ingest", "events", write(tmp_path, "x.zip", buf.getvalue()))
    assert code == ExitCode.DATA_ERROR and "no JSON" in err and "readme.txt" in err


def test_missing_path_and_directory(pql, tmp_path):
    code, _, err = pql("ingest", "users", str(tmp_path / "nope.csv"))
    assert code == ExitCode.DATA_ERROR and "does not exist" in err
    code, _, err = pql("ingest", "users", str(tmp_path))
    assert code == ExitCode.DATA_ERROR and "is a folder" in err


def test_unknown_kind_and_format(pql, tmp_path):
    code, _, err = pql("ingest", "people", write(tmp_path, "u.csv", USERS_CSV))
    assert code == ExitCode.USAGE and "users, accounts, events" in err
    code, _, err = pql("ingest", "users", str(tmp_path / "u.csv"), "--format", "excel")
    assert code == ExitCode.USAGE


def test_gz_glob_and_stdin(tmp_path, ws_path, monkeypatch):
    write(tmp_path, "a.csv.gz", gzip.compress(USERS_CSV.encode()))
    write(tmp_path, "b.csv", "user_id,email\nu3,c@x.com\n")
    result = ingest(ws_path, "users", [str(tmp_path / "*.csv*")])
    assert result.added == 3
    stdin = io.TextIOWrapper(io.BytesIO(b"user_id,email\nu4,d@x.com\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert ingest(ws_path, "users", ["-"]).added == 1


def test_ctrl_c_mid_ingest_keeps_old_table(tmp_path, ws_path):
    from pqlcli.examples_gen import generate

    data = generate(tmp_path / "big", users=12_000, events_per_user=50)
    small = write(tmp_path, "small.csv", "user_id,event,timestamp\nu1,login,2026-10-01T00:00:00Z\n")
    ingest(ws_path, "events", [small])
    env = {**os.environ, "PQL_WORKSPACE": str(ws_path)}
    proc = subprocess.Popen([sys.executable, "-m", "pqlcli", "ingest", "events", str(data.folder / "events.csv")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait until the ingest has started working in the workspace, then interrupt it
    deadline = time.time() + 20
    while time.time() < deadline and not list(ws_path.glob(".ingest-*")):
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode in (0, ExitCode.INTERRUPTED)
    ws = Workspace(ws_path)
    rows = ws.scan("events").select(pl.len()).collect().item()
    assert rows in (1, 1 + 600_000)  # the old table, or the complete new one: never half
    leftovers = [p for p in ws_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_workspace_is_a_file(pql, tmp_path):
    target = tmp_path / "wsfile"
    target.write_text("x")
    with pytest.raises(Exception):
        Workspace.open(target)
    assert isinstance(DataError("x"), Exception)
