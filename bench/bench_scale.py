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

Each size is also scored by the best hand-written Polars we know for a workspace stored in buckets
(``hand``, in its own process, alternating with pql; BENCH_REPEAT=n runs both n times, best of n): the
queries of bench_engines' hand-written baseline, run pass by pass over the same stored buckets (as many
per pass as pql puts in one), every user's context built once in memory in chunks of 2M users and split
by pass, each pass's scored users written to its own Parquet file, the accounts rolled up at the end.
It is the floor for goal 2 on this machine: the same work, written by hand, on the same stored events.
BENCH_SKIP=hand leaves it out.
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


def hand(users: int) -> float:
    """The hand-written baseline of a bucketed workspace (module docstring); returns its time, from after
    the imports and the config load, as pql's is timed."""
    import tempfile

    import polars as pl

    sys.path.insert(0, str(HERE))
    from bench_engines import _hand_metrics, hand_accounts, hand_context, hand_scored

    from pqlcli.config import load
    from pqlcli.scoring.polars import _buckets_per_pass
    from pqlcli.workspace.buckets import bucket_expr, bucket_files

    folder, n = data(users), stored_buckets(users)
    as_of = load(CONFIG).as_of()
    t = time.perf_counter()
    files = bucket_files(folder / "events", n) if n > 1 else [sorted((folder / "events").glob("*.parquet"))]
    # as many buckets per pass as pql puts in one (its own rule, from the buckets' row counts)
    per_pass = _buckets_per_pass([pl.scan_parquet(f) if f else pl.LazyFrame(schema={"user_id": pl.String}) for f in files])
    passes = -(-n // per_pass)
    start = time.perf_counter()
    contexts: list[list[pl.DataFrame]] = [[] for _ in range(passes)]
    users_lf = pl.scan_parquet(folder / "users.parquet")
    total = users_lf.select(pl.len()).collect().item()
    for start in range(0, total, 2_000_000):
        chunk = users_lf.slice(start, 2_000_000).collect().lazy()
        ctx = hand_context(chunk, folder).with_columns((bucket_expr(n) // per_pass).alias("__pass")).collect()
        for (p,), part in ctx.partition_by("__pass", as_dict=True, include_key=False).items():
            contexts[p].append(part)
    print(f"__CONTEXT__ {time.perf_counter() - start:.2f}")
    rollup: list[pl.DataFrame] = []
    with tempfile.TemporaryDirectory(prefix="bench-hand-", dir=HERE / "data") as tmp:
        for p in range(passes):
            ctx = pl.concat(contexts[p]) if contexts[p] else None
            contexts[p] = []
            mine = [f for b in range(p * per_pass, min(n, (p + 1) * per_pass)) for f in files[b]]
            if ctx is None or not mine:
                continue
            metrics = _hand_metrics(as_of, events=pl.scan_parquet(mine), signups=ctx.lazy())
            out = hand_scored(ctx.lazy(), metrics).collect(engine="in-memory")
            out.write_parquet(Path(tmp) / f"{p:05d}.parquet", statistics=False)
            rollup.append(out.select("account_id", "is_pql", "projects_30d"))
        accounts = hand_accounts(pl.concat(rollup).lazy()).collect()
        accounts.write_parquet(Path(tmp) / "accounts.parquet", statistics=False)
    elapsed = time.perf_counter() - t
    print(f"__OUT__ {sum(r.height for r in rollup)} users, {accounts.height} accounts")
    return elapsed


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
    if sys.argv[1:2] == ["--hand"]:
        print(f"__TIME__ {hand(int(sys.argv[2])):.2f}")
        print(f"__RSS__ {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
        return 0
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "1")))
    skip_hand = "hand" in os.environ.get("BENCH_SKIP", "") or bool(os.environ.get("BENCH_BUCKETS"))
    print(f"{'users':>12} {'events':>14} {'buckets':>8} {'time s':>8} {'peak RSS MB':>12} {'M events/s':>11}"
          f" {'hand-written s':>15} {'hand RSS MB':>12} {'pql / hand':>11}")
    for users in sizes():
        ensure(users)
        runs: dict[str, list[tuple[float, float]]] = {"--child": [], "--hand": []}
        for _ in range(repeat):  # alternating, so a machine that slows down weighs on both alike
            for mode in ("--child",) if skip_hand else ("--child", "--hand"):
                got = _run(mode, users)
                if got is None:
                    return 1
                runs[mode].append(got)
        secs, rss = min(runs["--child"])
        events = users * 50
        how = os.environ.get("BENCH_BUCKETS", "") + "h" if os.environ.get("BENCH_BUCKETS") else str(stored_buckets(users))
        hand_s, hand_rss = min(runs["--hand"]) if runs["--hand"] else (float("nan"), float("nan"))
        print(f"{users:>12,} {events:>14,} {how:>8} {secs:>8.1f} {rss:>12.0f} {events / secs / 1e6:>11.2f}"
              f" {hand_s:>15.1f} {hand_rss:>12.0f} {secs / hand_s:>10.2f}x", flush=True)
        if users == GOAL_USERS:
            print(f"goal: 10M users scored in {secs:.0f}s < {GOAL_SECONDS:.0f}s {'✓' if secs < GOAL_SECONDS else '✗'}, "
                  f"peak RSS {rss / 1024:.2f} GB <= {GOAL_RSS_MB / 1024:.0f} GB {'✓' if rss <= GOAL_RSS_MB else '✗'}"
                  f" (the hand-written floor in the same run: {hand_s:.0f}s)")
    return 0


def _run(mode: str, users: int) -> tuple[float, float] | None:
    """(wall seconds, peak RSS MB) of one scoring of ``users`` in a fresh process (``--child``: pql,
    ``--hand``: the hand-written baseline)."""
    proc = subprocess.run([sys.executable, __file__, mode, str(users)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(f"{users:>12,} {mode} FAILED\n{proc.stderr[-3000:]}")
        return None
    vals = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("__"))
    return float(vals["__TIME__"]), float(vals["__RSS__"])


if __name__ == "__main__":
    sys.exit(main())
