"""Scoring engines other than Polars: the compiled SQL (:mod:`pqlcli.sqlgen`) run by DuckDB or Spark.

``run(engine_name, ws, loaded, inputs, as_of)`` returns the same :class:`ScoreFrames` as the Polars
engine: the same columns, dtypes and row order (by user_id / account_id), the same run statistics.
Both engines read the workspace Parquet files where they are, write their results to Parquet in a
temporary folder, and Polars reads those back (no pyarrow/pandas needed).

Spark: ``local[2]`` by default; set ``PQL_SPARK_MASTER`` (e.g. ``spark://host:7077`` or ``yarn``) or
pass ``spark_master=`` to use a cluster; the workspace and the temporary folder must then be on storage
the executors can read and write (``PQL_SPARK_TMP``; see docs/warehouse.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from pqlcli.config import LoadedConfig
from pqlcli.errors import PqlError, UsageError
from pqlcli.scoring.engine import Inputs, ScoreFrames, build_plans
from pqlcli.workspace import TABLES, Workspace

ENGINES = ("polars", "duckdb", "spark")
SPARK_INSTALL = "pip install 'pqlcli[spark]'"


def run(engine_name: str, ws: Workspace, loaded: LoadedConfig, inputs: Inputs, as_of: datetime, **options: Any) -> ScoreFrames:
    """Score with ``engine_name`` (polars, duckdb or spark)."""
    name = (engine_name or "").strip().lower()
    if name == "polars":
        from pqlcli.scoring import engine

        return engine.run(loaded, inputs, as_of)
    if name == "duckdb":
        return run_duckdb(ws, loaded, inputs, as_of)
    if name == "spark":
        return run_spark(ws, loaded, inputs, as_of, master=options.get("spark_master"))
    raise UsageError(f"Unknown scoring engine {engine_name!r}.", f"Engines: {', '.join(ENGINES)}.")


def _schemas(inputs: Inputs) -> dict[str, dict[str, Any]]:
    return {name: dict(getattr(inputs, name).collect_schema()) for name in TABLES}


def _conform(df: pl.DataFrame, schema: dict[str, Any], key: str) -> pl.DataFrame:
    """The engine's result with exactly the Polars engine's columns, dtypes and order."""
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise PqlError(f"The SQL engine's result lacks the columns {', '.join(missing)} (a pql bug).")
    return df.select([pl.col(c).cast(d) for c, d in schema.items()]).sort(key)


def _stats(row: dict[str, Any], ws: Workspace, scored_users: int) -> dict[str, int]:
    # users in the table minus users scored: the joins keep one row per user, so the rest were excluded
    total = int(ws.scan("users").select(pl.len()).collect().item())
    row = {**row, "excluded_users": total - scored_users}
    return {k: int(row[k] or 0) for k in ("excluded_users", "events_unknown_users", "events_after_as_of")}


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
    path = ws.table_path(name)
    return [str(p) for p in sorted(path.glob("*.parquet"))] if path.is_dir() else [str(path)]


# ---------------------------------------------------------------------------------------------------
# DuckDB


def run_duckdb(ws: Workspace, loaded: LoadedConfig, inputs: Inputs, as_of: datetime) -> ScoreFrames:
    """Run the compiled DuckDB SQL in process over the workspace Parquet files."""
    try:
        import duckdb
    except ImportError:
        raise UsageError("The duckdb engine needs the duckdb package.", "Install it: pip install 'pqlcli[duckdb]'.")
    from pqlcli import sqlgen

    warnings = build_plans(loaded, inputs, as_of).warnings  # validates the config like the Polars engine
    schemas = _schemas(inputs)
    compiled = sqlgen.compile_full(
        loaded, as_of, "duckdb", tables={"free_email_domains": "free_email_domains"}, schemas=schemas,
        outputs=("users", "accounts_from_users", "event_stats"),
    )
    with _tempdir() as tmp:
        con = duckdb.connect()
        try:
            for name in TABLES:
                if ws.has_table(name):
                    files = ", ".join(sqlgen._str(f) for f in _table_files(ws, name))
                    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{files}])")
                else:
                    con.execute(f"CREATE VIEW {name} AS {_empty_select(schemas[name])}")
            con.execute(
                f"CREATE VIEW free_email_domains AS SELECT * FROM read_parquet({sqlgen._str(str(_free_email_file(tmp)))})"
            )
            users_path, accounts_path = tmp / "users.parquet", tmp / "accounts.parquet"
            con.execute(f"CREATE TEMP TABLE pql_user_scores AS {_strip(compiled.sql['users'])}")
            con.execute(f"COPY (SELECT * FROM pql_user_scores ORDER BY user_id) TO {sqlgen._str(str(users_path))} (FORMAT parquet)")
            con.execute(
                f"COPY ({_strip(compiled.sql['accounts_from_users'])}) TO {sqlgen._str(str(accounts_path))} (FORMAT parquet)"
            )
            cur = con.execute(_strip(compiled.sql["event_stats"]))
            names = [d[0] for d in cur.description or []]
            stats_row = dict(zip(names, cur.fetchone() or (), strict=False))
        finally:
            con.close()
        users = _conform(pl.read_parquet(users_path), compiled.users_schema, "user_id")
        accounts = _conform(pl.read_parquet(accounts_path), compiled.accounts_schema, "account_id")
    return ScoreFrames(users, accounts, _stats(stats_row, ws, users.height), as_of, warnings)


def _strip(sql: str) -> str:
    """One statement without the header comment and the final semicolon."""
    lines = [ln for ln in sql.splitlines() if not ln.startswith("-- pql scores compiled")]
    return "\n".join(lines).strip().rstrip(";")


def _empty_select(schema: dict[str, Any]) -> str:
    from pqlcli.sqlgen import _ident, _sql_type

    cols = ", ".join(f"CAST(NULL AS {_sql_type(d)}) AS {_ident(c)}" for c, d in schema.items())
    return f"SELECT {cols} WHERE FALSE"


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


def run_spark(
    ws: Workspace, loaded: LoadedConfig, inputs: Inputs, as_of: datetime, *, master: str | None = None
) -> ScoreFrames:
    """Run the compiled Spark SQL with PySpark over the workspace Parquet files."""
    from pqlcli import sqlgen

    warnings = build_plans(loaded, inputs, as_of).warnings
    schemas = _schemas(inputs)
    compiled = sqlgen.compile_full(
        loaded, as_of, "spark", tables={"free_email_domains": "free_email_domains"}, schemas=schemas,
        outputs=("users", "accounts_from_users", "event_stats"),
    )
    spark = spark_session(master)
    with _tempdir(os.environ.get("PQL_SPARK_TMP")) as tmp:
        for name in TABLES:
            if ws.has_table(name):
                spark.read.parquet(*_table_files(ws, name)).createOrReplaceTempView(name)
            else:
                spark.sql(sqlgen._transpile(_empty_select(schemas[name]), "spark", name).rstrip().rstrip(";")).createOrReplaceTempView(name)
        spark.read.parquet(str(_free_email_file(tmp))).createOrReplaceTempView("free_email_domains")
        users_df = spark.sql(_strip(compiled.sql["users"])).cache()
        try:
            users_df.createOrReplaceTempView("pql_user_scores")
            users_df.write.mode("overwrite").parquet(str(tmp / "users"))
            spark.sql(_strip(compiled.sql["accounts_from_users"])).write.mode("overwrite").parquet(str(tmp / "accounts"))
            stats_row = spark.sql(_strip(compiled.sql["event_stats"])).collect()[0].asDict()
        finally:
            users_df.unpersist()
            spark.catalog.dropTempView("pql_user_scores")
        users = _conform(_read_dir(tmp / "users"), compiled.users_schema, "user_id")
        accounts = _conform(_read_dir(tmp / "accounts"), compiled.accounts_schema, "account_id")
    return ScoreFrames(users, accounts, _stats(stats_row, ws, users.height), as_of, warnings)


def _read_dir(folder: Path) -> pl.DataFrame:
    files = sorted(folder.glob("*.parquet"))
    return pl.read_parquet(files) if files else pl.DataFrame()


__all__ = ["ENGINES", "SPARK_INSTALL", "run", "run_duckdb", "run_spark", "spark_session"]
