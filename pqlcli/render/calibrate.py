"""A calibration report for people: terminal tables, Markdown and one self-contained HTML page."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from pqlcli.render.backtest import md_table, num, pct, rich_table, times
from pqlcli.render.html import CSS, SCRIPT, _e
from pqlcli.render.html import _table as html_table

POINTS_HEAD = ["Rule", "Kind", "Lift", "Points now", "Suggested"]
AUC_HEAD = ["AUC of", "Current · train", "Current · held out", "Suggested · train", "Suggested · held out"]
TIER1_HEAD = ["Tier 1", "Fit ≥", "Usage ≥", "Records", "Converted", "Rate", "Lift"]


def headline(r: dict[str, Any]) -> str:
    when = f"as of {r['as_of'][:10]}" + (f", {r['horizon_days']}-day horizon" if r.get("horizon_days") else f", label {r['label']!r}")
    return (
        f"{r['level']}s {when}: {r['records']:,} records, {r['converted']:,} converted (base rate {pct(r['base_rate'])}); "
        f"points fitted on {r['train_records']:,} (seed {r['seed']}), checked on {r['test_records']:,} held out; "
        f"capacity {r['capacity']:,} Tier 1 records."
    )


def _pts(value: Any, cap: Any, per_unit: bool) -> str:
    text = f"{value:g}" + (" per unit" if per_unit else "")
    return text + (f", cap {cap:g}" if cap is not None else "")


def points_rows(r: dict[str, Any]) -> list[list[str]]:
    return [
        [p["name"], p["kind"], times(p["lift"]), _pts(p["old"], p["old_cap"], p["per_unit"]), _pts(p["new"], p["new_cap"], p["per_unit"])]
        for p in r["points"]
    ]


def auc_rows(r: dict[str, Any]) -> list[list[str]]:
    cur, sug = r["auc"]["current"], r["auc"]["suggested"]
    names = {"fit": "fit score", "usage": "usage score", "score": "fit + usage", "tier": "tier order"}
    return [
        [label, num(cur["train"][k]), num(cur["test"][k]), num(sug["train"][k]), num(sug["test"][k])]
        for k, label in names.items()
    ]


def tier1_rows(r: dict[str, Any]) -> list[list[str]]:
    t = r["thresholds"]
    rows = []
    for label, key in (("now", "current"), ("new thresholds, current points", "best_for_current_points"), ("suggested config", "suggested")):
        x = t.get(key)
        if x:
            rows.append([label, f"{x['fit']:g}", f"{x['usage']:g}", f"{x['records']:,}", f"{x['converted']:,}", pct(x["rate"]), times(x["lift"])])
        else:
            rows.append([label, "—", "—", "—", "—", "—", "no pair fills the capacity"])
    return rows


def print_calibration(r: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    console.print(f"[bold]Calibration[/] — {headline(r)}", soft_wrap=True)
    console.print(rich_table("Tier 1 under each choice", TIER1_HEAD, tier1_rows(r), text_cols=2))
    console.print(rich_table("Points per rule", POINTS_HEAD, points_rows(r), text_cols=2))
    console.print(rich_table("Ranking quality (ROC AUC; 0.5 = chance)", AUC_HEAD, auc_rows(r), text_cols=2))


def to_markdown(r: dict[str, Any]) -> str:
    parts = [f"# Calibration: {r['level']}s", "", headline(r), ""]
    parts += ["## Tier 1 under each choice", "", md_table(TIER1_HEAD, tier1_rows(r)), ""]
    parts += ["## Points per rule", "", md_table(POINTS_HEAD, points_rows(r), text_cols=2), ""]
    parts += ["## Ranking quality (ROC AUC; 0.5 = chance)", "", md_table(AUC_HEAD, auc_rows(r)), ""]
    return "\n".join(parts)


def auc_chart(r: dict[str, Any]) -> str:
    """Grouped bars: held-out AUC of the current and the suggested config, per measure."""
    w, h, bottom, left = 460, 230, 40, 30
    names = ["fit", "usage", "score", "tier"]
    gw = (w - left - 10) / len(names)
    parts = [f'<svg class="chart auc" id="auc-held-out" role="img" aria-label="held-out AUC" viewBox="0 0 {w} {h}" '
             f'width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="#d1d9e0"/>']
    for i, name in enumerate(names):
        for j, (which, color) in enumerate((("current", "#8c959f"), ("suggested", "#1a7f37"))):
            value = r["auc"][which]["test"][name] or 0.0
            bh = (h - bottom - 20) * value
            x = left + i * gw + 8 + j * (gw - 16) / 2
            parts.append(f'<rect class="auc-bar" data-config="{which}" data-measure="{name}" data-auc="{value}" x="{x:.1f}" '
                         f'y="{h - bottom - bh:.1f}" width="{(gw - 16) / 2 - 2:.1f}" height="{bh:.1f}" fill="{color}"/>')
        parts.append(f'<text x="{left + i * gw + gw / 2:.1f}" y="{h - bottom + 16}" text-anchor="middle">{_e(name)}</text>')
    half = h - bottom - (h - bottom - 20) * 0.5
    parts.append(f'<line x1="{left}" y1="{half:.1f}" x2="{w - 10}" y2="{half:.1f}" stroke="#59636e" stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{left - 4}" y="{half + 4:.1f}" text-anchor="end">0.5</text>')
    parts.append(f'<text x="{left}" y="{h - 8}">grey: current · green: suggested (held-out rows)</text></svg>')
    return "".join(parts)


def to_html(r: dict[str, Any]) -> str:
    title = f"PQL calibration · {r['level']}s · {r['as_of'][:10]}"
    body = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{_e(headline(r))}</p>']
    body += [f'<div class="card"><h3>Held-out AUC, current vs suggested</h3>{auc_chart(r)}</div>']
    body += [f"<h2>Tier 1 under each choice</h2>{html_table(TIER1_HEAD, tier1_rows(r), 'tier1')}"]
    body += [f"<h2>Points per rule</h2>{html_table(POINTS_HEAD, points_rows(r), 'points', text_cols=2)}"]
    body += [f"<h2>Ranking quality</h2>{html_table(AUC_HEAD, auc_rows(r), 'auc')}"]
    body += ['<footer class="muted">Generated by pql calibrate. Suggestions only: the config you score with is never changed.</footer>']
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style><script>{SCRIPT}</script></head><body>{''.join(body)}</body></html>\n"
    )
