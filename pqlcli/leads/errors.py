"""The errors of the leads queries: they carry the parameter, and only the CLI turns it into a flag.

A library caller sees ``sort names an unknown column 'x'``; ``pql list`` shows ``--sort names ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pqlcli.errors import UsageError


class ParameterError(UsageError):
    """A bad value for one parameter of a leads query (``sort``, ``columns``, ``where``, ``owner``...).

    ``message`` and ``hint`` are templates with ``{param}``; the library fills in the parameter's name, the
    CLI calls :meth:`phrased` with the flag that set it.
    """

    def __init__(self, param: str, message: str, hint: str | None = None):
        self.param = param
        self.template = message
        self.hint_template = hint
        super().__init__(message.format(param=param), hint.format(param=param) if hint else None)

    def phrased(self, name: str) -> UsageError:
        """The same error, naming the parameter as ``name`` (e.g. the flag ``--sort``)."""
        hint = self.hint_template.format(param=name) if self.hint_template else None
        return UsageError(self.template.format(param=name), hint)


def did_you_mean(wrong: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'usage_score'?`` when a choice is close to ``wrong``, else ``""``."""
    options = list(dict.fromkeys(choices))
    lowered = {c.lower(): c for c in options}
    if wrong.lower() in lowered:
        return f" Did you mean {lowered[wrong.lower()]!r}?"
    close = difflib.get_close_matches(wrong.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def unknown_names(param: str, unknown: list[str], existing: Iterable[str], what: str = "column") -> ParameterError:
    """``{param} names an unknown column 'x'. Did you mean 'y'?`` with the names that exist as the hint."""
    existing = list(existing)
    plural = "s" if len(unknown) > 1 else ""
    names = ", ".join(map(repr, unknown))
    guess = did_you_mean(unknown[0], existing) if len(unknown) == 1 else ""
    return ParameterError(
        param,
        f"{{param}} names unknown {what}{plural} {escape(names)}.{escape(guess)}",
        f"{what.capitalize()}s that exist: {escape(', '.join(sorted(existing)))}.",
    )


def escape(text: str) -> str:
    """User text inside a message template (``str.format``): braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")
