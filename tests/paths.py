"""Where things are, whatever the depth of the test file that asks (tests/unit/<area>/, tests/e2e/...)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent  # the repository
DATA = TESTS / "data"  # small input files of the tests
GOLDEN = TESTS / "golden"  # golden outputs and the score pin
