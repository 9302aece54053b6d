"""The config (``config/pql.yaml``): pydantic models and a YAML loader that keeps line and column.

A mistake is reported with file:line:column, the lines around it, and what was expected. Duplicate keys
are errors. Conditions are SQL boolean expressions; they are parsed (never ``eval``ed) by the scoring
engine, which also checks the columns they name against the data.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pqlcli.errors import ConfigError
from pqlcli.util import durations

DEFAULT_CONFIG = Path("config/pql.yaml")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_duration(value: Any) -> timedelta:
    """``30d``, ``12h``, ``2w`` → timedelta (a bare number means days)."""
    if isinstance(value, str):
        return durations.parse_duration(value, default_unit=None, allow_zero=False)
    return durations.parse_duration(value, allow_zero=False)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Decay(_Strict):
    """Weigh each event by its age: exponential ``half_life`` or linear ``lifespan``."""

    half_life: str | None = Field(None, description="Exponential decay: weight 0.5^(age/half_life), e.g. 14d.")
    lifespan: str | None = Field(None, description="Linear decay: weight max(0, 1 - age/lifespan), e.g. 60d.")

    @model_validator(mode="after")
    def _one(self) -> Decay:
        if (self.half_life is None) == (self.lifespan is None):
            raise ValueError("decay takes exactly one of half_life or lifespan")
        parse_duration(self.half_life or self.lifespan)
        return self

    @property
    def kind(self) -> Literal["half_life", "lifespan"]:
        return "half_life" if self.half_life is not None else "lifespan"

    @property
    def seconds(self) -> float:
        return parse_duration(self.half_life or self.lifespan).total_seconds()


Agg = Literal["count", "active_days", "sum", "distinct", "first_seen", "last_seen"]
Rollup = Literal["sum", "max", "min", "count_positive"]


class Metric(_Strict):
    """A per-user product-usage metric computed from events."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    event: str | list[str] = Field(description='Event name, a list of names, or "*" for any event.')
    window: str | None = Field(None, description="Count events with as_of - window <= timestamp < as_of (30d, 12h, 2w).")
    agg: Agg = Field("count", description="count | active_days | sum | distinct | first_seen | last_seen.")
    prop: str | None = Field(None, alias="property", description="The event property for agg: sum or distinct.")
    decay: Decay | None = Field(None, description="Weigh each event by its age (the metric becomes a float).")
    rollup: Rollup | None = Field(
        None,
        description="How accounts roll it up over their users: sum (default), max, min, count_positive "
        "(users with a value > 0). first_seen defaults to max, last_seen to min.",
    )

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @model_validator(mode="after")
    def _check(self) -> Metric:
        if self.agg in ("sum", "distinct") and not self.prop:
            raise ValueError(f"agg: {self.agg} needs a property: (the event property to {self.agg})")
        if self.agg not in ("sum", "distinct") and self.prop:
            raise ValueError(f"property: is only used with agg: sum or distinct, not {self.agg}")
        if self.decay is not None and self.agg != "count":
            raise ValueError(f"decay applies to agg: count only (this metric has agg: {self.agg})")
        return self

    @property
    def events(self) -> list[str]:
        return [self.event] if isinstance(self.event, str) else list(self.event)

    @property
    def any_event(self) -> bool:
        return "*" in self.events

    @property
    def window_td(self) -> timedelta | None:
        return parse_duration(self.window) if self.window else None

    @property
    def account_rollup(self) -> str:
        if self.rollup:
            return self.rollup
        return {"first_seen": "max", "last_seen": "min"}.get(self.agg, "sum")

    @property
    def is_float(self) -> bool:
        return self.decay is not None or self.agg in ("sum", "first_seen", "last_seen")


