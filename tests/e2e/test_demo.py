"""`make demo`'s script runs the whole pipeline on the bundled examples and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import paths

ROOT = paths.ROOT


def test_demo_script_runs_end_to_end(tmp_path):
    ws = tmp_path / "demo" / ".pql"
    env = {**os.environ, "PQL_WORKSPACE": str(ws), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", str(ROOT / "examples" / "demo.sh")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "demo" / "report.html").stat().st_size > 10_000
    for page in ("backtest.html", "calibration.html", "pql.suggested.yaml"):  # written next to the tier report
        assert (tmp_path / "demo" / page).stat().st_size > 1_000, page
    assert "fit rule big_company" in proc.stdout and "Tier" in proc.stdout
    assert "Traceback" not in proc.stderr
    # delivery: a Slack dry run and a HubSpot import file
    assert '"blocks"' in proc.stdout and "new PQL" in proc.stdout
    assert (tmp_path / "demo" / "pql-hubspot-contacts.csv").read_text().startswith("Email,")
