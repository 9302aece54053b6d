"""Config mistakes: each one a clear error with file:line:column, through the real `pql` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pqlcli.config import json_schema_text
from tests import paths
from tests.factories.scoring_helpers import AS_OF, make_ws

ROOT = paths.ROOT
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


# ---- hardening (issues 13 and 15) -------------------------------------------------------------------
BILLION_LAUGHS = """version: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_fails_fast_in_a_real_process(tmp_path):
    """Before the alias limit this ran for over a minute; the bound is generous (startup included)."""
    import subprocess
    import sys
    import time

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pqlcli", "--workspace", str(tmp_path / "ws"), "config", "validate", "--config", str(bomb)],
        capture_output=True, text=True, timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    flat = " ".join(proc.stderr.split())
    assert "bomb.yaml:" in flat and "anchors and aliases" in flat and "expand to more than 100,000 values" in flat
    assert "Traceback" not in proc.stderr
    assert elapsed < 30, elapsed  # a generous bound for a loaded machine; it takes well under a second alone


def test_small_aliases_still_work(pql, tmp_path):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(
        "version: 1\nmetrics:\n  a: &m {event: login, window: 7d}\n  b: *m\n"
        "fit:\n  - &r {name: one, when: 'employees > 1', points: 1}\n"
    )
    rc, _, err = pql("config", "validate", "--config", cfg)
    assert rc == 0, err


def test_recursive_alias_is_refused(pql, tmp_path):
    _check(pql, tmp_path, "version: 1\nx: &a [1, *a]\n", "bad.yaml:2:", "refers to the node that contains it")


def test_impossible_date_is_a_config_error_with_position(pql, tmp_path):
    err = _check(pql, tmp_path, "version: 1\nas_of: 2026-11-31\n", "bad.yaml:2:8", "'2026-11-31' is not a real date", "2026-11-30")
    assert "unexpected" not in err and "bug" not in err


def test_impossible_time_is_a_config_error(pql, tmp_path):
    _check(pql, tmp_path, "version: 1\nas_of: 2026-11-30T25:00:00Z\n", "bad.yaml:2:", "not a real date or time")


def test_unknown_top_level_key_did_you_mean(pql, tmp_path):
    _check(
        pql, tmp_path, "version: 1\npql:\n  - {name: a, when: 'x > 1'}\n",
        "bad.yaml:2:1", "unknown key 'pql'", "Did you mean 'pqls'?",
    )


def test_misspelt_key_is_reported_as_itself_not_as_a_missing_key(pql, tmp_path):
    err = _check(
        pql, tmp_path, "version: 1\npqls:\n  - {name: a, wen: \"plan = 'free'\"}\n",
        "bad.yaml:3:15", "pqls.0.wen: unknown key 'wen'", "Did you mean 'when'?",
    )
    assert "missing" not in err


def test_misspelt_version_is_reported_as_itself(pql, tmp_path):
    err = _check(pql, tmp_path, "verison: 1\n", "bad.yaml:1:1", "unknown key 'verison'", "Did you mean 'version'?")
    assert "no version" not in err and "missing" not in err


def test_unknown_key_without_a_close_match_lists_the_keys(pql, tmp_path):
    _check(
        pql, tmp_path, "version: 1\nmetrics:\n  m: {event: login, colour: red}\n",
        "unknown key 'colour'", "Keys allowed here: event, trend, window, agg, property, decay, rollup.",
    )


def test_every_problem_is_listed_in_file_order(pql, tmp_path):
    err = _check(
        pql, tmp_path,
        "version: 1\ntiers: {fit: 500}\nfit:\n  - {name: a, when: 'x > 1', points: lots}\n  - {name: b, when: 'y > 1', pints: 3}\n",
        "bad.yaml:2:", "tiers.fit", "2 more problem(s):", "bad.yaml:4:", "fit.0.points", "bad.yaml:5:",
        "unknown key 'pints' (not part of the config format). Did you mean 'points'?",
    )
    assert err.index("tiers.fit") < err.index("fit.0.points") < err.index("pints")
    assert "fit.1.points: this required key is missing" not in err


def test_double_quoted_text_in_a_condition_gets_the_single_quote_hint(pql, tmp_path, data_ws):
    _check(
        pql, tmp_path, "version: 1\nfit:\n  - {name: t, when: 'plan = \"team\"', points: 5}\n",
        "bad.yaml:3:", "unknown column 'team'", "SQL text takes single quotes: write 'team' for the text",
    )


def test_double_quoted_text_in_where_gets_the_hint(pql, ws_path):
    from tests.factories.snapshot_factory import make_two_snapshots

    make_two_snapshots(ws_path)
    rc, _, err = pql("list", "users", "--where", 'plan = "team"')
    assert rc == 2 and "SQL text takes single quotes" in " ".join(err.split())


def test_config_lookup_order(pql, tmp_path, monkeypatch):
    """--config, then PQL_CONFIG, then ./pql.yaml, then ./config/pql.yaml (tests run in tmp_path)."""
    from pqlcli.config import find

    def write(rel: str, version: int = 1) -> Path:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"version: {version}\n")
        return path

    rc, _, err = pql("config", "validate")
    assert rc == 1 and "No config file found" in err and "./pql.yaml, ./config/pql.yaml" in err and "--config" in err
    write("config/pql.yaml")
    assert find() == Path("config/pql.yaml")
    write("pql.yaml")
    assert find() == Path("pql.yaml")
    env = write("elsewhere/mine.yaml")
    monkeypatch.setenv("PQL_CONFIG", str(env))
    assert find() == env
    explicit = write("explicit.yaml")
    assert find(explicit) == explicit
    monkeypatch.setenv("PQL_CONFIG", str(tmp_path / "gone.yaml"))
    rc, _, err = pql("config", "validate")
    assert rc == 1 and "PQL_CONFIG points at" in err
    rc, _, err = pql("config", "validate", "--config", explicit)
    assert rc == 0, err
