"""`pql optimize`: the workspace's event parts rewritten in time order."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from pqlcli.cli import common


def optimize(
    merge: Annotated[bool, typer.Option("--merge", help="Also merge each bucket's parts into one part in time order "
                                        "(for many small parts ingested in random order; `pql doctor` then no "
                                        "longer tells the ingested files apart).")] = False,
) -> None:
    """Rewrite event parts in time order, so scores skip the events outside their windows.

    Events are stored in the order of the ingested file. An export in random time order makes every
    score read all of them. Each part that is out of order is sorted by time, keeps its name and rows,
    and is swapped in with one rename. Scores stay the same, and get faster. Run it once after ingesting
    such a history, when no ingest is running. Parts already in order are not touched, so a second run
    does nothing.
    """
    from pqlcli import render
    from pqlcli.workspace.optimize import sort_events

    ws = common.workspace()
    start = time.perf_counter()
    with render.progress("Sorting event parts", unit="parts") as handle:
        result = sort_events(ws, progress=lambda done, total: handle.update(completed=done, total=total), merge=merge)
    rows = [["event parts", result.parts], ["already in time order", result.in_order],
            ["sorted now", result.sorted], ["events sorted", result.rows_sorted],
            ["too large to sort", len(result.too_large)]]
    if merge:
        rows.insert(3, ["merged into one part per bucket", result.merged])
    render.table(f"pql optimize ({time.perf_counter() - start:.1f}s)", ["parts", "count"], rows)
    for part, n in result.too_large:
        render.warn(f"{part} holds {n:,} events, more than pql sorts in memory; it was left as it was. "
                    "Re-ingesting that export in time order (e.g. one file per month, oldest first) avoids it.")


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)
