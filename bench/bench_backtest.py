"""Benchmark: one `pql backtest` replay vs one `pql score` on the same workspace (the goal: <= 1.5x).

At BENCH_SCALE=1.0: 1M users / 125k accounts / 50M events (`make bench` defaults to 0.1). The synthetic
workspace (pqlcli.testing) has converted_at on a fifth of the accounts in the 60 days before as_of and
events over the 90 days before it. Two replays, at user level with a 60-day horizon: as of 60 days before
as_of (it reads a third of the events) and as of 7 days before (nearly all of them: the worst case for the
ratio). Each measurement runs twice, alternating, and the faster run counts.
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import timedelta

from synthetic import CONFIG, EVENTS, SCALE, USERS, workspace


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> int:
    from pqlcli import config, scoring
    from pqlcli.scoring import Inputs
    from pqlcli.scoring import backtest as bt

    ws = workspace()
    loaded = config.load(CONFIG)
    as_of = loaded.as_of()
    specs = {f"backtest as of -{n}d": bt.BacktestSpec(as_of - timedelta(days=n), timedelta(days=60), "user", min_conversions=1)
             for n in (60, 7)}
    jobs = {"score": lambda: scoring.compute(ws, loaded)}
    for name, spec in specs.items():
        jobs[name] = lambda spec=spec: bt.run_backtest(loaded, Inputs.from_workspace(ws), spec)
    runs: dict[str, list[float]] = {name: [] for name in jobs}
    reports: dict[str, object] = {}
    for _ in range(2):
        for name, job in jobs.items():
            secs, reports[name] = timed(job)
            runs[name].append(secs)
    best = {name: min(times) for name, times in runs.items()}
    print(f"{USERS:,} users / {EVENTS:,} events (BENCH_SCALE={SCALE}); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    for name, secs in best.items():
        ratio = "" if name == "score" else f"   ratio to score {secs / best['score']:.2f}x (goal <= 1.5x)"
        print(f"  {name:<24} {secs:7.2f} s   runs {', '.join(f'{x:.2f}' for x in runs[name])}{ratio}")
        if name != "score":
            r: dict = reports[name]  # type: ignore[assignment]
            print(f"  {'':<24} {r['records']:,} evaluated, {r['converted']:,} converted, Tier 1 lift {r['tiers']['tier1']['lift']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
