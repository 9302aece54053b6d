"""Deterministic synthetic exports for benchmarks: ``generate(out, users=N, seed=S)``.

Writes ``users.csv``, ``accounts.csv`` (about users/8) and ``events.csv`` (about 50 per user, over the 90
days before 2026-11-01) in chunks, so 1M users / 50M events need no more memory than one chunk. Values
come from hashing (seed, row number), so the same arguments always give the same bytes.

Outcomes follow a PLG funnel: most users belong to the account of their "band" of user numbers, and
low user numbers make most events, so low account numbers are the engaged ones. An account converts
(``converted_at`` in the 60 days before 2026-11-01) with a chance that grows with its engagement and its
size (``employees``), with noise, so a backtest finds the score predictive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
EVENT_NAMES = ["login", "page_viewed", "document_published", "project_created", "user_invited",
               "viewed_pricing", "integration_connected", "comment_added"]
PLANS = ["free", "free", "free", "trial", "team", "enterprise"]
TITLES = ["Software Engineer", "Product Manager", "Designer", "VP Engineering", "CTO", "Head of Growth",
          "Data Analyst", "Director of IT", "Founder", ""]
OWNERS = ["ana@ourco.com", "ben@ourco.com", "chloe@ourco.com", "dan@ourco.com", ""]
CHUNK = 1_000_000


@dataclass
class Generated:
    users: int
    accounts: int
    events: int
    folder: Path


def _rand(idx: pl.Expr, seed: int, salt: int) -> pl.Expr:
    """A uniform UInt64 per row, from (seed, salt, row number)."""
    return (idx * 1_000_003 + salt).hash(seed)


def _pick(values: list[str], idx: pl.Expr, seed: int, salt: int) -> pl.Expr:
    return pl.lit(pl.Series(values)).gather((_rand(idx, seed, salt) % len(values)).cast(pl.Int64))


def _converted_at(idx: pl.Expr, n_accounts: int, seed: int, as_of_us: int, day_us: int) -> pl.Expr:
    """Engaged (low-numbered) and big accounts convert more often; the day is uniform over 60 days."""
    rank = idx.cast(pl.Float64) / n_accounts
    size = pl.when(_rand(idx, seed, 4) % 5000 + 1 > 100).then(1.0).otherwise(0.3)
    chance = (1 - rank).pow(6) * 0.7 * size
    draw = (_rand(idx, seed, 5) % 1_000_000).cast(pl.Float64) / 1_000_000
    when = pl.lit(as_of_us) - (_rand(idx, seed, 6) % (60 * day_us)).cast(pl.Int64)
    return pl.when(draw < chance).then(when).otherwise(None).cast(pl.Datetime("us", "UTC"))


def _write(frame: pl.DataFrame, fh, first: bool) -> None:
    frame.write_csv(fh, include_header=first, datetime_format="%Y-%m-%dT%H:%M:%S%.3fZ")


def generate(out: str | Path, users: int = 10_000, seed: int = 42, events_per_user: int = 50) -> Generated:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    n_accounts = max(1, users // 8)
    n_events = users * events_per_user
    as_of_us = int(AS_OF.timestamp() * 1_000_000)
    day_us = 86_400 * 1_000_000

    with open(folder / "accounts.csv", "wb") as fh:
        for start in range(0, n_accounts, CHUNK):
            idx = pl.int_range(start, min(n_accounts, start + CHUNK), dtype=pl.Int64)
            frame = pl.select(
                account_id=pl.format("acc_{}", idx),
                name=pl.format("Company {}", idx),
                domain=pl.format("company{}.example", idx),
                plan=_pick(PLANS, idx, seed, 1),
                owner=_pick(OWNERS, idx, seed, 2),
                created_at=pl.lit(as_of_us) - (_rand(idx, seed, 3) % (700 * day_us)).cast(pl.Int64),
                employees=(_rand(idx, seed, 4) % 5000 + 1).cast(pl.Int64),
                converted_at=_converted_at(idx, n_accounts, seed, as_of_us, day_us),
            ).with_columns(pl.col("created_at").cast(pl.Datetime("us", "UTC")))
            # nobody buys before the account exists
            frame = frame.with_columns(converted_at=pl.when(pl.col("converted_at") > pl.col("created_at")).then("converted_at"))
            _write(frame, fh, start == 0)

    with open(folder / "users.csv", "wb") as fh:
        for start in range(0, users, CHUNK):
            idx = pl.int_range(start, min(users, start + CHUNK), dtype=pl.Int64)
            # three users in four belong to the account of their band of user numbers
            banded = _rand(idx, seed, 15) % 4 != 0
            account = pl.when(banded).then(idx * n_accounts // users).otherwise(
                (_rand(idx, seed, 10) % n_accounts).cast(pl.Int64)
            )
            free_mail = _rand(idx, seed, 11) % 10 == 0
            frame = pl.select(
                user_id=pl.format("u{}", idx),
                email=pl.when(free_mail).then(pl.format("user{}@gmail.com", idx))
                .otherwise(pl.format("user{}@company{}.example", idx, account)),
                name=pl.format("User {}", idx),
                title=_pick(TITLES, idx, seed, 12),
                signup_at=pl.lit(as_of_us) - (_rand(idx, seed, 13) % (365 * day_us)).cast(pl.Int64),
                plan=_pick(PLANS, idx, seed, 14),
                account_id=pl.when(free_mail).then(None).otherwise(pl.format("acc_{}", account)),
            ).with_columns(pl.col("signup_at").cast(pl.Datetime("us", "UTC")))
            _write(frame, fh, start == 0)

    with open(folder / "events.csv", "wb") as fh:
        for start in range(0, n_events, CHUNK):
            idx = pl.int_range(start, min(n_events, start + CHUNK), dtype=pl.Int64)
            # a skewed user: a few users make most events
            user = ((_rand(idx, seed, 20) % 1_000_000).cast(pl.Float64) / 1_000_000).pow(2) * users
            frame = pl.select(
                event_id=pl.format("e{}", idx),
                user_id=pl.format("u{}", user.floor().cast(pl.Int64)),
                event=_pick(EVENT_NAMES, idx, seed, 21),
                timestamp=(pl.lit(as_of_us) - (_rand(idx, seed, 22) % (90 * day_us)).cast(pl.Int64))
                .cast(pl.Datetime("us", "UTC")),
            )
            _write(frame, fh, start == 0)
    return Generated(users, n_accounts, n_events, folder)
