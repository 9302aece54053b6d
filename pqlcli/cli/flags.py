"""The one place the CLI turns library errors and notices into command-line terms.

The library names its parameters (``as_of``, ``tables``, ``ttl_days``) and says which step is missing
(``PqlError.command``, :class:`pqlcli.errors.Notice`); the CLI names the flag that sets the parameter and
the exact command to run. ``cli/main.py`` applies :func:`in_cli_terms` to every error a command raises, and
commands pass their warnings through :func:`notice`, so no command maps anything itself.
"""

from __future__ import annotations

from pqlcli.errors import PLACEHOLDER, PqlError

# library parameter -> the flag that sets it ("" when it is a positional argument).
# A parameter not listed here is shown as "--" + its name with dashes (signed_up_within -> --signed-up-within).
PARAM_FLAGS: dict[str, str] = {
    "as_of": "--as-of",
    "config": "--config",
    "workspace": "--workspace",
    "ttl_days": "--ttl",
    "ttl": "--ttl",
    "where": "--where",
    "sort": "--sort",
    "columns": "--columns",
    "by": "--by",
    "out": "--out",
    "format": "--format",
    "mapping": "--map",
    "engine": "--engine",
    "dialect": "--dialect",
    "tables": "--table",
    "snapshot": "--snapshot",
    "provider": "--provider",
    "options": "--option",
    "exports": "--from",
    "force": "--force",
    "users": "",
    "ref": "",
}

# library parameter -> how to fix it on the command line ("+" adds to the library's hint, otherwise it replaces it)
CLI_HINTS: dict[str, str] = {
    "options": "+Pass them as --option key=value (see `pql providers`).",
    "ref": "Pass a user id, an email, an account id or a company domain, e.g. `pql explain ana@acme.com`; "
    "`pql list users --columns user_id,email` shows them.",
}

# BacktestError.kind -> the options that help ("+" adds to the library's hint, otherwise it replaces it)
KIND_HINTS: dict[str, str] = {
    "no_outcome": "+Or evaluate against a 0/1 column with --label COLUMN.",
    "few_conversions": "Try a longer --horizon, an earlier --as-of, several dates (--every/--from/--to), "
    "or --min-conversions N to accept fewer knowingly.",
    "no_events": "Pick an --as-of (or --from/--to) inside the dates your events cover (see `pql status`).",
    "leakage": "+Or run without --strict to see the report with these warnings.",
}


def flag(param: str) -> str:
    """The flag that sets a library parameter: ``as_of`` -> ``--as-of``."""
    return PARAM_FLAGS.get(param, "--" + param.replace("_", "-"))


def run_command(command: str) -> str:
    return f"Run `pql {command}`."


def in_cli_terms(err: PqlError) -> PqlError:
    """The error as the CLI says it: the flag instead of the parameter, the exact command to run."""
    if err.param:
        shown = flag(err.param)
        message, hint = err.renamed(shown)
        names_it = PLACEHOLDER in err.template or PLACEHOLDER in (err.hint_template or "")
        if shown and not names_it:  # "Table people=x: ..." -> "--table: Table people=x: ..."
            message = f"{shown}: {message}"
        err.message, err.hint = message, _with(hint, CLI_HINTS.get(err.param))
        err.args = (err.message,)
    err.hint = _with(err.hint, KIND_HINTS.get(getattr(err, "kind", None) or ""))
    if err.command:
        err.hint = f"{err.hint or ''} {run_command(err.command)}".strip()
    return err


def _with(hint: str | None, extra: str | None) -> str | None:
    """``extra`` added to (``+...``) or instead of the library's hint."""
    if not extra:
        return hint
    return f"{hint} {extra[1:]}" if extra.startswith("+") and hint else extra.lstrip("+")


def notice(text: str) -> str:
    """A library warning with the command that fixes it, when it names one."""
    command = getattr(text, "command", None)
    return f"{text} {run_command(command)}" if command else str(text)
