"""`pql calibrate`: the threshold grid, fitted points, the suggested config (valid, never over yours)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pqlcli import config
from pqlcli.errors import PqlError
from pqlcli.scoring import Inputs
from pqlcli.scoring import backtest as bt
from pqlcli.scoring import calibrate as cal
from tests.e2e.test_examples_golden import ROOT
from tests.unit.scoring.test_backtest import demo_ws, examples_ws  # noqa: F401  (fixtures)

CONFIG = ROOT / "config" / "pql.yaml"
SPEC = cal.CalibrateSpec(bt.BacktestSpec(datetime(2026, 8, 15, tzinfo=UTC), timedelta(days=60)))


def test_threshold_grid_equals_counting_each_pair():
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({
        "fit_score": rng.integers(0, 101, 400).astype(float),
        "usage_score": rng.integers(0, 101, 400).astype(float),
        "converted": rng.random(400) < 0.2,
    })
    grid = cal.threshold_grid(frame)
    assert grid.height == 21 * 21
    for row in grid.sample(25, seed=1).iter_rows(named=True):
        want = cal.tier1_stats(frame, row["fit"], row["usage"])
        assert (row["records"], row["converted"]) == (want["records"], want["converted"])
    best = cal.best_thresholds(grid, capacity=60, min_conversions=5)
    ok = grid.filter((pl.col("records") <= 60) & (pl.col("records") >= 30) & (pl.col("converted") >= 5))
    assert best is not None and best["lift"] == round(ok["lift"].max(), 4)


@pytest.fixture(scope="module")
def calibrated(examples_ws):  # noqa: F811
    return cal.calibrate(config.load(CONFIG), Inputs.from_workspace(examples_ws), SPEC)


def test_calibration_on_the_examples(calibrated, examples_ws):  # noqa: F811
    report, text = calibrated
    assert report["train_records"] + report["test_records"] == report["records"]
    assert report["capacity"] == report["thresholds"]["current"]["records"]  # default: today's Tier 1 volume
    suggested = report["thresholds"]["suggested"]
    assert report["capacity"] // 2 <= suggested["records"] <= report["capacity"]
    for which in ("current", "suggested"):
        for part in ("train", "test"):
            assert set(report["auc"][which][part]) == {"fit", "usage", "score", "tier"}
    # the points are integers, one per rule, with the rule's backtest lift
    assert [p["name"] for p in report["points"]] == [r.name for r in config.load(CONFIG).config.fit + config.load(CONFIG).config.usage]
    assert all(isinstance(p["new"], int) for p in report["points"])
    # the suggested config is complete and valid, and scores the same way as the report says
    loaded = config.loads(text, "pql.suggested.yaml")
    assert loaded.config.tiers.fit == suggested["fit"] and loaded.config.tiers.usage == suggested["usage"]
    assert loaded.config.metrics == config.load(CONFIG).config.metrics and loaded.config.pqls == config.load(CONFIG).config.pqls
    points = {r.name: r.points for r in loaded.config.fit + loaded.config.usage}
    assert points == {p["name"]: p["new"] for p in report["points"]}
    again = bt.run_backtest(loaded, Inputs.from_workspace(examples_ws), SPEC.backtest)
    assert again["tiers"]["tier1"]["records"] == suggested["records"]
    assert again["tiers"]["tier1"]["converted"] == suggested["converted"]
    for line in text.splitlines():
        if line.startswith("  - {name:") and not any(k in line for k in ("metric:", "level:", "steps:")):
            assert "# lift" in line or "# never fired" in line, line


def test_same_seed_same_suggestion(calibrated, examples_ws):  # noqa: F811
    _, text = cal.calibrate(config.load(CONFIG), Inputs.from_workspace(examples_ws), SPEC)
    assert text == calibrated[1]


def test_cli_writes_a_config_that_validates_and_never_overwrites(pql, demo_ws, tmp_path):  # noqa: F811
    target = tmp_path / "pql.suggested.yaml"
    args = ("calibrate", "--as-of", "2026-08-15", "--horizon", "60d", "-c", CONFIG)
    code, out, err = pql(*args, "--write", target, "-f", "json")
    assert code == 0, err
    assert json.loads(out)["auc"]["suggested"]["test"]["score"] is not None
    code, out, err = pql("config", "validate", "--config", target)
    assert code == 0, err
    code, _, err = pql(*args, "--write", target, "-f", "json")  # a previous suggestion may be replaced
    assert code == 0, err
    before = CONFIG.read_text()
    code, _, err = pql(*args, "--write", CONFIG, "-f", "json")
    assert code == 1 and "Refusing to overwrite the config" in err and CONFIG.read_text() == before
    mine = tmp_path / "mine.yaml"
    mine.write_text("version: 1\n")
    code, _, err = pql(*args, "--write", mine, "-f", "json")
    assert code == 1 and "not a config pql calibrate suggested" in err and mine.read_text() == "version: 1\n"


def test_missing_scikit_learn_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)
    with pytest.raises(PqlError, match=r"pqlcli\[calibrate\]"):
        cal.require_sklearn()
