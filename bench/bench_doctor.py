"""Benchmark: one `pql doctor` vs one `pql score` on the same workspace (the goal: doctor <= 1x score).

At BENCH_SCALE=1.0: 1M users / 125k accounts / 50M events (`make bench` defaults to 0.1). The synthetic
workspace is pqlcli.testing's (shared with bench_backtest at the same scale). Each measurement runs twice,
alternating, and the faster run counts.
"""

from __future__ import annotations

import resource
import sys
import time

from synthetic import CONFIG, EVENTS, SCALE, USERS, workspace


def main() -> int:
    from pqlcli import config, scoring
    from pqlcli.workspace.doctor import diagnose

    ws = workspace()
    loaded = config.load(CONFIG)
    jobs = {"score": lambda: scoring.compute(ws, loaded), "doctor": lambda: diagnose(ws, loaded)}
    runs: dict[str, list[float]] = {name: [] for name in jobs}
    report = None
    for _ in range(2):
        for name, job in jobs.items():
            t = time.perf_counter()
            out = job()
            runs[name].append(time.perf_counter() - t)
            report = out if name == "doctor" else report
    best = {name: min(times) for name, times in runs.items()}
    print(f"{USERS:,} users / {EVENTS:,} events (BENCH_SCALE={SCALE}); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    for name, secs in best.items():
        ratio = "" if name == "score" else f"   ratio to score {secs / best['score']:.2f}x (goal <= 1x)"
        print(f"  {name:<8} {secs:7.2f} s   runs {', '.join(f'{x:.2f}' for x in runs[name])}{ratio}")
    for check in report.checks:  # type: ignore[union-attr]
        print(f"    {check.name:<24} {check.severity:<8} {check.count:>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
