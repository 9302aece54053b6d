"""In CI (CI=true) a skipped test fails the run, with the skip's reason; elsewhere it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import paths

ROOT = paths.ROOT

CASES = '''
import pytest

def test_needs_a_browser():
    pytest.skip("no Chromium found")

@pytest.mark.skipif(True, reason="java is not on PATH")
def test_needs_java():
    pass

def test_runs():
    assert True
'''
MODULE_SKIP = 'import pytest\npytest.importorskip("no_such_module_for_pql")\n\ndef test_x():\n    pass\n'


@pytest.mark.parametrize("ci", ["true", ""])
def test_skips_fail_only_in_ci(tmp_path: Path, ci: str) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n"
                                          "from tests.conftest import pytest_make_collect_report, pytest_runtest_makereport\n")
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(ROOT)}

    def run(name: str) -> tuple[int, str]:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-rA", name],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout

    (code, out), (module_code, module_out) = run("test_cases.py"), run("test_module_skip.py")
    if ci:
        assert code == 1 and "1 failed, 1 passed, 1 error" in out, out  # a skip in setup shows as an error
        assert "no Chromium found" in out and "java is not on PATH" in out
        assert module_code != 0 and "module skipped in CI" in module_out and "no_such_module_for_pql" in module_out
    else:
        assert code == 0 and "1 passed, 2 skipped" in out, out
        assert module_code == 5 and "1 skipped" in module_out, module_out  # pytest: 5 = no test ran
