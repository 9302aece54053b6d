"""Each semantic rule of PRODUCT.md ("The config"), pinned with a hand-made workspace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests import paths
from tests.factories.scoring_helpers import AS_OF, make_ws, row, score_with

US = timedelta(microseconds=1)


def ev(user: str, event: str, at, **props):
    return {"user_id": user, "event": event, "timestamp": at, **props}


def test_window_edges(tmp_path):
    events = [
        ev("u1", "project_created", AS_OF - timedelta(days=30)),  # exactly at the lower edge: counts
        ev("u1", "project_created", AS_OF - timedelta(days=30) - US),  # just before: does not
        ev("u1", "project_created", AS_OF - US),  # just before as_of: counts
        ev("u1", "project_created", AS_OF),  # at as_of: never counts
        ev("u1", "project_created", AS_OF + timedelta(days=1)),  # after: never counts
    ]
    ws = make_ws(tmp_path, [{"user_id": "u1", "email": "a@acme.com"}], [], events)
    out = score_with(ws, "version: 1\nmetrics:\n  p30: {event: project_created, window: 30d}\n  all: {event: project_created}\n")
    r = row(out.users, "user_id", "u1")
    assert r["p30"] == 2
    assert r["all"] == 3  # no window: all time up to as_of, still excluding as_of and after
    assert out.stats["events_after_as_of"] == 2


def test_null_condition_gives_zero_and_clamps(tmp_path):
    users = [
        {"user_id": "big", "email": "x@big.com"},
        {"user_id": "nofirmo", "email": "y@unknown.com"},
        {"user_id": "free", "email": "z@gmail.com"},
    ]
    firmo = [{"domain": "big.com", "employees": 5000, "raised": 5e7, "country": "US"}]
    ws = make_ws(tmp_path, users, [], [], firmo)
    cfg = """version: 1
fit:
  - {name: big, when: "employees > 100", points: 60}
  - {name: funded, when: "raised > 10000000", points: 60}
  - {name: personal, when: "is_free_email", points: -50}
  - {name: not_us, when: "country <> 'US'", points: -10}
"""
    out = score_with(ws, cfg)
    big = row(out.users, "user_id", "big")
    assert big["fit__big"] == 60 and big["fit__funded"] == 60
    assert big["fit_score"] == 100  # 120 clamps to 100
    nofirmo = row(out.users, "user_id", "nofirmo")
    # employees/raised/country unknown: NULL conditions give 0, even the negative rule
    assert nofirmo["fit__big"] == 0 and nofirmo["fit__not_us"] == 0 and nofirmo["fit_score"] == 0
    free = row(out.users, "user_id", "free")
    assert free["fit__personal"] == -50 and free["fit_score"] == 0  # -50 clamps to 0
    assert free["is_free_email"] is True and big["is_free_email"] is False


def test_per_unit_rules_cap_and_negative(tmp_path):
    events = [ev("u1", "project_created", AS_OF - timedelta(days=1)) for _ in range(7)]
    events += [ev("u1", "error_shown", AS_OF - timedelta(days=1)) for _ in range(4)]
    ws = make_ws(tmp_path, [{"user_id": "u1"}, {"user_id": "u2"}], [], events)
    cfg = """version: 1
metrics:
  projects: {event: project_created, window: 30d}
  errors: {event: error_shown, window: 30d}
usage:
  - {name: projects, metric: projects, points: 5, cap: 25}
  - {name: uncapped, metric: projects, points: 1}
  - {name: errors, metric: errors, points: -3, cap: 9}
