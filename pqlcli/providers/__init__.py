"""Firmographics providers: the contract (:mod:`.base`), the registry (entry points ``pqlcli.providers``)
and the built-ins ``clearbit``, ``stub`` and ``file``."""

from __future__ import annotations

from pqlcli.providers.base import Provider, ProviderOptions, Record

__all__ = ["Provider", "ProviderOptions", "Record"]
