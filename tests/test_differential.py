"""Differential test: the PRODUCT.md example config written by hand as plain DuckDB SQL (not generated
by pqlcli.scoring.sql) must give the Polars engine's scores, tiers, PQL flags and PQAs for every user and account.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pqlcli import config, scoring
from pqlcli.testing import synth_workspace
from pqlcli.util.domains import free_email_domains
from pqlcli.workspace import Workspace

duckdb = pytest.importorskip("duckdb")
ROOT = Path(__file__).resolve().parent.parent

HAND_WRITTEN = """
WITH
u AS (
  SELECT user_id, account_id, title, signup_at, plan,
         CASE WHEN strpos(lower(trim(email)), '@') > 0 THEN split_part(lower(trim(email)), '@', 2) END AS email_domain
  FROM users),
u2 AS (
  SELECT u.*, CASE WHEN email_domain IS NULL THEN NULL
                   ELSE email_domain IN (SELECT domain FROM free_email) END AS is_free_email
  FROM u),
orphan AS (SELECT domain, min(account_id) AS account_id FROM accounts WHERE domain IS NOT NULL GROUP BY domain),
u3 AS (
  SELECT u2.* REPLACE (coalesce(u2.account_id, CASE WHEN NOT u2.is_free_email THEN orphan.account_id END) AS account_id)
  FROM u2 LEFT JOIN orphan ON orphan.domain = u2.email_domain),
firmo AS (
  SELECT * FROM firmographics WHERE status = 'found'
  QUALIFY row_number() OVER (PARTITION BY domain ORDER BY fetched_at DESC) = 1),
