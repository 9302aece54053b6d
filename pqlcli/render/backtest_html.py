"""`pql backtest --format html`: one self-contained page (inline CSS and SVG, no network).

Charts: lift per tier (bars against the base rate) and the cumulative gains curve (share of conversions
caught against share of records contacted, best scores first). Every plotted number carries a ``data-*``
attribute so tests compare the page with the JSON; the tiers report's inline script records chart sizes
and script errors on ``<body>`` for the browser test.
"""

from __future__ import annotations

from typing import Any

from pqlcli.render.backtest import (
    GAINS_HEAD,
    PQL_HEAD,
    RULE_HEAD,
    TIER_HEAD,
    auc_line,
    excluded_line,
    gains_rows,
    headline,
    pct,
    pql_rows,
    rule_rows,
    tier_rows,
    times,
)
from pqlcli.render.html import CSS, SCRIPT, _e, _table
from pqlcli.render.styles import tier_style

EXTRA_CSS = ".axis { stroke: #d1d9e0; } .base { stroke: #59636e; stroke-dasharray: 4 3; } .warn { color: #9a6700; }"


def lift_chart(r: dict[str, Any]) -> str:
    """Bars: each tier's conversion rate over the base rate; the dashed line is 1× (the base rate)."""
    w, h, bottom, left, top_pad = 460, 240, 44, 36, 24
    lifts = {k: (t["lift"] or 0.0) for k, t in r["tiers"].items()}
    top = max([*lifts.values(), 1.5])
    scale = (h - bottom - top_pad) / top
    bw = (w - left - 10) / max(1, len(lifts))
    base_y = h - bottom - scale
    parts = [
        f'<svg class="chart lift" id="lift-by-tier" role="img" aria-label="lift per tier" viewBox="0 0 {w} {h}" '
        f'width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}"/>',
    ]
    for i, (key, value) in enumerate(lifts.items()):
        t = r["tiers"][key]
        bh = value * scale
        x = left + i * bw
        parts.append(
            f'<g class="bar" data-tier="{key}" data-lift="{"" if t["lift"] is None else t["lift"]}" data-rate="{"" if t["rate"] is None else t["rate"]}">'
            f'<rect x="{x + 12:.1f}" y="{h - bottom - bh:.1f}" width="{bw - 24:.1f}" height="{max(bh, 1):.1f}" rx="3" fill="{tier_style(key).hex}"/>'
            f'<text x="{x + bw / 2:.1f}" y="{h - bottom - bh - 6:.1f}" text-anchor="middle">{_e(times(t["lift"]))}</text>'
            f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 16}" text-anchor="middle">{_e(key.replace("tier", "Tier "))}</text>'
            f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 32}" text-anchor="middle">{_e(pct(t["rate"]))}</text></g>'
        )
    parts.append(f'<line class="base" x1="{left}" y1="{base_y:.1f}" x2="{w - 10}" y2="{base_y:.1f}"/>')
    parts.append(f'<text x="{left - 4}" y="{base_y + 4:.1f}" text-anchor="end">1×</text></svg>')
    return "".join(parts)


def gains_chart(r: dict[str, Any]) -> str:
    """Cumulative gains: x = share of records (best first), y = share of all conversions caught."""
    w, h, pad = 460, 300, 40
    side_w, side_h = w - 2 * pad, h - 2 * pad

    def xy(share: float, recall: float) -> str:
        return f"{pad + share * side_w:.1f},{h - pad - recall * side_h:.1f}"

    points = [(0.0, 0.0)] + [(g["cum_share_records"] or 0.0, g["cum_recall"] or 0.0) for g in r["gains"]]
    parts = [
        f'<svg class="chart gains" id="gains-curve" role="img" aria-label="cumulative gains" viewBox="0 0 {w} {h}" '
        f'width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{pad}" y="{pad}" width="{side_w}" height="{side_h}" fill="none" class="axis"/>',
        f'<line class="base" x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{pad}"/>',
        f'<polyline fill="none" stroke="#1a7f37" stroke-width="2.5" points="{" ".join(xy(s, c) for s, c in points)}"/>',
    ]
    for g in r["gains"]:
        x, y = xy(g["cum_share_records"] or 0.0, g["cum_recall"] or 0.0).split(",")
        parts.append(
            f'<circle class="point" cx="{x}" cy="{y}" r="3.5" fill="#1a7f37" data-decile="{g["decile"]}" '
            f'data-cum-share="{g["cum_share_records"]}" data-cum-recall="{g["cum_recall"]}"/>'
        )
    for tick in (0, 0.5, 1):
        parts.append(f'<text x="{pad + tick * side_w:.1f}" y="{h - pad + 16}" text-anchor="middle">{tick:.0%}</text>')
        parts.append(f'<text x="{pad - 6}" y="{h - pad - tick * side_h + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle">records contacted, best scores first</text>')
    parts.append(f'<text x="{pad}" y="{pad - 10}">conversions caught (dashed: random order)</text></svg>')
    return "".join(parts)


def per_date_table(r: dict[str, Any]) -> str:
    rows = [
        [d["as_of"][:10], f"{d['records']:,}", f"{d['converted']:,}", pct(d["base_rate"]), times(d["tiers"]["tier1"]["lift"]),
         "—" if d["auc"]["tier"] is None else f"{d['auc']['tier']:.3f}"]
        for d in r.get("per_date", [])
    ]
    return _table(["As of", "Records", "Converted", "Base rate", "Tier 1 lift", "AUC (tier)"], rows, "per-date")


def to_html(r: dict[str, Any]) -> str:
    title = f"PQL backtest · {r['level']}s · {r['as_of'][:10]}"
    body = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{_e(headline(r))}</p>']
    line = excluded_line(r)
    if line:
        body.append(f'<p class="muted">{_e(line)}</p>')
    for w in r["warnings"]:
        body.append(f'<p class="warn">⚠ {_e(w)}</p>')
    body.append('<div class="grid">')
    body.append(f'<div class="card"><h3>Lift per tier</h3>{lift_chart(r)}</div>')
    body.append(f'<div class="card"><h3>Cumulative gains</h3>{gains_chart(r)}</div></div>')
    body.append(f"<h2>Per tier</h2>{_table(TIER_HEAD, tier_rows(r), 'tiers')}")
    if r["pqls"]:
        body.append(f"<h2>Per PQL definition</h2>{_table(PQL_HEAD, pql_rows(r), 'pqls')}")
    body.append(f"<h2>Ranking quality</h2><p>{_e(auc_line(r))}</p>")
    body.append(f"<h2>Gains by score decile</h2>{_table(GAINS_HEAD, gains_rows(r), 'gains')}")
    body.append(f"<h2>Per rule</h2>{_table(RULE_HEAD, rule_rows(r), 'rules', text_cols=2)}")
    if r["never_firing_rules"]:
        body.append(f"<p>Rules that never fired: {_e(', '.join(r['never_firing_rules']))}.</p>")
    if r.get("per_date"):
        body.append(f"<h2>Per as-of date</h2>{per_date_table(r)}")
    body.append('<footer class="muted">Generated by pql backtest. Lift = rate ÷ base rate; recall = share of all '
                "conversions captured; AUC 0.5 = chance.</footer>")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}{EXTRA_CSS}</style><script>{SCRIPT}</script></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
