"""State and helpers shared by the command modules."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import typer

from pqlcli.errors import UsageError
from pqlcli.workspace import Workspace


@dataclass
class State:
    workspace: Path | None = None
    debug: bool = False


state = State()

WORKSPACE_HELP = "Workspace folder (default ./.pql, or $PQL_WORKSPACE)."


def workspace(create: bool = False) -> Workspace:
    return Workspace.open(state.workspace, create=create)


def owner_me() -> str:
    me = os.environ.get("PQL_OWNER")
    if not me:
        raise UsageError(
            "--owner me needs to know who you are, and PQL_OWNER is not set.",
            "Set it to your CRM owner email or name, e.g. `export PQL_OWNER=ana@example.com`.",
        )
    return me


def parse_kv(values: list[str] | None, flag: str) -> dict[str, str]:
    """Parse repeated ``key=value`` options."""
    out: dict[str, str] = {}
    for item in values or []:
        if "=" not in item:
            raise UsageError(f"{flag} {item!r} is not of the form key=value.", f"Example: {flag} user_id=uid.")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


__all__ = ["WORKSPACE_HELP", "owner_me", "parse_kv", "state", "typer", "workspace"]
