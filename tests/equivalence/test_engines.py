"""Every engine gives the Polars engine's results on the same data: `pql score --engine duckdb|spark`.

The config (tests/equivalence/engine_config.yaml) has every agg kind, both decays, every roll-up, per-unit rules with
caps and negative points, user and account exclusions, user- and account-level PQLs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from pqlcli import config, scoring
from pqlcli.errors import ConfigError, UsageError
from pqlcli.scoring import runners
from pqlcli.scoring import sql as sqlgen
from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "engine_config.yaml"


def _several_rows_per_domain(workspace: Workspace) -> None:
    """Older, newer, undated and not-found firmographics rows next to the synthetic ones (no ties)."""
    firmo = workspace.scan("firmographics").collect()
    i = pl.int_range(0, pl.len())
    day = pl.duration(days=1)
    extra = [
        # every 3rd domain: an older row and an undated one, both with other values; they must lose
        firmo.filter(i % 3 == 0).with_columns(pl.col("fetched_at") - day * 30, employees=pl.lit(1, pl.Int64)),
        firmo.filter(i % 3 == 0).with_columns(pl.lit(None, firmo.schema["fetched_at"]).alias("fetched_at"),
                                              employees=pl.lit(99_999, pl.Int64)),
        # every 4th: a newer not_found row, which must not hide the found one
        firmo.filter(i % 4 == 0).with_columns(pl.col("fetched_at") + day, status=pl.lit("not_found"),
                                              employees=pl.lit(None, pl.Int64), country=pl.lit(None, pl.String)),
        # every 7th: a newer found row with other values, which must win
        firmo.filter(i % 7 == 0).with_columns(pl.col("fetched_at") + day * 2, pl.col("employees") + 500,
                                              country=pl.lit("US")),
    ]
    workspace.write_table("firmographics", pl.concat([firmo, *extra]))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.open(tmp_path_factory.mktemp("engines") / "ws", create=True)
    synth_workspace(workspace, users=3000, seed=11)
    _several_rows_per_domain(workspace)
    return workspace


@pytest.fixture(scope="module")
def loaded() -> config.LoadedConfig:
    return config.load(CONFIG)


@pytest.fixture(scope="module")
def polars_result(ws: Workspace, loaded: config.LoadedConfig):
    return scoring.compute(ws, loaded)


def assert_same(expected: pl.DataFrame, got: pl.DataFrame, what: str) -> None:
    assert got.columns == expected.columns, what
    assert got.schema == expected.schema, what
    assert got.height == expected.height, what
    for col in expected.columns:
        a, b = expected[col], got[col]
        if a.dtype == pl.Float64:
            bad = ((a - b).abs() > 1e-9) | (a.is_null() != b.is_null())
        else:
            bad = a.ne_missing(b)
        n = int(bad.sum())
        if n:
            key = expected.columns[0]
            rows = expected.filter(bad).select(key, col).head(3).to_dicts()
            other = got.filter(bad).select(key, col).head(3).to_dicts()
            pytest.fail(f"{what}.{col}: {n} rows differ, e.g. polars {rows} vs engine {other}")


def _check(result, polars_result) -> None:
    assert_same(polars_result.users, result.users, "users")
    assert_same(polars_result.accounts, result.accounts, "accounts")
    assert result.stats == polars_result.stats
    assert result.warnings == polars_result.warnings


def test_the_data_exercises_the_config(polars_result) -> None:
    users, accounts = polars_result.users, polars_result.accounts
    assert polars_result.stats["excluded_users"] > 0
    assert users["is_pql"].sum() > 0 and users["pql__power_user"].sum() > 0
    assert accounts["pqa"].sum() > 0 and accounts["pql__hot_account"].sum() > 0
    assert set(users["tier"]) == {"tier1", "tier2", "tier3", "tier4"}
    assert (users["usage__fading"] < 0).any() and (users["projects_recent"] > 0).any()
    assert accounts["users"].min() == 0  # accounts with no users
    # an account's active days are distinct days (at most the window's), fewer than its users' sum
    assert accounts["active_days_30d"].max() <= 31 and (accounts["active_days_30d"] < accounts["active_days_sum"]).any()
    assert accounts["active_days_100d"].max() > 64 and accounts["login_days"].max() > 0  # two day words; no window
    assert (accounts["days_trend"] != 0).any() and accounts["days_trend"].abs().max() <= 31  # distinct days per half
    assert users["all_events"].max() > 1 and (users["all_events"] > users["integrations"]).any()
    assert (users["usage__busy"] > 0).any() and (users["usage__busy"] == 0).any()
    # the newer found row wins over older, undated and newer not_found rows
    assert 99_999 not in users["employees"].to_list() and 1 not in accounts["employees"].to_list()


def _raw_then_conformed(ws: Workspace, loaded: config.LoadedConfig, engine: str) -> scoring.ScoreFrames:
    """Score with ``engine``; first check its own output, before any cast: the plan's columns, order, dtypes."""
    inputs = scoring.Inputs.from_workspace(ws)
    plan = scoring.plan(loaded, inputs)
    raw = runners.run_raw(engine, loaded, plan, inputs, loaded.as_of())
    assert list(raw.users.schema.items()) == list(plan.users_out.items()), f"{engine}: users schema"
    assert list(raw.accounts.schema.items()) == list(plan.accounts_out.items()), f"{engine}: accounts schema"
    return runners.conform(raw, plan, inputs, loaded.as_of())


