"""Enrichment: look up firmographics for the workspace's company domains through a provider, and cache
them in the ``firmographics`` table. :mod:`.run` is the run and its policies, :mod:`.cache` the cache."""

from __future__ import annotations

from pqlcli.enrich.cache import DEFAULT_TTL_DAYS, parse_ttl
from pqlcli.enrich.run import EnrichmentFailed, EnrichResult, collect_domains, enrich

__all__ = ["DEFAULT_TTL_DAYS", "EnrichResult", "EnrichmentFailed", "collect_domains", "enrich", "parse_ttl"]