class Rule(_Strict):
    """A scoring rule: ``when`` a condition holds give ``points``; or ``points`` per unit of ``metric``."""

    name: str
    when: str | None = Field(None, description="SQL boolean condition over metrics, traits and firmographics.")
    metric: str | None = Field(None, description="Per-unit rule: points x metric value, bounded by cap.")
    points: float
    cap: float | None = Field(None, description="Upper bound of a per-unit rule's points (needs metric).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"rule name {v!r} must be letters, digits and underscores, not starting with a digit")
        return v

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if (self.when is None) == (self.metric is None):
            raise ValueError("a rule takes exactly one of when: (a condition) or metric: (per-unit points)")
        if self.cap is not None and self.metric is None:
            raise ValueError("cap: only applies to a per-unit rule (one with metric:), not to a when: rule")
        if self.cap is not None and self.cap < 0:
            raise ValueError("cap: must be zero or positive (it bounds the size of the points)")
        return self


TIERS = ("tier1", "tier2", "tier3", "tier4")
DEFAULT_TIER_LABELS = {
    "tier1": "Tier 1 · call now",
    "tier2": "Tier 2 · drive adoption",
    "tier3": "Tier 3 · self-serve",
    "tier4": "Tier 4 · nurture",
}


class Tiers(_Strict):
    """Tier thresholds on the clamped scores, and optional names and labels."""

    fit: float = Field(50, ge=0, le=100)
    usage: float = Field(40, ge=0, le=100)
    names: dict[Literal["tier1", "tier2", "tier3", "tier4"], str] = Field(default_factory=dict)
    labels: dict[Literal["tier1", "tier2", "tier3", "tier4"], str] = Field(default_factory=dict)

    def name(self, tier: str) -> str:
        return self.names.get(tier, tier)  # type: ignore[call-overload]

    def label(self, tier: str) -> str:
        return self.labels.get(tier, DEFAULT_TIER_LABELS[tier])  # type: ignore[call-overload]


class PqlDef(_Strict):
    """A named PQL definition (one per sales motion)."""

    name: str
    level: Literal["user", "account"] = "user"
    when: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"PQL name {v!r} must be letters, digits and underscores")
        return v


class Exclude(_Strict):
    """Leave matching users or accounts out before scoring (competitors, existing customers...)."""

    name: str
    when: str
    level: Literal["user", "account"] = "user"


class Accounts(_Strict):
    pqa_share: float = Field(0.5, ge=0, le=1, description="An account is a PQA when >= this share of its users are PQLs.")


class Backtest(_Strict):
    """Backtest settings: columns known only after a conversion (besides converted_at)."""

    leaky_columns: list[str] = Field(
        default_factory=list,
        description="Columns known only after a conversion (e.g. plan when plan = 'paid' means converted): "
        "a rule or PQL condition naming one is flagged by pql backtest.",
    )


class Config(_Strict):
    """The whole pql.yaml."""

    version: Literal[1] = Field(description="Config format version; 1.")
    as_of: date | datetime | None = Field(None, description="Score as of this date/time (UTC). Default: now.")
    metrics: dict[str, Metric] = Field(default_factory=dict)
    fit: list[Rule] = Field(default_factory=list)
    usage: list[Rule] = Field(default_factory=list)
    tiers: Tiers = Field(default_factory=Tiers)
    pqls: list[PqlDef] = Field(default_factory=list)
    accounts: Accounts = Field(default_factory=Accounts)
    exclude: list[Exclude] = Field(default_factory=list)
    backtest: Backtest = Field(default_factory=Backtest)

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, v: dict[str, Metric]) -> dict[str, Metric]:
        for name in v:
            if not NAME_RE.match(name):
                raise ValueError(f"metric name {name!r} must be letters, digits and underscores")
        return v


# ---------------------------------------------------------------------------------------------------
# Loading with positions


@dataclass
class LoadedConfig:
    """A validated config plus where each piece came from, for errors that point at the line."""

    config: Config
    path: Path
    text: str
    positions: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: tuple[Any, ...]) -> tuple[int, int] | None:
        """1-based (line, column) of the node at ``loc`` (or its closest parent)."""
        loc = tuple(loc)
        while loc:
            if loc in self.positions:
                return self.positions[loc]
            loc = loc[:-1]
        return self.positions.get((), None)

    def error(self, loc: tuple[Any, ...], message: str, hint: str | None = None) -> ConfigError:
        return config_error(self.path, self.text, self.where(loc), message, hint)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def as_of(self, override: str | date | datetime | None = None) -> datetime:
        return resolve_as_of(override if override is not None else self.config.as_of)


