"""The built wheel works on its own: installed into a fresh venv in a temp folder with no repository around,
`pql` runs init -> ingest -> enrich -> score -> list -> tiers report on copies of the examples.

pip installs the wheel's dependencies from its configured indexes and cache (offline on CI). Only if that
is impossible here does the test fall back to a venv that sees this interpreter's packages
(``--system-site-packages``) with ``--no-deps`` for the wheel — the wheel itself is still what runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import paths

ROOT = paths.ROOT
pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _install(wheel: Path, venv: Path, env: dict[str, str]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    if _run([*pip, str(wheel)], venv.parent, env).returncode != 0:
        shutil.rmtree(venv)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, env=env)
        done = _run([*pip, "--no-deps", str(wheel)], venv.parent, env)
        assert done.returncode == 0, done.stderr
    return venv / "bin" / "pql"


def test_the_wheel_runs_the_whole_pipeline_outside_the_repository(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PQL_", "PYTHON", "VIRTUAL_ENV"))}
    env["NO_COLOR"] = "1"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
                 tmp_path, env)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("pqlcli-*.whl"))
    pql = _install(wheel, tmp_path / "venv", env)
    where = _run([str(pql.parent / "python"), "-c", "import pqlcli; print(pqlcli.__file__)"], tmp_path, env)
    assert str(tmp_path / "venv") in where.stdout, where.stdout  # the installed copy, not the checkout

    exports = tmp_path / "exports"
    shutil.copytree(ROOT / "examples" / "data", exports)
    project = tmp_path / "project"
    steps = [
        ["init", str(project)],
        ["ingest", "accounts", str(exports / "hubspot-companies.csv"), "--format", "hubspot"],
        ["ingest", "users", str(exports / "users.csv")],
        ["ingest", "events", str(exports / "segment-tracks.jsonl"), "--format", "segment"],
        ["ingest", "events", str(exports / "mixpanel-export.jsonl"), "--format", "mixpanel"],
        ["ingest", "events", str(exports / "amplitude-export.zip"), "--format", "amplitude"],
        ["enrich", "--provider", "stub"],  # the stub's firmographics are package data
        ["score", "--as-of", "2026-11-01"],  # ./pql.yaml, written by init, found by the lookup order
    ]
    project.mkdir()
    for step in steps:
        done = _run([str(pql), *step], project, env)
        assert done.returncode == 0, (step, done.stderr)
    done = _run([str(pql), "list", "users", "--limit", "5", "--format", "json"], project, env)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 5
    done = _run([str(pql), "tiers", "report", "--format", "json"], project, env)
    assert done.returncode == 0, done.stderr
    tiers = json.loads(done.stdout)["levels"]["users"]["tiers"]
    assert all(t["count"] > 0 for t in tiers.values()), tiers
