"""The example third-party provider package, pip-installed into a temporary target (never into the running
environment) and used through the CLI in a child process that sees it on PYTHONPATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pqlcli.workspace import Workspace
from tests import paths

ROOT = paths.ROOT
PLUGIN = ROOT / "examples" / "provider-plugin"


@pytest.fixture(scope="session")
def plugin_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip install a copy of the example plugin into a temp folder (offline: no deps, no build isolation;
    setuptools and wheel are in the venv). The copy keeps build leftovers out of the repository."""
    tmp = tmp_path_factory.mktemp("plugin")
    source, target = tmp / "src", tmp / "site"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
           "--target", str(target), str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert (target / "pql_provider_jsonl").is_dir()
    return target


def pql(*args: str, cwd: Path, site: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "pqlcli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env=env)


def test_installed_plugin_is_listed_and_used_by_enrich(plugin_target, tmp_path):
    ws_path = tmp_path / "ws"
    ws = Workspace.open(ws_path, create=True)
    ws.write_table("accounts", pl.DataFrame({"account_id": ["1", "2", "3"], "domain": ["northwind.io", "initech.com", "other.org"]}))

    listed = pql("providers", cwd=tmp_path, site=plugin_target)
    assert listed.returncode == 0 and "jsonl" in listed.stdout and "pql-provider-jsonl" in listed.stdout
    without = pql("providers", cwd=tmp_path, site=None)
    assert without.returncode == 0 and "pql-provider-jsonl" not in without.stdout  # only where installed

    data = PLUGIN / "companies.jsonl"
    run = pql("-w", str(ws_path), "enrich", "--provider", "jsonl", "--option", f"path={data}", cwd=tmp_path,
              site=plugin_target)
    assert run.returncode == 0, run.stderr
    table = ws.scan("firmographics").collect().sort("domain")
    rows = {r["domain"]: r for r in table.to_dicts()}
    assert rows["northwind.io"]["status"] == "found" and rows["northwind.io"]["raised"] == 25e6
    assert rows["northwind.io"]["country"] == "US" and rows["initech.com"]["employees"] == 51
    assert rows["initech.com"]["country"] == "CA" and rows["other.org"]["status"] == "not_found"
    assert set(table.get_column("provider")) == {"jsonl"}
    # the plugin's own extra field became a column of the table
    assert rows["northwind.io"]["jsonl_source"] == str(data) and rows["northwind.io"]["name"] == "Northwind Traders"

    typo = pql("-w", str(ws_path), "enrich", "--provider", "jsonl", "--option", "pth=x", cwd=tmp_path,
               site=plugin_target)
    assert typo.returncode == 2 and "pth" in typo.stderr and "did you mean 'path'?" in typo.stderr
