"""Config mistakes: each one a clear error with file:line:column, through the real `pql` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pqlcli.config import json_schema_text
from tests.scoring_helpers import AS_OF, make_ws

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "config" / "pql.yaml").read_text()


@pytest.fixture
def data_ws(ws_path):
    return make_ws(
        ws_path,
        [{"user_id": "u1", "email": "a@acme.com", "account_id": "A1", "title": "CTO"}],
        [{"account_id": "A1", "domain": "acme.com"}],
        [{"user_id": "u1", "event": "login", "timestamp": AS_OF}],
        [{"domain": "acme.com", "employees": 10}],
    )


def _check(pql, tmp_path, text: str, *needles: str, code: int = 1) -> str:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    rc, out, err = pql("config", "validate", "--config", cfg)
    assert rc == code, (rc, out, err)
    assert "Traceback" not in err
    flat = " ".join(err.split())
    for n in needles:
        assert n in flat, f"{n!r} not in:\n{err}"
    return err


def test_example_config_validates(pql, data_ws):
    rc, _, err = pql("config", "validate", "--config", ROOT / "config" / "pql.yaml")
    assert rc == 0 and "OK" in err


def test_not_yaml(pql, tmp_path):
    _check(pql, tmp_path, "version: 1\nfit: [ {name: a\n", "bad.yaml:", "not valid YAML")


def test_not_a_mapping(pql, tmp_path):
    _check(pql, tmp_path, "- 1\n- 2\n", "must be a YAML mapping")


def test_wrong_type(pql, tmp_path):
    _check(pql, tmp_path, "version: 1\nfit:\n  - {name: a, when: 'x > 1', points: lots}\n", "bad.yaml:3:", "fit.0.points", "valid number")


def test_unknown_key(pql, tmp_path):
    _check(pql, tmp_path, "version: 1\nmetrics:\n  m: {event: login, windw: 7d}\n", "bad.yaml:3:", "windw", "unknown key")


def test_duplicate_key(pql, tmp_path):
    _check(pql, tmp_path, "version: 1\ntiers: {fit: 50}\ntiers: {fit: 60}\n", "bad.yaml:3:1", "duplicate key 'tiers'")


def test_missing_version(pql, tmp_path):
    _check(pql, tmp_path, "fit: []\n", "version")


def test_unknown_metric_in_rule(pql, tmp_path):
    _check(
        pql, tmp_path, "version: 1\nmetrics:\n  logins_7d: {event: login, window: 7d}\nusage:\n  - {name: a, metric: login_7d, points: 1}\n",
        "bad.yaml:5:", "login_7d", "Did you mean 'logins_7d'",
    )


def test_unknown_column(pql, tmp_path, data_ws):
    err = _check(
        pql, tmp_path, "version: 1\nfit:\n  - {name: big, when: \"employes > 100\", points: 30}\n",
        "bad.yaml:3:", "unknown column 'employes'", "Did you mean 'employees'", "Columns that exist",
    )
    assert "^" in err  # the offending line is shown with a caret


def test_condition_not_sql(pql, tmp_path, data_ws):
    _check(pql, tmp_path, "version: 1\nfit:\n  - {name: a, when: \"employees >\", points: 30}\n", "bad.yaml:3:", "not a valid SQL expression")


def test_when_not_boolean(pql, tmp_path, data_ws):
    _check(pql, tmp_path, "version: 1\nfit:\n  - {name: a, when: \"employees + 1\", points: 30}\n", "not true/false")


def test_cap_on_when_rule(pql, tmp_path):
    _check(pql, tmp_path, "version: 1\nfit:\n  - {name: a, when: \"x > 1\", points: 3, cap: 5}\n", "bad.yaml:3:", "cap: only applies to a per-unit rule")


def test_negative_window(pql, tmp_path):
    _check(pql, tmp_path, "version: 1\nmetrics:\n  m: {event: login, window: -7d}\n", "bad.yaml:3:", "must be positive")


def test_duplicate_rule_names(pql, tmp_path):
    _check(
        pql, tmp_path, "version: 1\nfit:\n  - {name: a, when: 'x > 1', points: 3}\n  - {name: a, when: 'y > 1', points: 3}\n",
        "bad.yaml:4:", "duplicate fit rule name 'a'",
    )


def test_account_pql_on_user_only_column(pql, tmp_path, data_ws):
    _check(
        pql, tmp_path, "version: 1\npqls:\n  - {name: bad, level: account, when: \"title = 'CTO'\"}\n",
        "bad.yaml:3:", "'title'", "user-only column",
    )


def test_unknown_event_is_a_warning(pql, tmp_path, data_ws):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("version: 1\nmetrics:\n  m: {event: logn, window: 7d}\n")
    rc, _, err = pql("config", "validate", "--config", cfg)
    assert rc == 0
    flat = " ".join(err.split())
    assert "'logn'" in flat and "Did you mean 'login'" in flat and "Known events: login" in flat


def test_missing_config_file(pql, tmp_path):
    rc, _, err = pql("score", "--config", tmp_path / "nope.yaml")
    assert rc == 1 and "does not exist" in err


def test_config_schema_is_fresh(pql):
    committed = (ROOT / "config" / "pql.schema.json").read_text()
    assert committed == json_schema_text(), "run: pql config schema > config/pql.schema.json"
    rc, out, _ = pql("config", "schema", workspace=False)
    assert rc == 0 and json.loads(out)["title"].startswith("pql config")
