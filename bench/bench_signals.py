"""Benchmark (issue 14): the example config with the richer signals costs <= 1.2x the config without them.

"without": tests/golden/pin/default.yaml (config/pql.yaml before issue 14: the PRODUCT.md example).
"with": config/pql.yaml (an activation milestone and a logins trend, two usage rules on them) plus an
extra score dimension and routing (written to bench/data/signals.yaml). Both score the same synthetic
workspace with the polars engine, each run in its own process; best of BENCH_REPEAT runs (default 3),
interleaved.

BENCH_SCALE=1.0 => 1M users / 125k accounts / 50M events (default 0.1); data shared with bench_engines.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import bench_engines
from bench_engines import DATA, USERS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
WITHOUT = ROOT / "tests" / "golden" / "pin" / "default.yaml"
WITH = HERE / "data" / "signals.yaml"
LIMIT = 1.2
EXTRA = """
scores:
  marketing:
    - {name: pricing_interest, metric: pricing_views, points: 10, cap: 30}
    - {name: activated_fast,   when: "activated AND activated_days < 7", points: 40}
    - {name: growing,          when: "logins_trend > 0", points: 20}
routing:
  - {when: "country IN ('DE', 'FR', 'NL')", owner: emea@ourco.com}
  - {when: "employees > 1000", owner: enterprise@ourco.com}
  - {round_robin: [ana@ourco.com, ben@ourco.com]}
"""


def ensure_data() -> None:
    WITH.parent.mkdir(parents=True, exist_ok=True)
    WITH.write_text((ROOT / "config" / "pql.yaml").read_text() + EXTRA)
    bench_engines.ensure_data()  # the same workspace as bench_engines


def child(what: str) -> None:
    t = time.perf_counter()
    if what.startswith("hand:"):  # the hand-written Polars of bench_engines, with or without the signals
        bench_engines.hand_polars(signals=what == "hand:with")
        height = USERS
    else:
        from pqlcli import config, scoring
        from pqlcli.workspace import Workspace

        height = scoring.compute(Workspace.open(DATA), config.load(what)).users.height
    secs = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{secs:.3f} {rss:.0f} {height}")


def once(what: str) -> tuple[float, float]:
    proc = subprocess.run([sys.executable, __file__, "--child", what], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{proc.stderr}")
    secs, rss = proc.stdout.split()[-3:-1]
    return float(secs), float(rss)


def best_of_rounds() -> dict[str, tuple[float, float]]:
    """The best run of each variant, the runs interleaved (without, with, without, ...) so that a machine
    whose speed drifts over minutes weighs on all alike. Besides pql's two configs, the hand-written Polars
    of bench_engines without and with the same activation milestone and trend (it has no marketing score
    or routing): what the signals cost the best code we can write by hand, the floor of pql's ratio."""
    runs: dict[str, list[tuple[float, float]]] = {str(WITHOUT): [], str(WITH): [], "hand:without": [], "hand:with": []}
    for _ in range(REPEAT):
        for what in runs:
            runs[what].append(once(what))
    return {what: min(r) for what, r in runs.items()}


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    ensure_data()
    best = best_of_rounds()
    without, with_ = best[str(WITHOUT)], best[str(WITH)]
    ratio = with_[0] / without[0]
    hand = best["hand:with"][0] / best["hand:without"][0]
    print(f"{USERS:,} users: without signals {without[0]:.2f}s ({without[1]:.0f} MB), "
          f"with activation + trend + marketing + routing {with_[0]:.2f}s ({with_[1]:.0f} MB): {ratio:.2f}x "
          f"(goal <= {LIMIT}x {'✓' if ratio <= LIMIT else '✗'})")
    print(f"hand-written Polars, without {best['hand:without'][0]:.2f}s, with the activation milestone and the "
          f"trend {best['hand:with'][0]:.2f}s: {hand:.2f}x (the same signals' cost in the best code we can write)")
    return 0  # a missed goal is a measurement (printed with ✗), not a failed run


if __name__ == "__main__":
    sys.exit(main())
