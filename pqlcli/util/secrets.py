"""Keep API keys out of output, logs, errors and tracebacks."""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|_SECRET|PASSWORD)$", re.IGNORECASE)
_extra: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret that did not come from a conventionally named env var."""
    if value and len(value) >= 4:
        _extra.add(value)


def secret_values() -> list[str]:
    values = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v and len(v) >= 4}
    return sorted(values | _extra, key=len, reverse=True)


def redact(text: str) -> str:
    """Replace every known secret value in ``text`` with ``***``."""
    for value in secret_values():
        text = text.replace(value, "***")
    return text
