"""One error family and one exit-code table for the whole of pql.

Every error a user can cause is a :class:`PqlError`: a one-paragraph ``message`` (what went wrong and
where) and a ``hint`` (how to fix it). The CLI renders it on stderr and exits with ``exit_code``; a
traceback is shown only with ``--debug`` or ``PQL_DEBUG=1``.

Library errors speak the library: an error about an argument carries ``param`` (the Python parameter or
config key, e.g. ``"as_of"``) and may start its message with ``{param}`` (only a leading one is a
placeholder, so user text quoted later is shown as typed; in the hint it may stand anywhere). ``str(err)`` and
``err.message`` show the library name; the CLI shows its flag instead (``err.renamed(...)``, the one
mapping lives in ``pqlcli/cli/flags.py``). An error whose fix is another step carries ``command`` (e.g.
``"score"``); its text says the step in words and the CLI adds the exact command. A warning that is not an
error is a :class:`Notice`: a string that may carry the same ``command``.
"""

from __future__ import annotations

from enum import IntEnum

PLACEHOLDER = "{param}"


class ExitCode(IntEnum):
    """Exit statuses of the ``pql`` command (documented in the README)."""

    OK = 0
    DATA_ERROR = 1  # bad input data, bad config, missing files: the user can fix it
    USAGE = 2  # wrong flags or arguments
    PROVIDER = 3  # a provider or the network failed after retries
    INTERNAL = 70  # an unexpected error: a bug in pql (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C


class PqlError(Exception):
    """An error the user can act on."""

    exit_code: ExitCode = ExitCode.DATA_ERROR

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        exit_code: ExitCode | None = None,
        param: str | None = None,
        command: str | None = None,
    ):
        self.template = message
        self.hint_template = hint
        self.param = param
        self.command = command  # the CLI command that fixes it, e.g. "ingest users FILE" (the CLI shows it)
        self.message, self.hint = self.renamed(param) if param else (message, hint)
        super().__init__(self.message)
        if exit_code is not None:
            self.exit_code = exit_code

    def renamed(self, shown_as: str) -> tuple[str, str | None]:
        """(message, hint) with ``{param}`` written as ``shown_as`` (e.g. the CLI flag ``--as-of``)."""
        message, hint = self.template, self.hint_template
        if message.startswith(PLACEHOLDER):
            message = shown_as + message[len(PLACEHOLDER) :]
        return message, hint.replace(PLACEHOLDER, shown_as) if hint else hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class Notice(str):
    """A warning for the user (a plain ``str``) that may name the step that fixes it (``command``)."""

    command: str | None

    def __new__(cls, text: str, command: str | None = None) -> Notice:
        self = super().__new__(cls, text)
        self.command = command
        return self


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
