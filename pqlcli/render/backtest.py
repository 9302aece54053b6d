"""A backtest report for people: a rich terminal view and Markdown (the HTML page is ``backtest_html``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def times(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


def num(x: float | None, nd: int = 3) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def days(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} d"


def headline(r: dict[str, Any]) -> str:
    """One sentence: what was replayed, and what happened."""
    if r.get("label"):
        what = f"{r['level']}s scored as of {r['as_of'][:10]}, outcome column {r['label']!r}"
    elif r.get("as_of_dates"):
        dates = r["as_of_dates"]
        what = f"{r['level']}s replayed as of {len(dates)} dates ({dates[0][:10]} … {dates[-1][:10]}), {r['horizon_days']}-day horizon"
    else:
        what = f"{r['level']}s replayed as of {r['as_of'][:10]}, conversions in the next {r['horizon_days']} days"
    return f"{what}: {r['records']:,} evaluated, {r['converted']:,} converted (base rate {pct(r['base_rate'])})."


def tier_rows(r: dict[str, Any]) -> list[list[str]]:
    labels = r.get("tier_labels", {})
    return [
        [labels.get(k, k), f"{t['records']:,}", f"{t['converted']:,}", pct(t["rate"]), times(t["lift"]), pct(t["recall"]),
         days(t.get("median_days_to_convert"))]
        for k, t in r["tiers"].items()
    ]


def pql_rows(r: dict[str, Any]) -> list[list[str]]:
    return [
        [name, f"{p['records']:,}", f"{p['converted']:,}", pct(p["precision"]), times(p["lift"]), pct(p["recall"])]
        for name, p in r["pqls"].items()
    ]


def gains_rows(r: dict[str, Any]) -> list[list[str]]:
    return [
        [str(g["decile"]), f"{g['records']:,}", f"{g['converted']:,}", pct(g["rate"]), times(g["lift"]),
         pct(g["cum_share_records"]), pct(g["cum_recall"])]
        for g in r["gains"]
    ]


def rule_rows(r: dict[str, Any]) -> list[list[str]]:
    return [
        [x["name"], x["kind"], f"{x['fires']:,}", pct(x["rate_when_fires"]), pct(x["rate_otherwise"]), times(x["lift"])]
        for x in r["rules"]
    ]


TIER_HEAD = ["Tier", "Records", "Converted", "Rate", "Lift", "Recall", "Median time to convert"]
PQL_HEAD = ["PQL", "Records", "Converted", "Precision", "Lift", "Recall"]
GAINS_HEAD = ["Decile", "Records", "Converted", "Rate", "Lift", "Cum. records", "Cum. recall"]
RULE_HEAD = ["Rule", "Kind", "Fires", "Rate when fires", "Rate otherwise", "Lift"]


def auc_line(r: dict[str, Any]) -> str:
    a = r["auc"]
    return f"ROC AUC — fit score {num(a['fit'])}, usage score {num(a['usage'])}, tier order {num(a['tier'])} (0.5 = chance, 1 = perfect)."


def excluded_line(r: dict[str, Any]) -> str | None:
    ex = r.get("excluded") or {}
    if not ex:
        return None
    return (
        f"Left out: {ex.get('converted_before', 0):,} already converted before the as-of date; "
        f"{ex.get('not_yet_signed_up', 0):,} not signed up yet."
    )


def rich_table(title: str, head: list[str], rows: list[list[str]], text_cols: int = 1) -> Table:
    """A borderless terminal table: the first ``text_cols`` columns left-aligned, numbers right-aligned."""
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for i, h in enumerate(head):
        t.add_column(h, justify="left" if i < text_cols else "right")
    for row in rows:
        t.add_row(*row)
    return t


def print_backtest(r: dict[str, Any], console: Console | None = None) -> None:
    """The report on stdout, as tables."""
    console = console or Console(highlight=False)
    console.print(f"[bold]Backtest[/] — {headline(r)}", soft_wrap=True)
    line = excluded_line(r)
    if line:
        console.print(f"[dim]{line}[/]", soft_wrap=True)
    console.print(rich_table("Per tier", TIER_HEAD, tier_rows(r)))
    if r["pqls"]:
        console.print(rich_table("Per PQL definition", PQL_HEAD, pql_rows(r)))
    console.print(auc_line(r))
    console.print(rich_table("Gains by score decile (best first)", GAINS_HEAD, gains_rows(r)))
    console.print(rich_table("Per rule", RULE_HEAD, rule_rows(r)))
    if r["never_firing_rules"]:
        console.print(f"Rules that never fired: {', '.join(r['never_firing_rules'])}.", soft_wrap=True)


def md_table(head: list[str], rows: list[list[str]], text_cols: int = 1) -> str:
    align = ["---" if i < text_cols else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(r: dict[str, Any]) -> str:
    parts = [f"# Backtest: {r['level']}s", "", headline(r), ""]
    line = excluded_line(r)
    if line:
        parts += [line, ""]
    parts += ["## Per tier", "", md_table(TIER_HEAD, tier_rows(r)), ""]
    if r["pqls"]:
        parts += ["## Per PQL definition", "", md_table(PQL_HEAD, pql_rows(r)), ""]
    parts += ["## Ranking quality", "", auc_line(r), ""]
    parts += ["## Gains by score decile (best first)", "", md_table(GAINS_HEAD, gains_rows(r)), ""]
    parts += ["## Per rule", "", md_table(RULE_HEAD, rule_rows(r), text_cols=2), ""]
    if r["never_firing_rules"]:
        parts += [f"Rules that never fired: {', '.join(r['never_firing_rules'])}.", ""]
    if r["warnings"]:
        parts += ["## Warnings", "", *[f"- {w}" for w in r["warnings"]], ""]
    return "\n".join(parts)
