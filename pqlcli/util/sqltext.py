"""Hints about SQL text that every condition reader shares (config conditions, ``where`` filters)."""

from __future__ import annotations

from collections.abc import Iterable


def double_quote_hint(sql: str, names: Iterable[str]) -> str:
    """When an "unknown column" was written in double quotes, say that SQL text takes single quotes.

    ``plan = "team"`` makes SQL look for a column named team; the user meant the text ``'team'``.
    """
    quoted = next((n for n in names if f'"{n}"' in sql), None)
    if quoted is None:
        return ""
    return f"""SQL text takes single quotes: write '{quoted}' for the text; "{quoted}" names a column. """
