"""The one duration parser pql has (config windows and decay, ``ttl``, ``signed_up_within``).

One unit table for every caller::

    s  seconds    m  minutes    h  hours    d  days    w  weeks (7 d)    mo  months (30 d)    y  years (365 d)

``m`` is always minutes; months are ``mo``. A bare number means ``default_unit`` (days, unless the caller
requires a unit).
"""

from __future__ import annotations

import re
from datetime import timedelta

DAY = 86400.0
UNITS: dict[str, float] = {
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": DAY,
    "w": 7 * DAY,
    "mo": 30 * DAY,
    "y": 365 * DAY,
}
EXAMPLES = "90m, 12h, 30d, 2w, 3mo or 1y"

_SPAN = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


class DurationError(ValueError):
    """Text that is not a duration; the message says what units exist."""


def parse_duration(
    value: str | int | float | timedelta,
    *,
    default_unit: str | None = "d",
    integer: bool = False,
    allow_zero: bool = True,
) -> timedelta:
    """``"<number><unit>"`` (or a number of ``default_unit``) → timedelta.

    ``default_unit=None`` requires a unit in text; ``integer`` refuses fractions; negative spans are
    always refused, zero only when ``allow_zero`` is false.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration; write it like {EXAMPLES}")
    elif isinstance(value, int | float):
        if default_unit is None:
            raise DurationError(f"{value!r} has no unit; write it like {EXAMPLES}")
        seconds = float(value) * UNITS[default_unit]
    else:
        seconds = _parse_text(value, default_unit, integer)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise DurationError(f"{value!r}: a duration must be {'zero or ' if allow_zero else ''}positive")
    return timedelta(seconds=seconds)


def _parse_text(text: str, default_unit: str | None, integer: bool) -> float:
    m = _SPAN.match(text or "")
    if not m:
        raise DurationError(f"{text!r} is not a duration; write it like {EXAMPLES}")
    number, unit = m.group(1), (m.group(2).lower() or default_unit)
    if unit is None:
        raise DurationError(f"{text!r} has no unit; write it like {EXAMPLES}")
    if unit not in UNITS:
        raise DurationError(f"{text!r}: unknown unit {unit!r}; units are {', '.join(UNITS)} (m = minutes, mo = months)")
    if integer and "." in number:
        raise DurationError(f"{text!r}: use a whole number")
    return float(number) * UNITS[unit]
