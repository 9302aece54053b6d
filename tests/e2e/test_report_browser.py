"""The HTML tier report in a real headless Chromium: loads clean, shows the JSON's numbers, draws its charts.

Skipped (with the reason) only when no Chromium/Chrome binary can be found; `.ci/run` installs `chromium`.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from tests.factories.browser_helpers import run_browser
from tests.factories.snapshot_factory import make_two_snapshots

pytestmark = pytest.mark.browser

class DomReader(HTMLParser):
    """Collects <body> attributes and, per heat-map cell, its data-* and its visible count text."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.cells: list[dict[str, str]] = []
        self._section: str | None = None
        self._in_count = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "svg" and a.get("id", "").startswith("heatmap-"):
            self._section = a["id"].removeprefix("heatmap-")
        elif tag == "g" and "cell" in a.get("class", "").split() and self._section:
            self.cells.append({"level": self._section, **a})
        elif tag == "text" and a.get("class") == "count" and self.cells:
            self._in_count = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._section = None
        if tag == "text":
            self._in_count = False

    def handle_data(self, data: str) -> None:
        if self._in_count:
            self.cells[-1]["shown"] = self.cells[-1].get("shown", "") + data


def test_html_report_in_headless_chromium(browser, pql, ws_path, tmp_path):
    make_two_snapshots(ws_path)
    page = tmp_path / "report.html"
    code, _, err = pql("tiers", "report", "--format", "html", "--out", str(page))
    assert code == 0, err
    code, out, err = pql("tiers", "report", "--format", "json")
    expected = json.loads(out)

    url = page.resolve().as_uri()
    proc = run_browser(browser, tmp_path / "profile", "--window-size=1200,2400", "--dump-dom", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Chromium logs every console message of the page as ":CONSOLE:" on stderr (errors and uncaught exceptions).
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console

    dom = DomReader()
    dom.feed(proc.stdout)
    assert dom.body.get("data-ready") == "1", "the page's load handler did not run"
    assert json.loads(dom.body["data-errors"]) == []

    sizes = json.loads(dom.body["data-chart-sizes"])
    for level in ("users", "accounts"):
        for chart in (f"heatmap-{level}", f"tiers-{level}", f"by-owner-{level}", f"conversion-{level}"):
            assert chart in sizes, f"chart {chart} missing; have {sorted(sizes)}"
            width, height = sizes[chart]
            assert width > 50 and height > 50, (chart, width, height)

    # The matrix a person sees has the JSON's numbers, cell by cell.
    seen = {(c["level"], c["data-tier"]): c for c in dom.cells}
    assert len(seen) == 8
    for level, data in expected["levels"].items():
        for key, tier in data["tiers"].items():
            cell = seen[(level, key)]
            assert int(cell["data-count"]) == tier["count"]
            assert cell["shown"].strip() == str(tier["count"])

    shot = tmp_path / "report.png"
    proc = run_browser(browser, tmp_path / "profile2", "--window-size=1200,1600", f"--screenshot={shot}", url)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a blank page compresses to a few KB
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1200, 1600)
    assert re.search(r"<svg[^>]+class=\"chart", proc.stdout) is None  # screenshots print no DOM
