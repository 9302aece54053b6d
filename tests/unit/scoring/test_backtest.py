"""`pql backtest`: a tiny dataset worked out by hand, the leakage rules, AUC, rolling, refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pqlcli import config
from pqlcli.errors import PqlError
from pqlcli.scoring import Inputs
from pqlcli.scoring import backtest as bt
from pqlcli.workspace import Workspace
from pqlcli.workspace.schema import ACCOUNTS, EVENTS, FIRMOGRAPHICS, USERS, polars_dtype

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
TINY_CONFIG = """
version: 1
as_of: 2026-06-01
metrics:
  logins_30d: {event: login, window: 30d}
fit:
  - {name: big, when: "employees > 100", points: 60}
  - {name: whale, when: "employees > 100000", points: 10}
usage:
  - {name: active, metric: logins_30d, points: 50, cap: 50}
tiers: {fit: 50, usage: 40}
pqls:
  - {name: hot, level: user, when: "tier = 'tier1'"}
"""


def d(month: int, day: int) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


def typed(rows: list[dict], schema) -> pl.DataFrame:
    dtypes = {c: polars_dtype(t) for c, t in schema.columns.items()}
    frame = pl.DataFrame(rows, schema={c: dtypes[c] for c in rows[0]} if rows else dtypes)
    return frame.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in dtypes.items() if c not in frame.columns])


# A: big, converts 06-10 (in the 30-day horizon)   B: big, converts 08-01 (after it)
# C: small, converts 06-20                          D: small, never    E: big, converted 05-01 (before as_of)
# F: created 07-01 (after as_of)
ACCTS = [
    {"account_id": "A", "employees": 500, "created_at": d(1, 1), "converted_at": d(6, 10)},
    {"account_id": "B", "employees": 500, "created_at": d(1, 1), "converted_at": d(8, 1)},
    {"account_id": "C", "employees": 10, "created_at": d(1, 1), "converted_at": d(6, 20)},
    {"account_id": "D", "employees": 10, "created_at": d(1, 1), "converted_at": None},
    {"account_id": "E", "employees": 500, "created_at": d(1, 1), "converted_at": d(5, 1)},
    {"account_id": "F", "employees": 500, "created_at": d(7, 1), "converted_at": d(7, 5)},
]
USERS_ROWS = [
    {"user_id": "u1", "account_id": "A", "signup_at": d(2, 1)},
    {"user_id": "u2", "account_id": "B", "signup_at": d(2, 1)},
    {"user_id": "u3", "account_id": "C", "signup_at": d(2, 1)},
    {"user_id": "u4", "account_id": "D", "signup_at": d(2, 1)},
    {"user_id": "u5", "account_id": "E", "signup_at": d(2, 1)},
    {"user_id": "u6", "account_id": "A", "signup_at": d(2, 1)},
    {"user_id": "u7", "account_id": "A", "signup_at": d(6, 15)},  # signs up after as_of
    {"user_id": "u8", "account_id": "D", "signup_at": d(2, 1)},
    {"user_id": "u9", "account_id": "A", "signup_at": d(2, 1)},
]
LOGINS = [("u1", d(5, 20)), ("u2", d(5, 21)), ("u3", d(5, 22)), ("u5", d(5, 23)), ("u9", d(5, 24)),
          ("u7", d(6, 16)), ("u8", d(6, 5))]  # u8 logs in only after as_of: must not count


def tiny_inputs(logins=LOGINS, accounts=ACCTS) -> Inputs:
    events = [{"event_id": f"e{i}", "user_id": u, "event": "login", "timestamp": t} for i, (u, t) in enumerate(logins)]
    return Inputs(
        users=typed(USERS_ROWS, USERS).lazy(),
        accounts=typed(accounts, ACCOUNTS).lazy(),
        events=typed(events, EVENTS).lazy(),
        firmographics=typed([], FIRMOGRAPHICS).lazy(),
    )


@pytest.fixture
def tiny():
    return config.loads(TINY_CONFIG, "tiny.yaml"), tiny_inputs()


def spec(level: str = "user", **kw) -> bt.BacktestSpec:
    return bt.BacktestSpec(AS_OF, timedelta(days=30), level, min_conversions=kw.pop("min_conversions", 1), **kw)


def test_tiny_backtest_by_hand(tiny):
    loaded, inputs = tiny
    r = bt.run_backtest(loaded, inputs, spec())
    # evaluated: u1 u2 u3 u4 u6 u8 u9 (u5's account converted before as_of; u7 signed up after)
    # fit 60 for users of big accounts A, B; usage 50 for one login in the 30 days before as_of
    # u1 A t1 yes · u2 B t1 no (08-01 is past the horizon) · u3 C t3 yes · u4 D t4 no · u6 A t2 yes
    # u8 D t4 no (its login is after as_of) · u9 A t1 yes  -> 7 records, 4 converted
    assert (r["records"], r["converted"], r["base_rate"]) == (7, 4, round(4 / 7, 4))
    assert r["excluded"] == {"converted_before": 1, "not_yet_signed_up": 1}
    t = r["tiers"]
    assert (t["tier1"]["records"], t["tier1"]["converted"], t["tier1"]["rate"]) == (3, 2, round(2 / 3, 4))
    assert t["tier1"]["lift"] == round((2 / 3) / (4 / 7), 3) == 1.167 and t["tier1"]["recall"] == 0.5
    assert (t["tier2"]["records"], t["tier2"]["converted"], t["tier2"]["lift"]) == (1, 1, 1.75)
    assert (t["tier3"]["records"], t["tier3"]["converted"], t["tier3"]["lift"]) == (1, 1, 1.75)
    assert (t["tier4"]["records"], t["tier4"]["converted"], t["tier4"]["rate"], t["tier4"]["lift"]) == (2, 0, 0.0, 0.0)
    # A converts 9 days after as_of, C 19 days
    assert [t[k]["median_days_to_convert"] for k in ("tier1", "tier2", "tier3", "tier4")] == [9.0, 9.0, 19.0, None]
    assert r["pqls"]["hot"] == {"records": 3, "converted": 2, "rate": 0.6667, "lift": 1.167, "recall": 0.5, "precision": 0.6667}
    # AUC by hand (4 positives x 3 negatives = 12 pairs, ties count 1/2):
    # fit: three positives at 60 beat two negatives at 0 and tie u2 -> 3 x 2.5; u3 (0) ties two -> 1; 8.5/12
    # tier order (t1=4 .. t4=1): positives 4,4,3,2 vs negatives 4,1,1: 2.5 + 2.5 + 2 + 2 = 9/12
    assert r["auc"] == {"fit": round(8.5 / 12, 4), "usage": round(8.5 / 12, 4), "tier": 0.75}
    rules = {x["name"]: x for x in r["rules"]}
    # big fires for u1 u2 u6 u9 (3 converted); not for u3 u4 u8 (1 converted)
    assert rules["big"] == {"name": "big", "kind": "fit", "fires": 4, "share_fires": round(4 / 7, 4), "rate_when_fires": 0.75,
                            "rate_otherwise": 0.3333, "lift": round(0.75 / (4 / 7), 3)}
    assert rules["active"]["fires"] == 4 and rules["active"]["rate_otherwise"] == 0.3333  # u1 u2 u3 u9
    assert rules["whale"]["fires"] == 0 and rules["whale"]["rate_when_fires"] is None
    assert r["never_firing_rules"] == ["whale"]
    # best first: u1 u2 u9 (tier 1, by id), u6, u3, u4, u8 -> 7 records over deciles 1 2 3 5 6 8 9
    gains = r["gains"]
    assert [g["decile"] for g in gains] == [1, 2, 3, 5, 6, 8, 9]
    assert [g["cum_recall"] for g in gains] == [0.25, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert gains[-1]["cum_share_records"] == 1.0


def test_tiny_backtest_accounts_by_hand(tiny):
    loaded, inputs = tiny
    r = bt.run_backtest(loaded, inputs, spec("account"))
    # A (u1 u6 u9: 2 logins -> 100 capped 50; fit 60) t1 yes; B t1 no; C t3 yes; D t4 no; E left out; F not yet
    assert (r["records"], r["converted"]) == (4, 2)
    assert r["excluded"] == {"converted_before": 1, "not_yet_signed_up": 1}
    assert {k: (v["records"], v["converted"]) for k, v in r["tiers"].items()} == {
        "tier1": (2, 1), "tier2": (0, 0), "tier3": (1, 1), "tier4": (1, 0)
    }


def evaluated(loaded, inputs, **kw) -> dict[str, dict]:
    ev = bt.evaluate(loaded, inputs, spec(**kw))
    return {row["id"]: row for row in ev.frame.iter_rows(named=True)}


def test_leakage_event_after_as_of_is_not_seen(tiny):
    loaded, _ = tiny
    rows = evaluated(loaded, tiny_inputs())
    assert rows["u8"]["usage_score"] == 0 and rows["u8"]["tier_key"] == "tier4"
    # the same login a week earlier does count: the exclusion is the date, nothing else
    moved = [(u, d(5, 25) if u == "u8" else t) for u, t in LOGINS]
    assert evaluated(loaded, tiny_inputs(moved))["u8"]["usage_score"] == 50


def test_leakage_converted_before_as_of_is_left_out(tiny):
    loaded, inputs = tiny
    rows = evaluated(loaded, inputs)
    assert "u5" not in rows
    later = [{**a, "converted_at": d(6, 2)} if a["account_id"] == "E" else a for a in ACCTS]
    rows = evaluated(loaded, tiny_inputs(accounts=later))
    assert rows["u5"]["converted"] is True  # converted the day after as_of: in, and a conversion


def test_leakage_signed_up_after_as_of_is_left_out(tiny):
    loaded, inputs = tiny
    assert "u7" not in evaluated(loaded, inputs)
    assert "F" not in evaluated(loaded, inputs, level="account")


def test_future_conversion_dates_are_hidden_from_rules_and_flagged():
    leaky = TINY_CONFIG.replace(
        '  - {name: whale, when: "employees > 100000", points: 10}',
        '  - {name: customer, when: "converted_at IS NOT NULL", points: 40}',
    )
    loaded = config.loads(leaky, "leaky.yaml")
    r = bt.run_backtest(loaded, tiny_inputs(), spec())
    # the replay hides conversions at or after as_of, so the rule cannot see the outcome it predicts
    assert {x["name"]: x["fires"] for x in r["rules"]}["customer"] == 0
    assert any("'customer'" in w and "converted_at" in w for w in r["warnings"])
    with pytest.raises(bt.BacktestError, match="customer"):
        bt.run_backtest(loaded, tiny_inputs(), spec(strict=True))


def test_leaky_columns_from_the_config_are_flagged():
    cfg = TINY_CONFIG + "backtest: {leaky_columns: [plan]}\n"
    cfg = cfg.replace("""when: "tier = 'tier1'"}""", """when: "tier = 'tier1' AND plan = 'free'"}""")
    warnings = bt.leakage_warnings(config.loads(cfg, "p.yaml"))
    assert warnings == [
        "PQL definition 'hot' uses plan, known only after a conversion: its lift in a backtest is not a prediction."
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_sklearn(seed):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    y = rng.random(500) < 0.2
    scores = np.round(rng.normal(size=500) + y * 0.8, 1)  # rounded: many ties
    got = bt.roc_auc(pl.Series(scores), pl.Series(y))
    assert got == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert bt.roc_auc(pl.Series([1.0, 2.0]), pl.Series([True, True])) is None


def test_label_column_static_evaluation(tiny):
    loaded, _ = tiny
    accounts = [{**a, "converted_at": None} for a in ACCTS]
    inputs = tiny_inputs(accounts=accounts)
    won = {"u1": "yes", "u3": "1", "u9": "TRUE"}
    inputs.users = inputs.users.with_columns(
        won=pl.col("user_id").replace_strict(won, default="no")
    )
    r = bt.run_backtest(loaded, inputs, bt.BacktestSpec(AS_OF, level="user", label="won", min_conversions=1))
    # no replay: every user is scored, as `pql score` would (u5 and u7 too), and the label is the outcome
    assert (r["records"], r["converted"], r["horizon_days"], r["label"]) == (9, 3, None, "won")
    assert r["excluded"] == {}
    # a CRM export with no product events at all can still be evaluated on fit
    inputs.events = inputs.events.clear()
    r = bt.run_backtest(loaded, inputs, bt.BacktestSpec(AS_OF, label="won", min_conversions=1))
    # fit 60, no usage: u1 u6 u7 u9 (A), u2 (B), u5 (E) in Tier 2; the rest in Tier 4
    assert r["records"] == 9 and r["tiers"]["tier2"]["records"] == 6 and r["tiers"]["tier4"]["records"] == 3
    inputs.users = inputs.users.with_columns(won=pl.lit("maybe"))
    with pytest.raises(bt.BacktestError, match="maybe"):
        bt.run_backtest(loaded, inputs, bt.BacktestSpec(AS_OF, label="won", min_conversions=1))


# ---------------------------------------------------------------------------------------------------
# On the bundled examples


@pytest.fixture(scope="module")
def examples_ws(tmp_path_factory):
    from pqlcli.ingest import ingest
    from tests.e2e.test_examples_golden import DATA

    ws = Workspace.open(tmp_path_factory.mktemp("bt") / ".pql", create=True)
    ingest(ws, "accounts", [str(DATA / "hubspot-companies.csv")], fmt="hubspot")
    ingest(ws, "users", [str(DATA / "users.csv")])
    for name, fmt in (("segment-tracks.jsonl", "segment"), ("mixpanel-export.jsonl", "mixpanel"), ("amplitude-export.zip", "amplitude")):
        ingest(ws, "events", [str(DATA / name)], fmt=fmt)
    firmo = pl.read_csv(DATA / "firmographics.csv").with_columns(
        provider=pl.lit("file"), status=pl.lit("found"), reason=pl.lit(None, dtype=pl.String),
        fetched_at=pl.datetime(2026, 10, 30, time_zone="UTC"),
    )
    ws.write_table("firmographics", firmo.select([pl.col(c).cast(polars_dtype(t)) for c, t in FIRMOGRAPHICS.columns.items()]))
    return ws


def test_examples_tell_the_true_story(examples_ws):
    from tests.e2e.test_examples_golden import ROOT

    loaded = config.load(ROOT / "config" / "pql.yaml")
    r = bt.run_backtest(loaded, Inputs.from_workspace(examples_ws), bt.BacktestSpec(d(8, 15), timedelta(days=60)))
    assert r["tiers"]["tier1"]["lift"] >= 3 and r["tiers"]["tier4"]["lift"] < 1
    assert r["pqls"]["free_to_paid"]["lift"] > 1 and r["auc"]["tier"] > 0.6


def test_rolling_equals_the_per_date_backtests_pooled(examples_ws):
    from tests.e2e.test_examples_golden import ROOT

    loaded = config.load(ROOT / "config" / "pql.yaml")
    inputs = Inputs.from_workspace(examples_ws)
    base = bt.BacktestSpec(d(8, 15), timedelta(days=30), "user", min_conversions=1)
    rolled = bt.run_rolling(loaded, inputs, base, d(8, 15), d(10, 1), timedelta(days=15))
    dates = [d(8, 15), d(8, 30), d(9, 14), d(9, 29)]
    assert rolled["as_of_dates"] == [x.isoformat() for x in dates]
    singles = [bt.run_backtest(loaded, inputs, bt.BacktestSpec(x, timedelta(days=30), "user", min_conversions=1)) for x in dates]
    assert rolled["per_date"] == singles
    for key in ("records", "converted"):
        assert rolled[key] == sum(s[key] for s in singles)
    for tier in rolled["tiers"]:
        for key in ("records", "converted"):
            assert rolled["tiers"][tier][key] == sum(s["tiers"][tier][key] for s in singles)
    assert rolled["excluded"] == {k: sum(s["excluded"][k] for s in singles) for k in singles[0]["excluded"]}
    frames = [bt.evaluate(loaded, inputs, bt.BacktestSpec(x, timedelta(days=30))).frame for x in dates]
    pooled = pl.concat(frames)
    assert rolled["auc"]["fit"] == round(bt.roc_auc(pooled["fit_score"], pooled["converted"]), 4)


# ---------------------------------------------------------------------------------------------------
# The command


@pytest.fixture
def demo_ws(examples_ws, ws_path):
    import shutil

    shutil.copytree(examples_ws.root, ws_path)
    return ws_path


def test_cli_json_has_the_documented_keys(pql, demo_ws):
    from tests.e2e.test_examples_golden import ROOT

    code, out, err = pql("backtest", "--as-of", "2026-08-15", "--horizon", "60d", "-c", ROOT / "config" / "pql.yaml", "-f", "json")
    assert code == 0, err
    r = json.loads(out)
    assert {"level", "as_of", "horizon_days", "records", "converted", "base_rate", "tiers", "pqls", "auc", "rules", "warnings"} <= set(r)
    assert set(r["tiers"]["tier1"]) >= {"records", "converted", "rate", "lift"}
    assert set(r["pqls"]["free_to_paid"]) >= {"records", "converted", "rate", "lift", "precision", "recall"}
    assert set(r["auc"]) == {"fit", "usage", "tier"}
    assert set(r["rules"][0]) >= {"name", "kind", "fires", "rate_when_fires", "rate_otherwise", "lift"}


def test_cli_refusals(pql, demo_ws):
    from tests.e2e.test_examples_golden import ROOT

    cfg = str(ROOT / "config" / "pql.yaml")
    code, _, err = pql("backtest", "--as-of", "2026-08-15", "--horizon", "60d", "-c", cfg, "--level", "account")
    assert code == 1 and "Only 17 conversions" in err and "--min-conversions" in err and "Traceback" not in err
    code, out, _ = pql("backtest", "--as-of", "2026-08-15", "--horizon", "60d", "-c", cfg, "--level", "account",
                       "--min-conversions", "10", "-f", "json")
    assert code == 0 and json.loads(out)["converted"] == 17
    code, _, err = pql("backtest", "--as-of", "2025-01-01", "-c", cfg)
    assert code == 1 and "no events before 2025-01-01" in err
    code, _, err = pql("backtest", "-c", cfg)
    assert code == 2 and "--as-of" in err
    code, _, err = pql("backtest", "--every", "30d", "--from", "2026-08-01", "-c", cfg)
    assert code == 2 and "--to" in err


def test_cli_refuses_without_outcomes(pql, ws_path, tmp_path):
    ws = Workspace.open(ws_path, create=True)
    inputs = tiny_inputs(accounts=[{**a, "converted_at": None} for a in ACCTS])
    ws.write_table("users", inputs.users.collect())
    ws.write_table("accounts", inputs.accounts.collect())
    ws.add_part("events", inputs.events.collect(), "tiny")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY_CONFIG)
    code, _, err = pql("backtest", "--as-of", "2026-06-01", "-c", cfg)
    assert code == 1 and "no outcomes" in err and "--label" in err


def test_errors_are_pql_errors():
    assert issubclass(bt.BacktestError, PqlError)
