from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 70, 130]
    assert PqlError("x").exit_code == 1
    assert UsageError("x").exit_code == 2
    assert ProviderError("x").exit_code == 3


def test_status_on_empty_workspace(pql):
    code, out, _ = pql("status")
    assert code == 0 and "users" in out and "events" in out


def test_unexpected_error_is_internal_with_traceback_only_under_debug(pql, monkeypatch):
    """A bug (not a user error) exits 70 with a one-paragraph "this is a bug" message."""
    from pqlcli.workspace import status

    def broken(ws):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(status, "workspace_status", broken)
    code, _, err = pql("status")
    assert code == ExitCode.INTERNAL == 70
    assert "bug in pql" in err and "--debug" in err and "Traceback" not in err
    code, _, err = pql("--debug", "status")
    assert code == 70 and "Traceback" in err and "ZeroDivisionError" in err


def test_library_errors_name_parameters_cli_names_flags(pql, tmp_path):
    import pytest

    from pqlcli.config import resolve_as_of
    from pqlcli.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        resolve_as_of("2026-13-45")
    assert info.value.param == "as_of" and str(info.value).startswith("as_of '2026-13-45'") and "--" not in str(info.value)
    cfg = tmp_path / "pql.yaml"
    cfg.write_text("version: 1\n")
    code, _, err = pql("score", "--config", cfg, "--as-of", "2026-13-45")
    assert code == 1 and "--as-of '2026-13-45' is not a date" in err


def test_missing_step_names_the_command(pql):
    code, _, err = pql("list", "users")
    assert code == 1 and "no scores yet" in err and "Run `pql score`." in err


def test_runtime_does_not_import_the_test_support_module():
    """`pqlcli.testing` (synthetic workspaces) is for tests and benchmarks only."""
    import pqlcli

    root = Path(pqlcli.__file__).parent
    users = [p for p in root.rglob("*.py") if p.name != "testing.py" and "pqlcli.testing" in p.read_text()]
    assert users == []


def test_status_shows_the_latest_snapshot_with_a_readable_date(pql, ws_path):
    from tests.factories.snapshot_factory import make_two_snapshots

    make_two_snapshots(ws_path)
    code, _, err = pql("status")
    assert code == 0 and "2 score snapshot(s); latest 2026-11-01 00:00 UTC (20261101T000000000000Z)" in " ".join(err.split())
