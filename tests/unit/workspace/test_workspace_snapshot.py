"""The Snapshot API and the versioned snapshot manifest (docs/snapshot.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pqlcli import ExitCode, Snapshot, Workspace, load_config
from pqlcli.errors import WorkspaceError
from pqlcli.scoring import score
from pqlcli.workspace.snapshot import SCHEMA_VERSION, SnapshotManifest
from tests.factories.scoring_helpers import AS_OF, make_ws
from tests.factories.snapshot_factory import make_two_snapshots

CONFIG = """
version: 1
metrics:
  logins_7d: {event: login, window: 7d}
fit:
  - {name: big, when: "employees >= 100", points: 60}
usage:
  - {name: active, metric: logins_7d, points: 10, cap: 50}
"""


@pytest.fixture
def two(tmp_path: Path) -> tuple[Workspace, Path, Path]:
    ws = Workspace.open(tmp_path / "ws", create=True)
    old, new = make_two_snapshots(ws.root)
    return ws, old, new


def test_latest_previous_and_by_id(two):
    ws, old, new = two
    latest, previous = ws.snapshot("latest"), ws.snapshot("previous")
    assert isinstance(latest, Snapshot) and latest.id == new.name and latest.path == new
    assert previous.id == old.name and ws.snapshot() == latest
    assert ws.snapshot(old.name) == previous == latest.previous()
    assert ws.snapshot(str(new)) == latest  # a path works too
    assert previous.previous() is None
    assert [s.id for s in ws.snapshots()] == [old.name, new.name]


def test_snapshot_reads_levels_and_typed_manifest(two):
    ws, _, new = two
    snap = ws.snapshot("latest")
    users = snap.read("users")
    assert users.height == pl.read_parquet(new / "users.parquet").height
    assert snap.scan("accounts").collect().height == snap.read("accounts").height
    assert snap.created_at == datetime(2026, 11, 1, tzinfo=UTC)
    assert isinstance(snap.manifest, SnapshotManifest)
    assert snap.manifest.tiers.fit == 50 and snap.manifest.pqls[0]["name"] == "free_to_paid"
    with pytest.raises(WorkspaceError, match="no level 'leads'"):
        snap.read("leads")


def test_unversioned_manifest_is_upgraded(two):
    ws, _, new = two
    assert "schema_version" not in json.loads((new / "manifest.json").read_text())  # factory writes the old form
    manifest = ws.snapshot("latest").manifest
    assert manifest.schema_version == SCHEMA_VERSION == 1 and manifest.engine == "polars"


def test_newer_manifest_is_refused_with_the_fix(two):
    ws, _, new = two
    data = json.loads((new / "manifest.json").read_text())
    (new / "manifest.json").write_text(json.dumps({**data, "schema_version": 7}))
    with pytest.raises(WorkspaceError) as info:
        _ = ws.snapshot("latest").manifest
    assert "schema_version 7" in str(info.value) and "upgrade pql" in str(info.value)


def test_broken_manifest_names_the_field(two):
    ws, _, new = two
    data = json.loads((new / "manifest.json").read_text())
    del data["tiers"]
    (new / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(WorkspaceError, match=r"not a valid pql manifest \(tiers: Field required\)"):
        _ = ws.snapshot("latest").manifest


def test_cli_refuses_a_newer_manifest(pql, ws_path):
    make_two_snapshots(ws_path)
    latest = sorted((ws_path / "scores").iterdir())[-1] / "manifest.json"
    latest.write_text(json.dumps({**json.loads(latest.read_text()), "schema_version": 2}))
    code, _, err = pql("list", "users")
    assert code == ExitCode.DATA_ERROR and "newer pql" in err and "Traceback" not in err


def test_no_previous_and_unknown_ids(tmp_path):
    ws = Workspace.open(tmp_path / "ws", create=True)
    with pytest.raises(WorkspaceError, match="no scores yet"):
        ws.snapshot()
    make_two_snapshots(ws.root)
    with pytest.raises(WorkspaceError, match="Snapshots available: 20261025T000000000000Z, 20261101T000000000000Z"):
        ws.snapshot("20200101T000000Z")


def _one_user_workspace(tmp_path: Path) -> tuple[Workspace, Path]:
    """A workspace of one user, one account and one event, and the config scoring it."""
    ws = make_ws(
        tmp_path / "ws",
        users=[{"user_id": "u1", "email": "a@acme.com", "account_id": "a1"}],
        accounts=[{"account_id": "a1", "domain": "acme.com"}],
        events=[{"user_id": "u1", "event": "login", "timestamp": datetime(2026, 10, 30, tzinfo=UTC)}],
    )
    cfg_path = tmp_path / "pql.yaml"
    cfg_path.write_text(CONFIG)
    return ws, cfg_path


def test_scoring_writes_a_versioned_manifest(tmp_path):
    ws, cfg_path = _one_user_workspace(tmp_path)
    result = score(ws, load_config(cfg_path), AS_OF)
    raw = json.loads((result.snapshot / "manifest.json").read_text())
    assert raw["schema_version"] == 1 and raw["engine"] == "polars" and raw["as_of"] == "2026-11-01T00:00:00+00:00"
    snap = ws.snapshot("latest")
    assert snap.path == result.snapshot and snap.manifest.config_hash == load_config(cfg_path).sha256
    assert snap.manifest.fit_rules == ["big"] and snap.read("users")["user_id"].to_list() == ["u1"]


def test_input_fingerprints_change_with_the_tables_and_only_then(tmp_path):
    ws, cfg_path = _one_user_workspace(tmp_path)
    first = ws.snapshot(score(ws, load_config(cfg_path), AS_OF).snapshot.name).manifest.inputs
    again = ws.snapshot(score(ws, load_config(cfg_path), AS_OF).snapshot.name).manifest.inputs
    assert first == again and first["users"] and first["firmographics"] is None  # same tables: same fingerprints
    ws.write_table("users", pl.DataFrame({"user_id": ["u1", "u2"], "email": ["a@acme.com", "b@acme.com"], "account_id": ["a1", "a1"]}))
    after = ws.snapshot(score(ws, load_config(cfg_path), AS_OF).snapshot.name).manifest.inputs
    assert after["users"] != first["users"] and after["events"] == first["events"] and after["accounts"] == first["accounts"]
