"""Library errors name the library's parameter; the CLI names its own flag for it.

`PqlError(param=...)` (scoring, config) and leads' `ParameterError` carry the parameter; `pql` turns it
into the flag (`--as-of`, `--table`, `--sort`) and the library's own message never names a flag.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pqlcli import config, scoring
from pqlcli.errors import ConfigError, UsageError
from pqlcli.leads.errors import ParameterError
from pqlcli.scoring import sql
from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths

ROOT = paths.ROOT
CONFIG = ROOT / "config" / "pql.yaml"


def test_parameter_error_keeps_its_parameter() -> None:
    err = ParameterError("sort", "{param} names unknown column 'x'.")
    assert err.param == "sort" and err.message == "sort names unknown column 'x'."


def test_library_errors_name_the_parameter_not_the_flag(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    synth_workspace(ws, users=50)
    loaded = config.load(CONFIG)
    with pytest.raises(ConfigError) as bad_as_of:
        scoring.compute(ws, loaded, "yesterday-ish")
    with pytest.raises(UsageError) as bad_table:
        sql.compile_sql(loaded, loaded.as_of(), "duckdb", tables={"people": "x"})
    with pytest.raises(UsageError) as bad_engine:
        scoring.compute(ws, loaded, engine_name="oracle")
    for err, param in ((bad_as_of, "as_of"), (bad_table, "tables"), (bad_engine, "engine")):
        assert err.value.param == param
        assert "--" not in str(err.value)


def test_the_cli_names_the_flags(pql, ws_path: Path) -> None:
    synth_workspace(Workspace.open(ws_path, create=True), users=50)
    code, _, err = pql("score", "--config", CONFIG, "--as-of", "yesterday-ish")
    assert code == 1 and "--as-of 'yesterday-ish' is not a date or time" in err
    code, _, err = pql("sql", "--config", CONFIG, "--table", "people=x", workspace=False)
    assert code == 2 and "--table: Table people=x: 'people' is not a table" in err
    assert pql("score", "--config", CONFIG)[0] == 0
    code, _, err = pql("list", "users", "--sort", "no_such_column")
    assert code == 2 and "--sort names unknown column 'no_such_column'" in err