"""
    out = score_with(ws, cfg)
    r = row(out.users, "user_id", "u1")
    assert r["usage__projects"] == 25  # 35 capped at 25
    assert r["usage__uncapped"] == 7
    assert r["usage__errors"] == -9  # -12 bounded at -9
    assert r["usage_score"] == 23
    r2 = row(out.users, "user_id", "u2")  # no events: metrics 0, points 0
    assert r2["projects"] == 0 and r2["usage_score"] == 0


def test_decay_weights(tmp_path):
    events = [
        ev("u1", "project_created", AS_OF),  # at as_of: excluded
        ev("u1", "project_created", AS_OF - US),  # age ~0: weight ~1
        ev("u1", "project_created", AS_OF - timedelta(days=14)),  # one half-life: 0.5
        ev("u1", "project_created", AS_OF - timedelta(days=28)),  # two: 0.25
        ev("u2", "project_created", AS_OF - timedelta(days=30)),  # lifespan 60d: 0.5
        ev("u2", "project_created", AS_OF - timedelta(days=61)),  # past lifespan: 0
    ]
    ws = make_ws(tmp_path, [{"user_id": "u1"}, {"user_id": "u2"}], [], events)
    cfg = """version: 1
metrics:
  hl: {event: project_created, window: 90d, decay: {half_life: 14d}}
  ls: {event: project_created, window: 90d, decay: {lifespan: 60d}}
usage:
  - {name: recent, metric: hl, points: 10, cap: 100}
"""
    out = score_with(ws, cfg)
    u1, u2 = row(out.users, "user_id", "u1"), row(out.users, "user_id", "u2")
    assert u1["hl"] == pytest.approx(1.75, abs=1e-6)
    assert u1["usage__recent"] == pytest.approx(17.5, abs=1e-5)
    assert u2["ls"] == pytest.approx(0.5, abs=1e-9)
    assert u2["hl"] == pytest.approx(0.5 ** (30 / 14) + 0.5 ** (61 / 14), abs=1e-9)


def test_active_days_counts_utc_dates(tmp_path):
    day = AS_OF - timedelta(days=3)
    events = [
        ev("u1", "login", day.replace(hour=0, minute=0)),
        ev("u1", "page", day.replace(hour=23, minute=59)),
        ev("u1", "login", day + timedelta(days=1, hours=1)),
        ev("u1", "login", AS_OF - timedelta(days=40)),  # outside the window
    ]
    ws = make_ws(tmp_path, [{"user_id": "u1"}], [], events)
    out = score_with(ws, 'version: 1\nmetrics:\n  days: {event: "*", window: 30d, agg: active_days}\n')
    assert row(out.users, "user_id", "u1")["days"] == 2


def test_other_aggregations(tmp_path):
    events = [
        ev("u1", "purchase", AS_OF - timedelta(days=1), amount=10.0, sku="a"),
        ev("u1", "purchase", AS_OF - timedelta(days=2), amount=5.5, sku="b"),
        ev("u1", "purchase", AS_OF - timedelta(days=10), amount=1.0, sku="a"),
    ]
    ws = make_ws(tmp_path, [{"user_id": "u1"}, {"user_id": "u2"}], [], events)
    cfg = """version: 1
metrics:
  spend: {event: purchase, agg: sum, property: amount}
  skus: {event: purchase, agg: distinct, property: sku}
  first: {event: purchase, agg: first_seen}
  last: {event: purchase, agg: last_seen}
"""
    out = score_with(ws, cfg)
    r = row(out.users, "user_id", "u1")
    assert r["spend"] == 16.5 and r["skus"] == 2 and r["first"] == 10 and r["last"] == 1
    assert row(out.users, "user_id", "u2")["last"] is None


def test_user_sees_account_columns_and_orphans_join(tmp_path):
    users = [
        {"user_id": "u1", "email": "a@acme.com", "account_id": "A1", "title": "CTO"},
        {"user_id": "u2", "email": "b@acme.com"},  # orphan: joins A1 by email domain
        {"user_id": "u3", "email": "c@gmail.com"},  # free email: never joins
        {"user_id": "u4", "email": "d@solo.io", "plan": "trial"},  # company domain, no account
    ]
    accounts = [
        {"account_id": "A1", "name": "Acme", "domain": "acme.com", "plan": "free", "owner": "ana@ourco.com"},
        {"account_id": "A2", "name": "Empty", "domain": "empty.com", "plan": "team"},
    ]
    firmo = [
        {"domain": "acme.com", "employees": 500, "country": "US"},
        {"domain": "solo.io", "employees": 3, "country": "GB"},
    ]
    ws = make_ws(tmp_path, users, accounts, [], firmo)
    cfg = """version: 1
