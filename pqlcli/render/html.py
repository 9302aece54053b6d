"""`pql tiers report --format html`: one self-contained page (inline CSS and SVG, no network).

Charts: the fit × usage matrix as a heat map, tier sizes, per-owner (or per-breakdown) stacked bars and
conversion per tier. Every number carries a ``data-*`` attribute, so tests can compare the page with the
JSON report; a tiny inline script records chart sizes and script errors on ``<body>`` for the browser test.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from pqlcli.render.styles import HEAT, tier_style
from pqlcli.render.text import (
    BREAKDOWN_TITLES,
    LEVEL_TITLES,
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
    from pqlcli.leads.tiers import BreakdownRow, Conversion, LevelReport, Movement, TiersReport

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --soft:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; max-width: 1080px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 8px; } .muted { color: var(--muted); } .config-changed { color: #9a6700; font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; background: var(--bg); margin-bottom: 16px; }
.grid .card { margin-bottom: 0; } .grid { margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
th { background: var(--soft); font-weight: 600; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
.legend span { display: inline-block; margin-right: 12px; } .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
.tier-badge { display: inline-block; padding: 0 6px; border-radius: 10px; color: #fff; font-size: 12px; }
footer { margin-top: 40px; font-size: 12px; }
"""

SCRIPT = """
window.__pqlErrors = [];
window.addEventListener('error', function (e) { window.__pqlErrors.push(String(e.message || e)); });
window.addEventListener('load', function () {
  var sizes = {};
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var r = svg.getBoundingClientRect();
    sizes[svg.id] = [Math.round(r.width), Math.round(r.height)];
  });
  document.body.setAttribute('data-chart-sizes', JSON.stringify(sizes));
  document.body.setAttribute('data-errors', JSON.stringify(window.__pqlErrors));
  document.body.setAttribute('data-ready', '1');
});
"""



def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _color(key: str) -> str:
    return tier_style(key).hex


def _svg(cls: str, ident: str, label: str, w: int, h: float) -> str:
    return (
        f'<svg class="chart {cls}" id="{ident}" role="img" aria-label="{label}" '
        f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">'
    )


