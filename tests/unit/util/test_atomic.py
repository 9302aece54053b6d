"""pqlcli/atomic.py: a write is all or nothing, even when the writer dies half-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pqlcli.util import atomic
from tests import paths


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_text_creates_folders_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    atomic.write_text(target, "one ✓")
    assert target.read_bytes() == "one ✓".encode()
    atomic.write_text(target, "two")
    assert target.read_text() == "two" and _hidden(target.parent) == []


def test_temp_file_is_hidden_beside_the_target_until_the_end(tmp_path):
    target = tmp_path / "t.json"
    target.write_text("old")
    with atomic.atomic_path(target, suffix=".json") as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".t.json.") and tmp.suffix == ".json"
        tmp.write_text("new")
        assert target.read_text() == "old"  # readers see the old file while the new one is written
    assert target.read_text() == "new" and not tmp.exists()


@pytest.mark.parametrize("error", [ValueError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path, error):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(type(error)), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise error
    assert target.read_text() == "old" and _hidden(tmp_path) == []


def test_a_failed_first_write_leaves_no_file(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_write_json_is_sorted_indented_and_stringifies_dates(tmp_path):
    target = tmp_path / "m.json"
    atomic.write_json(target, {"b": 1, "a": datetime(2026, 11, 1, tzinfo=UTC)})
    text = target.read_text()
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": "2026-11-01 00:00:00+00:00", "b": 1}


@pytest.mark.parametrize("lazy", [False, True])
def test_write_parquet_from_data_and_lazy_frames(tmp_path, lazy):
    frame = pl.DataFrame({"id": ["a", "b"], "n": [1, 2]})
    target = tmp_path / "t.parquet"
    atomic.write_parquet(target, frame.lazy() if lazy else frame)
    assert pl.read_parquet(target).equals(frame) and _hidden(tmp_path) == []


def test_a_writer_killed_mid_write_leaves_the_old_file_whole(tmp_path):
    """SIGKILL runs no cleanup: the old file stays as it was; only a hidden temp file may remain."""
    target = tmp_path / "table.parquet"
    old = pl.DataFrame({"n": list(range(1000))})
    old.write_parquet(target)
    child = textwrap.dedent(f"""
        import sys, time
        from pqlcli.util import atomic
        with atomic.atomic_path({str(target)!r}, suffix=".parquet") as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"PAR1" + b"x" * 100_000)
                fh.flush()
                print("writing", flush=True)
                time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, env={**os.environ})
    assert proc.stdout is not None and proc.stdout.readline() == b"writing\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert pl.read_parquet(target).equals(old)
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".table.parquet.")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_the_users_umask_like_open_would(tmp_path, umask):
    """Reports and exports are shared files: 0666 less the umask, not mkstemp's 0600."""
    old = os.umask(umask)
    try:
        atomic.write_text(tmp_path / "report.md", "x")
        atomic.write_json(tmp_path / "m.json", {})
        atomic.write_parquet(tmp_path / "t.parquet", pl.DataFrame({"a": [1]}))
        atomic.write_text(tmp_path / "secret.json", "k", private=True)
    finally:
        os.umask(old)
    for name in ("report.md", "m.json", "t.parquet"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert (tmp_path / "secret.json").stat().st_mode & 0o777 == 0o600


def test_a_snapshot_and_an_export_are_readable_by_the_group_under_umask_002(pql, ws_path, tmp_path):
    """End to end: `pql score` then `pql list --out` under umask 002 leave group-readable files."""
    from pqlcli.testing import synth_workspace
    from pqlcli.workspace import Workspace

    cfg = paths.ROOT / "config" / "pql.yaml"
    old = os.umask(0o002)
    try:
        ws = Workspace.open(ws_path, create=True)
        synth_workspace(ws, users=50, seed=1)
        code, _, err = pql("score", "--config", cfg)
        assert code == 0, err
        code, _, err = pql("list", "users", "--out", tmp_path / "leads.csv")
        assert code == 0, err
    finally:
        os.umask(old)
    snap = ws.snapshot("latest")
    for path in (snap.path / "manifest.json", tmp_path / "leads.csv", ws.table_path("users")):
        assert path.stat().st_mode & 0o777 == 0o664, path
