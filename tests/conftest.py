from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's workspace, owner or keys."""
    for var in ("PQL_WORKSPACE", "PQL_OWNER", "PQL_DEBUG", "PQL_CONFIG", "CLEARBIT_API_KEY", "PQL_CLEARBIT_URL"):
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


def pytest_report_header() -> str:
    return f"pql tests, cwd={os.getcwd()}"
