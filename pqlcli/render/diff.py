"""``pql diff`` for people: rich tables for the terminal, and Markdown."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

SHOW_IDS = 8
LEVELS = ("users", "accounts")


def _ids(ids: list[str]) -> str:
    more = f" … +{len(ids) - SHOW_IDS}" if len(ids) > SHOW_IDS else ""
    return ", ".join(ids[:SHOW_IDS]) + more


def _n(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _changes(part: dict[str, Any]) -> list[tuple[str, str, list[str], list[str]]]:
    out = [("tier", name, c["entered"], c["left"]) for name, c in part["tiers"].items()]
    out += [("pql", name, c["entered"], c["left"]) for name, c in part["pqls"].items()]
    return out


def _rules(move: dict[str, Any]) -> str:
    return ", ".join(f"{r['rule']} {_n(r['before'])}→{_n(r['after'])}" for r in move["rules"][:4])


def print_table(result: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        from pqlcli.render.console import stdout_console

        console = stdout_console()
    console.print(f"[bold]pql diff[/] {result['old']} → {result['new']}")
    for level in LEVELS:
        part = result.get(level)
        if not part:
            continue
        table = Table(title=f"{level}: entered and left", title_justify="left", expand=False)
        for col in ("kind", "name", "entered", "left", "who entered"):
            table.add_column(col, justify="right" if col in ("entered", "left") else "left", overflow="fold")
        for kind, name, entered, left in _changes(part):
            table.add_row(kind, name, str(len(entered)), str(len(left)), _ids(entered))
        console.print(table)
        if part["moves"]:
            moves = Table(title=f"{level}: biggest score moves", title_justify="left")
            for col in ("id", "fit", "usage", "rules that changed"):
                moves.add_column(col, overflow="fold")
            for m in part["moves"]:
                moves.add_row(m["id"], f"{_n(m['fit_before'])}→{_n(m['fit_after'])}",
                              f"{_n(m['usage_before'])}→{_n(m['usage_after'])}", _rules(m))
            console.print(moves)
        cols = part["columns"]
        if cols["only_in_old"] or cols["only_in_new"]:
            console.print(f"[dim]Scored with different configs: only in old: {', '.join(cols['only_in_old']) or '–'}; "
                          f"only in new: {', '.join(cols['only_in_new']) or '–'}.[/]")


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# pql diff: {result['old']} → {result['new']}", ""]
    for level in LEVELS:
        part = result.get(level)
        if not part:
            continue
        lines += [f"## {level}", "", "| kind | name | entered | left | who entered |", "|---|---|--:|--:|---|"]
        lines += [f"| {k} | {n} | {len(e)} | {len(lf)} | {_md(_ids(e))} |" for k, n, e, lf in _changes(part)]
        if part["moves"]:
            lines += ["", "| id | fit | usage | rules that changed |", "|---|---|---|---|"]
            lines += [f"| {_md(m['id'])} | {_n(m['fit_before'])} → {_n(m['fit_after'])} | "
                      f"{_n(m['usage_before'])} → {_n(m['usage_after'])} | {_md(_rules(m))} |" for m in part["moves"]]
        cols = part["columns"]
        if cols["only_in_old"] or cols["only_in_new"]:
            lines += ["", f"Columns only in the old snapshot: {', '.join(cols['only_in_old']) or '–'}; "
                      f"only in the new one: {', '.join(cols['only_in_new']) or '–'}."]
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|")
