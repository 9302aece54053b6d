"""Everything pql draws on a terminal: the `pql list` table, `pql tiers report`, `pql score`/`explain` summaries.

Tables get colour and fit the width on a terminal; piped, the same table is written plain (no colour,
no truncation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, OverflowMethod
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pqlcli.render.console import Environment, current, note, stderr_console, warn
from pqlcli.render.styles import BAR_WIDTH, SCORE_STYLES, score_bar, tier_style
from pqlcli.render.text import (
    BREAKDOWN_TITLES,
    LEVEL_TITLES,
    cell,
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
    import polars as pl

    from pqlcli.leads.tiers import Conversion, LevelReport, Movement, TiersReport

# ---- pql list ---------------------------------------------------------------------------------------
SCORE_COLUMNS = {"fit_score": "fit", "usage_score": "usage"}
HEADERS = {"account_name": "company", "tier": "tier", "why": "why", "users": "users"}
# Text columns that share the width left after the fixed ones (scores, tier, plan, numbers), by ratio.
FLEX_TEXT = {"name": 3, "email": 3, "account_name": 2, "domain": 2, "owner": 2, "title": 2, "industry": 2}
# From this width on, a terminal shows the email in its own column (below, name and email share "who").
EMAIL_WIDTH = 120


def _lead_columns(table: Table, frame: pl.DataFrame, shown: list[str], merge_who: bool, plain: bool) -> None:
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
        elif plain:
            table.add_column(header, overflow=overflow)
        elif col in FLEX_TEXT:
            table.add_column(header, overflow=overflow, no_wrap=True, ratio=FLEX_TEXT[col], min_width=4)
        else:
            table.add_column(header, overflow=overflow, no_wrap=True, max_width=8)


def _lead_cell(col: str, row: dict[str, Any], merge_who: bool, plain: bool, keys: dict[str, str]) -> Text | str:
    value = row[col]
    if merge_who and col == "name":
        return cell(value if value not in (None, "") else row["email"])
    if col in SCORE_COLUMNS:
        number = "" if value is None else f"{float(value):>3.0f}"
        return number.strip() if plain else Text.assemble((score_bar(value), SCORE_STYLES[col]), " ", number)
    if col == "tier":
        return Text(cell(value), style="" if plain else tier_style(keys.get(str(value), str(value))).text)
    return cell(value)


def lead_table(
    frame: pl.DataFrame,
    *,
    tier_keys: dict[str, str] | None = None,
    title: str | None = None,
    caption: str | None = None,
    plain: bool = False,
    show_email: bool = False,
) -> Table:
    """A rich table of leads. ``tier_keys`` maps a snapshot's tier names to tier1..tier4 (for colours).

    Name and email share one "who" column unless ``show_email`` (a wide terminal).
    """
    columns = list(frame.columns)
    merge_who = "name" in columns and "email" in columns and not show_email
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
    _lead_columns(table, frame, shown, merge_who, plain)
    keys = tier_keys or {}
    for row in frame.iter_rows(named=True):
        table.add_row(*[_lead_cell(col, row, merge_who, plain, keys) for col in shown])
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


def print_leads(
    frame: pl.DataFrame,
    *,
    tier_keys: dict[str, str] | None = None,
    title: str | None = None,
    caption: str | None = None,
    env: Environment | None = None,
) -> None:
    """Print leads on stdout: fitted and coloured on a terminal (with the email when it fits), plain otherwise."""
    env = env or current()
    if env.stdout_isatty:
        console = env.console()
        wide = console.width >= EMAIL_WIDTH
        console.print(lead_table(frame, tier_keys=tier_keys, title=title, caption=caption, show_email=wide))
        return
    console = Console(highlight=False, no_color=True, width=4096, soft_wrap=False)
    with console.capture() as capture:
        console.print(lead_table(frame, tier_keys=tier_keys, plain=True))
    env.stdout.write("\n".join(line.rstrip() for line in capture.get().splitlines()) + "\n")


# ---- pql tiers report -------------------------------------------------------------------------------
def _bar(value: float, biggest: float, width: int) -> str:
    return score_bar(100 * value / biggest if biggest else 0, width).rstrip()


def _matrix(data: LevelReport, report: TiersReport) -> Table:
    meta = report.tier_info()
    th = report.thresholds
    t = Table(title="Fit × usage", show_lines=True, header_style="bold", title_justify="left")
    t.add_column("")
    t.add_column(f"High usage (≥ {num(th.usage)})", justify="center")
    t.add_column("Low usage", justify="center")

    def box(key: str) -> Text:
        v = data.tiers[key]
        return Text.assemble((meta[key].label, tier_style(key).text), "\n", (str(v.count), "bold"), f"  {pct(v.share)}")

    t.add_row(f"Good fit (≥ {num(th.fit)})", box("tier1"), box("tier2"))
    t.add_row("Weak fit", box("tier3"), box("tier4"))
    return t


def _tier_bars(data: LevelReport, report: TiersReport) -> Table:
    meta = report.tier_info()
    biggest = max([v.count for v in data.tiers.values()] + [1])
    t = Table(box=None, show_header=False, pad_edge=False, title="Tier sizes", title_justify="left")
    t.add_column("tier", no_wrap=True)
    t.add_column("bar", no_wrap=True, min_width=10)
    t.add_column("n", justify="right")
    t.add_column("share", justify="right")
    for key in meta:
        v = data.tiers[key]
        style = tier_style(key)
        t.add_row(Text(meta[key].label, style=style.text), Text(_bar(v.count, biggest, 20), style=style.bar), str(v.count), pct(v.share))
    return t


def _stacked(counts: dict[str, int], biggest: int, width: int = 16) -> Text:
    text = Text()
    for key, n in counts.items():
        text.append("█" * (round(width * n / biggest) if biggest else 0), style=tier_style(key).bar)
    return text


def _breakdown(dim: str, data: LevelReport, report: TiersReport) -> Table:
    rows = data.by[dim]
    meta = report.tier_info()
    biggest = max([r.total for r in rows] + [1])
    t = Table(title=f"By {BREAKDOWN_TITLES.get(dim, dim)}", header_style="bold", title_justify="left")
    t.add_column(dim, overflow="ellipsis", max_width=24, no_wrap=True)
    t.add_column("n", justify="right", no_wrap=True)
    for key in meta:
        t.add_column(Text(short_tier(key, meta), style=tier_style(key).text), justify="right", no_wrap=True)
    t.add_column(f"{short_tier('tier1', meta)} %", justify="right", no_wrap=True)
    t.add_column("", no_wrap=True, overflow="crop")
    for r in rows:
        t.add_row(r.value, str(r.total), *[str(r.tiers[k]) for k in meta], pct(r.tier1_share), _stacked(r.tiers, biggest))
    return t


def _top(data: LevelReport, report: TiersReport) -> Table | None:
    meta = report.tier_info()
    t = Table(title="Top accounts per tier", header_style="bold", title_justify="left")
    t.add_column("tier", no_wrap=True, min_width=2)
    t.add_column("account", overflow="ellipsis", no_wrap=True, max_width=20, min_width=8)
    t.add_column("owner", overflow="ellipsis", no_wrap=True, max_width=16, min_width=6)
    t.add_column("fit", justify="right", no_wrap=True, min_width=3)
    t.add_column("usage", justify="right", no_wrap=True, min_width=5)
    t.add_column("why", overflow="ellipsis", no_wrap=True, max_width=28, min_width=10)
    any_rows = False
    for key, rows in (data.top or {}).items():
        for i, r in enumerate(rows):
            any_rows = True
            t.add_row(
                Text(short_tier(key, meta) if i == 0 else "", style=tier_style(key).text),
                str(r.get("name") or r.get("account_id")),
                str(r.get("owner") or ""),
                num(r.get("fit_score")),
                num(r.get("usage_score")),
                r.get("why", ""),
            )
    return t if any_rows else None


def _movement(level: str, move: Movement, report: TiersReport) -> Group:
    meta = report.tier_info()
    cols = list(next(iter(move.matrix.values())).keys())
    notes = [Text(line, style="yellow" if move.config_changes else "dim") for line in movement_lines(move, meta)]
    t = Table(title=f"Movement since {move.previous_label}", header_style="bold", title_justify="left")
    t.add_column("from \\ to")
    for c in cols:
        t.add_column(move_to(c, meta), justify="right")
    for r, row in move.matrix.items():
        t.add_row(move_from(r, meta), *[(str(v) if v else "·") for v in row.values()])
    parts: list[Any] = [*notes, t, Text(movement_summary(move, meta))]
    if move.entered_tier1:
        e = Table(title=f"Entered {short_tier('tier1', meta)}", header_style="bold", title_justify="left")
        for col in ("who", "owner", "fit", "usage", "was"):
            e.add_column(col, justify="right" if col in ("fit", "usage") else "left", overflow="ellipsis", max_width=30)
        for lead in move.entered_tier1[:10]:
            e.add_row(
                who(lead, level), str(lead.get("owner") or ""), num(lead.get("fit_score")), num(lead.get("usage_score")), move_from(lead["before"], meta)
            )
        parts.append(e)
    return Group(*parts)


def _conversion(level: str, conv: Conversion, report: TiersReport) -> Group:
    meta = report.tier_info()
    top = max([v.rate or 0 for v in conv.tiers.values()] + [0.0001])
    t = Table(title="Conversion per tier", header_style="bold", title_justify="left")
    for col in ("tier", "n", "won", "rate", "", f"lift vs {short_tier('tier4', meta)}"):
        t.add_column(col, justify="left" if col in ("tier", "") else "right", no_wrap=True, overflow="crop" if not col else "ellipsis")
    for key, v in conv.tiers.items():
        style = tier_style(key)
        t.add_row(
            Text(meta[key].label, style=style.text),
            str(v.count),
            str(v.converted),
            pct(v.rate),
            Text(_bar(v.rate or 0, top, 12), style=style.bar),
            lift(v.lift_vs_tier4),
        )
    return Group(t, Text(funnel_text(level, conv.funnel)))


def print_report(report: TiersReport, console: Console | None = None) -> None:
    """The tier report on a terminal: one panel per level."""
    console = console or current().console()
    console.print(Text("PQL tier report", style="bold"))
    for line in header_lines(report):
        console.print(Text(line, style="dim"))
    for level, data in report.levels.items():
        parts: list[Any] = [_matrix(data, report), _tier_bars(data, report)]
        parts += [_breakdown(dim, data, report) for dim in data.by]
        top = _top(data, report)
        if top is not None:
            parts.append(top)
        if data.movement:
            parts.append(_movement(level, data.movement, report))
        if data.conversion:
            parts.append(_conversion(level, data.conversion, report))
        title = f"{LEVEL_TITLES.get(level, level)}: {data.total} ({qualified_title(level)}: {data.qualified})"
        console.print(Panel(Group(*parts), title=title, title_align="left", expand=False))


# ---- pql score, explain, config validate ---------------------------------------------------------------
def score_summary(info: dict[str, Any]) -> None:
    console = current().console()
    console.print(f"[bold]Scored[/] as of {info['as_of']} → {info['snapshot']}")
    t = Table(title="Tiers", header_style="bold")
    for col in ("tier", "users", "share", "accounts", "share"):
        t.add_column(col, justify="left" if col == "tier" else "right")
    for i, (u, a) in enumerate(zip(info["users"], info["accounts"], strict=True)):
        style = tier_style(f"tier{i + 1}").text
        t.add_row(f"[{style}]{u['tier']}[/]", str(u["count"]), f"{u['share']:.0%}", str(a["count"]), f"{a['share']:.0%}")
    console.print(t)
    p = Table(title="PQL definitions", header_style="bold")
    p.add_column("definition")
    p.add_column("level")
    p.add_column("count", justify="right")
    for row in info["pqls"]:
        p.add_row(row["name"], row["level"], str(row["count"]))
    p.add_row("[bold]PQL users (any)[/]", "user", str(info["pql_users"]))
    p.add_row("[bold]PQAs[/]", "account", str(info["pqas"]))
    console.print(p)
    for o in info["overlap"]:
        console.print(f"overlap {o['a']} ∩ {o['b']}: {o['both']} users")
    since = f"since {info['previous']}" if info["previous"] else "(first snapshot)"
    console.print(f"[bold]New PQLs {since}:[/] {info['new_pqls']}")
    counts = info.get("counts", {})
    if counts.get("excluded_users"):
        note(f"{counts['excluded_users']} user(s) excluded by the config's exclude rules.")
    if counts.get("events_unknown_users"):
        warn(f"{counts['events_unknown_users']} event(s) belong to users that are not in the users table; they were not counted.")


def _explain_rules(console: Console, section: str, s: dict[str, Any]) -> None:
    t = Table(title=f"{section.title()} score {s['score']:.0f}/100 (raw {s['raw']:g}, clamped to 0..100)", header_style="bold")
    t.add_column("rule")
    t.add_column("points", justify="right")
    t.add_column("because")
    for r in s["rules"]:
        pts = r["points"]
        style = "green" if pts > 0 else ("red" if pts < 0 else "dim")
        t.add_row(r["name"], f"[{style}]{pts:+g}[/]", r["because"])
    console.print(t)


def _explain_identity(console: Console, data: dict[str, Any]) -> None:
    """Which record the query found (and which others it also matched), and every alias with its source."""
    ident, level, shown = data.get("identity") or {}, data["level"], data["who"]["id"]
    if ident.get("others"):
        others = ident["others"]
        warn(
            f"{ident['query']!r} matched {len(others) + 1} {level}s: {', '.join([shown, *others])}. Showing {shown}; "
            f"run `pql explain ID` with one of the others to see it (merge them by ingesting a file that links them)."
        )
    if ident.get("alias_of"):
        console.print(f"{ident['query']!r} is an alias of {level} {ident['alias_of']}.")
    aliases = ident.get("aliases") or []
    if len(aliases) > 1 or any(a["alias"] != shown for a in aliases):
        console.print(f"[bold]Known as[/] ({len(aliases)} ids, one {level}):")
        for a in aliases:
            tags = [t for t, on in (("canonical", a["canonical"]), ("record", a["record"] and not a["canonical"])) if on]
            console.print(f"  {escape(str(a['alias']))}  from {escape(str(a['source']))}" + (f"  ({', '.join(tags)})" if tags else ""))
    elif aliases:
        console.print(f"Known as {shown} only (from {escape(str(aliases[0]['source']))}).")


def explain(data: dict[str, Any]) -> None:
    console = current().console()
    who_ = data["who"]
    console.print(f"[bold]{data['level'].title()} {who_['id']}[/] {who_.get('label') or ''}  (snapshot {data.get('snapshot_label') or data['snapshot']}, as of {data['as_of']})")
    _explain_identity(console, data)
    for section in data.get("dimensions", ("fit", "usage")):
        _explain_rules(console, section, data[section])
    for name, a in data.get("activation", {}).items():
        if data["level"] == "user":
            days = f", day {a['days']:.1f}" if a.get("days") is not None else ""
            console.print(f"[bold]Activation {name}:[/] {'yes' if a['done'] else 'no'} ({a['steps']}/{a['of']} steps{days})")
        else:
            console.print(f"[bold]Activation {name}:[/] {a['users']} activated user(s)")
    tier = data["tier"]
    x, y = tier.get("x", "fit"), tier.get("y", "usage")
    xt, yt = tier.get("x_threshold", tier["fit_threshold"]), tier.get("y_threshold", tier["usage_threshold"])
    console.print(f"[bold]Tier:[/] {tier['tier']} — {tier['label']}  ({x} ≥ {xt:g}, {y} ≥ {yt:g})")
    for line in tier["headroom"]:
        console.print(f"  • {line}")
    if data["pqls"]:
        console.print("[bold]PQL definitions:[/]")
        for p in data["pqls"]:
            mark = "[green]yes[/]" if p["value"] else "[dim]no[/]"
            console.print(f"  {p['name']}: {mark}  — {p['when']}  ({p['because']})")
    if data.get("pqa") is not None:
        pqa = data["pqa"]
        console.print(
            f"[bold]PQA:[/] {'yes' if pqa['value'] else 'no'} — {pqa['pql_users']} of {pqa['users']} users are PQLs "
            f"(share {pqa['share'] if pqa['share'] is not None else 'n/a'}; needs ≥ {pqa['threshold']:g})"
        )


def validate_ok(info: dict[str, Any]) -> None:
    stderr_console().print(
        f"[green]OK[/] {info['path']}: {info['metrics']} metrics, {info['fit']} fit rules, {info['usage']} usage rules, "
        f"{info['pqls']} PQL definitions" + (" (checked against the workspace)" if info["workspace"] else "")
    )
    for w in info["warnings"]:
        warn(w)