def heatmap(level: str, data: LevelReport, report: TiersReport) -> str:
    meta = report.tier_info()
    th = report.thresholds
    tiers = data.tiers
    biggest = max([v.count for v in tiers.values()] + [1])
    w, h, left, top = 420, 250, 90, 34
    cw, ch = (w - left - 10) / 2, (h - top - 10) / 2
    parts = [
        _svg("heatmap", f"heatmap-{level}", f"{_e(LEVEL_TITLES[level])} fit by usage matrix", w, h),
        f'<text x="{left + cw / 2}" y="20" text-anchor="middle">High usage (≥ {_e(num(th.usage))})</text>',
        f'<text x="{left + cw * 1.5}" y="20" text-anchor="middle">Low usage</text>',
        f'<text x="{left - 8}" y="{top + ch / 2}" text-anchor="end">Good fit</text>',
        f'<text x="{left - 8}" y="{top + ch / 2 + 15}" text-anchor="end" class="muted">(≥ {_e(num(th.fit))})</text>',
        f'<text x="{left - 8}" y="{top + ch * 1.5}" text-anchor="end">Weak fit</text>',
    ]
    positions = {"tier1": (0, 0), "tier2": (1, 0), "tier3": (0, 1), "tier4": (1, 1)}
    for key, (cx, cy) in positions.items():
        count, share = tiers[key].count, tiers[key].share
        t = count / biggest
        fill = _mix(*HEAT, t)
        ink = "#ffffff" if t > 0.55 else "#1f2328"
        x, y = left + cx * cw, top + cy * ch
        parts.append(
            f'<g class="cell" data-tier="{key}" data-count="{count}" data-share="{share if share is not None else ""}">'
            f'<rect x="{x + 2}" y="{y + 2}" width="{cw - 4}" height="{ch - 4}" rx="6" fill="{fill}" stroke="#d1d9e0"/>'
            f'<text x="{x + cw / 2}" y="{y + ch / 2 - 14}" text-anchor="middle" style="fill:{ink};font-weight:600">{_e(meta[key].label)}</text>'
            f'<text class="count" x="{x + cw / 2}" y="{y + ch / 2 + 12}" text-anchor="middle" style="fill:{ink};font-size:22px;font-weight:700">{count}</text>'
            f'<text x="{x + cw / 2}" y="{y + ch / 2 + 30}" text-anchor="middle" style="fill:{ink}">{_e(pct(share))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def tier_bars(level: str, data: LevelReport, report: TiersReport) -> str:
    meta = report.tier_info()
    tiers = data.tiers
    biggest = max([v.count for v in tiers.values()] + [1])
    w, row, left = 420, 34, 170
    parts = [_svg("bars", f"tiers-{level}", "tier sizes", w, row * len(meta) + 10)]
    for i, key in enumerate(meta):
        count = tiers[key].count
        bw = (w - left - 90) * count / biggest
        y = 5 + i * row
        parts.append(
            f'<g data-tier="{key}" data-count="{count}"><text x="0" y="{y + 18}">{_e(meta[key].label)}</text>'
            f'<rect x="{left}" y="{y + 4}" width="{max(bw, 1):.1f}" height="{row - 12}" rx="3" fill="{_color(key)}"/>'
            f'<text x="{left + bw + 6:.1f}" y="{y + 18}">{count} · {_e(pct(tiers[key].share))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(level: str, dim: str, rows: list[BreakdownRow], report: TiersReport) -> str:
    meta = report.tier_info()
    biggest = max([r.total for r in rows] + [1])
    w, row, left = 640, 24, 190
    parts = [_svg("stacked", f"by-{dim}-{level}", f"tiers by {_e(dim)}", w, row * len(rows) + 10)]
    for i, r in enumerate(rows):
        y = 5 + i * row
        label = r.value if len(r.value) <= 26 else r.value[:25] + "…"
        parts.append(f'<g class="group" data-value="{_e(r.value)}" data-total="{r.total}"><title>{_e(r.value)}</title>')
        parts.append(f'<text x="0" y="{y + 15}">{_e(label)}</text>')
        x = float(left)
        for key in meta:
            n = r.tiers[key]
            bw = (w - left - 50) * n / biggest
            if n:
                parts.append(
                    f'<rect data-tier="{key}" data-count="{n}" x="{x:.1f}" y="{y + 3}" width="{bw:.1f}" height="{row - 8}" fill="{_color(key)}">'
                    f"<title>{_e(meta[key].label)}: {n}</title></rect>"
                )
            x += bw
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}">{r.total}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def conversion_bars(level: str, conv: Conversion, report: TiersReport) -> str:
    meta = report.tier_info()
    rates = {k: (v.rate or 0.0) for k, v in conv.tiers.items()}
    top = max([*rates.values(), 0.01])
    w, h, bottom, left = 420, 220, 40, 20
    bw = (w - left * 2) / len(meta)
    parts = [
        _svg("conversion", f"conversion-{level}", "conversion per tier", w, h),
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - left}" y2="{h - bottom}" stroke="#d1d9e0"/>',
    ]
    for i, key in enumerate(meta):
        rate = conv.tiers[key].rate
        bh = (h - bottom - 30) * rates[key] / top
        x = left + i * bw
        parts.append(
            f'<g data-tier="{key}" data-rate="{rate if rate is not None else ""}">'
            f'<rect x="{x + 10:.1f}" y="{h - bottom - bh:.1f}" width="{bw - 20:.1f}" height="{max(bh, 1):.1f}" rx="3" fill="{_color(key)}"/>'
            f'<text x="{x + bw / 2:.1f}" y="{h - bottom - bh - 6:.1f}" text-anchor="middle">{_e(pct(rate))}</text>'
            f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 16}" text-anchor="middle">{_e(short_tier(key, meta))}</text>'
            f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 32}" text-anchor="middle" class="muted">{_e(lift(conv.tiers[key].lift_vs_tier4))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[Any]], cls: str = "", text_cols: int = 1) -> str:
    out = [f'<table class="{cls}"><thead><tr>']
    out += [f'<th class="{"text" if i < text_cols else ""}">{_e(h)}</th>' for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="{"text" if i < text_cols else ""}">{_e(c)}</td>' for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _legend(report: TiersReport) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i class="swatch" style="background:{_color(k)}"></i>{_e(m.label)}</span>' for k, m in report.tier_info().items()
    ) + "</div>"


def _breakdowns(level: str, data: LevelReport, report: TiersReport) -> list[str]:
    meta = report.tier_info()
    body: list[str] = []
    for dim, rows in data.by.items():
        body.append(f'<div class="card" data-breakdown="{_e(dim)}"><h3>By {_e(BREAKDOWN_TITLES.get(dim, dim))}</h3>')
        body.append(_legend(report))
        body.append(stacked_bars(level, dim, rows, report))
        body.append(
            _table(
                [dim, "Total", *[short_tier(k, meta) for k in meta], f"{short_tier('tier1', meta)} share"],
                [[r.value, r.total, *[r.tiers[k] for k in meta], pct(r.tier1_share)] for r in rows],
                f"breakdown-{dim}",
            )
        )
        body.append("</div>")
    return body