fit:
  - {name: big, when: "employees > 100", points: 40}
  - {name: buyer, when: "regexp_like(title, 'VP|CTO')", points: 20}
  - {name: personal, when: "is_free_email", points: -20}
"""
    out = score_with(ws, cfg)
    u2 = row(out.users, "user_id", "u2")
    assert u2["account_id"] == "A1" and u2["owner"] == "ana@ourco.com" and u2["plan"] == "free"
    assert u2["fit__big"] == 40
    u3 = row(out.users, "user_id", "u3")
    assert u3["account_id"] is None and u3["domain"] is None
    u4 = row(out.users, "user_id", "u4")
    assert u4["domain"] == "solo.io" and u4["employees"] == 3 and u4["plan"] == "trial"
    a1 = row(out.accounts, "account_id", "A1")
    # account fit: same rules on the account's own columns; user-only columns (title, is_free_email) are NULL
    assert a1["fit__big"] == 40 and a1["fit__buyer"] == 0 and a1["fit__personal"] == 0
    assert a1["users"] == 2
    a2 = row(out.accounts, "account_id", "A2")
    assert a2["users"] == 0 and a2["pqa"] is False and a2["pql_share"] is None


def test_accounts_roll_up_tiers_pqls_and_pqa(tmp_path):
    users = [
        {"user_id": f"u{i}", "email": f"u{i}@acme.com", "account_id": "A1", "signup_at": AS_OF - timedelta(days=d)}
        for i, d in enumerate([1, 2, 3, 8, 6.99])
    ]
    users.append({"user_id": "new", "email": "n@acme.com", "account_id": "A1", "signup_at": AS_OF})  # at as_of: not "added"
    events = []
    for i in range(3):  # u0..u2 are heavy users
        events += [ev(f"u{i}", "project_created", AS_OF - timedelta(days=2))] * 5
    accounts = [{"account_id": "A1", "domain": "acme.com", "plan": "free"}]
    firmo = [{"domain": "acme.com", "employees": 500}]
    ws = make_ws(tmp_path, users, accounts, events, firmo)
    cfg = """version: 1
metrics:
  projects_30d: {event: project_created, window: 30d}
  peak: {event: project_created, window: 30d, rollup: max}
  active_users: {event: project_created, window: 30d, rollup: count_positive}
fit:
  - {name: big, when: "employees > 100", points: 60}
usage:
  - {name: projects, metric: projects_30d, points: 10, cap: 50}
tiers: {fit: 50, usage: 40}
pqls:
  - {name: hot, level: user, when: "tier = 'tier1' AND plan IN ('free', 'trial')"}
  - {name: team, level: account, when: "users_added_7d >= 4 AND projects_30d > 3"}
accounts: {pqa_share: 0.5}
"""
    out = score_with(ws, cfg)
    assert row(out.users, "user_id", "u0")["tier"] == "tier1"
    assert row(out.users, "user_id", "u3")["tier"] == "tier2"
    assert row(out.users, "user_id", "u0")["pql__hot"] is True
    a = row(out.accounts, "account_id", "A1")
    assert a["projects_30d"] == 15 and a["peak"] == 5 and a["active_users"] == 3
    assert a["users"] == 6 and a["users_added_7d"] == 4
    assert a["pql_users"] == 3 and a["pql_share"] == pytest.approx(0.5)
    assert a["pqa"] is True  # exactly at the threshold counts
    assert a["usage__projects"] == 50 and a["tier"] == "tier1" and a["pql__team"] is True


def test_events_for_unknown_users_are_counted_not_scored(tmp_path):
    events = [ev("ghost", "login", AS_OF - timedelta(days=1)), ev("u1", "login", AS_OF - timedelta(days=1))]
    ws = make_ws(tmp_path, [{"user_id": "u1"}], [], events)
    out = score_with(ws, "version: 1\nmetrics:\n  logins: {event: login, window: 7d}\n")
    assert out.stats["events_unknown_users"] == 1
    assert out.users["user_id"].to_list() == ["u1"]


def test_exclude_users_and_accounts(tmp_path):
    users = [
        {"user_id": "u1", "email": "a@rival.com", "account_id": "R"},
        {"user_id": "u2", "email": "b@acme.com", "account_id": "A"},
        {"user_id": "u3", "email": "c@acme.com", "account_id": "A", "title": "Intern"},
    ]
    accounts = [{"account_id": "R", "domain": "rival.com"}, {"account_id": "A", "domain": "acme.com"}]
    firmo = [{"domain": "rival.com", "industry": "Competitor"}]
    ws = make_ws(tmp_path, users, accounts, [], firmo)
    cfg = """version: 1
