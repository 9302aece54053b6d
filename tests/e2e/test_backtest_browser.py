"""The backtest HTML page in a real headless Chromium: loads clean, draws its two charts, shows the JSON's numbers."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from tests.e2e.test_examples_golden import ROOT
from tests.factories.browser_helpers import run_browser
from tests.unit.scoring.test_backtest import demo_ws, examples_ws  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


class Marks(HTMLParser):
    """<body> attributes, the lift bars' data-* and the gains points' data-*."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.bars: list[dict[str, str]] = []
        self.points: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "g" and a.get("class") == "bar":
            self.bars.append(a)
        elif tag == "circle" and a.get("class") == "point":
            self.points.append(a)


def test_backtest_html_in_headless_chromium(browser, pql, demo_ws, tmp_path):  # noqa: F811
    cfg = str(ROOT / "config" / "pql.yaml")
    args = ("backtest", "--as-of", "2026-08-15", "--horizon", "60d", "-c", cfg)
    page = tmp_path / "backtest.html"
    code, _, err = pql(*args, "--out", str(page))
    assert code == 0, err
    html = page.read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    code, out, err = pql(*args, "--format", "json")
    expected = json.loads(out)

    proc = run_browser(browser, tmp_path / "profile", "--window-size=1200,2400", "--dump-dom", page.resolve().as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if ":CONSOLE" in line] == []
    marks = Marks()
    marks.feed(proc.stdout)
    assert marks.body.get("data-ready") == "1", "the page's load handler did not run"
    assert json.loads(marks.body["data-errors"]) == []
    sizes = json.loads(marks.body["data-chart-sizes"])
    for chart in ("lift-by-tier", "gains-curve"):
        width, height = sizes[chart]
        assert width > 200 and height > 150, (chart, width, height)
    assert {b["data-tier"]: float(b["data-lift"]) for b in marks.bars} == {
        k: t["lift"] for k, t in expected["tiers"].items()
    }
    assert [float(p["data-cum-recall"]) for p in marks.points] == [g["cum_recall"] for g in expected["gains"]]

    shot = tmp_path / "backtest.png"
    proc = run_browser(browser, tmp_path / "profile2", "--window-size=1200,1600", f"--screenshot={shot}", page.resolve().as_uri())
    png = shot.read_bytes()
    assert proc.returncode == 0 and png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_calibration_html_in_headless_chromium(browser, pql, demo_ws, tmp_path):  # noqa: F811
    page = tmp_path / "calibration.html"
    args = ("calibrate", "--as-of", "2026-08-15", "--horizon", "60d", "-c", str(ROOT / "config" / "pql.yaml"))
    code, _, err = pql(*args, "--out", str(page))
    assert code == 0, err
    code, out, _ = pql(*args, "--format", "json")
    expected = json.loads(out)
    proc = run_browser(browser, tmp_path / "profile", "--window-size=1200,2000", "--dump-dom", page.resolve().as_uri())
    assert proc.returncode == 0 and [line for line in proc.stderr.splitlines() if ":CONSOLE" in line] == []
    marks = Marks()
    marks.feed(proc.stdout)
    assert marks.body.get("data-ready") == "1" and json.loads(marks.body["data-errors"]) == []
    width, height = json.loads(marks.body["data-chart-sizes"])["auc-held-out"]
    assert width > 200 and height > 150
    assert f"{expected['auc']['suggested']['test']['score']:.3f}" in proc.stdout
