"""What the command modules share: the session of one `pql` run (workspace, debug, environment)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pqlcli.errors import UsageError
from pqlcli.workspace import Workspace

if TYPE_CHECKING:
    from pqlcli.render.console import Environment

WORKSPACE_HELP = "Workspace folder (default ./.pql, or $PQL_WORKSPACE)."


def _system_environment() -> Environment:
    from pqlcli.render.console import Environment

    return Environment.from_system()


@dataclass
class Session:
    """One run of `pql`: set up by ``main()``, filled in by the global options, read by commands."""

    env: Environment = field(default_factory=_system_environment)
    workspace: Path | None = None
    debug: bool = False


_session: ContextVar[Session | None] = ContextVar("pql_session", default=None)


def session() -> Session:
    current = _session.get()
    if current is None:
        current = Session()
        _session.set(current)
    return current


@contextmanager
def begin(env: Environment | None = None, *, debug: bool = False) -> Iterator[Session]:
    """A fresh session (and render environment) for one run; tests pass their own ``env``."""
    from pqlcli.render.console import using

    run = Session(env=env or _system_environment(), debug=debug)
    token = _session.set(run)
    try:
        with using(run.env):
            yield run
    finally:
        _session.reset(token)


def env() -> Environment:
    """The environment of this run (stdout, stderr, terminal or not, colour, --quiet)."""
    return session().env


def workspace(create: bool = False) -> Workspace:
    return Workspace.open(session().workspace, create=create)


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


__all__ = ["WORKSPACE_HELP", "Session", "begin", "env", "owner_me", "parse_kv", "session", "typer", "workspace"]
