"""Bad input: each case gets a clear error or a counted reject, never a traceback or a silent drop."""

from __future__ import annotations

import gzip
import io
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest

from pqlcli.errors import ExitCode, WorkspaceError
from pqlcli.ingest import ingest
from pqlcli.workspace import Workspace
from pqlcli.workspace.lock import LOCK_FILE
from tests import paths

USERS_CSV = "user_id,email,signup_at\nu1,a@x.com,2026-01-01\nu2,b@x.com,2026-01-02T10:00:00Z\n"


def write(tmp_path: Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_empty_file(pql, tmp_path):
    code, _, err = pql("ingest", "users", write(tmp_path, "empty.csv", ""))
    assert code == ExitCode.DATA_ERROR and "is empty" in err and "Traceback" not in err


def test_header_only_adds_nothing(pql, tmp_path, ws_path):
    code, out, err = pql("ingest", "users", write(tmp_path, "h.csv", "user_id,email\n"))
    assert code == 0, err
    counts = dict(re.findall(r"(read|added|rejected)\s*\S\s*(\d+)", out + err))
    assert counts == {"read": "0", "added": "0", "rejected": "0"}, out + err
    assert not Workspace(ws_path).has_table("users")  # nothing written, not even an empty table
    # after real rows, a header-only file leaves them as they were
    assert ingest(ws_path, "users", [write(tmp_path, "u.csv", USERS_CSV)]).added == 2
    assert pql("ingest", "users", str(tmp_path / "h.csv"))[0] == 0
    assert Workspace(ws_path).scan("users").sort("user_id").collect()["email"].to_list() == ["a@x.com", "b@x.com"]


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
    assert (result.read, result.added, result.rejected) == (3, 1, 2)  # a line that is not JSON is read, then rejected
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


def _wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _ingest_process(ws_path: Path, *args: str, stdin: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "PQL_WORKSPACE": str(ws_path)}
    return subprocess.Popen([sys.executable, "-m", "pqlcli", "ingest", *args], env=env, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _events_table(ws_path: Path) -> pl.DataFrame:
    return Workspace(ws_path).scan("events").sort("event_id").collect()


def test_ctrl_c_mid_ingest_exits_130_and_keeps_old_table(tmp_path, ws_path):
    """Ctrl-C while the ingest is running (it is reading a stdin that never ends): exit 130, table unchanged."""
    small = write(tmp_path, "small.csv", "user_id,event,timestamp\nu1,login,2026-10-01T00:00:00Z\n")
    ingest(ws_path, "events", [small])
    before = _events_table(ws_path)
    proc = _ingest_process(ws_path, "events", "-", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"user_id,event,timestamp\n" + b"u2,login,2026-10-02T00:00:00Z\n" * 50_000)
    proc.stdin.flush()
    # the ingest is under way in the workspace, spooling stdin, when Ctrl-C comes
    _wait_for(lambda: any(p.stat().st_size > 0 for p in ws_path.glob(".ingest-*/stdin")), "the ingest to start")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Interrupted" in err.decode() and "Traceback" not in err.decode()
    assert _events_table(ws_path).equals(before)
    # its temp files were removed (the write lock's file stays: pqlcli.workspace.lock)
    assert [p.name for p in ws_path.rglob("*") if p.name.startswith(".") and p.name != LOCK_FILE] == []


def _visible_parts(ws_path: Path) -> list[str]:
    return sorted(p.name for p in (ws_path / "events").iterdir())


def test_sigkill_mid_ingest_leaves_the_old_table_or_the_whole_new_one(tmp_path, ws_path):
    """SIGKILL cannot be caught: whatever instant it lands, readers see the old rows or old + all new rows."""
    from pqlcli.examples_gen import generate

    data = generate(tmp_path / "big", users=4_000, events_per_user=50)
    new_rows = pl.scan_csv(data.folder / "events.csv").select(pl.len()).collect().item()
    ingest(ws_path, "events", [write(tmp_path, "small.csv", "user_id,event,timestamp\nu1,login,2026-10-01T00:00:00Z\n")])
    before = _events_table(ws_path)
    parts_before = _visible_parts(ws_path)
    killed = 0
    for delay in (0.1, 0.5, 1.0, 1.5):  # early (reading), middle (staging) and late (merging) in the ingest
        proc = _ingest_process(ws_path, "events", str(data.folder / "events.csv"))
        _wait_for(lambda p=proc: list(ws_path.glob(".ingest-*")) or p.poll() is not None, "the ingest to start")
        time.sleep(delay)
        proc.kill()
        proc.communicate(timeout=60)
        killed += proc.returncode == -signal.SIGKILL
        rows = Workspace(ws_path).scan("events").select(pl.len()).collect().item()
        assert rows in (before.height, before.height + new_rows), f"killed after {delay}s: {rows} rows"
        parts = _visible_parts(ws_path)
        assert all(re.fullmatch(r"part-[\w.-]+\.parquet", p) and not p.startswith(".") for p in parts), parts
        if rows == before.height:
            assert parts == parts_before and _events_table(ws_path).equals(before)
            continue
        assert len(parts) == len(parts_before) + 1  # the new rows arrived whole, as one part
        break
    assert killed, "every ingest finished before it could be killed"


def test_sigkill_mid_snapshot_write_keeps_the_old_snapshot(tmp_path, ws_path):
    """A `pql score` killed while it writes its snapshot leaves the previous snapshot as the latest, whole."""
    from pqlcli.testing import synth_workspace

    config = paths.ROOT / "config" / "pql.yaml"
    ws = Workspace.open(ws_path, create=True)
    synth_workspace(ws, users=60_000, events=600_000)
    env = {**os.environ, "PQL_WORKSPACE": str(ws_path)}
    score = [sys.executable, "-m", "pqlcli", "score", "--config", str(config)]
    assert subprocess.run(score, env=env, capture_output=True, timeout=300).returncode == 0
    old = ws.snapshot("latest").path
    old_users = pl.read_parquet(old / "users.parquet")
    proc = subprocess.Popen(score, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writing = lambda: [p for p in ws.scores_dir.glob("*/users.parquet") if p.parent != old]  # noqa: E731
    _wait_for(lambda: writing() or proc.poll() is not None, "the snapshot write")
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the score finished before it could be killed mid-write"
    snaps = [s.path for s in ws.snapshots()]
    assert snaps[-1] == old and all(not p.name.startswith(".") for p in snaps), snaps
    visible = sorted(p for p in ws.scores_dir.iterdir() if not p.name.startswith("."))
    assert visible == snaps, "a half-written snapshot is visible in the scores folder"
    assert pl.read_parquet(old / "users.parquet").equals(old_users)
    # the next score and readers ignore the dead write's leftovers
    assert subprocess.run(score, env=env, capture_output=True, timeout=300).returncode == 0
    latest = ws.snapshot("latest").path
    assert [s.path for s in ws.snapshots()][-2:] == [old, latest] and latest != old


def test_workspace_is_a_file(tmp_path):
    target = tmp_path / "wsfile"
    target.write_text("x")
    with pytest.raises(WorkspaceError, match="is a file, not a folder"):
        Workspace.open(target)
    assert target.read_text() == "x"  # left alone


def test_a_dead_snapshot_write_with_its_manifest_is_not_a_snapshot(tmp_path, ws_path):
    """Killed between writing the manifest and the rename, a write leaves `.tmp-*` with a manifest: not a snapshot."""
    import shutil

    from tests.factories.snapshot_factory import make_two_snapshots

    make_two_snapshots(ws_path)
    ws = Workspace(ws_path)
    first, latest = (s.path for s in ws.snapshots())
    shutil.copytree(first, ws.scores_dir / f".tmp-{latest.name}-4242")
    assert [s.path for s in ws.snapshots()] == [first, latest]
    assert ws.snapshot("previous").path == first


def test_blank_required_values_are_rejected_and_ids_trimmed(tmp_path, ws_path):
    csv = "event_id,user_id,event,timestamp\n e1 , u1 ,login,2026-10-01\ne2,   ,login,2026-10-01\ne3,u1,  ,2026-10-01\n"
    result = ingest(ws_path, "events", [write(tmp_path, "e.csv", csv)])
    assert (result.read, result.added, result.rejected) == (3, 1, 2)
    rejects = pl.read_csv(result.rejects_path)
    assert [r.split(" (")[0] for r in rejects["reason"]] == ["missing user_id", "missing event"]
    kept = Workspace(ws_path).scan("events").select("event_id", "user_id", "source_user_id").collect().row(0)
    assert kept == ("e1", "u1", "u1")
    users = ingest(ws_path, "users", [write(tmp_path, "u.csv", "user_id,email\n  ,a@x.io\n u2 ,b@x.io\n")])
    assert (users.added, users.rejected) == (1, 1)
    assert Workspace(ws_path).scan("users").select("user_id").collect().to_series().to_list() == ["u2"]
