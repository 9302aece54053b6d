"""The terminal view of `pql list`: tier colours, score bars and the "why" column, fitted to the width.

When stdout is not a terminal the same table is written plain (no colour, no truncation).
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, OverflowMethod
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import polars as pl

TIER_STYLES = {"tier1": "bold green", "tier2": "cyan", "tier3": "yellow", "tier4": "dim"}
SCORE_COLUMNS = {"fit_score": "fit", "usage_score": "usage"}
HEADERS = {"account_name": "company", "tier": "tier", "why": "why", "users": "users"}
BAR_WIDTH = 5
# Text columns that share the width left after the fixed ones (scores, tier, plan, numbers), by ratio.
FLEX_TEXT = {"name": 3, "email": 3, "account_name": 2, "domain": 2, "owner": 2, "title": 2, "industry": 2}
_BLOCKS = " ▏▎▍▌▋▊▉█"


def score_bar(value: float | None, width: int = BAR_WIDTH) -> str:
    """A 0..100 score as a bar of ``width`` cells with eighth-block precision."""
    if value is None:
        return " " * width
    eighths = round(max(0.0, min(100.0, float(value))) / 100 * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_BLOCKS[part] if part else "")
    return bar.ljust(width)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, float):
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def lead_table(
    frame: pl.DataFrame,
    *,
    tier_keys: dict[str, str] | None = None,
    title: str | None = None,
    caption: str | None = None,
    plain: bool = False,
) -> Table:
    """A rich table of leads. ``tier_keys`` maps a snapshot's tier names to tier1..tier4 (for colours)."""
    columns = list(frame.columns)
    merge_who = "name" in columns and "email" in columns
    shown = [c for c in columns if not (merge_who and c == "email")]
    table = Table(
        title=title,
        caption=caption,
        header_style="bold",
        box=None if plain else _box(),
        pad_edge=False,
        expand=not plain,
        show_edge=not plain,
        padding=(0, 1),
        collapse_padding=True,
    )
    overflow: OverflowMethod = "fold" if plain else "ellipsis"
    for col in shown:
        header = "who" if (merge_who and col == "name") else HEADERS.get(col, SCORE_COLUMNS.get(col, col))
        if col in SCORE_COLUMNS:
            table.add_column(header, justify="left", no_wrap=True, min_width=BAR_WIDTH + 4)
        elif col == "why":
            table.add_column(header, overflow=overflow, no_wrap=not plain, ratio=None if plain else 6, min_width=10)
        elif col == "tier":
            table.add_column(header, no_wrap=True)
        elif frame.schema[col].is_numeric():
            table.add_column(header, justify="right", no_wrap=True)
        else:
            if plain:
                table.add_column(header, overflow=overflow)
            elif col in FLEX_TEXT:
                table.add_column(header, overflow=overflow, no_wrap=True, ratio=FLEX_TEXT[col], min_width=4)
            else:
                table.add_column(header, overflow=overflow, no_wrap=True, max_width=8)
    keys = tier_keys or {}
    for row in frame.iter_rows(named=True):
        cells: list[Text | str] = []
        for col in shown:
            value = row[col]
            if merge_who and col == "name":
                cells.append(_cell(value if value not in (None, "") else row["email"]))
            elif col in SCORE_COLUMNS:
                number = "" if value is None else f"{float(value):>3.0f}"
                if plain:
                    cells.append(number.strip())
                else:
                    cells.append(Text.assemble((score_bar(value), "magenta" if col == "usage_score" else "blue"), " ", number))
            elif col == "tier":
                style = TIER_STYLES.get(keys.get(str(value), str(value)), "")
                cells.append(Text(_cell(value), style="" if plain else style))
            else:
                cells.append(_cell(value))
        table.add_row(*cells)
    return table


def _box() -> Any:
    from rich import box

    return box.SIMPLE_HEAD


def fit_columns(columns: list[str], width: int, *, owner_filtered: bool = False) -> list[str]:
    """Drop the least useful default columns so the table stays readable at ``width`` (e.g. 80)."""
    drop: list[str] = []
    if owner_filtered:
        drop.append("owner")  # every row has the same owner
    if width < 100:
        drop += ["account_name", "domain"]
    if width < 70:
        drop += ["plan", "users"]
    return [c for c in columns if c not in drop]


def terminal_width() -> int | None:
    """The width of stdout when it is a terminal, else None."""
    console = Console()
    return console.width if console.is_terminal else None


def print_leads(
    frame: pl.DataFrame,
    *,
    tier_keys: dict[str, str] | None = None,
    title: str | None = None,
    caption: str | None = None,
) -> None:
    """Print leads on stdout: fitted and coloured on a terminal, plain and whole otherwise."""
    probe = Console(highlight=False)
    if probe.is_terminal:
        probe.print(lead_table(frame, tier_keys=tier_keys, title=title, caption=caption))
        return
    console = Console(file=sys.stdout, highlight=False, no_color=True, width=4096, soft_wrap=False)
    table = lead_table(frame, tier_keys=tier_keys, plain=True)
    with console.capture() as capture:
        console.print(table)
    sys.stdout.write("\n".join(line.rstrip() for line in capture.get().splitlines()) + "\n")
