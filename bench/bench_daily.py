"""Benchmark: the daily cron -- ingest one day of new events + score -- against a full ingest + score.

Issue 12 goal 3. Users = BENCH_DAILY_USERS, else BENCH_SCALE x 1M (default 0.1: 100k); accounts = users / 8;
the history is 50 events per user over the 90 days before 2026-10-31, the new day ~0.55 events per user on
2026-10-31 (a 90th of the history), both Parquet exports with event ids. Steps, each in its own process
(time = wall clock, memory = that process's peak RSS, CPU = user + sys of all threads):

  full   pql ingest of the history into a fresh workspace (users and accounts ingested before, untimed),
         then pql score (the example config, as_of 2026-11-01; a snapshot is written)
  daily  pql ingest of the new day into that workspace (its ids checked against its own buckets, only
         the stored row groups of the same time span read), then pql score again

The events table gets pql's own bucket count for its size (one bucket per 50M events, a power of two);
BENCH_BUCKETS=N forces N (e.g. 8 at 100k users to see the bucketed path at a small size). The ingest
figures are the events ingest alone; a real daily run also ingests that day's users/accounts exports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCALE = float(os.environ.get("BENCH_SCALE", "0.1"))
USERS = int(os.environ.get("BENCH_DAILY_USERS") or max(1000, int(1_000_000 * SCALE)))
BUCKETS = int(os.environ["BENCH_BUCKETS"]) if os.environ.get("BENCH_BUCKETS") else None
DATA = HERE / "data" / f"daily-{USERS}"
CONFIG = ROOT / "config" / "pql.yaml"
DAY = datetime(2026, 10, 31, tzinfo=UTC)
GOAL = 0.5  # "far cheaper": the daily run at most half the full one

INGEST = """
import sys
from pqlcli.ingest import IngestOptions, ingest
buckets = int(sys.argv[4]) if sys.argv[4] != "auto" else None
r = ingest(sys.argv[1], sys.argv[2], [sys.argv[3]], options=IngestOptions(buckets=buckets))
print(f"added {r.added:,}, duplicates {r.duplicates:,}, total {r.total_rows:,}", file=sys.stderr)
"""
FIRMOGRAPHICS = """
import sys, polars as pl
from pqlcli.workspace import Workspace
Workspace.open(sys.argv[1]).write_table("firmographics", pl.read_parquet(sys.argv[2]))
"""


def generate() -> None:
    import polars as pl

    from pqlcli.testing import accounts_frame, events_frame, firmographics_frame, users_frame

    if (DATA / "day.parquet").exists():
        return
    t = time.perf_counter()
    tmp = DATA.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    accounts = max(1, USERS // 8)
    users_frame(USERS, accounts, 7, DAY).sink_parquet(tmp / "users.parquet")
    accounts_frame(accounts, 7, DAY).sink_parquet(tmp / "accounts.parquet")
    firmographics_frame(accounts, 7, DAY).sink_parquet(tmp / "firmographics.parquet")  # the enrichment cache
    history = events_frame(USERS, USERS * 50, 7, DAY).filter(pl.col("timestamp") < DAY)  # 2% fell after: dropped
    history.drop("account_id").sink_parquet(tmp / "history.parquet")
    day_rows = max(100, USERS * 50 // 90)
    seconds = (pl.int_range(0, pl.len(), dtype=pl.Int64) * 7919) % 86_400
    day = (events_frame(USERS, day_rows, 8, DAY, offset=USERS * 50)
           .with_columns(event_id=pl.format("d{}", pl.int_range(0, pl.len())),
                         timestamp=(pl.lit(DAY) + pl.duration(seconds=seconds)).cast(pl.Datetime("us", "UTC"))))
    day.drop("account_id").sink_parquet(tmp / "day.parquet")
    tmp.rename(DATA)
    print(f"generated {USERS:,} users / {USERS * 50:,} history events / {day_rows:,} new-day events "
          f"in {time.perf_counter() - t:.0f}s", flush=True)


def run(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, peak RSS in MiB, CPU seconds, stderr tail) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-3000:]}")
    note = err.strip().splitlines()[-1] if err.strip().startswith("added") else ""
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, note


def main() -> int:
    generate()
    with tempfile.TemporaryDirectory(dir=HERE / "data") as work:
        ws = str(Path(work) / "ws")
        ingest = lambda table, name, buckets="auto": run(  # noqa: E731
            [sys.executable, "-c", INGEST, ws, table, str(DATA / name), buckets])
        score = [sys.executable, "-m", "pqlcli", "--workspace", ws, "score", "--config", str(CONFIG)]
        ingest("accounts", "accounts.parquet")
        ingest("users", "users.parquet")
        run([sys.executable, "-c", FIRMOGRAPHICS, ws, str(DATA / "firmographics.parquet")])
        steps = {
            "full: ingest history": ingest("events", "history.parquet", str(BUCKETS) if BUCKETS else "auto"),
            "full: score": run(score),
            "daily: ingest one day": ingest("events", "day.parquet"),
            "daily: score": run(score),
        }
        from pqlcli.workspace import Workspace

        n = Workspace.open(ws).event_bucket_count()
    print(f"{USERS:,} users, {USERS * 50:,} history events, events stored in {n} bucket(s); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'step':24s} {'time s':>8s} {'CPU s':>8s} {'peak RSS MB':>12s}")
    for name, (secs, rss, cpu, note) in steps.items():
        print(f"{name:24s} {secs:8.2f} {cpu:8.2f} {rss:12.0f}  {note}")
    full = steps["full: ingest history"][0] + steps["full: score"][0]
    daily = steps["daily: ingest one day"][0] + steps["daily: score"][0]
    full_cpu = steps["full: ingest history"][2] + steps["full: score"][2]
    daily_cpu = steps["daily: ingest one day"][2] + steps["daily: score"][2]
    ratio = daily / full
    print(f"\nfull ingest + score {full:.1f}s (CPU {full_cpu:.1f}s); ingest one day + score {daily:.1f}s "
          f"(CPU {daily_cpu:.1f}s)")
    print(f"goal: (ingest one day + score) / (full ingest + score) {ratio:.2f}x (CPU {daily_cpu / full_cpu:.2f}x)"
          f"  <= {GOAL:.1f}x  {'✓' if ratio <= GOAL else '✗'}"
          + ("" if USERS >= 10_000_000 else f"  (at {USERS:,} users, where the score's fixed costs weigh most; the goal is "
             "for 10M users: BENCH_DAILY_USERS=10000000, 0.37x in docs/performance.md)"))
    print(f"      the day's ingest alone: {steps['daily: ingest one day'][0] / steps['full: ingest history'][0]:.3f}x "
          "the full ingest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