def _top(data: LevelReport, report: TiersReport) -> list[str]:
    if not data.top:
        return []
    meta = report.tier_info()
    body = ['<div class="card"><h3>Top accounts per tier</h3>']
    for key, rows in data.top.items():
        if rows:
            body.append(f'<p><span class="tier-badge" style="background:{_color(key)}">{_e(meta[key].label)}</span></p>')
            body.append(
                _table(
                    ["Account", "Owner", "Fit", "Usage", "Why"],
                    [[r.get("name") or r.get("account_id"), r.get("owner") or "", num(r.get("fit_score")), num(r.get("usage_score")), r.get("why", "")] for r in rows],
                    f"top-{key}",
                    text_cols=2,
                )
            )
    body.append("</div>")
    return body


def _movement(level: str, move: Movement, report: TiersReport) -> list[str]:
    meta = report.tier_info()
    cols = list(next(iter(move.matrix.values())).keys())
    body = [f'<div class="card movement"><h3>Movement since {_e(move.previous_label)}</h3>']
    cls = "config-changed" if move.config_changes else "muted"
    body += [f'<p class="{cls}">{_e(line)}</p>' for line in movement_lines(move, meta)]
    body.append(
        _table(
            ["from \\ to", *[move_to(c, meta) for c in cols]],
            [[move_from(r, meta), *row.values()] for r, row in move.matrix.items()],
            "migration",
        )
    )
    body.append(f"<p>{_e(movement_summary(move, meta))}</p>")
    if move.entered_tier1:
        body.append(
            _table(
                [f"Entered {short_tier('tier1', meta)}", "Owner", "Fit", "Usage", "Was"],
                [[who(r, level), r.get("owner") or "", num(r.get("fit_score")), num(r.get("usage_score")), move_from(r["before"], meta)] for r in move.entered_tier1],
                "entered",
                text_cols=2,
            )
        )
    body.append("</div>")
    return body


def _conversion(level: str, conv: Conversion, report: TiersReport) -> list[str]:
    meta = report.tier_info()
    f = conv.funnel
    q = "PQA" if level == "accounts" else "PQL"
    return [
        '<div class="card"><h3>Conversion per tier</h3>',
        conversion_bars(level, conv, report),
        _table(
            ["Tier", "Count", "Converted", "Rate", f"Lift vs {short_tier('tier4', meta)}"],
            [[meta[k].label, v.count, v.converted, pct(v.rate), lift(v.lift_vs_tier4)] for k, v in conv.tiers.items()],
            "conversion",
        ),
        f"<p>Funnel: {f.signed_up} signed up → {f.qualified} {q} ({_e(pct(f.signup_to_qualified))}) → "
        f"{f.customers_from_qualified} customers ({_e(pct(f.qualified_to_customer))} of {q}s; "
        f"non-{q}s convert at {_e(pct(f.unqualified_to_customer))}).</p></div>",
    ]


def _level(level: str, data: LevelReport, report: TiersReport) -> list[str]:
    title = LEVEL_TITLES.get(level, level)
    body = [f'<section id="{level}" data-level="{level}" data-total="{data.total}">']
    body.append(f"<h2>{_e(title)} <span class='muted'>({data.total}; {qualified_title(level)}: {data.qualified})</span></h2>")
    body.append('<div class="grid">')
    body.append(f'<div class="card"><h3>Fit × usage</h3>{heatmap(level, data, report)}</div>')
    body.append(f'<div class="card"><h3>Tier sizes</h3>{tier_bars(level, data, report)}</div>')
    body.append("</div>")
    body += _breakdowns(level, data, report)
    body += _top(data, report)
    if data.movement:
        body += _movement(level, data.movement, report)
    if data.conversion:
        body += _conversion(level, data.conversion, report)
    body.append("</section>")
    return body


def to_html(report: TiersReport) -> str:
    body: list[str] = ["<h1>PQL tier report</h1>"]
    body += [f'<p class="muted">{_e(line)}</p>' for line in header_lines(report)]
    for level, data in report.levels.items():
        body += _level(level, data, report)
    body.append(f'<footer class="muted">Generated by pql from snapshot {_e(report.snapshot_label)}. Self-contained: no network needed.</footer>')
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>PQL tier report · {_e(report.snapshot)}</title><style>{CSS}</style><script>{SCRIPT}</script></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
