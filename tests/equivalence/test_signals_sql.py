"""`pql sql` writes the default config's activation milestone and trend in every dialect."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from pqlcli.scoring import sql as sqlgen

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dialect", sqlgen.DIALECTS)
def test_default_config_sql_has_activation_and_trend(pql, dialect: str) -> None:
    code, out, err = pql("sql", "--dialect", dialect, "--config", str(ROOT / "config" / "pql.yaml"),
                         "--output", "users", "--table", "free_email_domains=fe", workspace=False)
    assert code == 0, err
    assert "user_activation_steps" in out and "integration_connected" in out
    for column in ("activated", "activated_steps", "activated_days", "logins_trend", "usage__growing"):
        assert column in out, column
    assert [s for s in sqlglot.parse(out, read=dialect) if s is not None]
