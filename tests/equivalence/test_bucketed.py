"""The events pass run bucket by bucket (a hash of user_id) gives the single pass's snapshot.

Byte for byte, except that a float sum over a user's events (``sum``, decayed counts) may differ in its
last bit: the streaming group-by adds a user's rows in an order that depends on how the rows are cut into
morsels, which a bucket filter changes (so does the number of threads, for the single pass too).

Both configs: the documented example and tests/equivalence/engine_config.yaml (every agg kind, both decays, every
roll-up, exclusions, user- and account-level PQLs). The data has users with no events, events of unknown
users, and with 4096 buckets most buckets hold no user at all.
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
from tests import paths

HERE = Path(__file__).resolve().parent
CONFIGS = {"example": paths.ROOT / "config" / "pql.yaml", "engine": HERE / "engine_config.yaml"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.open(tmp_path_factory.mktemp("bucketed") / "ws", create=True)
    # 1500 users, 2500 events: about a fifth of the users have no events; 10 events of unknown users
    synth_workspace(ws, users=1500, events=2500, seed=11, chunk=1000)
    return ws


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, statistics=False)
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bucketed_scoring_gives_the_single_pass_snapshot(workspace: Workspace, name: str) -> None:
    loaded = config.load(CONFIGS[name])
    inputs = scoring.Inputs.from_workspace(workspace)
    as_of = loaded.as_of()
    single = scoring.run(loaded, inputs, as_of, buckets=1)
    users_with_events = workspace.scan("events").select(pl.col("user_id").n_unique()).collect().item()
    assert single.users.height > users_with_events - 10, "the data must have users with no events"
    assert single.stats["events_unknown_users"] > 0
    for buckets in (2, 7, 4096):
        out = scoring.run(loaded, inputs, as_of, buckets=buckets)
        assert out.stats == single.stats
        for got, want in ((out.users, single.users), (out.accounts, single.accounts)):
            exact = [c for c, d in want.schema.items() if not d.is_float()]
            assert _parquet_bytes(got.select(exact)) == _parquet_bytes(want.select(exact))
            assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


def test_buckets_split_the_users_and_some_hold_none(workspace: Workspace) -> None:
    """The bucketed runs above really ran in buckets: every user in exactly one, many buckets empty."""
    events = workspace.scan("events")
    per_bucket = events.group_by(emitter.bucket_of(4096).alias("b")).agg(pl.col("user_id").unique()).collect()
    assert 1 < per_bucket.height < 4096  # buckets with no users exist
    ids = per_bucket.explode("user_id")["user_id"]
    assert ids.is_duplicated().sum() == 0  # a user's events never span two buckets
    seven = events.select(emitter.bucket_of(7).alias("b")).collect()["b"]
    assert sorted(seven.unique().to_list()) == list(range(7))


def test_bucket_count_grows_with_the_events(monkeypatch: pytest.MonkeyPatch, workspace: Workspace) -> None:
    events = workspace.scan("events")
    assert emitter.choose_buckets(events) == 1
    monkeypatch.setattr(emitter, "EVENTS_PER_BUCKET", 1000)
    assert emitter.choose_buckets(events) == 3  # 2510 events