ev AS (
  SELECT user_id,
    count(*) FILTER (WHERE event = 'project_created' AND ts >= {d30}) AS projects_30d,
    count(*) FILTER (WHERE event = 'user_invited' AND ts >= {d7}) AS invites_7d,
    count(*) FILTER (WHERE event = 'document_published' AND ts >= {d30}) AS docs_30d,
    count(*) FILTER (WHERE event = 'viewed_pricing' AND ts >= {d14}) AS pricing_views,
    count(*) FILTER (WHERE event = 'integration_connected') AS integrations,
    count(*) FILTER (WHERE event = 'login' AND ts >= {d7}) AS logins_7d,
    count(DISTINCT epoch_us(ts) // 86400000000) FILTER (WHERE ts >= {d30}) AS active_days_30d
  FROM (SELECT user_id, event, "timestamp" AS ts FROM events) AS e
  WHERE ts < {as_of}
  GROUP BY user_id),
ctx AS (
  SELECT u3.user_id, u3.account_id, u3.title, u3.signup_at, u3.is_free_email,
         coalesce(u3.plan, a.plan) AS plan, f.employees, f.raised, f.country,
         coalesce(ev.projects_30d, 0) AS projects_30d, coalesce(ev.invites_7d, 0) AS invites_7d,
         coalesce(ev.docs_30d, 0) AS docs_30d, coalesce(ev.pricing_views, 0) AS pricing_views,
         coalesce(ev.integrations, 0) AS integrations, coalesce(ev.logins_7d, 0) AS logins_7d,
         coalesce(ev.active_days_30d, 0) AS active_days_30d
  FROM u3
  LEFT JOIN accounts a ON a.account_id = u3.account_id
  LEFT JOIN firmo f ON f.domain = coalesce(a.domain, CASE WHEN NOT u3.is_free_email THEN u3.email_domain END)
  LEFT JOIN ev ON ev.user_id = u3.user_id),
acct AS (
  SELECT a.account_id, a.plan, f.employees, f.raised, f.country, CAST(NULL AS BOOLEAN) AS is_free_email,
         CAST(NULL AS VARCHAR) AS title,
         coalesce(r.projects_30d, 0) AS projects_30d, coalesce(r.invites_7d, 0) AS invites_7d,
         coalesce(r.docs_30d, 0) AS docs_30d, coalesce(r.pricing_views, 0) AS pricing_views,
         coalesce(r.integrations, 0) AS integrations, coalesce(r.logins_7d, 0) AS logins_7d,
         coalesce(r.users, 0) AS users, coalesce(r.users_added_7d, 0) AS users_added_7d,
         coalesce(r.pql_users, 0) AS pql_users
  FROM accounts a
  LEFT JOIN firmo f ON f.domain = a.domain
  LEFT JOIN user_rollup r ON r.account_id = a.account_id)
SELECT * FROM {level}
"""

FIT = """least(greatest(
    (CASE WHEN employees > 100 THEN 30 ELSE 0 END) + (CASE WHEN raised > 10000000 THEN 30 ELSE 0 END)
  + (CASE WHEN country IN ('US', 'CA', 'GB') THEN 20 ELSE 0 END) + (CASE WHEN is_free_email THEN -20 ELSE 0 END)
  + (CASE WHEN regexp_matches(title, 'VP|CTO|Head|Director') THEN 20 ELSE 0 END), 0), 100)"""
USAGE = """least(greatest(
    least(projects_30d * 5, 25) + least(invites_7d * 10, 30) + least(docs_30d * 2, 20)
  + (CASE WHEN pricing_views > 0 THEN 15 ELSE 0 END) + (CASE WHEN integrations > 0 THEN 10 ELSE 0 END)
  + (CASE WHEN logins_7d = 0 THEN -10 ELSE 0 END), 0), 100)"""
TIER = """CASE WHEN fit_score >= 50 AND usage_score >= 40 THEN 'tier1' WHEN fit_score >= 50 THEN 'tier2'
               WHEN usage_score >= 40 THEN 'tier3' ELSE 'tier4' END"""


def _ts(dt) -> str:
    return f"TIMESTAMPTZ '{dt.isoformat(sep=' ')}'"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    ws = Workspace.open(tmp_path_factory.mktemp("diff") / "ws", create=True)
    synth_workspace(ws, users=4000, seed=3)
    loaded = config.load(ROOT / "config" / "pql.yaml")
    return ws, loaded, scoring.compute(ws, loaded)


def hand_written(ws: Workspace, as_of) -> tuple[pl.DataFrame, pl.DataFrame]:
    from datetime import timedelta

    con = duckdb.connect()
    for name in ("users", "accounts", "firmographics"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{ws.table_path(name)}')")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{ws.table_path('events')}/*.parquet')")
    con.execute("CREATE TABLE free_email (domain VARCHAR)")
    con.executemany("INSERT INTO free_email VALUES (?)", [(d,) for d in sorted(free_email_domains())])
    fmt = {"as_of": _ts(as_of), **{f"d{n}": _ts(as_of - timedelta(days=n)) for n in (7, 14, 30)}}
    body = HAND_WRITTEN.replace("{level}", "ctx").format(**fmt)
    con.execute(
        f"CREATE TABLE user_scores AS SELECT *, {TIER} AS tier, "
        f"coalesce({TIER} = 'tier1' AND plan IN ('free', 'trial'), false) AS is_pql "
        f"FROM (SELECT *, {FIT} AS fit_score, {USAGE} AS usage_score FROM ({body}))"
    )
    con.execute(
        "CREATE TABLE user_rollup AS SELECT account_id, sum(projects_30d) AS projects_30d, sum(invites_7d) AS invites_7d,"
        " sum(docs_30d) AS docs_30d, sum(pricing_views) AS pricing_views, sum(integrations) AS integrations,"
        " sum(logins_7d) AS logins_7d, count(*) AS users, count(*) FILTER (WHERE is_pql) AS pql_users,"
        f" count(*) FILTER (WHERE signup_at >= {fmt['d7']} AND signup_at < {fmt['as_of']}) AS users_added_7d"
        " FROM user_scores WHERE account_id IS NOT NULL GROUP BY account_id"
    )
    body = HAND_WRITTEN.replace("{level}", "acct").format(**fmt)
    accounts = con.execute(
        f"SELECT account_id, fit_score, usage_score, {TIER} AS tier, users, pql_users,"
        " users > 0 AND pql_users / users >= 0.5 AS pqa,"
        " coalesce(users_added_7d > 5 AND projects_30d > 3, false) AS pql__seat_expansion"
        f" FROM (SELECT *, {FIT} AS fit_score, {USAGE} AS usage_score FROM ({body})) ORDER BY account_id"
    ).fetchall()
    users = con.execute(
        "SELECT user_id, fit_score, usage_score, tier, is_pql, projects_30d, active_days_30d FROM user_scores ORDER BY user_id"
    ).fetchall()
    ucols = ["user_id", "fit_score", "usage_score", "tier", "is_pql", "projects_30d", "active_days_30d"]
    acols = ["account_id", "fit_score", "usage_score", "tier", "users", "pql_users", "pqa", "pql__seat_expansion"]
    return (
        pl.DataFrame(users, schema=ucols, orient="row").with_columns(pl.col("fit_score", "usage_score").cast(pl.Float64)),
        pl.DataFrame(accounts, schema=acols, orient="row").with_columns(pl.col("fit_score", "usage_score").cast(pl.Float64)),
    )


def test_polars_engine_equals_hand_written_duckdb(setup) -> None:
    ws, _loaded, result = setup
    users, accounts = hand_written(ws, result.as_of)
    got_users = result.users.select(users.columns)
    got_accounts = result.accounts.select(accounts.columns)
    assert got_users.height == users.height == 4000
    assert got_accounts.height == accounts.height
    assert got_users.cast(users.schema).equals(users), "user scores, tiers or PQL flags differ"  # type: ignore[arg-type]
    assert got_accounts.cast(accounts.schema).equals(accounts), "account scores, tiers, PQAs or PQLs differ"  # type: ignore[arg-type]
    assert users["is_pql"].sum() > 0 and accounts["pqa"].sum() > 0 and users["tier"].n_unique() == 4
