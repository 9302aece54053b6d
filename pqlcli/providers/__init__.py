"""Firmographics providers: the contract (:mod:`.base`), the registry with the one :func:`create`
(entry points ``pqlcli.providers``), and the built-ins in :mod:`.builtin` (``clearbit``, ``stub``,
``file``, registered like any plugin).

Plugin authors need :class:`Provider`, :class:`ProviderOptions`, :class:`Record` and, to normalise messy
input, :func:`parse_amount`, :func:`parse_range` and :func:`country_code`.
"""

from __future__ import annotations

from pqlcli.providers.base import Provider, ProviderOptions, ProviderOptionsError, Record
from pqlcli.providers.builtin.parsing import country_code, parse_amount, parse_range
from pqlcli.providers.registry import create

__all__ = [
    "Provider",
    "ProviderOptions",
    "ProviderOptionsError",
    "Record",
    "country_code",
    "create",
    "parse_amount",
    "parse_range",
]