def resolve_as_of(value: str | date | datetime | None) -> datetime:
    """A UTC datetime: a date means its midnight UTC; naive datetimes are UTC; None means now."""
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"as_of {value!r} is not a date or time.",
                "Use ISO-8601, e.g. 2026-11-01 or 2026-11-01T12:00:00Z.",
                param="as_of",
            )
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def config_error(
    path: Path, text: str, pos: tuple[int, int] | None, message: str, hint: str | None = None
) -> ConfigError:
    where = f"{path}:{pos[0]}:{pos[1]}" if pos else str(path)
    snippet = ""
    if pos:
        lines = text.splitlines()
        lo, hi = max(1, pos[0] - 1), min(len(lines), pos[0] + 1)
        shown = []
        for n in range(lo, hi + 1):
            mark = ">" if n == pos[0] else " "
            shown.append(f"  {mark} {n:>4} | {lines[n - 1]}")
            if n == pos[0]:
                shown.append("         | " + " " * (pos[1] - 1) + "^")
        snippet = "\n" + "\n".join(shown)
    return ConfigError(f"{where}: {message}{snippet}", hint)


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            first = seen[key].start_mark
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first defined at line {first.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _positions(node: yaml.Node, loc: tuple[Any, ...], out: dict[tuple[Any, ...], tuple[int, int]]) -> None:
    out[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*loc, key)] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
            out[(*loc, key, "__key__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _positions(value_node, (*loc, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, (*loc, i), out)


def _pydantic_message(err: Any) -> str:
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (not part of the config format; check its spelling)"
    if kind == "missing":
        return "this required key is missing"
    if "input" in err and kind not in ("missing",) and not isinstance(err["input"], dict | list):
        return f"{msg} (got {err['input']!r})"
    return msg


def _field_for_error(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds union/model tags to locs (e.g. 'str', 'list[str]'); keep the config's own path
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "int", "float", "date", "datetime"})))


def loads(text: str, path: str | Path = "<config>") -> LoadedConfig:
    """Parse and validate config text."""
    path = Path(path)
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or str(exc)
        raise config_error(path, text, pos, f"not valid YAML: {problem}", "Fix the YAML syntax at that spot.")
    except yaml.YAMLError as exc:
        raise config_error(path, text, None, f"not valid YAML: {exc}", "Fix the YAML syntax.")
    positions: dict[tuple[Any, ...], tuple[int, int]] = {}
    if node is not None:
        _positions(node, (), positions)
    if not isinstance(data, dict):
        raise config_error(
            path, text, positions.get(()), "the config must be a YAML mapping with version:, metrics:, fit:, usage: ...",
            "See config/pql.yaml for a complete example.",
        )
    if "version" not in data:
        raise config_error(path, text, (1, 1), "the config has no version: key", "Add `version: 1` at the top.")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _field_for_error(tuple(first["loc"]))
        loaded = LoadedConfig(Config.model_construct(version=1), path, text, positions)
        at_key = (*loc, "__key__") if first.get("type") == "extra_forbidden" else loc
        pos = positions.get(at_key) or loaded.where(loc)
        where = ".".join(str(p) for p in loc) or "(top level)"
        more = len(exc.errors()) - 1
        hint = "See docs/config.md for every key and its meaning."
        if more:
            hint = f"{more} more problem(s) after this one. " + hint
        raise config_error(path, text, pos, f"{where}: {_pydantic_message(first)}", hint)
    loaded = LoadedConfig(config, path, text, positions)
    _check_names(loaded)
    return loaded


def _check_names(loaded: LoadedConfig) -> None:
    cfg = loaded.config
    for section in ("fit", "usage"):
        seen: dict[str, int] = {}
        for i, rule in enumerate(getattr(cfg, section)):
            if rule.name in seen:
                raise loaded.error(
                    (section, i, "name"),
                    f"duplicate {section} rule name {rule.name!r} (also rule #{seen[rule.name] + 1})",
                    "Give every rule its own name: explanations and the points columns use it.",
                )
            seen[rule.name] = i
            if rule.metric is not None and rule.metric not in cfg.metrics:
                raise loaded.error(
                    (section, i, "metric"),
                    f"{section} rule {rule.name!r} uses metric {rule.metric!r}, which is not defined",
                    f"Defined metrics: {', '.join(cfg.metrics) or 'none'}.{_suggest(rule.metric, cfg.metrics)}",
                )
    seen_pql: set[str] = set()
    for i, pql in enumerate(cfg.pqls):
        if pql.name in seen_pql:
            raise loaded.error((("pqls", i, "name")), f"duplicate PQL definition name {pql.name!r}", "Rename one of them.")
        seen_pql.add(pql.name)


def _suggest(word: str, options: Any) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(options), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def load(path: str | Path | None = None) -> LoadedConfig:
    """Load and validate a config file (default ``$PQL_CONFIG``, else ``config/pql.yaml``)."""
    import os

    path = Path(path) if path else Path(os.environ.get("PQL_CONFIG") or DEFAULT_CONFIG)
    if not path.exists():
        raise ConfigError(
            f"The config file {path} does not exist.",
            "Pass one with --config, or copy config/pql.yaml from the pql repository as a start.",
        )
    if path.is_dir():
        raise ConfigError(f"The config path {path} is a folder, not a file.", "Pass the YAML file with --config.")
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"The config file {path} is not UTF-8 text.", "Save it as UTF-8.")
    return loads(text, path)


def json_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pql config (config/pql.yaml)"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
