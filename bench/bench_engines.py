"""Benchmark: pql score (polars engine) vs the same rules hand-written in Polars and DuckDB, and the
duckdb / spark engines. Each variant runs in its own process; peak RSS is that process's ru_maxrss.
Every variant ends as `pql score` does, with the scored users and accounts written to Parquet files
(`scoring.score` writes a snapshot, removed after each run; the hand-written ones write their frames).

BENCH_SCALE=1.0 => 1M users / 125k accounts / 50M events (default 0.1). Data goes to bench/data/.
BENCH_SKIP=spark,duckdb leaves out the variants whose label contains one of the words.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from pqlcli.workspace.buckets import choose_count

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCALE = float(os.environ.get("BENCH_SCALE", "0.1"))
USERS = int(1_000_000 * SCALE)
# stored in the buckets an ingest of that many events chooses (1 up to 12.5M events, 4 at 1M users)
DATA = HERE / "data" / f"engines-{USERS}-b{choose_count(USERS * 50)}"
CONFIG = ROOT / "config" / "pql.yaml"


def ensure_data() -> None:
    from pqlcli.testing import synth_workspace
    from pqlcli.workspace import Workspace

    if (DATA / "users.parquet").exists():
        return
    t = time.perf_counter()
    synth_workspace(Workspace.open(DATA, create=True), users=USERS, accounts=USERS // 8, events=USERS * 50,
                    buckets=choose_count(USERS * 50))
    print(f"generated {USERS:,} users, {USERS * 50:,} events in {time.perf_counter() - t:.1f}s", flush=True)


def _hand_metrics(as_of: Any, data: Path = DATA, signals: bool = True, events: Any = None, signups: Any = None) -> Any:
    """The best hand-written events pass we know: the seven counts (six metrics and the week before
    ``logins_7d``, for the trend) in one group-by over only the events they name (no window filter can
    apply: ``integrations`` has none); active days as its own pass over the 30-day window -- the dates
    as OR-ed bits of one 64-bit word per user, then a popcount (at 1M users faster and half the memory of
    de-duplicating (user, day) pairs; a filtered ``n_unique`` of dates inside the main aggregation keeps
    every date of every user and costs ~2x); and the activation milestone as a pass
    over the three step events joined to the users' signups, all in one streaming ``collect_all``.
    ``signals=False``: the config before issue 14 (no activation pass, no week before for the trend).
    ``events`` / ``signups``: one pass's events and its users' signups (bench_scale's passes), instead of
    every event and user in ``data``.
    """
    import polars as pl

    ts, lit = pl.col("timestamp"), (lambda d: pl.lit(d, dtype=pl.Datetime("us", "UTC")))
    events = (events if events is not None else pl.scan_parquet(data / "events" / "**" / "*.parquet")).select("user_id", "event", "timestamp")
    win = lambda ev, days: ((pl.col("event") == ev) & (ts >= lit(as_of - timedelta(days=days)))).sum()  # noqa: E731
    names = ["project_created", "user_invited", "document_published", "viewed_pricing", "integration_connected", "login"]
    week_before = (pl.col("event") == "login") & (ts >= lit(as_of - timedelta(days=14))) & (ts < lit(as_of - timedelta(days=7)))
    counts = (
        events.filter((ts < lit(as_of)) & pl.col("event").is_in(names))
        .group_by("user_id")
        .agg(
            projects_30d=win("project_created", 30), invites_7d=win("user_invited", 7),
            docs_30d=win("document_published", 30), pricing_views=win("viewed_pricing", 14),
            integrations=(pl.col("event") == "integration_connected").sum(), logins_7d=win("login", 7),
            **({"logins_before": week_before.sum()} if signals else {}),
        )
    )
    first_day = (as_of - timedelta(days=30)).date()  # 31 dates at most: one 64-bit word of day bits
    bit = pl.lit(2, dtype=pl.UInt64).pow((ts.dt.date() - pl.lit(first_day)).dt.total_days().cast(pl.UInt64))
    days = (
        events.filter((ts < lit(as_of)) & (ts >= lit(as_of - timedelta(days=30))))
        .select("user_id", bits=bit)
        .group_by("user_id")
        .agg(pl.col("bits").bitwise_or())
        .select("user_id", active_days_30d=pl.col("bits").bitwise_count_ones())
    )
    steps = ["project_created", "user_invited", "integration_connected"]
    signup = pl.col("signup_at")
    signups = (signups if signups is not None else pl.scan_parquet(data / "users.parquet")).select("user_id", "signup_at").filter(signup.is_not_null())
    activation = (
        events.filter((ts < lit(as_of)) & pl.col("event").is_in(steps))
        .join(signups, on="user_id")
        .filter((ts >= signup) & (ts < signup + timedelta(days=14)))
        .group_by("user_id")
        .agg(activated_steps=pl.col("event").n_unique())
    )
    if not signals:
        counts, days = pl.collect_all([counts, days], engine="streaming")
        return counts.lazy().join(days.lazy(), on="user_id", how="full", coalesce=True)
    counts, days, activation = pl.collect_all([counts, days, activation], engine="streaming")
    out = counts.lazy().join(days.lazy(), on="user_id", how="full", coalesce=True)
    out = out.join(activation.lazy(), on="user_id", how="full", coalesce=True)
    now, before = (pl.col(c).fill_null(0).cast(pl.Int64) for c in ("logins_7d", "logins_before"))
    return out.with_columns(logins_trend=now - before)


def hand_polars(signals: bool = True) -> None:
    """The example config's rules written directly as Polars lazy queries (``signals=False``: the config
    before issue 14, without the activation milestone, the logins trend and their usage rules)."""
    import polars as pl

    from pqlcli.config import load

    as_of = load(CONFIG).as_of()
    metrics = _hand_metrics(as_of, signals=signals)
    out = hand_scored(hand_context(pl.scan_parquet(DATA / "users.parquet"), DATA), metrics, signals).collect(engine="in-memory")
    _write_results(out, hand_accounts(out.lazy()).collect())


def hand_context(users: Any, data: Path = DATA) -> Any:
    """The users with what the rules take from their account and firmographics (orphans joined to the
    account of their email's domain), by hand."""
    import polars as pl

    from pqlcli.util.domains import free_email_domains

    accounts = pl.scan_parquet(data / "accounts.parquet")
    firmo = pl.scan_parquet(data / "firmographics.parquet").filter(pl.col("status") == "found").select(
        "domain", "employees", "raised", "country"
    )
    dom = pl.col("email").str.to_lowercase().str.split("@").list.get(1, null_on_oob=True)
    users = users.with_columns(email_domain=dom).with_columns(is_free_email=pl.col("email_domain").is_in(sorted(free_email_domains())))
    orphan = accounts.filter(pl.col("domain").is_not_null()).group_by("domain").agg(pl.col("account_id").min().alias("oa"))
    users = users.join(orphan, left_on="email_domain", right_on="domain", how="left").with_columns(
        account_id=pl.coalesce("account_id", pl.when(~pl.col("is_free_email")).then(pl.col("oa")))
    )
    users = users.join(accounts.select("account_id", pl.col("plan").alias("aplan"), pl.col("domain")), on="account_id", how="left")
    return users.with_columns(
        plan=pl.coalesce("plan", "aplan"),
        domain=pl.coalesce("domain", pl.when(~pl.col("is_free_email")).then(pl.col("email_domain"))),
    ).join(firmo, on="domain", how="left")


def hand_scored(users: Any, metrics: Any, signals: bool = True) -> Any:
    """``hand_context``'s users with their metrics, fit and usage scores and ``is_pql`` (lazy)."""
    import polars as pl

    users = users.join(metrics, on="user_id", how="left").with_columns(
        pl.col("projects_30d", "invites_7d", "docs_30d", "pricing_views", "integrations", "logins_7d", "active_days_30d",
               *(["logins_trend", "activated_steps"] if signals else [])).fill_null(0)
    )
    if signals:
        users = users.with_columns(activated=pl.col("activated_steps") == 3)
    pts = lambda c, p: pl.when(c).then(p).otherwise(0)  # noqa: E731
    fit = (pts(pl.col("employees") > 100, 30) + pts(pl.col("raised") > 10_000_000, 30)
           + pts(pl.col("country").is_in(["US", "CA", "GB"]), 20) + pts(pl.col("is_free_email"), -20)
           + pts(pl.col("title").str.contains("VP|CTO|Head|Director"), 20)).clip(0, 100)
    usage = ((pl.col("projects_30d") * 5).clip(upper_bound=25) + (pl.col("invites_7d") * 10).clip(upper_bound=30)
             + (pl.col("docs_30d") * 2).clip(upper_bound=20) + pts(pl.col("pricing_views") > 0, 15)
             + pts(pl.col("integrations") > 0, 10) + pts(pl.col("logins_7d") == 0, -10)
             + (pts(pl.col("activated"), 10) + pts(pl.col("logins_trend") > 0, 5) if signals else 0)).clip(0, 100)
    return users.with_columns(fit_score=fit, usage_score=usage).with_columns(
        is_pql=((pl.col("fit_score") >= 50) & (pl.col("usage_score") >= 40) & pl.col("plan").is_in(["free", "trial"])).fill_null(False)
    )


def hand_accounts(users: Any) -> Any:
    """The account roll-up of the scored users (lazy)."""
    import polars as pl

    return users.filter(pl.col("account_id").is_not_null()).group_by("account_id").agg(
        pl.len().alias("users"), pl.col("is_pql").sum().alias("pql_users"), pl.col("projects_30d").sum()
    ).with_columns(pqa=pl.col("pql_users") / pl.col("users") >= 0.5)


def _write_results(users: Any, accounts: Any) -> None:
    """Every variant ends as `pql score` does: the scored users and accounts in Parquet files."""
    with tempfile.TemporaryDirectory(prefix="bench-out-") as tmp:
        users.write_parquet(Path(tmp) / "users.parquet", statistics=False)
        accounts.write_parquet(Path(tmp) / "accounts.parquet", statistics=False)
    print(users.height, accounts.height)


def hand_duckdb() -> None:
    if str(ROOT) not in sys.path:  # the differential module imports `tests.paths`
        sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location("diff", ROOT / "tests" / "equivalence" / "test_differential.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from pqlcli.config import load
    from pqlcli.workspace import Workspace

    users, accounts = mod.hand_written(Workspace.open(DATA), load(CONFIG).as_of())
    _write_results(users, accounts)


def pql_engine(name: str) -> None:
    from pqlcli import config, scoring
    from pqlcli.workspace import Workspace

    r = scoring.score(Workspace.open(DATA), config.load(CONFIG), engine=name)  # writes a snapshot, as `pql score`
    shutil.rmtree(r.snapshot)
    print(r.stats["users"], r.stats["accounts"])


VARIANTS = {
    "pql score (polars)": lambda: pql_engine("polars"),
    "hand-written Polars": hand_polars,
    "hand-written DuckDB": hand_duckdb,
    "pql --engine duckdb": lambda: pql_engine("duckdb"),
    "pql --engine spark": lambda: pql_engine("spark"),
}
REPEAT = int(os.environ.get("BENCH_REPEAT", "2"))  # best of N runs, each in a fresh process


def child(label: str) -> None:
    t = time.perf_counter()
    VARIANTS[label]()
    print(f"__TIME__ {time.perf_counter() - t:.3f}")
    print(f"__RSS__ {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")  # KiB on Linux


def _print_table(results: dict[str, tuple[float, float, float]]) -> None:
    base_pl = results.get("hand-written Polars", (float("nan"), 0, 0))[0]
    base_db = results.get("hand-written DuckDB", (float("nan"), 0, 0))[0]
    ratio = lambda a, b: "—" if b != b else f"{a / b:.2f}x"  # noqa: E731  (b != b: NaN, the baseline did not run)
    print(f"\n{USERS:,} users, {USERS // 8:,} accounts, {USERS * 50:,} events")
    print(f"{'variant':<24} {'time s':>8} {'CPU s':>8} {'vs Polars':>10} {'vs DuckDB':>10} {'peak RSS MB':>12}")
    for label, (secs, rss, cpu) in results.items():
        print(f"{label:<24} {secs:>8.2f} {cpu:>8.2f} {ratio(secs, base_pl):>10} {ratio(secs, base_db):>10} {rss:>12.0f}")


# issue 12's goals for `pql score` (ratios in the same run; RSS at BENCH_SCALE=1.0)
GOALS = (("hand-written Polars", 1.0), ("hand-written DuckDB", 0.5))
RSS_GOAL_MB = 1024


def _print_goals(results: dict[str, tuple[float, float, float]]) -> None:
    pql = results.get("pql score (polars)")
    if pql is None:
        print("goals: pql score did not run")
        return
    print("\ngoal                                   measured   goal    met")
    for base, goal in GOALS:
        if base in results:
            ratio = pql[0] / results[base][0]
            print(f"{'pql score / ' + base:<38} {ratio:>7.2f}x  <= {goal:.1f}x  {'✓' if ratio <= goal else '✗'}")
    note = "" if SCALE >= 1.0 else f"  (at BENCH_SCALE={SCALE}; the goal is for 1.0)"
    met = "✓" if pql[1] <= RSS_GOAL_MB else "✗"
    print(f"{'pql score peak RSS':<38} {pql[1]:>6.0f}MB  <= {RSS_GOAL_MB}MB  {met}{note}")


def _run_child(label: str) -> tuple[float, float, float] | None:
    """(wall seconds, peak RSS MB, CPU seconds) of one run of ``label`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, __file__, "--child", label], capture_output=True, text=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(f"{label}: FAILED\n{proc.stderr[-2000:]}")
        return None
    vals = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("__"))
    rss_kib = float(vals["__RSS__"])
    if "spark" in label:  # the JVM is a child of the Python process
        rss_kib = max(rss_kib, float(after.ru_maxrss))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return float(vals["__TIME__"]), rss_kib / 1024, cpu


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    ensure_data()
    try:
        import pyspark  # noqa: F401
        has_spark = True
    except ImportError:
        has_spark = False
    skip = [w.strip() for w in os.environ.get("BENCH_SKIP", "").split(",") if w.strip()]  # e.g. BENCH_SKIP=spark
    labels = []
    for label in VARIANTS:
        if any(w.lower() in label.lower() for w in skip):
            print(f"{label}: skipped (BENCH_SKIP)")
        elif "spark" in label and not has_spark:
            print(f"{label}: skipped (pip install 'pqlcli[spark]')")
        else:
            labels.append(label)
    # the repeats interleaved (every variant once per round), so a machine that slows down or speeds up
    # over minutes weighs on every variant alike; best of the rounds for each
    results: dict[str, tuple[float, float, float]] = {}
    failed: set[str] = set()
    for r in range(REPEAT):
        for label in labels:
            if label in failed or ("spark" in label and r > 0):
                continue
            run = _run_child(label)
            if run is None:
                failed.add(label)
                continue
            best = results.get(label)
            results[label] = run if best is None or run[0] < best[0] else best
    _print_table(results)
    _print_goals(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
