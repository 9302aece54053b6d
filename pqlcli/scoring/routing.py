"""Routing: who owns a record whose ``owner`` is NULL — applied once, after scoring, for every engine.

Rules come from the config's ``routing:`` list (checked into :class:`RoutePlan` by ``plan.py``); the
first rule whose condition holds gives ``routed_owner``; a ``round_robin`` rule picks one of its owners
by rendezvous hashing (highest random weight) of a stable hash of the record's id: xxHash64 (seed 0,
through polars-hash) of ``owner + "\\0" + id``, computed as one vectorised expression. The same record gets the same owner on every run, on every machine and Polars
version, and adding an owner moves only the records the new owner wins (about 1/n of them).

This runs on the scored frames every engine returns (``scoring.run``), not inside the emitters: SQL
dialects and Polars share no stable hash function (Polars' ``hash`` changes between versions), so one
shared place keeps the engines equal. ``pql sql`` therefore leaves routing out (docs/config.md).
Columns: ``routed_owner`` (the rule's owner, NULL when the record has an owner or no rule matched),
``assigned_owner = coalesce(owner, routed_owner)`` and ``routed`` (true when assigned_owner came from
routing).
"""

from __future__ import annotations

from typing import Any, TypeVar

import polars as pl
from polars_hash import NonCryptographicHashingNameSpace

from pqlcli.scoring.conditions import polars_expr
from pqlcli.scoring.plan import RoutePlan

ROUTING_COLUMNS = {"routed_owner": pl.String(), "assigned_owner": pl.String(), "routed": pl.Boolean()}


def _weight(owner: str, record_id: pl.Expr) -> pl.Expr:
    """The rendezvous weight of ``owner`` for each record id: xxHash64 of ``owner + "\\0" + id``."""
    return NonCryptographicHashingNameSpace(pl.concat_str([pl.lit(f"{owner}\0"), record_id])).xxhash64()


def round_robin(owners: tuple[str, ...], record_id: pl.Expr) -> pl.Expr:
    """The owner with the highest weight for each id (rendezvous hashing); a tie, which practically never
    happens, goes to the greatest owner name."""
    weights = [(o, _weight(o, record_id)) for o in sorted(owners, reverse=True)]
    top = pl.max_horizontal([w for _, w in weights])
    return pl.coalesce([pl.when(w == top).then(pl.lit(o, dtype=pl.String)) for o, w in weights])


def weight(owner: str, record_id: str) -> int:
    """One weight, for checks and docs (the same expression as scoring uses)."""
    return int(pl.select(_weight(owner, pl.lit(record_id, dtype=pl.String))).item())


def pick(owners: tuple[str, ...], record_id: str) -> str:
    """The owner one record gets: the highest weight (a plain-Python reading of :func:`round_robin`)."""
    return max(owners, key=lambda o: (weight(o, record_id), o))


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def route(frame: Frame, routes: list[RoutePlan], key: str, nulls: dict[str, Any] | None = None) -> Frame:
    """``frame`` (eager or lazy) with routed_owner, assigned_owner and routed (see the module docstring)."""
    columns = frame.collect_schema().names()
    owner = pl.col("owner").cast(pl.String) if "owner" in columns else pl.lit(None, dtype=pl.String)
    unowned = owner.is_null() | (owner.str.strip_chars() == "")
    chain: Any = pl
    for r in routes:  # first match wins: one when/then chain, evaluated on all rows at once
        hit = pl.lit(True) if r.when is None else polars_expr(r.when).fill_null(False)
        value = pl.lit(r.owner, dtype=pl.String) if r.owner is not None else round_robin(r.round_robin or (), pl.col(key))
        chain = chain.when(hit).then(value)
    routed = chain.otherwise(pl.lit(None, dtype=pl.String)) if routes else pl.lit(None, dtype=pl.String)
    extra = {c: d for c, d in (nulls or {}).items() if c not in columns}
    out = frame.with_columns([pl.lit(None, dtype=d).alias(c) for c, d in extra.items()])
    out = out.with_columns(routed_owner=pl.when(unowned).then(routed)).drop(list(extra))
    return out.with_columns(
        assigned_owner=pl.coalesce(pl.when(~unowned).then(owner), pl.col("routed_owner")),
        routed=unowned & pl.col("routed_owner").is_not_null(),
    )


__all__ = ["ROUTING_COLUMNS", "Frame", "pick", "round_robin", "route", "weight"]
