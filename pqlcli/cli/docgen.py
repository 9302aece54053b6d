"""Generate docs/cli.md from the commands' own --help, so the reference cannot drift.

    python -m pqlcli.cli.docgen > docs/cli.md
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import typer

from pqlcli.cli.main import app


def walk(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group, depth first, with its path of names."""
    command = command or typer.main.get_command(app)
    yield path, command
    subcommands = getattr(command, "commands", None) or {}
    for name in sorted(subcommands):
        yield from walk(subcommands[name], (*path, name))


def help_text(path: tuple[str, ...]) -> str:
    from typer.testing import CliRunner

    os.environ["COLUMNS"] = "100"
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="pql", env={"COLUMNS": "100", "NO_COLOR": "1"})
    return result.output.rstrip() + "\n"


def reference() -> str:
    out = [
        "# pql command reference",
        "",
        "Generated from each command's `--help` by `python -m pqlcli.cli.docgen > docs/cli.md`;",
        "a test fails when it is out of date.",
        "",
    ]
    for path, _command in walk():
        title = " ".join(("pql", *path))
        out += [f"## `{title}`", "", "```text", help_text(path).rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(reference(), end="")
