"""The example third-party provider package, pip-installed into the test environment and used via the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pqlcli.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "provider-plugin"


@pytest.fixture(scope="session")
def plugin_installed() -> str:
    """pip install the example plugin (offline: no deps, no build isolation; setuptools is in the venv)."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(PLUGIN)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return "jsonl"


def pql(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pqlcli", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_installed_plugin_is_listed_and_used_by_enrich(plugin_installed, tmp_path):
    ws_path = tmp_path / "ws"
    ws = Workspace.open(ws_path, create=True)
    ws.write_table("accounts", pl.DataFrame({"account_id": ["1", "2", "3"], "domain": ["northwind.io", "initech.com", "other.org"]}))

    listed = pql("providers", cwd=tmp_path)
    assert listed.returncode == 0 and plugin_installed in listed.stdout and "pql-provider-jsonl" in listed.stdout

    data = PLUGIN / "companies.jsonl"
    run = pql("-w", str(ws_path), "enrich", "--provider", plugin_installed, "--option", f"path={data}", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    table = ws.scan("firmographics").collect().sort("domain")
    rows = {r["domain"]: r for r in table.to_dicts()}
    assert rows["northwind.io"]["status"] == "found" and rows["northwind.io"]["raised"] == 25e6
    assert rows["northwind.io"]["country"] == "US" and rows["initech.com"]["employees"] == 51
    assert rows["initech.com"]["country"] == "CA" and rows["other.org"]["status"] == "not_found"
    assert set(table.get_column("provider")) == {"jsonl"}

    typo = pql("-w", str(ws_path), "enrich", "--provider", plugin_installed, "--option", "pth=x", cwd=tmp_path)
    assert typo.returncode == 2 and "pth" in typo.stderr
    assert json.loads(json.dumps(rows["northwind.io"], default=str))
