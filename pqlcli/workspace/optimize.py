"""Event parts rewritten in time order, so a score's window filters can skip their row groups.

`pql ingest` keeps the order of its input. An export in random time order gives every Parquet row group
the whole time range, and then no window filter can skip one by its statistics. :func:`sort_events`
rewrites each such part sorted by ``timestamp``. The part keeps its name and its rows, and each part is
swapped in one rename, so a reader sees the old part or the new one, never half of either. Scores are
unchanged: they do not depend on row order (``tests/unit/workspace/test_optimize.py``). On the 1M
benchmark workspace, sorted parts made ``pql score`` about 15 % faster (docs/performance.md, "Events in
time order").

A part is sorted in memory (peak ~140 MB per million events of the part: 705 MB for a 5M-event part), so
parts with more than ``max_rows`` rows are left as they are and reported. The default is the largest
bucket the first ingest of a table writes (12.5M events, ~1.8 GB): only a later, larger ingest into too
few buckets makes a bigger part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import polars as pl

from pqlcli.errors import WorkspaceError
from pqlcli.workspace import Workspace
from pqlcli.workspace.buckets import EVENTS_PER_STORED_BUCKET

# The largest part sorted (in memory): the largest bucket a first ingest writes.
MAX_ROWS = EVENTS_PER_STORED_BUCKET
# Rows per row group of a sorted part: the finer its time ranges, the more row groups a window skips.
ROW_GROUP_ROWS = 65_536
# Events whose consecutive rows are this far apart on average are in no useful time order (random order
# over N days gives ~N/3 days; a day's export in random order gives ~8 hours): `pql optimize` would help.
DISORDER = timedelta(days=2)


@dataclass
class SortResult:
    parts: int = 0  # event parts looked at
    in_order: int = 0  # already sorted by time: left alone
    sorted: int = 0  # rewritten in time order
    rows_sorted: int = 0
    too_large: list[tuple[Path, int]] = field(default_factory=list)  # (part, rows) left as they are


def sort_events(ws: Workspace, max_rows: int = MAX_ROWS, progress: Callable[[int, int], None] | None = None) -> SortResult:
    """Rewrite every events part that is not in time order, sorted by ``timestamp`` (ties keep their
    stored order). ``progress(done, total)`` is called after each part."""
    from pqlcli.workspace.commit import Commit

    if not ws.has_table("events"):
        raise WorkspaceError(f"The workspace {ws.root} has no events to sort.",
                             "Ingest events first: `pql ingest events <file>`.")
    parts = ws.table_files("events")
    result = SortResult(parts=len(parts))
    for i, part in enumerate(parts):
        scan = pl.scan_parquet(part)
        rows, disordered = scan.select(pl.len(), (pl.col("timestamp").diff() < pl.duration()).any()).collect().row(0)
        if not disordered:
            result.in_order += 1
        elif rows > max_rows:
            result.too_large.append((part, int(rows)))
        else:
            with Commit(ws.root) as commit:
                staged = commit.stage(part.name)
                _write_sorted(pl.read_parquet(part), staged)
                written = int(pl.scan_parquet(staged).select(pl.len()).collect().item())
                if written != rows:  # never swap in a part that lost or gained rows
                    raise WorkspaceError(f"Sorting {part} wrote {written} rows instead of {rows}; the part was left as it was.",
                                         "Check the disk is not full, then run `pql optimize` again.")
                commit.move(staged, part)
                commit.apply()
            result.sorted += 1
            result.rows_sorted += int(rows)
        if progress:
            progress(i + 1, len(parts))
    return result


def out_of_order(files: Sequence[Path]) -> bool:
    """Whether the events of ``files`` are stored in no useful time order: their mean jump from one row to
    the next is over :data:`DISORDER` (one scan of the timestamps)."""
    if not files:
        return False
    jump = pl.scan_parquet(list(files)).select(pl.col("timestamp").diff().abs().mean()).collect().item()
    return jump is not None and jump > DISORDER


def _write_sorted(frame: pl.DataFrame, target: Path) -> None:
    """``frame`` sorted by time (a stable sort), one column at a time: a whole-frame sort would hold
    two copies of the part. Written as an ingest writes a part (zstd level 1, with statistics)."""
    order = frame.select(pl.arg_sort_by("timestamp", maintain_order=True)).to_series()
    for name in frame.columns:
        frame = frame.with_columns(frame[name].gather(order))
    frame.write_parquet(target, compression="zstd", compression_level=1, statistics=True, row_group_size=ROW_GROUP_ROWS)


__all__ = ["DISORDER", "MAX_ROWS", "SortResult", "out_of_order", "sort_events"]
