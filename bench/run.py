"""Run every benchmark in bench/ (files named bench_*.py), each in its own process.

Scale with BENCH_SCALE (1.0 = the sizes named in the issues; the default 0.1 keeps `make bench`
under a few minutes on a laptop). Each benchmark prints its own table of times, ratios and peak memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = sys.argv[1:]
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(name in s.stem for name in only)]
    env = {**os.environ, "BENCH_SCALE": os.environ.get("BENCH_SCALE", "0.1")}
    failed = 0
    for script in scripts:
        print(f"\n=== {script.stem} (BENCH_SCALE={env['BENCH_SCALE']}) ===", flush=True)
        rc = subprocess.call([sys.executable, str(script)], env=env)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
