"""Benchmark `pql enrich` against the embedded loopback stub (real HTTP, default client settings).

BENCH_SCALE=0.1 (default) → 10,000 distinct domains; 1.0 → 100,000. The stub's rate limit is off (it is
the default for the `stub` provider). Reports lookups per second and peak memory (RSS). Goal: ≥ 1,000/s.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from pqlcli.enrich import enrich
from pqlcli.workspace import Workspace

GOAL = 1000.0


def main() -> int:
    scale = float(os.environ.get("BENCH_SCALE", "0.1"))
    n = max(100, int(100_000 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "firmographics.csv"
        # 80% of the domains are known to the stub, 20% answer 404 (not found is cached too)
        known = int(n * 0.8)
        pl.DataFrame({
            "domain": [f"company{i:06d}.com" for i in range(known)],
            "name": [f"Company {i}" for i in range(known)],
            "employees": [10 + i % 5000 for i in range(known)],
            "employees_range": ["51-250"] * known,
            "raised": [float(i * 1000) for i in range(known)],
            "annual_revenue": [float(i * 5000) for i in range(known)],
            "country": ["US", "GB", "CA", "DE"] * (known // 4) + ["US"] * (known % 4),
            "industry": ["Software"] * known,
        }).write_csv(data)
        ws = Workspace.open(root / "ws", create=True)
        ws.write_table("accounts", pl.DataFrame({
            "account_id": [str(i) for i in range(n)], "domain": [f"company{i:06d}.com" for i in range(n)],
        }))
        start = time.perf_counter()
        result = enrich(ws, "stub", {"data": str(data)})
        wall = time.perf_counter() - start
        again = time.perf_counter()
        cached = enrich(ws, "stub", {"data": str(data)})
        cached_wall = time.perf_counter() - again
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = result.looked_up / wall
    print(f"{'domains':<28}{n:>12,}")
    print(f"{'found / not found / errors':<28}{result.found:>6,} / {result.not_found:,} / {result.errors:,}")
    print(f"{'wall time (s)':<28}{wall:>12.2f}")
    print(f"{'lookups per second':<28}{rate:>12,.0f}   (goal >= {GOAL:,.0f})")
    print(f"{'re-run, all cached (s)':<28}{cached_wall:>12.2f}   ({cached.cached:,} cached, {cached.looked_up} looked up)")
    print(f"{'peak RSS (MB)':<28}{peak_mb:>12.0f}")
    print(f"{'cpu cores':<28}{os.cpu_count():>12}   load average {os.getloadavg()[0]:.1f}")
    return 0 if result.looked_up == n else 1


if __name__ == "__main__":
    sys.exit(main())
