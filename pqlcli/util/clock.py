"""The one clock pql reads (so "now" is defined once, always timezone-aware UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def stamp(when: datetime | None = None) -> str:
    """A sortable, filename-safe UTC timestamp such as ``20261130T013648123456Z``."""
    return (when or utc_now()).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
