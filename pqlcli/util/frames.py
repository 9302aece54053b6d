"""Polars frame helpers shared by the layers above."""

from __future__ import annotations

import polars as pl


def reordered(frame: pl.DataFrame, order: pl.Series) -> pl.DataFrame:
    """``frame``'s rows in ``order`` (row indices), gathered one column at a time: gathering the whole
    frame at once would hold two copies of every column."""
    for name in frame.columns:
        frame = frame.with_columns(frame[name].gather(order).rechunk())
    return frame


__all__ = ["reordered"]
