"""`pql config validate` warns when a rule's cap or threshold on active days can never be reached."""

from __future__ import annotations

from pathlib import Path

import pytest

BASE = """\
version: 1
{as_of}
metrics:
  active_days_30d: {{event: "*", window: 30d, agg: active_days}}
  active_days_summed: {{event: "*", window: 30d, agg: active_days, rollup: sum}}
fit:
  - {{name: title, when: "title = 'CTO'", points: 20}}
usage:
{usage}
pqls:
  - {{name: power, level: account, when: "{pql}"}}
"""


def _validate(pql, tmp_path: Path, usage: str, pql_when: str = "usage_score > 50", as_of: str = "as_of: 2026-11-01"):
    cfg = tmp_path / "pql.yaml"
    cfg.write_text(BASE.format(as_of=as_of, usage=usage, pql=pql_when))
    code, _, err = pql("config", "validate", "--config", cfg)
    assert code == 0, err
    return " ".join(err.split())


def test_a_threshold_above_the_window_warns(pql, tmp_path):
    err = _validate(pql, tmp_path, '  - {name: daily, when: "active_days_30d > 30", points: 20}')
    assert "usage rule 'daily': active_days_30d > 30 can never be reached" in err
    assert "at most 30" in err


def test_a_cap_above_what_the_window_allows_warns(pql, tmp_path):
    err = _validate(pql, tmp_path, "  - {name: days, metric: active_days_30d, points: 2, cap: 70}")
    assert "usage rule 'days': cap 70 can never be reached" in err and "needs 35" in err


def test_reachable_rules_do_not_warn(pql, tmp_path):
    err = _validate(pql, tmp_path, '  - {name: daily, when: "active_days_30d >= 20", points: 20}\n'
                    "  - {name: days, metric: active_days_30d, points: 2, cap: 60}\n"
                    # an explicit sum over users can exceed the window at account level: not bounded
                    '  - {name: summed, when: "active_days_summed > 100", points: 5}')
    assert "never be reached" not in err and "reached only" not in err


def test_a_pql_definition_and_a_partial_day(pql, tmp_path):
    """With as_of not at midnight a 30-day window touches 31 dates: 31 is possible, say so, do not claim never."""
    err = _validate(pql, tmp_path, '  - {name: daily, when: "active_days_30d >= 10", points: 20}',
                    pql_when="31 <= active_days_30d", as_of="")
    assert "PQL definition 'power': 31 <= active_days_30d needs active_days_30d = 31, reached only when as_of" in err
    err = _validate(pql, tmp_path, '  - {name: daily, when: "active_days_30d BETWEEN 32 AND 40", points: 20}', as_of="")
    assert "can never be reached" in err and "at most 31" in err


@pytest.mark.parametrize("when", ["active_days_30d > 30.5", "active_days_30d = 31"])
def test_more_shapes(pql, tmp_path, when):
    assert "never be reached" in _validate(pql, tmp_path, f'  - {{name: daily, when: "{when}", points: 20}}')
