from __future__ import annotations

import subprocess
import sys

from pqlcli import __version__
from pqlcli.errors import ExitCode, PqlError, ProviderError, UsageError


def test_version_and_help(pql):
    code, out, _ = pql("--version", workspace=False)
    assert code == 0 and out.strip() == f"pql {__version__}"
    code, out, _ = pql("--help", workspace=False)
    assert code == 0 and "status" in out


def test_python_dash_m_runs():
    proc = subprocess.run([sys.executable, "-m", "pqlcli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_unknown_command_is_usage_error(pql):
    code, _, _err = pql("frobnicate")
    assert code == ExitCode.USAGE


def test_exit_code_table():
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 130]
    assert PqlError("x").exit_code == 1
    assert UsageError("x").exit_code == 2
    assert ProviderError("x").exit_code == 3


def test_status_on_empty_workspace(pql):
    code, out, _ = pql("status")
    assert code == 0 and "users" in out and "events" in out
