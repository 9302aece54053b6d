"""Cross-source event dedupe by time (``dedupe_window``; off by default).

The same event forwarded by two tools (Segment and Mixpanel both sending "Workspace Invite Sent") has
two different ids. Ids are compared first (the usual dedupe); then, with a window, a new event is a
duplicate when an event already stored from *another* source has the same person (canonical
``user_id``), the same event name, and a timestamp within the window. Events from the same source are
never merged by time (two real clicks a second apart are two events).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl


def drop_cross_source_duplicates(stored: pl.LazyFrame, part: Path, out: Path, window: timedelta) -> tuple[Path, int]:
    """Rewrite the new part without its cross-source duplicates among the ``stored`` events (the new
    rows' bucket, near their times); returns (path, rows left), ``out`` when rows were dropped."""
    new = pl.scan_parquet(part).with_row_index("_row")
    keys = new.select("user_id", "event").unique()
    old = (stored.select("user_id", "event", "timestamp", pl.col("source").alias("_other"))
           .join(keys, on=["user_id", "event"], how="semi").rename({"timestamp": "_ts"}).sort("_ts"))
    dupes = []
    for source in new.select("source").unique().collect()["source"].to_list():
        mine = new.filter(pl.col("source").eq_missing(source)).select("_row", "user_id", "event", "timestamp").sort("timestamp")
        others = old.filter(~pl.col("_other").eq_missing(source))
        matched = mine.join_asof(others, left_on="timestamp", right_on="_ts", by=["user_id", "event"],
                                 strategy="nearest", tolerance=window, check_sortedness=False)
        dupes.append(matched.filter(pl.col("_ts").is_not_null()).select("_row"))
    if not dupes:
        return part, int(new.select(pl.len()).collect().item())
    drop = pl.concat(dupes).collect()
    if drop.is_empty():
        return part, int(new.select(pl.len()).collect().item())
    kept = new.join(drop.lazy(), on="_row", how="anti").sort("_row").drop("_row")
    kept.sink_parquet(out)
    return out, int(pl.scan_parquet(out).select(pl.len()).collect().item())
