"""One writer at a time: `pql ingest` / `pql optimize` hold the workspace's write lock; another writer
waits for it (PQL_LOCK_TIMEOUT), a dead holder releases it, and a reader never replays a live writer's
commit journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from pqlcli.workspace import Workspace
from pqlcli.workspace.lock import ENRICH_LOCK_FILE, LOCK_FILE

HOLD = "import sys, filelock; l = filelock.FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); sys.stdin.read()"


def _holder(ws: Path, name: str = LOCK_FILE) -> subprocess.Popen[str]:
    """Another process holding the workspace's write lock (or ``name``) until its stdin closes (or it is killed)."""
    ws.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ws / name)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _pql(ws: Path, *args: str, timeout: str | None = None, wait: bool = True) -> subprocess.Popen[str]:
    env = {**os.environ, "PQL_WORKSPACE": str(ws)}
    if timeout is not None:
        env["PQL_LOCK_TIMEOUT"] = timeout
    proc = subprocess.Popen([sys.executable, "-m", "pqlcli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        proc.wait(timeout=120)
    return proc


def _users_csv(path: Path, ids: range) -> Path:
    path.write_text("user_id,email,plan\n" + "".join(f"u{i},u{i}@acme{i}.io,free\n" for i in ids))
    return path


def test_an_ingest_waits_for_another_writer_then_gives_up_without_writing(tmp_path: Path):
    ws = tmp_path / "ws"
    users = _users_csv(tmp_path / "users.csv", range(5))
    holder = _holder(ws)
    try:
        proc = _pql(ws, "ingest", "users", str(users), timeout="0.5")
        err = proc.stderr.read() if proc.stderr else ""
        assert proc.returncode == 1
        assert "Another pql command is still writing to the workspace" in err and "PQL_LOCK_TIMEOUT" in err
        assert "Waiting for another pql command" in err and "Traceback" not in err
        assert not Workspace(ws).has_table("users") and not list(ws.glob(".ingest-*"))
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock, there is no stale lock to remove
        holder.wait()
    proc = _pql(ws, "ingest", "users", str(users), timeout="0")
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert Workspace(ws).scan("users").select(pl.len()).collect().item() == 5


def test_a_waiting_ingest_runs_once_the_other_writer_is_done(tmp_path: Path):
    ws = tmp_path / "ws"
    holder = _holder(ws)
    proc = _pql(ws, "ingest", "users", str(_users_csv(tmp_path / "users.csv", range(3))), wait=False)
    time.sleep(1.5)
    assert proc.poll() is None, "the ingest must wait while another writer holds the workspace"
    assert holder.stdin is not None
    holder.stdin.close()  # the other writer finishes
    holder.wait()
    assert proc.wait(timeout=120) == 0
    assert "Waiting for another pql command" in (proc.stderr.read() if proc.stderr else "")
    assert Workspace(ws).scan("users").select(pl.len()).collect().item() == 3


def test_concurrent_ingests_of_two_files_keep_both(tmp_path: Path):
    # without the lock both read "no records yet" and the second to finish overwrites the first's users
    ws = tmp_path / "ws"
    files = [_users_csv(tmp_path / f"users{k}.csv", range(k * 1000, k * 1000 + 1000)) for k in range(2)]
    procs = [_pql(ws, "ingest", "users", str(f), wait=False) for f in files]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    ids = Workspace(ws).scan("users").select("user_id").collect()["user_id"]
    assert ids.len() == 2000 and ids.n_unique() == 2000


def test_a_reader_leaves_a_live_writers_journal_alone(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "events").mkdir(parents=True)
    pl.DataFrame({"user_id": ["u1"], "event": ["login"]}).write_parquet(ws / "events" / "part-1.parquet")
    staged = ws / ".commit-x" / "0.parquet"
    staged.parent.mkdir()
    pl.DataFrame({"user_id": ["u2"], "event": ["login"]}).write_parquet(staged)
    journal = ws / ".commit-x.json"
    journal.write_text(json.dumps({"moves": [[".commit-x/0.parquet", "events/part-2.parquet"]], "deletes": [],
                                   "staging": ".commit-x"}))
    holder = _holder(ws)  # the writer whose commit this is is still alive
    try:
        assert Workspace(ws).table_files("events") == [ws / "events" / "part-1.parquet"]
        assert journal.exists() and staged.exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # it died mid-commit: the next reader completes the commit
        holder.wait()
    assert Workspace(ws).table_files("events") == [ws / "events" / "part-1.parquet", ws / "events" / "part-2.parquet"]
    assert not journal.exists() and not staged.parent.exists()


def test_a_bad_lock_timeout_is_a_usage_error(tmp_path: Path):
    proc = _pql(tmp_path / "ws", "ingest", "users", str(_users_csv(tmp_path / "u.csv", range(2))), timeout="soon")
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 2 and "PQL_LOCK_TIMEOUT='soon' is not a number of seconds" in err


def test_optimize_takes_the_same_lock(tmp_path: Path):
    ws = tmp_path / "ws"
    events = tmp_path / "events.csv"
    events.write_text("event_id,user_id,event,timestamp\ne1,u1,login,2026-10-02T00:00:00Z\ne2,u1,login,2026-10-01T00:00:00Z\n")
    assert _pql(ws, "ingest", "events", str(events)).returncode == 0
    holder = _holder(ws)
    try:
        proc = _pql(ws, "optimize", timeout="0")
        assert proc.returncode == 1 and "`pql optimize` did not start" in (proc.stderr.read() if proc.stderr else "")
    finally:
        holder.kill()
        holder.wait()
    assert _pql(ws, "optimize", timeout="0").returncode == 0


def test_one_enrichment_at_a_time_beside_ingests(tmp_path: Path):
    ws = tmp_path / "ws"
    assert _pql(ws, "ingest", "users", str(_users_csv(tmp_path / "u.csv", range(3)))).returncode == 0
    holder = _holder(ws, ENRICH_LOCK_FILE)  # another enrichment is running
    try:
        proc = _pql(ws, "enrich", timeout="0")
        assert proc.returncode == 1 and "`pql enrich` did not start" in (proc.stderr.read() if proc.stderr else "")
        # an ingest does not wait for an enrichment (it never writes firmographics)
        assert _pql(ws, "ingest", "users", str(_users_csv(tmp_path / "v.csv", range(3, 5))), timeout="0").returncode == 0
    finally:
        holder.kill()
        holder.wait()
    proc = _pql(ws, "enrich", timeout="0")
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert Workspace(ws).table_info("firmographics")["rows"] == 5


def test_a_workspace_that_cannot_be_locked_is_a_clear_error(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / LOCK_FILE).mkdir(parents=True)  # the lock file cannot be opened (as in a read-only workspace)
    proc = _pql(ws, "ingest", "users", str(_users_csv(tmp_path / "u.csv", range(2))))
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 1 and "Cannot write to the workspace" in err and "Traceback" not in err
    assert not Workspace(ws).has_table("users")
