"""Property test of the rule compiler: random rules on random data equal a plain-Python reference."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pqlcli import config, scoring
from tests.factories.scoring_helpers import AS_OF, make_ws

points = st.integers(-60, 60)
fit_rules = st.lists(st.tuples(st.integers(0, 3000), points), min_size=1, max_size=4)
usage_rules = st.lists(
    st.tuples(st.integers(1, 40), st.one_of(st.none(), st.integers(0, 50)), st.sampled_from([7, 14, 30])),
    min_size=1,
    max_size=4,
)
users = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(0, 3000)), st.lists(st.integers(0, 40), max_size=8)),
    min_size=1,
    max_size=6,
)


def _clamp(x: float) -> float:
    return max(0.0, min(100.0, x))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fit=fit_rules, usage=usage_rules, people=users, fit_t=st.integers(0, 100), usage_t=st.integers(0, 100))
def test_scores_match_reference(tmp_path_factory, fit, usage, people, fit_t, usage_t):
    path = tmp_path_factory.mktemp("prop")
    rows, events, firmo = [], [], []
    for i, (employees, ages) in enumerate(people):
        domain = f"company{i}.example"
        rows.append({"user_id": f"u{i}", "email": f"x@{domain}"})
        if employees is not None:
            firmo.append({"domain": domain, "employees": employees})
        events += [
            {"user_id": f"u{i}", "event": "act", "timestamp": AS_OF - timedelta(days=age, seconds=1)} for age in ages
        ]
    ws = make_ws(path, rows, [], events, firmo)
    windows = sorted({w for _, _, w in usage})
    lines = ["version: 1", "metrics:"] + [f"  act_{w}d: {{event: act, window: {w}d}}" for w in windows]
    lines.append("fit:")
    lines += [f"  - {{name: f{j}, when: \"employees > {t}\", points: {p}}}" for j, (t, p) in enumerate(fit)]
    lines.append("usage:")
    for j, (p, cap, w) in enumerate(usage):
        cap_part = f", cap: {cap}" if cap is not None else ""
        lines.append(f"  - {{name: u{j}, metric: act_{w}d, points: {p}{cap_part}}}")
    lines.append(f"tiers: {{fit: {fit_t}, usage: {usage_t}}}")
    out = scoring.compute(ws, config.loads("\n".join(lines) + "\n", "prop.yaml"), AS_OF)
    got = {r["user_id"]: r for r in out.users.iter_rows(named=True)}
    for i, (employees, ages) in enumerate(people):
        r = got[f"u{i}"]
        fit_raw = sum(p for t, p in fit if employees is not None and employees > t)
        usage_raw = 0.0
        for p, cap, w in usage:
            n = sum(1 for a in ages if a < w)  # age+1s back: inside the window when age < w days
            usage_raw += min(n * p, cap) if cap is not None else n * p
        assert r["fit_score"] == _clamp(fit_raw)
        assert r["usage_score"] == _clamp(usage_raw)
        good, high = _clamp(fit_raw) >= fit_t, _clamp(usage_raw) >= usage_t
        want = "tier1" if good and high else "tier2" if good else "tier3" if high else "tier4"
        assert r["tier"] == want
    assert out.users.select(pl.len()).item() == len(people)
