"""The synthetic workspace the backtest and doctor benchmarks share (one copy on disk per size).

BENCH_SCALE=1.0 => 1M users / 125k accounts / 50M events (default 0.1).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCALE = float(os.environ.get("BENCH_SCALE", "0.1"))
USERS = max(1_000, int(1_000_000 * SCALE))
EVENTS = USERS * 50
DATA = HERE / "data" / f"backtest-{USERS}"
CONFIG = ROOT / "config" / "pql.yaml"


def workspace():
    """The workspace at DATA, generated on first use."""
    from pqlcli.testing import synth_workspace
    from pqlcli.workspace import Workspace

    if not (DATA / "users.parquet").exists():
        t = time.perf_counter()
        synth_workspace(Workspace.open(DATA, create=True), users=USERS, accounts=USERS // 8, events=EVENTS)
        print(f"generated {USERS:,} users / {EVENTS:,} events in {time.perf_counter() - t:.0f}s", flush=True)
    return Workspace.open(DATA)
