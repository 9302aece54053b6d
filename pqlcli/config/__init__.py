"""The config (``pql.yaml``): pydantic models (:mod:`.models`) and a YAML loader with positions and
alias limits (:mod:`.loader`, :mod:`.yamlsafe`).

    from pqlcli.config import load
    loaded = load("pql.yaml")          # LoadedConfig: .config (Config), .path, .where(loc), .error(...)

``load(None)`` looks for the file in this order: ``$PQL_CONFIG``, ``./pql.yaml``, ``./config/pql.yaml``.
"""

from __future__ import annotations

import json
from typing import Any

from pqlcli.config.loader import (
    DEFAULT_CONFIG,
    SEARCH_PATHS,
    LoadedConfig,
    config_error,
    find,
    load,
    loads,
    resolve_as_of,
)
from pqlcli.config.models import (
    DEFAULT_TIER_LABELS,
    NAME_RE,
    TIERS,
    Accounts,
    Activation,
    Agg,
    Config,
    Decay,
    Exclude,
    Metric,
    PqlDef,
    Rollup,
    Route,
    Rule,
    Tiers,
    parse_duration,
)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config format (for editors; ``pql config schema`` prints it)."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pql config (config/pql.yaml)"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_TIER_LABELS",
    "NAME_RE",
    "SEARCH_PATHS",
    "TIERS",
    "Accounts",
    "Activation",
    "Agg",
    "Config",
    "Decay",
    "Exclude",
    "LoadedConfig",
    "Metric",
    "PqlDef",
    "Rollup",
    "Route",
    "Rule",
    "Tiers",
    "config_error",
    "find",
    "json_schema",
    "json_schema_text",
    "load",
    "loads",
    "parse_duration",
    "resolve_as_of",
]
