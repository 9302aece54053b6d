"""The errors of the leads queries: they carry the parameter, and only the CLI turns it into a flag.

A library caller sees ``sort names unknown column 'x'``; ``pql list`` shows ``--sort names ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pqlcli.errors import UsageError

PLACEHOLDER = "{param}"


class ParameterError(UsageError):
    """A bad value for one parameter of a leads query (``sort``, ``columns``, ``where``, ``owner``...).

    ``message`` (and ``hint``) start with ``{param}`` where the parameter's name belongs: the library shows
    the parameter, the CLI the flag (:meth:`renamed`, :meth:`phrased`); it is
    ``PqlError(param=...)``, which does the rendering.
    """

    param: str

    def __init__(self, param: str, message: str, hint: str | None = None):
        # PqlError holds the template and renders a leading {param} (user text later is shown as typed)
        super().__init__(message, hint, param=param)

    def phrased(self, shown_as: str) -> UsageError:
        """The same error as a plain UsageError naming the parameter as ``shown_as``."""
        return UsageError(*self.renamed(shown_as))


def did_you_mean(wrong: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'usage_score'?`` when a choice is close to ``wrong`` (any case), else ``""``."""
    lowered = {c.lower(): c for c in dict.fromkeys(choices)}
    if wrong.lower() in lowered:
        return f" Did you mean {lowered[wrong.lower()]!r}?"
    close = difflib.get_close_matches(wrong.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def unknown_names(
    param: str, unknown: list[str], existing: Iterable[str], what: str = "column", hint_prefix: str = ""
) -> ParameterError:
    """``{param} names unknown column 'x'. Did you mean 'y'?`` with the names that exist as the hint."""
    existing = list(existing)
    plural = "s" if len(unknown) > 1 else ""
    names = ", ".join(map(repr, unknown))
    guess = did_you_mean(unknown[0], existing) if len(unknown) == 1 else ""
    return ParameterError(
        param,
        "{param}" + f" names unknown {what}{plural} {names}.{guess}",
        f"{hint_prefix}{what.capitalize()}s that exist: {', '.join(sorted(existing))}.",
    )
