"""The scoring engines, in one :data:`ENGINES` registry: Polars (the emitter in ``scoring/polars.py``) and
DuckDB / Spark running the SQL emitter's output (``scoring/sql``, public API only).

Every engine returns the same :class:`ScoreFrames`: the plan's columns, dtypes and row order, the same
run statistics. :func:`run_raw` gives the engine's own output before any cast, so tests can check that
an engine really produces the plan's types. DuckDB and Spark read the workspace Parquet files where they
are, write their results to Parquet in a temporary folder, and Polars reads those back.

Spark: ``local[2]`` by default; set ``PQL_SPARK_MASTER`` (e.g. ``spark://host:7077`` or ``yarn``) or
pass ``spark_master=`` to use a cluster; the workspace and the temporary folder must then be on storage
the executors can read and write (``PQL_SPARK_TMP``; see docs/warehouse.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig
from pqlcli.errors import PqlError, UsageError
from pqlcli.scoring import polars as polars_emitter
from pqlcli.scoring import sql
from pqlcli.scoring.frames import Inputs, ScoreFrames
from pqlcli.scoring.plan import ScoringPlan
from pqlcli.scoring.routing import ROUTING_COLUMNS, Frame, route
from pqlcli.scoring.sql.dialect import empty_select, string, transpile_statements
from pqlcli.workspace import TABLES, Workspace

SPARK_INSTALL = "pip install 'pqlcli[spark]'"
SQL_OUTPUTS = ("users", "accounts_from_users", "event_stats")
STATS = ("excluded_users", "events_unknown_users", "events_after_as_of")


@dataclass
class RawResult:
    """An engine's own output, before any cast to the plan's dtypes."""

    users: pl.DataFrame
    accounts: pl.DataFrame
    stats: dict[str, Any]


@dataclass(frozen=True)
class Engine:
    name: str
    run: Callable[..., RawResult]
    reads_files: bool  # runs over the workspace's Parquet files (Inputs.from_workspace)


def _run_polars(
    loaded: LoadedConfig, plan: ScoringPlan, inputs: Inputs, as_of: datetime, buckets: int | None = None, **_: Any
) -> RawResult:
    frames = polars_emitter.run(plan, inputs, as_of, buckets=buckets)
    return RawResult(frames.users, frames.accounts, frames.stats)


def _compiled(loaded: LoadedConfig, plan: ScoringPlan, as_of: datetime, dialect: str) -> sql.Compiled:
    tables = {"free_email_domains": "free_email_domains"}
    return sql.compile_plan(loaded, plan, as_of, dialect, tables=tables, outputs=SQL_OUTPUTS)


def _only(statements: list[str]) -> str:
    assert len(statements) == 1, statements
    return statements[0]


@contextmanager
def _tempdir(base: str | None = None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pql-engine-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _free_email_file(folder: Path) -> Path:
    from pqlcli.util.domains import free_email_domains

    path = folder / "free_email_domains.parquet"
    pl.DataFrame({"domain": sorted(free_email_domains())}, schema={"domain": pl.String}).write_parquet(path)
    return path


def _table_files(ws: Workspace, name: str) -> list[str]:
    return [str(p) for p in ws.table_files(name)]


def _workspace(inputs: Inputs, engine: str) -> Workspace:
    if inputs.source is None:
        raise UsageError(
            f"The {engine} engine reads the workspace's files; these inputs come from no workspace.",
            "Score a workspace (Inputs.from_workspace), or use the polars engine.",
            param="engine",
        )
    return inputs.source


# ---------------------------------------------------------------------------------------------------
# DuckDB


def _run_duckdb(loaded: LoadedConfig, plan: ScoringPlan, inputs: Inputs, as_of: datetime, **_: Any) -> RawResult:
    """Run the compiled DuckDB SQL in process over the workspace Parquet files."""
    try:
        import duckdb
    except ImportError:
        raise UsageError("The duckdb engine needs the duckdb package.", "Install it: pip install 'pqlcli[duckdb]'.")
    ws = _workspace(inputs, "duckdb")
    compiled = _compiled(loaded, plan, as_of, "duckdb")
    schemas = inputs.schemas()
    with _tempdir() as tmp:
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")  # DATE literals and casts of UTC timestamps, as in Polars and Spark
            for name in TABLES:
                if ws.has_table(name):
                    files = ", ".join(string(f) for f in _table_files(ws, name))
                    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{files}])")
                else:
                    con.execute(f"CREATE VIEW {name} AS {empty_select(schemas[name])}")
            con.execute(f"CREATE VIEW free_email_domains AS SELECT * FROM read_parquet({string(str(_free_email_file(tmp)))})")
            users_path, accounts_path = tmp / "users.parquet", tmp / "accounts.parquet"
            con.execute(f"CREATE TEMP TABLE pql_user_scores AS {_only(compiled.statements['users'])}")
            con.execute(f"COPY (SELECT * FROM pql_user_scores ORDER BY user_id) TO {string(str(users_path))} (FORMAT parquet)")
            accounts_sql = _only(compiled.statements["accounts_from_users"])
            con.execute(f"COPY ({accounts_sql}) TO {string(str(accounts_path))} (FORMAT parquet)")
            cur = con.execute(_only(compiled.statements["event_stats"]))
            names = [d[0] for d in cur.description or []]
            stats = dict(zip(names, cur.fetchone() or (), strict=False))
        finally:
            con.close()
        return RawResult(pl.read_parquet(users_path), pl.read_parquet(accounts_path), stats)


# ---------------------------------------------------------------------------------------------------
# Spark

_SPARK: Any = None


def spark_session(master: str | None = None) -> Any:
    """A SparkSession (reused within the process) with a UTC session time zone."""
    global _SPARK
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError("The spark engine needs pyspark (and Java 17+).", f"Install it: {SPARK_INSTALL}.")
    if _SPARK is not None:
        return _SPARK
    master = master or os.environ.get("PQL_SPARK_MASTER") or "local[2]"
    builder = (
        SparkSession.builder.master(master)
        .appName("pql score")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # the scoring plan is wide: compiling it to Java costs more than it saves on small and mid-sized data
        .config("spark.sql.codegen.wholeStage", os.environ.get("PQL_SPARK_CODEGEN", "false"))
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", os.environ.get("PQL_SPARK_SHUFFLE_PARTITIONS", "8"))
    )
    try:
        _SPARK = builder.getOrCreate()
    except Exception as exc:
        raise PqlError(
            f"Spark could not start with master {master!r}: {str(exc).strip().splitlines()[0]}",
            "Check that Java 17+ is installed (java -version) and PQL_SPARK_MASTER points at a running cluster.",
        )
    _SPARK.sparkContext.setLogLevel("ERROR")
    return _SPARK


def _spark_views(spark: Any, ws: Workspace, schemas: dict[str, dict[str, Any]], tmp: Path) -> None:
    for name in TABLES:
        if ws.has_table(name):
            spark.read.parquet(*_table_files(ws, name)).createOrReplaceTempView(name)
        else:
            empty = _only(transpile_statements(empty_select(schemas[name]), "spark", name))
            spark.sql(empty).createOrReplaceTempView(name)
    spark.read.parquet(str(_free_email_file(tmp))).createOrReplaceTempView("free_email_domains")


def _run_spark(
    loaded: LoadedConfig, plan: ScoringPlan, inputs: Inputs, as_of: datetime, *, spark_master: str | None = None, **_: Any
) -> RawResult:
    """Run the compiled Spark SQL with PySpark over the workspace Parquet files."""
    ws = _workspace(inputs, "spark")
    compiled = _compiled(loaded, plan, as_of, "spark")
    spark = spark_session(spark_master)
    with _tempdir(os.environ.get("PQL_SPARK_TMP")) as tmp:
        _spark_views(spark, ws, inputs.schemas(), tmp)
        users_df = spark.sql(_only(compiled.statements["users"])).cache()
        try:
            users_df.createOrReplaceTempView("pql_user_scores")
            users_df.write.mode("overwrite").parquet(str(tmp / "users"))
            accounts_sql = _only(compiled.statements["accounts_from_users"])
            spark.sql(accounts_sql).write.mode("overwrite").parquet(str(tmp / "accounts"))
            stats = spark.sql(_only(compiled.statements["event_stats"])).collect()[0].asDict()
        finally:
            users_df.unpersist()
            spark.catalog.dropTempView("pql_user_scores")
        return RawResult(_read_dir(tmp / "users"), _read_dir(tmp / "accounts"), stats)


def _read_dir(folder: Path) -> pl.DataFrame:
    files = sorted(folder.glob("*.parquet"))
    return pl.read_parquet(files) if files else pl.DataFrame()


# ---------------------------------------------------------------------------------------------------
# The registry

ENGINES: dict[str, Engine] = {
    "polars": Engine("polars", _run_polars, reads_files=False),
    "duckdb": Engine("duckdb", _run_duckdb, reads_files=True),
    "spark": Engine("spark", _run_spark, reads_files=True),
}


def engine(name: str) -> Engine:
    """The engine called ``name``, or a UsageError listing the engines."""
    found = ENGINES.get((name or "").strip().lower())
    if found is None:
        raise UsageError(f"Unknown scoring engine {name!r}.", f"Engines: {', '.join(ENGINES)}.", param="engine")
    return found


def run_raw(name: str, loaded: LoadedConfig, plan: ScoringPlan, inputs: Inputs, as_of: datetime, **options: Any) -> RawResult:
    """Score with engine ``name``; its own output, before any cast."""
    return engine(name).run(loaded, plan, inputs, as_of, **options)


def conform(raw: RawResult, plan: ScoringPlan, inputs: Inputs, as_of: datetime) -> ScoreFrames:
    """The engine's result with exactly the plan's columns, dtypes and order, the run statistics, and routing."""
    users = _conform(raw.users, plan.users_out, "user_id")
    accounts = _conform(raw.accounts, plan.accounts_out, "account_id")
    stats = dict(raw.stats)
    if "excluded_users" not in stats:
        # users in the table minus users scored: the joins keep one row per user, so the rest were excluded
        total = int(inputs.users.select(pl.len()).collect().item())
        stats["excluded_users"] = total - users.height
    return ScoreFrames(_routed_users(plan, users), _routed_accounts(plan, accounts), _stats(stats), as_of, list(plan.warnings))


def _stats(stats: dict[str, Any]) -> dict[str, int]:
    return {k: int(stats[k] or 0) for k in STATS}


# Routing (``routed_owner``, ``assigned_owner``, ``routed``), once, on every engine's conformed result
# (or, in ``run_to``, on each pass's users as they are written).
def _routed_users(plan: ScoringPlan, users: Frame) -> Frame:
    if not plan.user_routes:
        return users
    return route(users, plan.user_routes, "user_id")


def _routed_accounts(plan: ScoringPlan, accounts: pl.DataFrame) -> pl.DataFrame:
    if not plan.user_routes:
        return accounts
    return route(accounts, plan.account_routes, "account_id", plan.account_route_nulls)


def _conform(df: pl.DataFrame, schema: dict[str, Any], key: str) -> pl.DataFrame:
    out = _conformed(df.lazy(), schema).collect()
    # a result already in key order (the polars engine's) is not copied by a sort: at 10M users that copy
    # alone is ~4 GB
    return out if out[key].is_sorted() else out.sort(key)


def _conformed(lf: pl.LazyFrame, schema: dict[str, Any]) -> pl.LazyFrame:
    """Exactly the plan's columns, types and order."""
    names = lf.collect_schema().names()
    missing = [c for c in schema if c not in names]
    if missing:
        raise PqlError(f"The engine's result lacks the columns {', '.join(missing)} (a pql bug).")
    return lf.select([pl.col(c).cast(d) for c, d in schema.items()])


