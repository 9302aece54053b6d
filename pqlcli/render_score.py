"""Terminal rendering for `pql score`, `pql explain` and `pql config validate`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pqlcli.render import note, stderr_console, warn

TIER_STYLE = {0: "bold green", 1: "cyan", 2: "yellow", 3: "dim"}


def _console() -> Console:
    return Console(highlight=False)


def score_summary(info: dict[str, Any]) -> None:
    console = _console()
    console.print(f"[bold]Scored[/] as of {info['as_of']} → {info['snapshot']}")
    t = Table(title="Tiers", header_style="bold")
    t.add_column("tier")
    t.add_column("users", justify="right")
    t.add_column("share", justify="right")
    t.add_column("accounts", justify="right")
    t.add_column("share", justify="right")
    for i, (u, a) in enumerate(zip(info["users"], info["accounts"], strict=True)):
        t.add_row(
            f"[{TIER_STYLE[i]}]{u['tier']}[/]",
            str(u["count"]),
            f"{u['share']:.0%}",
            str(a["count"]),
            f"{a['share']:.0%}",
        )
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


def explain(data: dict[str, Any]) -> None:
    console = _console()
    who = data["who"]
    console.print(f"[bold]{data['level'].title()} {who['id']}[/] {who.get('label') or ''}  (snapshot {data['snapshot']}, as of {data['as_of']})")
    for section in ("fit", "usage"):
        s = data[section]
        t = Table(title=f"{section.title()} score {s['score']:.0f}/100 (raw {s['raw']:g}, clamped to 0..100)", header_style="bold")
        t.add_column("rule")
        t.add_column("points", justify="right")
        t.add_column("because")
        for r in s["rules"]:
            pts = r["points"]
            style = "green" if pts > 0 else ("red" if pts < 0 else "dim")
            t.add_row(r["name"], f"[{style}]{pts:+g}[/]", r["because"])
        console.print(t)
    tier = data["tier"]
    console.print(f"[bold]Tier:[/] {tier['tier']} — {tier['label']}  (fit ≥ {tier['fit_threshold']:g}, usage ≥ {tier['usage_threshold']:g})")
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
    console = stderr_console()
    console.print(
        f"[green]OK[/] {info['path']}: {info['metrics']} metrics, {info['fit']} fit rules, {info['usage']} usage rules, "
        f"{info['pqls']} PQL definitions" + (" (checked against the workspace)" if info["workspace"] else "")
    )
    for w in info["warnings"]:
        warn(w)
