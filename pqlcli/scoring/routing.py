"""Routing: who owns a record whose ``owner`` is NULL — applied once, after scoring, for every engine.

Rules come from the config's ``routing:`` list (checked into :class:`RoutePlan` by ``plan.py``); the
first rule whose condition holds gives ``routed_owner``; a ``round_robin`` rule picks one of its owners
by rendezvous hashing (highest random weight) of a stable hash of the record's id: BLAKE2b-64 of
``owner + "\\0" + id``. The same record gets the same owner on every run, on every machine and Polars
version, and adding an owner moves only the records the new owner wins (about 1/n of them).

This runs on the scored frames every engine returns (``scoring.run``), not inside the emitters: SQL
dialects and Polars share no stable hash function (Polars' ``hash`` changes between versions), so one
shared place keeps the engines equal. ``pql sql`` therefore leaves routing out (docs/config.md).
Columns: ``routed_owner`` (the rule's owner, NULL when the record has an owner or no rule matched),
``assigned_owner = coalesce(owner, routed_owner)`` and ``routed`` (true when assigned_owner came from
routing).
"""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl

from pqlcli.scoring.conditions import polars_expr
from pqlcli.scoring.plan import RoutePlan

ROUTING_COLUMNS = {"routed_owner": pl.String(), "assigned_owner": pl.String(), "routed": pl.Boolean()}


def weight(owner: str, record_id: str) -> int:
    """The rendezvous weight of ``owner`` for ``record_id``: a stable 64-bit hash."""
    return int.from_bytes(hashlib.blake2b(f"{owner}\0{record_id}".encode(), digest_size=8).digest(), "big")


def pick(owners: tuple[str, ...], record_id: str) -> str:
    """The owner with the highest weight for this id (rendezvous hashing)."""
    return max(owners, key=lambda o: (weight(o, record_id), o))


def _round_robin(ids: pl.Series, owners: tuple[str, ...]) -> pl.Series:
    # one hash per (owner, record) that reaches this rule; ids repeat rarely, so no cache
    return pl.Series([None if i is None else pick(owners, i) for i in ids.to_list()], dtype=pl.String)


def route(frame: pl.DataFrame, routes: list[RoutePlan], key: str, nulls: dict[str, Any] | None = None) -> pl.DataFrame:
    """``frame`` with routed_owner, assigned_owner and routed (see the module docstring)."""
    owner = pl.col("owner").cast(pl.String) if "owner" in frame.columns else pl.lit(None, dtype=pl.String)
    unowned = owner.is_null() | (owner.str.strip_chars() == "")
    work = frame.with_columns([pl.lit(None, dtype=d).alias(c) for c, d in (nulls or {}).items()])
    work = work.select(pl.col(key), unowned.alias("__unowned"), *[
        (pl.lit(True) if r.when is None else polars_expr(r.when).fill_null(False)).alias(f"__r{i}")
        for i, r in enumerate(routes)
    ])
    routed = pl.Series("routed_owner", [None] * frame.height, dtype=pl.String)
    todo = work["__unowned"]
    for i, r in enumerate(routes):
        hit = todo & work[f"__r{i}"]
        if not hit.any():
            continue
        if r.owner is not None:
            value = pl.Series([r.owner] * frame.height, dtype=pl.String)
        else:
            value = pl.Series([None] * frame.height, dtype=pl.String)
            value = value.scatter(hit.arg_true(), _round_robin(work[key].filter(hit), r.round_robin or ()))
        routed = pl.select(pl.when(hit).then(value).otherwise(routed)).to_series().alias("routed_owner")
        todo = todo & ~hit
    return frame.with_columns(routed).with_columns(
        assigned_owner=pl.coalesce(pl.when(~unowned).then(owner), pl.col("routed_owner")),
        routed=unowned & pl.col("routed_owner").is_not_null(),
    )


__all__ = ["ROUTING_COLUMNS", "pick", "route", "weight"]
