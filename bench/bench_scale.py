"""Benchmark: does `pql score` complete on 10M users / 1.25M accounts / 500M events on this machine?

Opt-in (it generates ~15 GB of Parquet and takes a while): BENCH_HUGE=1 python bench/bench_scale.py
(`make bench` runs it only with BENCH_HUGE=1). BENCH_HUGE_USERS changes the size (events = 50 per user).
Reports generation time, scoring time, events per second and the scoring process's peak RSS.
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
USERS = int(os.environ.get("BENCH_HUGE_USERS", "10000000"))
DATA = HERE / "data" / f"scale-{USERS}"
CONFIG = ROOT / "config" / "pql.yaml"


def child() -> None:
    from pqlcli import config, scoring
    from pqlcli.workspace import Workspace

    t = time.perf_counter()
    result = scoring.compute(Workspace.open(DATA), config.load(CONFIG))
    secs = time.perf_counter() - t
    tiers = dict(sorted(result.users.group_by("tier").len().iter_rows()))
    print(f"__TIME__ {secs:.1f}")
    print(f"__RSS__ {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    print(f"__OUT__ {result.users.height} users, {result.accounts.height} accounts, tiers {tiers}")


def main() -> int:
    if sys.argv[1:] == ["--child"]:
        child()
        return 0
    if not os.environ.get("BENCH_HUGE"):
        print("skipped: set BENCH_HUGE=1 to score 10M users / 500M events (generates ~15 GB in bench/data/)")
        return 0
    from pqlcli.testing import synth_workspace
    from pqlcli.workspace import Workspace

    events = USERS * 50
    if not (DATA / "users.parquet").exists():
        t = time.perf_counter()
        synth_workspace(Workspace.open(DATA, create=True), users=USERS, accounts=USERS // 8, events=events, chunk=10_000_000)
        print(f"generated {USERS:,} users / {events:,} events in {time.perf_counter() - t:.0f}s", flush=True)
    proc = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(f"FAILED\n{proc.stderr[-3000:]}")
        return 1
    vals = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("__"))
    secs = float(vals["__TIME__"])
    print(f"pql score: {USERS:,} users / {events:,} events in {secs:.0f}s ({events / secs / 1e6:.1f}M events/s), "
          f"peak RSS {float(vals['__RSS__']):.0f} MB; {vals['__OUT__']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
