"""`pql tiers report --format md`: the tier report as GitHub Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pqlcli.render.text import (
    BREAKDOWN_TITLES,
    LEVEL_TITLES,
    funnel_text,
    header_lines,
    lift,
    move_from,
    move_to,
    movement_lines,
    movement_summary,
    num,
    pct,
    qualified_title,
    short_tier,
    who,
)

if TYPE_CHECKING:
    from pqlcli.leads.tiers import Conversion, LevelReport, Movement, TiersReport


def _table(head: list[str], rows: list[list[Any]], align: list[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(head) - 1)
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(_cell(h) for h in head) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _matrix_and_tiers(level: str, data: LevelReport, report: TiersReport) -> list[str]:
    meta = report.tier_info()
    th = report.thresholds
    tiers = data.tiers

    def box(key: str) -> str:
        return f"**{meta[key].label}**: {tiers[key].count} ({pct(tiers[key].share)})"

    usage_hi = f"High usage (≥ {num(th.usage)})" if th.usage is not None else "High usage"
    fit_good = f"Good fit (≥ {num(th.fit)})" if th.fit is not None else "Good fit"
    lines = ["### Fit × usage matrix", ""]
    lines += _table(["", usage_hi, "Low usage"], [[fit_good, box("tier1"), box("tier2")], ["Weak fit", box("tier3"), box("tier4")]], ["l", "l", "l"])
    lines += ["", "### Tiers", ""]
    lines += _table(["Tier", "Count", "Share"], [[meta[k].label, str(tiers[k].count), pct(tiers[k].share)] for k in meta])
    lines += ["", f"{qualified_title(level)}: {data.qualified} of {data.total}."]
    return lines


def _breakdowns(data: LevelReport, report: TiersReport) -> list[str]:
    meta = report.tier_info()
    lines: list[str] = []
    for dim, rows in data.by.items():
        lines += ["", f"### By {BREAKDOWN_TITLES.get(dim, dim)}", ""]
        lines += _table(
            [dim, "Total", *[short_tier(k, meta) for k in meta], f"{short_tier('tier1', meta)} share"],
            [[r.value, str(r.total), *[str(r.tiers[k]) for k in meta], pct(r.tier1_share)] for r in rows],
        )
    return lines


def _top(data: LevelReport, report: TiersReport) -> list[str]:
    if not data.top:
        return []
    meta = report.tier_info()
    lines = ["", "### Top accounts per tier", ""]
    for key, rows in data.top.items():
        if not rows:
            continue
        lines += [f"**{meta[key].label}**", ""]
        lines += _table(
            ["Account", "Owner", "Fit", "Usage", "Why"],
            [
                [r.get("name") or r.get("account_id"), r.get("owner") or "", num(r.get("fit_score")), num(r.get("usage_score")), r.get("why", "")]
                for r in rows
            ],
            ["l", "l", "r", "r", "l"],
        )
        lines.append("")
    return lines


def _movement(level: str, move: Movement, report: TiersReport) -> list[str]:
    meta = report.tier_info()
    lines = ["", f"### Movement since {move.previous_label}", ""]
    lines += [*(f"**{line}**" if move.config_changes else line for line in movement_lines(move, meta)), ""]
    cols = list(next(iter(move.matrix.values())).keys())
    lines += _table(
        ["from \\ to", *[move_to(c, meta) for c in cols]],
        [[move_from(r, meta), *[str(v) for v in row.values()]] for r, row in move.matrix.items()],
    )
    lines += ["", movement_summary(move, meta)]
    if move.entered_tier1:
        lines += ["", f"Entered {short_tier('tier1', meta)}:", ""]
        lines += _table(
            ["Who", "Owner", "Fit", "Usage", "Was"],
            [
                [who(r, level), r.get("owner") or "", num(r.get("fit_score")), num(r.get("usage_score")), move_from(r["before"], meta)]
                for r in move.entered_tier1
            ],
            ["l", "l", "r", "r", "l"],
        )
    return lines


def _conversion(level: str, conv: Conversion, report: TiersReport) -> list[str]:
    meta = report.tier_info()
    lines = ["", "### Conversion", ""]
    lines += _table(
        ["Tier", "Count", "Converted", "Rate", f"Lift vs {short_tier('tier4', meta)}"],
        [[meta[k].label, str(v.count), str(v.converted), pct(v.rate), lift(v.lift_vs_tier4)] for k, v in conv.tiers.items()],
    )
    return [*lines, "", funnel_text(level, conv.funnel)]


def to_markdown(report: TiersReport) -> str:
    lines = ["# PQL tier report", ""]
    lines += [f"{line}  " for line in header_lines(report)]
    for level, data in report.levels.items():
        lines += ["", f"## {LEVEL_TITLES.get(level, level)} ({data.total})", ""]
        lines += _matrix_and_tiers(level, data, report)
        lines += _breakdowns(data, report)
        lines += _top(data, report)
        if data.movement:
            lines += _movement(level, data.movement, report)
        if data.conversion:
            lines += _conversion(level, data.conversion, report)
    return "\n".join(lines).rstrip() + "\n"
