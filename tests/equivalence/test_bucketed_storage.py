"""Events STORED in buckets (a bucketed workspace, each bucket's files read alone) give the single pass's
snapshot -- the same check as test_bucketed.py, which filters one flat table by hash.

The same data (1500 users, 2500 events: about a fifth of the users without events, 10 events of unknown
users) is written flat and in 2, 7 and 512 stored buckets (with 512, some buckets hold no user). Byte for
byte for every non-float column; float sums may differ in the last bit (see test_bucketed.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pqlcli import config, scoring
from pqlcli.scoring import polars as emitter
from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from pqlcli.workspace.buckets import bucket_expr
from tests import paths

HERE = Path(__file__).resolve().parent
CONFIGS = {"example": paths.ROOT / "config" / "pql.yaml", "engine": HERE / "engine_config.yaml"}
COUNTS = (2, 7, 512)


def _synth(root: Path, buckets: int) -> Workspace:
    ws = Workspace.open(root, create=True)
    synth_workspace(ws, users=1500, events=2500, seed=11, chunk=1000, buckets=buckets)
    return ws


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Workspace]:
    base = tmp_path_factory.mktemp("stored")
    return {n: _synth(base / f"ws{n}", n) for n in (1, *COUNTS)}


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, statistics=False)
    return buf.getvalue()


def test_the_stored_buckets_hold_every_user_once_and_some_hold_none(workspaces: dict[int, Workspace]) -> None:
    flat = workspaces[1].scan("events").sort("event_id", "user_id").collect()
    for n in COUNTS:
        ws = workspaces[n]
        assert ws.event_bucket_count() == n
        assert ws.scan("events").sort("event_id", "user_id").collect().equals(flat)  # same rows, nothing lost
        folders = [p.parent.name for p in ws.table_files("events")]
        for part in ws.table_files("events"):  # every row sits in its user's bucket
            got = pl.read_parquet(part).select(bucket_expr(n).unique())["user_id"].to_list()
            assert [f"bucket={b:03d}" for b in got] == [part.parent.name]
        if n == 512:
            assert len(set(folders)) < 512  # buckets with no user at all
    inputs = scoring.Inputs.from_workspace(workspaces[512])
    assert inputs.event_buckets is not None and len(inputs.event_buckets) == 512
    assert scoring.Inputs.from_workspace(workspaces[1]).event_buckets is None


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    exact = [c for c, d in want.schema.items() if not d.is_float()]
    assert _parquet_bytes(got.select(exact)) == _parquet_bytes(want.select(exact))
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


# events per scoring pass: 1 = one stored bucket per pass; 1000 = several consecutive buckets per pass
# (2 of 7, the last pass one bucket; 32 of 512, the most a pass reads); the default = every bucket in one pass at this size
PER_PASS = (1, 1000, emitter.EVENTS_PER_PASS)
# users per chunk of the users' context (each chunk split by pass): one chunk, or several (the last shorter)
CHUNK = {1: emitter.USERS_PER_CHUNK, 1000: 400, emitter.EVENTS_PER_PASS: 7}


# a pass's users: split by pass once into temporary files (0), or filtered and given their context by each pass
SPLIT_ABOVE = (0, 10**9)


@pytest.mark.parametrize("split_above", SPLIT_ABOVE)
@pytest.mark.parametrize("per_pass", PER_PASS)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_stored_buckets_give_the_single_pass_snapshot(
    workspaces: dict[int, Workspace], name: str, per_pass: int, split_above: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emitter, "EVENTS_PER_PASS", per_pass)
    monkeypatch.setattr(emitter, "USERS_PER_CHUNK", CHUNK[per_pass])
    monkeypatch.setattr(emitter, "SPLIT_USERS_ABOVE", split_above)
    loaded = config.load(CONFIGS[name])
    as_of = loaded.as_of()
    single = scoring.run(loaded, scoring.Inputs.from_workspace(workspaces[1]), as_of, buckets=1)
    users_with_events = workspaces[1].scan("events").select(pl.col("user_id").n_unique()).collect().item()
    assert single.users.height > users_with_events - 10, "the data must have users with no events"
    assert single.stats["events_unknown_users"] > 0
    for n in COUNTS:
        out = scoring.run(loaded, scoring.Inputs.from_workspace(workspaces[n]), as_of)
        assert out.stats == single.stats
        _same(out.users, single.users)
        _same(out.accounts, single.accounts)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_pql_score_of_stored_buckets_writes_the_single_pass_snapshot(
    workspaces: dict[int, Workspace], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `pql score` writes each pass's users to disk and streams them into the snapshot (bounded memory):
    # the snapshot holds what the in-memory single pass gives, routing included, each pass's users in
    # user_id order (not one global order: readers sort, with user_id as the last key)
    monkeypatch.setattr(emitter, "EVENTS_PER_PASS", 1000)
    monkeypatch.setattr(emitter, "USERS_PER_CHUNK", 600)
    loaded = config.load(CONFIGS[name])
    as_of = loaded.as_of()
    single = scoring.run(loaded, scoring.Inputs.from_workspace(workspaces[1]), as_of, buckets=1)
    for n in (7, 512):
        result = scoring.score(workspaces[n], loaded, as_of)
        users = pl.read_parquet(result.snapshot / "users.parquet")
        assert not users["user_id"].is_sorted(), "several passes, each in user_id order"
        _same(users.sort("user_id"), single.users)
        _same(pl.read_parquet(result.snapshot / "accounts.parquet"), single.accounts)
        assert result.stats == {"users": single.users.height, "accounts": single.accounts.height, **single.stats}
        assert not list(result.snapshot.parent.glob(".tmp-*")) and not list(result.snapshot.glob("pql-*"))
