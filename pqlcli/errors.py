"""One error family and one exit-code table for the whole of pql.

Every error a user can cause is a :class:`PqlError`: a one-paragraph ``message`` (what went wrong and
where) and a ``hint`` (how to fix it). The CLI renders it on stderr and exits with ``exit_code``; a
traceback is shown only with ``--debug`` or ``PQL_DEBUG=1``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit statuses of the ``pql`` command (documented in the README)."""

    OK = 0
    DATA_ERROR = 1  # bad input data, bad config, missing files: the user can fix it
    USAGE = 2  # wrong flags or arguments
    PROVIDER = 3  # a provider or the network failed after retries
    INTERRUPTED = 130  # Ctrl-C


class PqlError(Exception):
    """An error the user can act on."""

    exit_code: ExitCode = ExitCode.DATA_ERROR

    def __init__(
        self, message: str, hint: str | None = None, *, exit_code: ExitCode | None = None, param: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        # the library parameter at fault (e.g. "as_of", "tables"): the CLI names its own flag for it
        self.param = param
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class UsageError(PqlError):
    """Wrong flags or arguments."""

    exit_code = ExitCode.USAGE


class DataError(PqlError):
    """Input data that cannot be used (missing columns, unreadable files...)."""


class ConfigError(PqlError):
    """A config file that is not valid; the message carries file:line:column."""


class WorkspaceError(PqlError):
    """The workspace lacks what a command needs (no tables, no snapshot...)."""


class ProviderError(PqlError):
    """A firmographics provider failed (auth, quota, network after retries)."""

    exit_code = ExitCode.PROVIDER
