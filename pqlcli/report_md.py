"""`pql tiers report --format md`: the tier report (from ``report.tiers_report``) as GitHub Markdown.

Also holds the small formatters the other report renderers share, so every format prints the same numbers.
"""

from __future__ import annotations

from typing import Any

LEVEL_TITLES = {"users": "Users", "accounts": "Accounts"}
BREAKDOWN_TITLES = {"owner": "owner", "plan": "plan", "industry": "industry", "country": "country"}
MOVE_FROM = {"new": "(new)"}
MOVE_TO = {"gone": "(gone)"}


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return str(value)


def lift(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def tier_meta(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["key"]: t for t in report["tiers"]}


def short_tier(key: str) -> str:
    return key.replace("tier", "Tier ") if key.startswith("tier") else key


def header_lines(report: dict[str, Any]) -> list[str]:
    th = report["thresholds"]
    lines = [f"Snapshot {report['snapshot']} · as of {report.get('as_of') or '—'}"]
    if th.get("fit") is not None:
        lines.append(f"Good fit: fit score ≥ {num(th['fit'])}; high usage: usage score ≥ {num(th['usage'])}.")
    if report.get("previous_snapshot"):
        lines.append(f"Movement compared with snapshot {report['previous_snapshot']}.")
    return lines


def _table(head: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(head) - 1)
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(_cell(h) for h in head) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any]) -> str:
    meta = tier_meta(report)
    th = report["thresholds"]
    lines = ["# PQL tier report", ""]
    lines += [f"{line}  " for line in header_lines(report)]
    for level, data in report["levels"].items():
        lines += ["", f"## {LEVEL_TITLES.get(level, level)} ({data['total']})", ""]
        tiers = data["tiers"]

        def cell(key: str, tiers: dict[str, Any] = tiers) -> str:
            return f"**{meta[key]['label']}**: {tiers[key]['count']} ({pct(tiers[key]['share'])})"

        usage_hi = f"High usage (≥ {num(th.get('usage'))})" if th.get("usage") is not None else "High usage"
        fit_good = f"Good fit (≥ {num(th.get('fit'))})" if th.get("fit") is not None else "Good fit"
        lines += ["### Fit × usage matrix", ""]
        lines += _table(
            ["", usage_hi, "Low usage"],
            [[fit_good, cell("tier1"), cell("tier2")], ["Weak fit", cell("tier3"), cell("tier4")]],
            ["l", "l", "l"],
        )
        lines += ["", "### Tiers", ""]
        lines += _table(
            ["Tier", "Count", "Share"],
            [[meta[k]["label"], str(tiers[k]["count"]), pct(tiers[k]["share"])] for k in meta],
        )
        qualified = "PQAs or account PQLs" if level == "accounts" else "PQLs"
        lines += ["", f"{qualified}: {data['qualified']} of {data['total']}."]
        for dim, rows in data.get("by", {}).items():
            lines += ["", f"### By {BREAKDOWN_TITLES.get(dim, dim)}", ""]
            lines += _table(
                [dim, "Total", *[short_tier(k) for k in meta], "Tier 1 share"],
                [[r["value"], str(r["total"]), *[str(r["tiers"][k]) for k in meta], pct(r["tier1_share"])] for r in rows],
            )
        if data.get("top"):
            lines += ["", "### Top accounts per tier", ""]
            for key, rows in data["top"].items():
                if not rows:
                    continue
                lines += [f"**{meta[key]['label']}**", ""]
                lines += _table(
                    ["Account", "Owner", "Fit", "Usage", "Why"],
                    [
                        [r.get("name") or r.get("account_id"), r.get("owner") or "", num(r.get("fit_score")), num(r.get("usage_score")), r.get("why", "")]
                        for r in rows
                    ],
                    ["l", "l", "r", "r", "l"],
                )
                lines.append("")
        move = data.get("movement")
        if move:
            lines += ["", f"### Movement since {move['previous_snapshot']}", ""]
            cols = list(next(iter(move["matrix"].values())).keys())
            lines += _table(
                ["from \\ to", *[MOVE_TO.get(c, short_tier(c)) for c in cols]],
                [[MOVE_FROM.get(r, short_tier(r)), *[str(v) for v in row.values()]] for r, row in move["matrix"].items()],
            )
            lines += ["", f"{move['changed']} changed tier; {move['entered_tier1_count']} entered Tier 1."]
            if move["entered_tier1"]:
                lines += ["", "Entered Tier 1:", ""]
                id_key = "user_id" if level == "users" else "account_id"
                lines += _table(
                    ["Who", "Owner", "Fit", "Usage", "Was"],
                    [
                        [r.get("name") or r.get("email") or r.get(id_key), r.get("owner") or "", num(r.get("fit_score")), num(r.get("usage_score")), MOVE_FROM.get(r["before"], short_tier(r["before"]))]
                        for r in move["entered_tier1"]
                    ],
                    ["l", "l", "r", "r", "l"],
                )
        conv = data.get("conversion")
        if conv:
            lines += ["", "### Conversion", ""]
            lines += _table(
                ["Tier", "Count", "Converted", "Rate", "Lift vs Tier 4"],
                [
                    [meta[k]["label"], str(v["count"]), str(v["converted"]), pct(v["rate"]), lift(v["lift_vs_tier4"])]
                    for k, v in conv["tiers"].items()
                ],
            )
            f = conv["funnel"]
            q = "PQA" if level == "accounts" else "PQL"
            lines += [
                "",
                f"Funnel: {f['signed_up']} → {f['qualified']} {q} ({pct(f['signup_to_qualified'])}) → "
                f"{f['customers_from_qualified']} customers ({pct(f['qualified_to_customer'])} of {q}s; "
                f"non-{q}s convert at {pct(f['unqualified_to_customer'])}).",
            ]
    return "\n".join(lines).rstrip() + "\n"