exclude:
  - {name: competitors, level: account, when: "industry = 'Competitor'"}
  - {name: interns, when: "title = 'Intern'"}
"""
    out = score_with(ws, cfg)
    assert out.users["user_id"].to_list() == ["u2"]
    assert out.accounts["account_id"].to_list() == ["A"]
    assert out.stats["excluded_users"] == 2


def test_empty_events_and_missing_firmographics(tmp_path):
    ws = make_ws(tmp_path, [{"user_id": "u1", "email": "a@acme.com"}])
    out = score_with(ws, EXAMPLE)
    r = row(out.users, "user_id", "u1")
    assert r["projects_30d"] == 0 and r["fit_score"] == 0 and r["tier"] == "tier4"
    assert any("enrich" in w for w in out.warnings) and any("events" in w for w in out.warnings)


def test_same_inputs_same_bytes(tmp_path):
    from pqlcli import config, scoring
    from pqlcli.testing import synth_workspace
    from pqlcli.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", create=True)
    synth_workspace(ws, users=300)
    loaded = config.loads(EXAMPLE, "pql.yaml")
    a = scoring.score(ws, loaded)
    b = scoring.score(ws, loaded)
    for name in ("users.parquet", "accounts.parquet"):
        assert (a.snapshot / name).read_bytes() == (b.snapshot / name).read_bytes()
    assert a.snapshot != b.snapshot


EXAMPLE = (paths.ROOT / "config" / "pql.yaml").read_text()


def test_active_days_long_and_short_windows(tmp_path):
    # one event a day for 100 days (two a day on some), plus one 2 hours before as_of
    events = [ev("u1", "login", AS_OF - timedelta(days=d, hours=3)) for d in range(100)]
    events += [ev("u1", "page", AS_OF - timedelta(days=d, hours=5)) for d in range(0, 100, 3)]
    events += [ev("u1", "page", AS_OF - timedelta(hours=2))]
    ws = make_ws(tmp_path, [{"user_id": "u1"}, {"user_id": "u2"}], [], events)
    cfg = """version: 1
metrics:
  d90: {event: "*", window: 90d, agg: active_days}
  d70: {event: "*", window: 70d, agg: active_days}
  h12: {event: "*", window: 12h, agg: active_days}
  ever: {event: "*", agg: active_days}
"""
    r = row(score_with(ws, cfg).users, "user_id", "u1")
    # dates within [as_of - N days, as_of): the event d days and 3-5 hours back falls on date as_of - d - 1
    assert r["d90"] == 90 and r["d70"] == 70 and r["ever"] == 100
    assert r["h12"] == 1  # only 2026-10-31 has events in the last 12 hours
    assert row(score_with(ws, cfg).users, "user_id", "u2")["d90"] == 0


def test_any_event_metrics_without_a_window(tmp_path):
    events = [ev("u1", "login", AS_OF - timedelta(days=d)) for d in (1, 2, 50)]
    events += [ev("u1", "page", AS_OF - timedelta(days=3)), ev("u1", "page", AS_OF + timedelta(days=1))]
    ws = make_ws(tmp_path, [{"user_id": "u1"}, {"user_id": "u2"}], [], events)
    cfg = """version: 1
metrics:
  all_events: {event: "*"}
  all_decayed: {event: "*", decay: {lifespan: 100d}}
"""
    out = score_with(ws, cfg)
    r = row(out.users, "user_id", "u1")
    assert r["all_events"] == 4  # every event before as_of, none after
    assert r["all_decayed"] == pytest.approx(0.99 + 0.98 + 0.97 + 0.5, abs=1e-9)
    assert row(out.users, "user_id", "u2")["all_events"] == 0
