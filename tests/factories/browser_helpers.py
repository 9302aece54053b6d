"""A real headless Chromium for the HTML page tests: find it, run it, and the `browser` fixture that skips
(with the reason) only when no Chromium/Chrome binary can be found; `.ci/run` installs `chromium`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    explicit = os.environ.get("PQL_CHROMIUM")
    if explicit and shutil.which(explicit):
        return shutil.which(explicit)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def browser() -> str:
    found = find_browser()
    if not found:
        pytest.skip("no Chromium/Chrome found (apt-get install chromium, or set PQL_CHROMIUM); `.ci/run` installs it")
    return found
