"""The environment a command runs in, and the messages a person sees on stderr.

One :class:`Environment` (after httpie's) holds stdout, stderr, whether each is a terminal, colour and
``--quiet``; the CLI makes one per run and tests pass their own. Data goes to stdout; progress, warnings,
notes and errors go to stderr, so ``pql list ... --format csv | head`` stays clean.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import IO, Any, cast

from rich.console import Console
from rich.markup import escape
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


def _isatty(stream: IO[Any]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@dataclass
class Environment:
    """Where output goes and how it looks. ``colors`` is off under ``NO_COLOR`` or off a terminal."""

    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None
    colors: bool | None = None
    quiet: bool = False
    width: int | None = None  # None: the terminal's (or $COLUMNS)

    def __post_init__(self) -> None:
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)
        if self.colors is None:
            self.colors = bool(self.stdout_isatty) and "NO_COLOR" not in os.environ

    @classmethod
    def from_system(cls, *, quiet: bool = False, environ: Mapping[str, str] | None = None) -> Environment:
        environ = os.environ if environ is None else environ
        env = cls(quiet=quiet)
        if "NO_COLOR" in environ:
            env.colors = False
        return env

    def console(self, *, stderr: bool = False, **kwargs: Any) -> Console:
        """A rich console on stdout (or stderr) that agrees with this environment."""
        tty = self.stderr_isatty if stderr else self.stdout_isatty
        options: dict[str, Any] = {"highlight": False, "no_color": not self.colors, "force_terminal": tty}
        if self.width is not None:
            options["width"] = self.width
        options.update(kwargs)
        return Console(file=self.stderr if stderr else self.stdout, **options)

    def terminal_width(self) -> int | None:
        """The width of stdout when it is a terminal, else None."""
        return self.console().width if self.stdout_isatty else None

    def stdout_bytes(self) -> IO[bytes]:
        """Stdout for binary data (parquet, UTF-8 bytes), flushed of pending text first."""
        self.stdout.flush()
        buffer = getattr(self.stdout, "buffer", None)
        return buffer if buffer is not None else cast(IO[bytes], _TextBridge(self.stdout))


class _TextBridge:
    """A binary writer over a text-only stream (pytest capture, StringIO): writes decoded text."""

    def __init__(self, stream: IO[str]):
        self._stream = stream

    def write(self, data: bytes) -> int:
        self._stream.write(bytes(data).decode("utf-8", errors="replace"))
        return len(data)

    def flush(self) -> None:
        self._stream.flush()


_current: ContextVar[Environment | None] = ContextVar("pql_environment", default=None)


def current() -> Environment:
    """The environment of the running command (a fresh one from the system outside the CLI)."""
    env = _current.get()
    return env if env is not None else Environment.from_system()


@contextmanager
def using(env: Environment) -> Iterator[Environment]:
    """Run a block (a command) with ``env`` as the current environment."""
    token = _current.set(env)
    try:
        yield env
    finally:
        _current.reset(token)


def stdout_console() -> Console:
    return current().console(soft_wrap=False)


def stderr_console() -> Console:
    return current().console(stderr=True)


def debug_enabled() -> bool:
    return os.environ.get("PQL_DEBUG", "").lower() in {"1", "true", "yes", "on"}


def error(err: PqlError, *, debug: bool = False) -> None:
    """Print a PqlError as one paragraph on stderr (with a redacted traceback under --debug)."""
    env = current()
    if debug:
        env.stderr.write(redact("".join(traceback.format_exception(err))))
    text = f"[bold red]Error:[/] {escape(redact(err.message))}"
    if err.hint:
        sep = "\n" if "\n" in err.message else " "
        text += f"{sep}[dim]{escape(redact(err.hint))}[/]"
    stderr_console().print(text, soft_wrap=True)


def unexpected(exc: BaseException) -> None:
    stderr_console().print(
        f"[bold red]Error:[/] unexpected {type(exc).__name__}: {escape(redact(str(exc)))} "
        "[dim]This is a bug in pql; run again with --debug (or PQL_DEBUG=1) for the traceback and report it.[/]",
        soft_wrap=True,
    )


def warn(message: str) -> None:
    """A warning on stderr (shown even with --quiet)."""
    stderr_console().print(f"[yellow]Warning:[/] {escape(redact(message))}", soft_wrap=True)


def note(message: str) -> None:
    """A side remark on stderr (silenced by --quiet)."""
    if not current().quiet:
        stderr_console().print(f"[dim]{escape(redact(message))}[/]", soft_wrap=True)


def info(message: str) -> None:
    """A rich-markup line on stderr for summaries next to data on stdout (silenced by --quiet)."""
    if not current().quiet:
        stderr_console().print(message, soft_wrap=True)


def table(title: str | None, columns: list[str], rows: list[list[Any]], *, stderr: bool = True) -> None:
    """A simple rich table (summaries go to stderr by default, and --quiet silences those)."""
    if stderr and current().quiet:
        return
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
    """A progress bar with rate and ETA on stderr (silent off a terminal and with --quiet)."""
    env = current()
    if not env.stderr_isatty or env.quiet:
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
        console=stderr_console(),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield ProgressHandle(bar, task)
