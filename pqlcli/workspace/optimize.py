"""Event parts rewritten in time order, so a score's window filters can skip their row groups.

`pql ingest` keeps the order of its input. An export in random time order gives every Parquet row group
the whole time range, and then no window filter can skip one by its statistics. :func:`sort_events`
rewrites each such part sorted by ``timestamp``. The part keeps its name and its rows, and each part is
swapped in one rename, so a reader sees the old part or the new one, never half of either. Scores are
unchanged: they do not depend on row order (``tests/unit/workspace/test_optimize.py``). Scores took
0.74–0.86× the time at 100k users, 0.86× at 1M, and 0.87× at 10M with ``merge`` (docs/performance.md,
"Events in time order").

With ``merge`` (``pql optimize --merge``), the parts of each bucket are merged into one part in time
order when they hold ``max_rows`` events or fewer together. Many small parts in random order each span
the whole time range even once sorted; one merged part does not. The merged part has a new name, so
`pql doctor`'s time-zone check, which compares the ingested files' parts, no longer tells them apart.

A part is sorted in memory (peak ~140 MB per million events of the part: 705 MB for a 5M-event part), so
parts with more than ``max_rows`` rows are left as they are and reported. The default is the largest
bucket the first ingest of a table writes (12.5M events, ~1.8 GB): only a later, larger ingest into too
few buckets makes a bigger part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import polars as pl

from pqlcli.errors import WorkspaceError
from pqlcli.util.frames import reordered
from pqlcli.workspace import Workspace
from pqlcli.workspace.buckets import EVENTS_PER_STORED_BUCKET

# The largest part sorted (in memory): the largest bucket a first ingest writes.
MAX_ROWS = EVENTS_PER_STORED_BUCKET
# Rows per row group of a sorted part: the finer its time ranges, the more row groups a window skips.
ROW_GROUP_ROWS = 65_536
# Events whose consecutive rows are this far apart on average are in no useful time order (random order
# over N days gives ~N/3 days; a day's export in random order gives ~8 hours): `pql optimize` would help.
DISORDER = timedelta(days=2)
# From this many events (an ingest's new rows, or one ingested file's stored parts) their order is worth a
# word: `pql ingest`'s note and `pql doctor`'s events_layout check.
ORDER_ROWS = 1_000_000


def mean_jump(ts: pl.Expr) -> pl.Expr:
    """The mean jump in time from one row to the next (compared with ``DISORDER``); a mean, as a sum of
    microseconds overflows."""
    return ts.diff().abs().mean()


@dataclass
class SortResult:
    parts: int = 0  # event parts looked at
    in_order: int = 0  # already sorted by time: left alone
    sorted: int = 0  # rewritten in time order
    rows_sorted: int = 0
    merged: int = 0  # parts merged into their bucket's one sorted part (with ``merge``)
    too_large: list[tuple[Path, int]] = field(default_factory=list)  # (part, rows) left as they are


def sort_events(ws: Workspace, max_rows: int = MAX_ROWS, progress: Callable[[int, int], None] | None = None,
                merge: bool = False) -> SortResult:
    """Rewrite every events part that is not in time order, sorted by ``timestamp`` (ties keep their
    stored order). With ``merge``, the parts of a bucket (or of an unbucketed table) are first merged
    into one part in time order, when they hold ``max_rows`` events or fewer together; many small parts
    in random order each span the whole time range even when sorted, one sorted part does not.
    ``progress(done, total)`` is called as parts are done."""
    from pqlcli.workspace.lock import writing

    with writing(ws.root, "pql optimize"):  # one writer at a time (pqlcli.workspace.lock)
        return _sort_events(ws, max_rows, progress, merge)


def _sort_events(ws: Workspace, max_rows: int, progress: Callable[[int, int], None] | None, merge: bool) -> SortResult:
    from pqlcli.util.clock import stamp

    if not ws.has_table("events"):
        raise WorkspaceError(f"The workspace {ws.root} has no events to sort.",
                             "Ingest events first: `pql ingest events <file>`.")
    parts = ws.table_files("events")
    result, done, name = SortResult(parts=len(parts)), 0, f"part-{stamp()}.parquet"
    folders: dict[Path, list[Path]] = {}
    for part in parts:
        folders.setdefault(part.parent, []).append(part)
    for files in folders.values():
        rows = [_rows(p) for p in files]
        if merge and len(files) > 1 and sum(rows) <= max_rows:
            _replace(ws, files, files[0].parent / name, sum(rows))
            result.merged += len(files)
            result.sorted, result.rows_sorted = result.sorted + 1, result.rows_sorted + sum(rows)
        else:
            for part, n in zip(files, rows, strict=True):
                if not _disordered(part):
                    result.in_order += 1
                elif n > max_rows:
                    result.too_large.append((part, n))
                else:
                    _replace(ws, [part], part, n)
                    result.sorted, result.rows_sorted = result.sorted + 1, result.rows_sorted + n
        done += len(files)
        if progress:
            progress(done, len(parts))
    return result


def _rows(part: Path) -> int:
    """A part's rows (Parquet metadata)."""
    return int(pl.scan_parquet(part).select(pl.len()).collect().item())


def _disordered(part: Path) -> bool:
    """Whether any event of a part is stored after a later one (a scan of its timestamps)."""
    return bool(pl.scan_parquet(part).select((pl.col("timestamp").diff() < pl.duration()).any()).collect().item())


def _replace(ws: Workspace, parts: list[Path], target: Path, rows: int) -> None:
    """``parts`` (``rows`` events) replaced by ``target``: their events in time order, one commit."""
    from pqlcli.workspace import _concat_parts
    from pqlcli.workspace.commit import Commit

    with Commit(ws.root) as commit:
        staged = commit.stage(target.name)
        _write_sorted(_concat_parts(parts).collect(), staged)
        written = _rows(staged)
        if written != rows:  # never swap in a part that lost or gained rows
            where = parts[0] if len(parts) == 1 else f"the {len(parts)} parts of {parts[0].parent}"
            raise WorkspaceError(f"Sorting {where} wrote {written} rows instead of {rows}; the events were left as they were.",
                                 "Check the disk is not full, then run `pql optimize` again.")
        for part in parts:
            if part != target:
                commit.delete(part)
        commit.move(staged, target)
        commit.apply()


def _write_sorted(frame: pl.DataFrame, target: Path) -> None:
    """``frame`` sorted by time (a stable sort, gathered one column at a time), written as an ingest
    writes a part (zstd level 1, with statistics) in row groups of ``ROW_GROUP_ROWS``."""
    frame = reordered(frame, frame.select(pl.arg_sort_by("timestamp", maintain_order=True)).to_series())
    frame.write_parquet(target, compression="zstd", compression_level=1, statistics=True, row_group_size=ROW_GROUP_ROWS)


__all__ = ["DISORDER", "MAX_ROWS", "ORDER_ROWS", "SortResult", "mean_jump", "sort_events"]