def run(name: str, loaded: LoadedConfig, plan: ScoringPlan, inputs: Inputs, as_of: datetime, **options: Any) -> ScoreFrames:
    """Score with engine ``name`` (polars, duckdb or spark)."""
    return conform(run_raw(name, loaded, plan, inputs, as_of, **options), plan, inputs, as_of)


@dataclass
class WrittenRun:
    """``run_to``'s result: the users went to a file; the accounts and statistics are here."""

    accounts: pl.DataFrame
    stats: dict[str, int]
    as_of: datetime
    warnings: list[str]


def run_to(
    name: str, loaded: LoadedConfig, plan: ScoringPlan, inputs: Inputs, as_of: datetime, users_path: Path, **options: Any
) -> WrittenRun:
    """``run``, with the scored users written to ``users_path`` (Parquet) instead of returned.

    A bucketed workspace scored by the polars engine never holds every user: each bucket's users are
    written as they are scored and streamed into ``users_path`` (``polars.score_stored_to``), with the
    same columns, types, order and routing as ``run``'s. Other runs write ``run``'s users."""
    stored = inputs.event_buckets
    if engine(name).name != "polars" or stored is None or len(stored) <= 1 or options.get("buckets") is not None:
        frames = run(name, loaded, plan, inputs, as_of, **options)
        frames.users.write_parquet(users_path, statistics=False)
        return WrittenRun(frames.accounts, frames.stats, frames.as_of, frames.warnings)

    def finish(users: pl.LazyFrame) -> pl.LazyFrame:
        return _routed_users(plan, _conformed(users, plan.users_out))

    schema = {**plan.users_out, **(ROUTING_COLUMNS if plan.user_routes else {})}
    accounts, stats = polars_emitter.score_stored_to(plan, inputs, as_of, users_path, finish, schema, stored)
    accounts = _routed_accounts(plan, _conform(accounts, plan.accounts_out, "account_id"))
    return WrittenRun(accounts, _stats(stats), as_of, list(plan.warnings))


__all__ = ["ENGINES", "SPARK_INSTALL", "Engine", "RawResult", "WrittenRun", "conform", "engine", "run", "run_raw", "run_to", "spark_session"]
