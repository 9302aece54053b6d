"""`pql score` on the bundled examples is byte-identical to the pinned output (tests/golden/pin/).

The pin was produced by the code before the scoring redesign (issue 9) and must not move while the
code is reorganised: every column of the users and accounts snapshots, for the pinned default config (tests/golden/pin/default.yaml) and for
tests/golden/pin/rich.yaml. Re-pin only with known-good code: `bash tests/golden/pin/regen.sh main`.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest

from tests import paths

PIN = paths.GOLDEN / "pin"


def _make_pin():
    spec = importlib.util.spec_from_file_location("make_pin", PIN / "make_pin.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pin")
    _make_pin().make_pin(out)
    return out


# A decayed metric is a sum of float weights that the streaming group-by adds in a varying order, so its
# last bits (and those of the points and scores built on it) differ between two runs of the same code,
# before and after the redesign alike. Float columns may differ by that much and no more; every other
# column, and every float column of a run without such sums, must be byte-identical.
FLOAT_RTOL = 1e-12


def _differences(want: Path, got: Path, key: str) -> list[str]:
    a, b = pl.read_ndjson(want), pl.read_ndjson(got)
    if a.columns != b.columns or a.height != b.height:
        return [f"columns/rows differ: {a.columns} x {a.height} vs {b.columns} x {b.height}"]
    out = []
    for col in a.columns:
        if a[col].dtype == pl.Float64 and b[col].dtype == pl.Float64:
            x, y = a[col], b[col]
            bad = ((x - y).abs() > FLOAT_RTOL * x.abs().clip(lower_bound=1.0)) | (x.is_null() != y.is_null())
        else:
            bad = a[col].ne_missing(b[col])
        if bad.any():
            out.append(f"column {col}: pinned {a.filter(bad).select(key, col).head(3).to_dicts()} "
                       f"vs now {b.filter(bad).select(key, col).head(3).to_dicts()}")
    return out


@pytest.mark.parametrize("config", ["default", "rich"])
@pytest.mark.parametrize(("level", "key"), [("users", "user_id"), ("accounts", "account_id")])
def test_score_output_is_pinned(produced: Path, config: str, level: str, key: str) -> None:
    want, got = PIN / config / f"{level}.ndjson", produced / config / f"{level}.ndjson"
    schema_want = json.loads((PIN / config / "schema.json").read_text())[level]
    schema_got = json.loads((produced / config / "schema.json").read_text())[level]
    assert list(schema_got.items()) == list(schema_want.items()), f"{config}/{level}: columns, order or dtypes moved"
    assert pl.read_ndjson(want).height > 0
    if got.read_bytes() != want.read_bytes():
        differences = _differences(want, got, key)
        assert not differences, f"{config}/{level}.ndjson differs from the pin: {differences}"
        assert config == "rich", "only the decayed sums of the rich config may differ in their last bits"
