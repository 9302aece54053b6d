"""One parser for the durations pql reads (`30d`, `12h`, `2w`): config windows, `--ttl`, `--signed-up-within`.

Each caller passes its own unit table, so what a unit means where is written down in one place each
(`m` is minutes for `--ttl` and 30-day months for `--signed-up-within`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DAY = 86400.0
WINDOW_UNITS = {"h": 3600.0, "d": DAY, "w": 7 * DAY}  # config windows, decay
TTL_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}  # pql enrich --ttl
RECENCY_UNITS = {"h": 3600.0, "d": DAY, "w": 7 * DAY, "m": 30 * DAY, "y": 365 * DAY}  # --signed-up-within

_SPAN = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_seconds(
    text: str, units: Mapping[str, float], *, default_unit: str | None = "d", integer: bool = False
) -> float | None:
    """``"<number><unit>"`` → seconds, or None when the text is not of that form.

    ``default_unit`` applies to a bare number (None: a unit is required); ``integer`` refuses fractions.
    The sign is kept, so callers decide whether zero or negative spans make sense.
    """
    m = _SPAN.match(text or "")
    if not m:
        return None
    number, unit = m.group(1), (m.group(2).lower() or default_unit)
    if unit is None or unit not in units or (integer and "." in number):
        return None
    return float(number) * units[unit]
