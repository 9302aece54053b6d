from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.factories.browser_helpers import browser  # noqa: F401  (the headless Chromium fixture of the HTML page tests)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Hypothesis' per-example deadline measures the machine, not pql: on a loaded 2-core box a 200 ms deadline
# fails tests that are correct. Tests that must not hang bound their own time (e.g. the CLI fuzz tests).
settings.register_profile("pql", deadline=None)
settings.load_profile("pql")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's workspace, owner or keys."""
    for var in ("PQL_WORKSPACE", "PQL_OWNER", "PQL_DEBUG", "PQL_CONFIG", "CLEARBIT_API_KEY", "PQL_CLEARBIT_URL",
                "PQL_UPDATE_GOLDEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def ws_path(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def pql(ws_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run the real `pql` entry point in-process: returns (exit_code, stdout, stderr)."""
    from pqlcli.cli.main import main

    def _run(*args: str, workspace: bool = True) -> tuple[int, str, str]:
        argv = (["--workspace", str(ws_path)] if workspace else []) + [str(a) for a in args]
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def in_ci() -> bool:
    """CI sets CI=true (GitHub, GitLab and `.ci/run` do): there, nothing a test needs may be missing."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_report_header() -> str:
    mode = "CI: a skipped test fails the run" if in_ci() else "not CI: missing engines/browser/database skip"
    return f"pql tests, cwd={os.getcwd()}, {mode}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """In CI a skip (no pyspark/Java, no Chromium, no PostgreSQL, ...) is a failure, with the skip's reason."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true), which must run every test: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A whole module skipped at import (pytest.importorskip) fails in CI too."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"module skipped in CI (CI=true), which must run every test: {reason}"
