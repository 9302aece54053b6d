"""Trait columns of a CSV export arrive as text; keep the ones that hold only numbers as numbers.

A lead export's ``TotalVisits`` or ``Total Time Spent on Website`` must compare as numbers in rules
(``totalvisits >= 5``), as JSON numbers already do. One lazy pass decides, per text column, whether every
non-empty value parses as a number.
"""

from __future__ import annotations

import polars as pl

from pqlcli.workspace.schema import TableSchema


def numeric_traits(frame: pl.LazyFrame, schema: TableSchema) -> tuple[pl.LazyFrame, list[str]]:
    """``frame`` with its non-canonical text columns that hold only numbers cast to Float64, and those columns."""
    columns = frame.collect_schema()
    text = [c for c, d in columns.items() if d == pl.String and c not in schema.columns and not c.startswith("_")]
    if not text:
        return frame, []
    checks = frame.select(
        [
            ((pl.col(c).cast(pl.Float64, strict=False).is_null() == pl.col(c).is_null()).all()
             & pl.col(c).is_not_null().any()).alias(c)
            for c in text
        ]
    ).collect()
    numeric = [c for c in text if checks[c][0]]
    return frame.with_columns([pl.col(c).cast(pl.Float64) for c in numeric]), numeric
