"""Leads: queries over a score snapshot — ``pql list`` and ``pql tiers report`` — as a library.

Pure polars, no rendering: everything the CLI shows can be had from Python::

    from pqlcli import leads
    frame = leads.list_leads(snapshot_dir, "users", owner="ana@example.com", tier="1", limit=20)
    report = leads.tiers_report(snapshot_dir, by=["owner", "country"])   # a typed TiersReport

The snapshot layout is the contract in ``docs/snapshot.md``.
"""

from __future__ import annotations

from pqlcli.leads.errors import ParameterError
from pqlcli.leads.query import (
    DEFAULT_COLUMNS,
    TABLE_COLUMNS,
    LeadQuery,
    list_columns,
    list_leads,
    owner_exists,
    owners,
)
from pqlcli.leads.snapshot import ID_COLUMN, LEVELS, LeadSnapshot, open_snapshot
from pqlcli.leads.tiers import CANONICAL_TIERS, TIER_CELL, TiersReport, tiers_report
from pqlcli.leads.why import WHY, add_why

__all__ = [
    "CANONICAL_TIERS",
    "DEFAULT_COLUMNS",
    "ID_COLUMN",
    "LEVELS",
    "TABLE_COLUMNS",
    "TIER_CELL",
    "WHY",
    "LeadQuery",
    "LeadSnapshot",
    "ParameterError",
    "TiersReport",
    "add_why",
    "list_columns",
    "list_leads",
    "open_snapshot",
    "owner_exists",
    "owners",
    "tiers_report",
]