def test_polars_outputs_the_plan_schema(ws: Workspace, loaded: config.LoadedConfig, polars_result) -> None:
    _check(_raw_then_conformed(ws, loaded, "polars"), polars_result)


def test_duckdb_engine_equals_polars(ws: Workspace, loaded: config.LoadedConfig, polars_result) -> None:
    pytest.importorskip("duckdb")
    _check(_raw_then_conformed(ws, loaded, "duckdb"), polars_result)


def test_duckdb_engine_on_the_default_config(ws: Workspace) -> None:
    pytest.importorskip("duckdb")
    default = config.load(paths.ROOT / "config" / "pql.yaml")
    _check(scoring.compute(ws, default, engine_name="duckdb"), scoring.compute(ws, default))


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'pqlcli[spark]')"
    if shutil.which("java") is None:
        return "java is not on PATH (Spark needs Java 17+)"
    return None


@pytest.mark.spark
@pytest.mark.skipif(_spark_missing() is not None, reason=str(_spark_missing()))
def test_spark_engine_equals_polars(ws: Workspace, loaded: config.LoadedConfig, polars_result) -> None:
    _check(_raw_then_conformed(ws, loaded, "spark"), polars_result)


def test_unknown_engine_lists_the_engines(ws: Workspace, loaded: config.LoadedConfig) -> None:
    with pytest.raises(UsageError, match="polars, duckdb, spark"):
        scoring.compute(ws, loaded, engine_name="oracle")


@pytest.mark.parametrize("dialect", sqlgen.DIALECTS)
def test_each_dialect_parses_in_that_dialect(loaded: config.LoadedConfig, dialect: str) -> None:
    import sqlglot

    inline = dialect == "duckdb"  # the 4,778-domain VALUES list is slow to transpile; check it once
    tables = {} if inline else {"free_email_domains": "free_email_domains"}
    out = sqlgen.compile_sql(loaded, loaded.as_of(), dialect, tables=tables)
    assert ("'gmail.com'" in out["users"]) == inline
    for key in ("users", "accounts", "script"):
        statements = [s for s in sqlglot.parse(out[key], read=dialect) if s is not None]
        assert statements, key
    assert "fit rule buyer_title" in out["users"]  # comments name each rule
    assert "usage rule fading" in out["accounts"]


def test_unknown_dialect_lists_the_supported_ones(loaded: config.LoadedConfig) -> None:
    with pytest.raises(UsageError, match="duckdb, postgres, snowflake, bigquery, spark, trino"):
        sqlgen.compile_sql(loaded, loaded.as_of(), "oracle")


def test_a_condition_a_dialect_cannot_express_names_the_rule(tmp_path: Path) -> None:
    text = CONFIG.read_text().replace(
        "when: \"plan IN ('team', 'enterprise')\"", "when: \"regexp_like(title, 'cto', 'i')\""
    )
    loaded = config.loads(text, tmp_path / "pql.yaml")
    fe = {"free_email_domains": "free_email_domains"}
    sqlgen.compile_sql(loaded, loaded.as_of(), "postgres", tables=fe)  # ~* there
    with pytest.raises(ConfigError, match=r"paid_plan.*spark"):
        sqlgen.compile_sql(loaded, loaded.as_of(), "spark", tables=fe)


def test_tables_are_configurable(loaded: config.LoadedConfig) -> None:
    out = sqlgen.compile_sql(
        loaded, loaded.as_of(), "snowflake",
        tables={"users": "analytics.users", "events": "raw.events", "free_email_domains": "ref.free_email"},
    )
    assert "FROM analytics.users" in out["users"] and "FROM raw.events" in out["users"]
    assert "ref.free_email" in out["users"] and "gmail.com" not in out["users"]
    with pytest.raises(UsageError, match="not a table"):
        sqlgen.compile_sql(loaded, loaded.as_of(), "duckdb", tables={"people": "x"})


def test_pql_sql_command(pql, tmp_path: Path) -> None:
    code, out, err = pql("sql", "--dialect", "bigquery", "--config", str(CONFIG), "--output", "accounts",
                         "--table", "users=analytics.users", "--table", "free_email_domains=ref.free_email",
                         workspace=False)
    assert code == 0, err
    assert "analytics.users" in out and "pql__hot_account" in out
    code, out, err = pql("sql", "--dialect", "oracle", "--config", str(CONFIG), workspace=False)
    assert code == 2 and "snowflake" in err
