"""Benchmark: how `pql score` grows with the data -- the scaling table of docs/performance.md.

Sizes (users; accounts = users / 8, events = 50 per user) come from BENCH_SIZES, a comma list. By default
`make bench` scores BENCH_SCALE x (100k, 300k) users, which takes a minute; the table in
docs/performance.md is `BENCH_SIZES=100000,1000000,3000000,10000000` (10M generates ~15 GB into
bench/data/; BENCH_HUGE=1 is the old switch for 10M alone). The events are STORED in the buckets a `pql
ingest` of that size would choose (one per 50M events, a power of two: 1 up to 1M users, 4 at 3M, 16 at
10M; BENCH_STORED_BUCKETS=N forces N) and scored one stored bucket at a time. BENCH_BUCKETS=N instead scores
by hash-filtering the whole table into N buckets (the path for a workspace stored flat). Each size is scored
in its own process, as `pql score` runs it (`scoring.score`: score and write the snapshot, which is
removed afterwards); peak RSS is that process's ru_maxrss. Cost should grow linearly: events/s stays about
flat. Issue 12 goal 2 (10M users: < 90 s, <= 4 GB) is printed with ✓/✗ when 10M is among the sizes.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCALE = float(os.environ.get("BENCH_SCALE", "0.1"))
CONFIG = ROOT / "config" / "pql.yaml"


def sizes() -> list[int]:
    if os.environ.get("BENCH_SIZES"):
        return [int(float(s)) for s in os.environ["BENCH_SIZES"].split(",")]
    if os.environ.get("BENCH_HUGE"):
        return [int(os.environ.get("BENCH_HUGE_USERS", "10000000"))]
    return [max(1000, int(100_000 * SCALE)), max(3000, int(300_000 * SCALE))]


GOAL_USERS, GOAL_SECONDS, GOAL_RSS_MB = 10_000_000, 90.0, 4096.0


def stored_buckets(users: int) -> int:
    from pqlcli.workspace.buckets import choose_count

    forced = os.environ.get("BENCH_STORED_BUCKETS")
    return int(forced) if forced else choose_count(users * 50)


def data(users: int) -> Path:
    n = stored_buckets(users)
    return HERE / "data" / (f"scale-{users}" if n == 1 else f"scale-{users}-b{n}")


def child(users: int) -> None:
    from pqlcli import config, scoring
    from pqlcli.workspace import Workspace

    loaded = config.load(CONFIG)
    ws = Workspace.open(data(users))
    t = time.perf_counter()
    if os.environ.get("BENCH_BUCKETS"):  # the hash-filter path, in memory (no snapshot)
        frames = scoring.run(loaded, scoring.Inputs.from_workspace(ws), loaded.as_of(), buckets=int(os.environ["BENCH_BUCKETS"]))
        counts = (frames.users.height, frames.accounts.height)
    else:  # what `pql score` does: score and write the snapshot (removed afterwards)
        result = scoring.score(ws, loaded)
        counts = (result.stats["users"], result.stats["accounts"])
    print(f"__TIME__ {time.perf_counter() - t:.2f}")
    print(f"__RSS__ {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    print(f"__OUT__ {counts[0]} users, {counts[1]} accounts")
    if not os.environ.get("BENCH_BUCKETS"):
        import shutil

        shutil.rmtree(result.snapshot)


def ensure(users: int) -> None:
    from pqlcli.testing import synth_workspace
    from pqlcli.workspace import Workspace

    if (data(users) / "users.parquet").exists():
        return
    t = time.perf_counter()
    synth_workspace(Workspace.open(data(users), create=True), users=users, accounts=users // 8, events=users * 50,
                    chunk=10_000_000, buckets=stored_buckets(users))
    print(f"generated {users:,} users / {users * 50:,} events in {time.perf_counter() - t:.0f}s", flush=True)


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
        return 0
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    print(f"{'users':>12} {'events':>14} {'buckets':>8} {'time s':>8} {'peak RSS MB':>12} {'M events/s':>11}")
    for users in sizes():
        ensure(users)
        proc = subprocess.run([sys.executable, __file__, "--child", str(users)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print(f"{users:>12,} FAILED\n{proc.stderr[-3000:]}")
            return 1
        vals = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("__"))
        secs, events, rss = float(vals["__TIME__"]), users * 50, float(vals["__RSS__"])
        how = os.environ.get("BENCH_BUCKETS", "") + "h" if os.environ.get("BENCH_BUCKETS") else str(stored_buckets(users))
        print(f"{users:>12,} {events:>14,} {how:>8} {secs:>8.1f} {rss:>12.0f} {events / secs / 1e6:>11.2f}", flush=True)
        if users == GOAL_USERS:
            print(f"goal: 10M users scored in {secs:.0f}s < {GOAL_SECONDS:.0f}s {'✓' if secs < GOAL_SECONDS else '✗'}, "
                  f"peak RSS {rss / 1024:.2f} GB <= {GOAL_RSS_MB / 1024:.0f} GB {'✓' if rss <= GOAL_RSS_MB else '✗'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
