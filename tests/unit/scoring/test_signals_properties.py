"""Property test: activation milestones and trends on random data equal a plain-Python reference, on
the Polars and the DuckDB engines, at the edges the semantics name (docs/config.md): events exactly at
signup_at, at signup_at + within, at as_of and at the window boundaries; signups at as_of, after it, or
missing; users with no events; as_of at any hour (UTC calendar days for active_days).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pqlcli import config, scoring
from pqlcli.scoring import Inputs
from tests.factories.scoring_helpers import AS_OF, make_ws

pytest.importorskip("duckdb")

H = timedelta(hours=1)
WITHIN = 72 * H  # activation within: 3d
W = 48 * H  # the trends' window: 2d
STEPS = ("create", "invite")
CONFIG = """
version: 1
metrics:
  create_2d:   {event: create, window: 2d}
  create_trend: {trend: create_2d}
  days_2d:     {event: "*", window: 2d, agg: active_days}
  days_trend:  {trend: days_2d}
  spend_2d:    {event: [create, invite], window: 2d, agg: sum, property: amount}
  spend_trend: {trend: spend_2d}
activation:
  - {name: activated, within: 3d, steps: [create, invite]}
"""

# an event: (name, anchor, hours, amount): anchor "as_of" counts hours before as_of (negative: after it),
# "signup" hours after signup_at (72 is exactly signup_at + within)
event = st.tuples(
    st.sampled_from(["create", "invite", "login"]),
    st.sampled_from(["as_of", "signup"]),
    st.one_of(st.sampled_from([0, 48, 96, 72, -1]), st.integers(-3, 110)),
    st.integers(0, 9),
)
user = st.tuples(st.one_of(st.none(), st.integers(-5, 200)), st.lists(event, max_size=7))  # signup: hours before as_of
people = st.lists(user, min_size=1, max_size=6)


def _when(as_of: datetime, signup: datetime | None, anchor: str, hours: int) -> datetime | None:
    if anchor == "signup":
        return None if signup is None else signup + hours * H
    return as_of - hours * H


def _half(evs: list[tuple[str, datetime, int]], lo: datetime, hi: datetime) -> tuple[int, int, float]:
    inside = [(e, t, a) for e, t, a in evs if lo <= t < hi]
    return (
        sum(1 for e, _, _ in inside if e == "create"),
        len({t.date() for _, t, _ in inside}),
        float(sum(a for e, _, a in inside if e in STEPS)),
    )


def reference(as_of: datetime, signup: datetime | None, evs: list[tuple[str, datetime, int]]) -> dict:
    now, before = _half(evs, as_of - W, as_of), _half(evs, as_of - 2 * W, as_of - W)
    out = {"create_trend": now[0] - before[0], "days_trend": now[1] - before[1], "spend_trend": now[2] - before[2]}
    firsts = []
    if signup is not None:
        end = min(signup + WITHIN, as_of)
        for step in STEPS:
            times = [t for e, t, _ in evs if e == step and signup <= t < end]
            if times:
                firsts.append(min(times))
    done = len(firsts) == len(STEPS)
    out.update(
        activated=done,
        activated_steps=len(firsts),
        activated_days=(max(firsts) - signup).total_seconds() / 86400 if done and signup else None,
    )
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(group=people, hour=st.integers(0, 23))
def test_activation_and_trends_match_reference(tmp_path_factory, group, hour):
    as_of = AS_OF + hour * H
    rows, events, expected = [], [], {}
    for i, (signup_h, evs) in enumerate(group):
        signup = None if signup_h is None else as_of - signup_h * H
        rows.append({"user_id": f"u{i}", "email": f"x{i}@acme.example", "account_id": f"a{i % 2}", "signup_at": signup})
        mine = []
        for name, anchor, hours, amount in evs:
            t = _when(as_of, signup, anchor, hours)
            if t is not None:
                events.append({"user_id": f"u{i}", "event": name, "timestamp": t, "amount": float(amount)})
                mine.append((name, t, amount))
        expected[f"u{i}"] = reference(as_of, signup, mine)
    # an old event of a user that is not in the users table: the events table always has `amount`
    events.append({"user_id": "ghost", "event": "create", "timestamp": as_of - 1000 * H, "amount": 1.0})
    accounts = [{"account_id": "a0"}, {"account_id": "a1"}]
    ws = make_ws(tmp_path_factory.mktemp("signals"), rows, accounts, events, [])
    loaded = config.loads(CONFIG, "signals.yaml")
    for engine in ("polars", "duckdb"):
        out = scoring.run(loaded, Inputs.from_workspace(ws), as_of, engine=engine)
        got = {r["user_id"]: r for r in out.users.iter_rows(named=True)}
        for uid, want in expected.items():
            for col, value in want.items():
                have = got[uid][col]
                if isinstance(value, float) and have is not None:
                    assert abs(have - value) < 1e-9, (engine, uid, col, have, value)
                else:
                    assert have == value, (engine, uid, col, have, value)
        accts = {r["account_id"]: r for r in out.accounts.iter_rows(named=True)}
        for a in ("a0", "a1"):
            mine = [w for u, w in expected.items() if int(u[1:]) % 2 == int(a[1])]
            assert accts[a]["activated_users"] == sum(w["activated"] for w in mine), (engine, a)
            assert accts[a]["create_trend"] == sum(w["create_trend"] for w in mine), (engine, a)
