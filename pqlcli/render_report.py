"""The terminal view of `pql tiers report`: the fit × usage matrix, bar charts and tables, with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pqlcli.render_list import score_bar
from pqlcli.report_md import (
    BREAKDOWN_TITLES,
    LEVEL_TITLES,
    MOVE_FROM,
    MOVE_TO,
    header_lines,
    lift,
    num,
    pct,
    short_tier,
    tier_meta,
)

TIER_STYLES = {"tier1": "bold green", "tier2": "cyan", "tier3": "yellow", "tier4": "bright_black"}
TIER_BAR_STYLES = {"tier1": "green", "tier2": "cyan", "tier3": "yellow", "tier4": "bright_black"}


def _bar(value: float, biggest: float, width: int) -> str:
    return score_bar(100 * value / biggest if biggest else 0, width).rstrip()


def _matrix(level: str, data: dict[str, Any], report: dict[str, Any]) -> Table:
    meta = tier_meta(report)
    th = report["thresholds"]
    t = Table(title="Fit × usage", show_lines=True, header_style="bold", title_justify="left")
    t.add_column("")
    t.add_column(f"High usage (≥ {num(th.get('usage'))})", justify="center")
    t.add_column("Low usage", justify="center")

    def cell(key: str) -> Text:
        v = data["tiers"][key]
        return Text.assemble((meta[key]["label"], TIER_STYLES[key]), "\n", (str(v["count"]), "bold"), f"  {pct(v['share'])}")

    t.add_row(f"Good fit (≥ {num(th.get('fit'))})", cell("tier1"), cell("tier2"))
    t.add_row("Weak fit", cell("tier3"), cell("tier4"))
    return t


def _tier_bars(data: dict[str, Any], report: dict[str, Any]) -> Table:
    meta = tier_meta(report)
    biggest = max([v["count"] for v in data["tiers"].values()] + [1])
    t = Table(box=None, show_header=False, pad_edge=False, title="Tier sizes", title_justify="left")
    t.add_column("tier", no_wrap=True)
    t.add_column("bar", no_wrap=True, min_width=10)
    t.add_column("n", justify="right")
    t.add_column("share", justify="right")
    for key in meta:
        v = data["tiers"][key]
        t.add_row(
            Text(meta[key]["label"], style=TIER_STYLES[key]),
            Text(_bar(v["count"], biggest, 20), style=TIER_BAR_STYLES[key]),
            str(v["count"]),
            pct(v["share"]),
        )
    return t


def _stacked(counts: dict[str, int], biggest: int, width: int = 16) -> Text:
    text = Text()
    used = 0
    for key, n in counts.items():
        cells = round(width * n / biggest) if biggest else 0
        text.append("█" * cells, style=TIER_BAR_STYLES.get(key, ""))
        used += cells
    return text


def _breakdown(dim: str, rows: list[dict[str, Any]], report: dict[str, Any]) -> Table:
    meta = tier_meta(report)
    biggest = max([r["total"] for r in rows] + [1])
    t = Table(title=f"By {BREAKDOWN_TITLES.get(dim, dim)}", header_style="bold", title_justify="left")
    t.add_column(dim, overflow="ellipsis", max_width=24, no_wrap=True)
    t.add_column("n", justify="right", no_wrap=True)
    for key in meta:
        t.add_column(Text(key.replace("tier", "T"), style=TIER_STYLES[key]), justify="right", no_wrap=True)
    t.add_column("T1 %", justify="right", no_wrap=True)
    t.add_column("", no_wrap=True, overflow="crop")
    for r in rows:
        t.add_row(
            r["value"], str(r["total"]), *[str(r["tiers"][k]) for k in meta], pct(r["tier1_share"]), _stacked(r["tiers"], biggest)
        )
    return t


def _top(data: dict[str, Any], report: dict[str, Any]) -> Table | None:
    t = Table(title="Top accounts per tier", header_style="bold", title_justify="left")
    t.add_column("tier", no_wrap=True, min_width=2)
    t.add_column("account", overflow="ellipsis", no_wrap=True, max_width=20, min_width=8)
    t.add_column("owner", overflow="ellipsis", no_wrap=True, max_width=16, min_width=6)
    t.add_column("fit", justify="right", no_wrap=True, min_width=3)
    t.add_column("usage", justify="right", no_wrap=True, min_width=5)
    t.add_column("why", overflow="ellipsis", no_wrap=True, max_width=28, min_width=10)
    any_rows = False
    for key, rows in (data.get("top") or {}).items():
        for i, r in enumerate(rows):
            any_rows = True
            t.add_row(
                Text(key.replace("tier", "T") if i == 0 else "", style=TIER_STYLES[key]),
                str(r.get("name") or r.get("account_id")),
                str(r.get("owner") or ""),
                num(r.get("fit_score")),
                num(r.get("usage_score")),
                r.get("why", ""),
            )
    return t if any_rows else None


def _movement(level: str, move: dict[str, Any]) -> Group:
    cols = list(next(iter(move["matrix"].values())).keys())
    t = Table(title=f"Movement since {move['previous_snapshot']}", header_style="bold", title_justify="left")
    t.add_column("from \\ to")
    for c in cols:
        t.add_column(MOVE_TO.get(c, short_tier(c)), justify="right")
    for r, row in move["matrix"].items():
        t.add_row(MOVE_FROM.get(r, short_tier(r)), *[(str(v) if v else "·") for v in row.values()])
    parts: list[Any] = [t, Text(f"{move['changed']} changed tier; {move['entered_tier1_count']} entered Tier 1.")]
    if move["entered_tier1"]:
        id_key = "user_id" if level == "users" else "account_id"
        e = Table(title="Entered Tier 1", header_style="bold", title_justify="left")
        for col in ("who", "owner", "fit", "usage", "was"):
            e.add_column(col, justify="right" if col in ("fit", "usage") else "left", overflow="ellipsis", max_width=30)
        for r in move["entered_tier1"][:10]:
            e.add_row(
                str(r.get("name") or r.get("email") or r.get(id_key)),
                str(r.get("owner") or ""),
                num(r.get("fit_score")),
                num(r.get("usage_score")),
                MOVE_FROM.get(r["before"], short_tier(r["before"])),
            )
        parts.append(e)
    return Group(*parts)


def _conversion(level: str, conv: dict[str, Any], report: dict[str, Any]) -> Group:
    meta = tier_meta(report)
    top = max([v["rate"] or 0 for v in conv["tiers"].values()] + [0.0001])
    t = Table(title="Conversion per tier", header_style="bold", title_justify="left")
    for col in ("tier", "n", "won", "rate", "", "lift vs T4"):
        t.add_column(col, justify="left" if col in ("tier", "") else "right", no_wrap=True, overflow="crop" if not col else "ellipsis")
    for key, v in conv["tiers"].items():
        t.add_row(
            Text(meta[key]["label"], style=TIER_STYLES[key]),
            str(v["count"]),
            str(v["converted"]),
            pct(v["rate"]),
            Text(_bar(v["rate"] or 0, top, 12), style=TIER_BAR_STYLES[key]),
            lift(v["lift_vs_tier4"]),
        )
    f = conv["funnel"]
    q = "PQA" if level == "accounts" else "PQL"
    funnel = Text(
        f"Funnel: {f['signed_up']} → {f['qualified']} {q} ({pct(f['signup_to_qualified'])}) → "
        f"{f['customers_from_qualified']} customers ({pct(f['qualified_to_customer'])} of {q}s; "
        f"non-{q}s convert at {pct(f['unqualified_to_customer'])})."
    )
    return Group(t, funnel)


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    console.print(Text("PQL tier report", style="bold"))
    for line in header_lines(report):
        console.print(Text(line, style="dim"))
    for level, data in report["levels"].items():
        qualified = "PQAs or account PQLs" if level == "accounts" else "PQLs"
        parts: list[Any] = [_matrix(level, data, report), _tier_bars(data, report)]
        parts += [_breakdown(dim, rows, report) for dim, rows in (data.get("by") or {}).items()]
        top = _top(data, report)
        if top is not None:
            parts.append(top)
        if data.get("movement"):
            parts.append(_movement(level, data["movement"]))
        if data.get("conversion"):
            parts.append(_conversion(level, data["conversion"], report))
        title = f"{LEVEL_TITLES.get(level, level)}: {data['total']} ({qualified}: {data['qualified']})"
        console.print(Panel(Group(*parts), title=title, title_align="left", expand=False))
