"""One condition grammar: every construct docs/config.md promises means the same on Polars and DuckDB.

Each condition of the corpus is parsed and checked once (pqlcli.scoring.conditions), then evaluated by
the Polars emitter's expression and by DuckDB running the SQL emitter's text, over rows with NULLs,
negative numbers, zero, mixed case and timestamps around midnight UTC; the results must be equal row
for row. Constructs outside the grammar are refused for every engine, at the config line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pqlcli import config
from pqlcli.errors import ConfigError
from pqlcli.scoring.conditions import GRAMMAR, check_condition, polars_expr

duckdb = pytest.importorskip("duckdb")

ROWS = pl.DataFrame(
    {
        "n": [0, 1, 2, 3, None, -4],
        "x": [0.5, 1.5, 2.0, -3.25, None, 10.0],
        "s": ["a", "ab", "Ab", None, "cb", "xc"],
        "t": ["VP Sales", "cto", "Head of X", None, "Director", "Engineer"],
        "flag": [True, False, None, True, False, True],
        "ts": [
            datetime(2026, 9, 30, 23, 59, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2026, 10, 15, 12, tzinfo=UTC), None, datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2026, 10, 1, 0, 0, 1, tzinfo=UTC),
        ],
    },
    schema={"n": pl.Int64, "x": pl.Float64, "s": pl.String, "t": pl.String, "flag": pl.Boolean,
            "ts": pl.Datetime("us", "UTC")},
)

CORPUS = [
    "n > 2", "n >= 2", "n < 2", "n <= 2", "n = 2", "n <> 2", "n != 2", "n = NULL", "n > 1.5",
    "x > 1.5 AND n < 5", "x > 1.5 OR flag", "NOT flag", "flag", "flag = TRUE", "flag = FALSE", "TRUE",
    "(n > 1 OR x > 2) AND NOT s IS NULL",
    "s IS NULL", "s IS NOT NULL", "s IN ('a', 'b')", "s NOT IN ('a', 'b')", "n IN (1, 3)", "s > 'ab'",
    "n BETWEEN 1 AND 3", "n NOT BETWEEN 1 AND 3",
    "s LIKE 'a%'", "s NOT LIKE '%b'", "s LIKE '_b'", "s ILIKE 'A%'",
    "regexp_like(t, 'VP|CTO')", "regexp_like(t, '^Head')", "regexp_like(t, 'cto', 'i')",
    "n + 1 > 3", "n - 1 > 0", "n * 2 >= 4", "x / 2 > 1", "-n < -1", "x / n > 1", "n / 2 = 1", "x * 1.5 > 2.25",
    "lower(s) = 'ab'", "upper(s) = 'AB'", "length(s) > 1", "abs(x) > 1", "coalesce(n, 0) = 0",
    "ts >= DATE '2026-10-01'", "CAST(ts AS DATE) = DATE '2026-10-01'", "CAST(n AS DOUBLE) / 4 > 0.5",
    "CAST(n AS VARCHAR) = '2'",
]
REFUSED = [
    "CASE WHEN n > 1 THEN TRUE ELSE FALSE END", "starts_with(s, 'a')", "foo(n) > 1", "n % 2 = 0",
    "s IS DISTINCT FROM 'a'", "n IN (SELECT 1)", "CAST(x AS BIGINT) = 2", "ts < TIMESTAMP '2026-10-15 12:00:00'",
]


def _loaded(tmp_path: Path, when: str) -> config.LoadedConfig:
    text = f'version: 1\nfit:\n  - name: r\n    when: "{when}"\n    points: 1\n'
    return config.loads(text, tmp_path / "pql.yaml")


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("corpus") / "rows.parquet"
    ROWS.write_parquet(path)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")  # as the duckdb runner does
    connection.execute(f"CREATE VIEW rows AS SELECT * FROM read_parquet('{path}')")
    yield connection
    connection.close()


@pytest.mark.parametrize("sql", CORPUS)
def test_polars_and_duckdb_agree(sql: str, con, tmp_path: Path) -> None:
    cond = check_condition(_loaded(tmp_path, sql), ("fit", 0, "when"), sql, dict(ROWS.schema), what="rule")
    on_polars = ROWS.with_columns(r=polars_expr(cond))["r"].to_list()
    on_duckdb = [row[0] for row in con.execute(f"SELECT {cond.to_sql()} FROM rows").fetchall()]
    assert on_polars == on_duckdb


def test_the_corpus_covers_the_whole_grammar(tmp_path: Path) -> None:
    used = set()
    for sql in CORPUS:
        cond = check_condition(_loaded(tmp_path, sql), ("fit", 0, "when"), sql, dict(ROWS.schema), what="rule")
        used |= {type(node) for node in cond.tree.walk()}
    assert used == set(GRAMMAR), f"not in the corpus: {set(GRAMMAR) - used}"


@pytest.mark.parametrize("sql", REFUSED)
def test_constructs_outside_the_grammar_are_refused_at_the_line(sql: str, tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, sql)
    with pytest.raises(ConfigError, match=r"pql\.yaml:4:\d+: rule: the condition .* is not a valid SQL expression"):
        check_condition(loaded, ("fit", 0, "when"), sql, dict(ROWS.schema), what="rule")
