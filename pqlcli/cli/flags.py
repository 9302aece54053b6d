"""Library errors name library parameters (``as_of``, ``tables``...); the CLI names its own flags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pqlcli.errors import PLACEHOLDER, PqlError

# library parameter -> (the flag that sets it, how to fix it on the command line)
FLAGS: dict[str, tuple[str, str | None]] = {
    "as_of": ("--as-of", None),
    "tables": ("--table", None),
    "engine": ("--engine", None),
    "dialect": ("--dialect", None),
    "users": ("", "Run `pql ingest users FILE` first."),
    "ref": (
        "",
        "Pass a user id, an email, an account id or a company domain, e.g. `pql explain ana@acme.com`; "
        "`pql list users --columns user_id,email` shows them.",
    ),
}


@contextmanager
def cli_errors(flags: Mapping[str, tuple[str, str | None]] = FLAGS) -> Iterator[None]:
    """Re-raise a library error about a parameter with the flag that sets it (and a CLI hint)."""
    try:
        yield
    except PqlError as err:
        if err.param is None or err.param not in flags:
            raise
        flag, hint = flags[err.param]
        if flag and err.template.startswith(PLACEHOLDER):  # "{param} 'x' is not a date" -> "--as-of 'x' ..."
            message, own_hint = err.renamed(flag)
        else:
            message, own_hint = (f"{flag}: {err.message}" if flag else err.message), err.hint
        raise type(err)(message, hint or own_hint, exit_code=err.exit_code) from err
