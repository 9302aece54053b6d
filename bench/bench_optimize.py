"""Benchmark: `pql score` before and after `pql optimize` (event parts rewritten in time order).

The synthetic events are in random time order, as an unsorted export would be ingested. The workspace of
bench_engines is copied, the copy optimized (`pql optimize`, timed in its own process), then both are
scored with config/pql.yaml (`scoring.score`), each run in a fresh process, interleaved, best of
BENCH_REPEAT (default 3). Prints the optimize cost, the events' size on disk and the score ratio
(after / before; lower is better). No goal: docs/performance.md, "Events in time order".

BENCH_SCALE=1.0 => 1M users / 125k accounts / 50M events (default 0.1).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bench_engines
from bench_engines import DATA, USERS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
COPY = HERE / "data" / f"optimized-{USERS}"


def child(workspace: str) -> None:
    from pqlcli import config, scoring
    from pqlcli.workspace import Workspace

    t, c = time.perf_counter(), time.process_time()
    result = scoring.score(Workspace.open(workspace), config.load(ROOT / "config" / "pql.yaml"))
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    shutil.rmtree(result.snapshot)
    print(f"{secs:.3f} {cpu:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def score(workspace: Path) -> tuple[float, float, float]:
    proc = subprocess.run([sys.executable, __file__, "--child", str(workspace)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"scoring {workspace} failed:\n{proc.stderr}")
    secs, cpu, rss = proc.stdout.split()
    return float(secs), float(cpu), float(rss)


def size(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 2**20


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    bench_engines.ensure_data()
    shutil.rmtree(COPY, ignore_errors=True)
    shutil.copytree(DATA, COPY, ignore=shutil.ignore_patterns("scores"))
    try:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "pqlcli", "--workspace", str(COPY), "--quiet", "optimize"],
                                stderr=subprocess.PIPE, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"pql optimize failed:\n{proc.stderr.read().decode() if proc.stderr else ''}")
        took = time.perf_counter() - start
        print(f"{USERS:,} users: pql optimize {took:.1f}s (cpu {usage.ru_utime + usage.ru_stime:.1f}s), "
              f"{usage.ru_maxrss / 1024:.0f} MB peak RSS; events on disk {size(DATA / 'events'):.0f} MB -> "
              f"{size(COPY / 'events'):.0f} MB", flush=True)
        runs: dict[Path, list[tuple[float, float, float]]] = {DATA: [], COPY: []}
        for _ in range(REPEAT):  # interleaved, so a machine whose speed drifts weighs on both alike
            for workspace in runs:
                runs[workspace].append(score(workspace))
        before, after = min(runs[DATA]), min(runs[COPY])
        print(f"pql score, random order {before[0]:.2f}s (cpu {before[1]:.1f}s, {before[2]:.0f} MB) | after optimize "
              f"{after[0]:.2f}s (cpu {after[1]:.1f}s, {after[2]:.0f} MB) | ratio {after[0] / before[0]:.2f}x "
              f"(cpu {after[1] / before[1]:.2f}x)")
    finally:
        shutil.rmtree(COPY, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
