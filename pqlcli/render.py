"""Everything a person sees: the only core module that imports rich.

Data goes to stdout; progress, warnings, notes and errors go to stderr, so
``pql list ... --format csv | head`` stays clean.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pqlcli.errors import PqlError
from pqlcli.util.secrets import redact


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def debug_enabled() -> bool:
    return os.environ.get("PQL_DEBUG", "").lower() in {"1", "true", "yes", "on"}


def error(err: PqlError, *, debug: bool = False) -> None:
    """Print a PqlError as one paragraph on stderr (with a redacted traceback under --debug)."""
    console = stderr_console()
    if debug:
        tb = "".join(traceback.format_exception(err))
        sys.stderr.write(redact(tb))
    text = f"[bold red]Error:[/] {_escape(redact(err.message))}"
    if err.hint:
        sep = "\n" if "\n" in err.message else " "
        text += f"{sep}[dim]{_escape(redact(err.hint))}[/]"
    console.print(text, soft_wrap=True)


def unexpected(exc: BaseException) -> None:
    console = stderr_console()
    console.print(
        f"[bold red]Error:[/] unexpected {type(exc).__name__}: {_escape(redact(str(exc)))} "
        "[dim]This is a bug in pql; run again with --debug (or PQL_DEBUG=1) for the traceback and report it.[/]",
        soft_wrap=True,
    )


def warn(message: str) -> None:
    stderr_console().print(f"[yellow]Warning:[/] {_escape(redact(message))}", soft_wrap=True)


def note(message: str) -> None:
    stderr_console().print(f"[dim]{_escape(redact(message))}[/]", soft_wrap=True)


def info(message: str) -> None:
    """A rich-markup line on stderr (for summaries next to data on stdout)."""
    stderr_console().print(message, soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def table(title: str | None, columns: list[str], rows: list[list[Any]], *, stderr: bool = True) -> None:
    """A simple rich table (summaries go to stderr by default)."""
    t = Table(title=title, show_lines=False, header_style="bold")
    for i, col in enumerate(columns):
        t.add_column(col, justify="right" if i else "left")
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    (stderr_console() if stderr else stdout_console()).print(t)


class ProgressHandle:
    """What library code calls to report progress; a no-op when progress is off."""

    def __init__(self, progress: Progress | None = None, task: Any = None):
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, *, completed: float | None = None, total: float | None = None, description: str | None = None) -> None:
        if self._progress is not None:
            kwargs: dict[str, Any] = {}
            if completed is not None:
                kwargs["completed"] = completed
            if total is not None:
                kwargs["total"] = total
            if description is not None:
                kwargs["description"] = description
            self._progress.update(self._task, **kwargs)


@contextmanager
def progress(description: str, total: float | None = None, *, unit: str = "") -> Iterator[ProgressHandle]:
    """A progress bar with rate and ETA on stderr (silent when stderr is not a terminal)."""
    console = stderr_console()
    if not console.is_terminal:
        yield ProgressHandle()
        return
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{unit}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield ProgressHandle(bar, task)
