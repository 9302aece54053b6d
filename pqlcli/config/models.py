"""The config format (``pql.yaml``) as pydantic models: every key, its type, its default and its meaning.

``extra="forbid"`` everywhere, so a misspelt key is an error (the loader adds "did you mean").
Conditions are SQL text; they are parsed (never ``eval``ed) by the scoring layer.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pqlcli.util import durations

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_duration(value: Any) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``3mo`` → timedelta (a number means days; text needs a unit)."""
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
Rollup = Literal["sum", "max", "min", "count_positive", "distinct_days"]


class Metric(_Strict):
    """A per-user product-usage metric computed from events."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    event: str | list[str] | None = Field(
        None, description='Event name, a list of names, or "*" for any event (every metric but a trend).'
    )
    trend: str | None = Field(
        None,
        description="A trend: this windowed count/sum/active_days metric over [as_of - w, as_of) minus the "
        "same metric over [as_of - 2w, as_of - w). Takes no other key.",
    )
    window: str | None = Field(None, description="Count events with as_of - window <= timestamp < as_of (30d, 12h, 2w).")
    agg: Agg = Field("count", description="count | active_days | sum | distinct | first_seen | last_seen.")
    prop: str | None = Field(None, alias="property", description="The event property for agg: sum or distinct.")
    decay: Decay | None = Field(None, description="Weigh each event by its age (the metric becomes a float).")
    rollup: Rollup | None = Field(
        None,
        description="How accounts roll it up over their users: sum (default), max, min, count_positive "
        "(users with a value > 0), distinct_days (active_days only, its default: the distinct days on which "
        "any of the account's users was active). first_seen defaults to max, last_seen to min.",
    )

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @model_validator(mode="after")
    def _check(self) -> Metric:
        if self.trend is not None:
            others = [k for k in ("event", "window", "prop", "decay", "rollup") if getattr(self, k) is not None]
            if others or self.agg != "count":
                keys = ", ".join("property" if k == "prop" else k for k in others) or "agg"
                raise ValueError(f"a trend: metric takes no other key (it has {keys}); it reuses its metric's")
            return self
        if self.event is None:
            raise ValueError("a metric needs event: (an event name, a list, or \"*\"), or trend: (a metric name)")
        if self.agg in ("sum", "distinct") and not self.prop:
            raise ValueError(f"agg: {self.agg} needs a property: (the event property to {self.agg})")
        if self.agg not in ("sum", "distinct") and self.prop:
            raise ValueError(f"property: is only used with agg: sum or distinct, not {self.agg}")
        if self.rollup == "distinct_days" and self.agg != "active_days":
            raise ValueError(f"rollup: distinct_days applies to agg: active_days only (this metric has agg: {self.agg})")
        if self.decay is not None and self.agg != "count":
            raise ValueError(f"decay applies to agg: count only (this metric has agg: {self.agg})")
        return self

    @property
    def events(self) -> list[str]:
        if self.event is None:
            return []
        return [self.event] if isinstance(self.event, str) else list(self.event)

    @property
    def any_event(self) -> bool:
        return "*" in self.events

    @property
    def window_td(self) -> timedelta | None:
        return parse_duration(self.window) if self.window else None

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


class Activation(_Strict):
    """An activation milestone: every step done within ``within`` of the user's signup_at."""

    name: str = Field(description="Column name: <name> (all steps done), <name>_steps, <name>_days; accounts <name>_users.")
    within: str = Field(description="Counted from signup_at: signup_at <= timestamp < min(signup_at + within, as_of).")
    steps: list[str] = Field(min_length=1, description="Event names; each must happen at least once.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"activation name {v!r} must be letters, digits and underscores")
        return v

    @field_validator("within")
    @classmethod
    def _within(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def within_td(self) -> timedelta:
        return parse_duration(self.within)

    @property
    def unique_steps(self) -> list[str]:
        return list(dict.fromkeys(self.steps))


TIERS = ("tier1", "tier2", "tier3", "tier4")
DEFAULT_TIER_LABELS = {
    "tier1": "Tier 1 · call now",
    "tier2": "Tier 2 · drive adoption",
    "tier3": "Tier 3 · self-serve",
    "tier4": "Tier 4 · nurture",
}


class Tiers(BaseModel):
    """Tier thresholds on the clamped scores, which two score dimensions make the matrix, names and labels.

    ``x`` (default fit) decides "good fit", ``y`` (default usage) "high usage"; the threshold of a
    dimension is the key of its name (``fit: 50``, ``usage: 40``, ``marketing: 40`` ...).
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, float] = Field(init=False)  # thresholds of extra score dimensions

    fit: float = Field(50, ge=0, le=100)
    usage: float = Field(40, ge=0, le=100)
    x: str = Field("fit", description="The score dimension of the matrix's first axis (good fit): fit or a scores: name.")
    y: str = Field("usage", description="The score dimension of the second axis (high usage): usage or a scores: name.")
    names: dict[Literal["tier1", "tier2", "tier3", "tier4"], str] = Field(default_factory=dict)
    labels: dict[Literal["tier1", "tier2", "tier3", "tier4"], str] = Field(default_factory=dict)

    def name(self, tier: str) -> str:
        return self.names.get(tier, tier)  # type: ignore[call-overload]

    def label(self, tier: str) -> str:
        return self.labels.get(tier, DEFAULT_TIER_LABELS[tier])  # type: ignore[call-overload]

    def threshold(self, dim: str) -> float | None:
        if dim in ("fit", "usage"):
            return float(getattr(self, dim))
        extra = self.__pydantic_extra__ or {}
        return float(extra[dim]) if dim in extra else None


class Route(_Strict):
    """A routing rule for records with no owner: ``when`` it holds, ``owner`` (or one of ``round_robin``)."""

    when: str | None = Field(None, description="SQL boolean condition; no when: always matches.")
    owner: str | None = Field(None, description="The owner routed records get.")
    round_robin: list[str] | None = Field(
        None, min_length=1, description="Owners to spread records over (rendezvous hashing of the id: stable)."
    )

    @model_validator(mode="after")
    def _check(self) -> Route:
        if (self.owner is None) == (self.round_robin is None):
            raise ValueError("a routing rule takes exactly one of owner: or round_robin: [a list of owners]")
        if self.round_robin is not None and len(set(self.round_robin)) != len(self.round_robin):
            raise ValueError("round_robin: names an owner twice")
        return self


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
    activation: list[Activation] = Field(default_factory=list, description="Activation milestones, per user.")
    scores: dict[str, list[Rule]] = Field(
        default_factory=dict, description="Extra score dimensions beside fit and usage: rules like usage's."
    )
    routing: list[Route] = Field(default_factory=list, description="Who owns an unowned record; first match wins.")

    @field_validator("scores")
    @classmethod
    def _score_names(cls, v: dict[str, list[Rule]]) -> dict[str, list[Rule]]:
        for name in v:
            if not NAME_RE.match(name) or name in ("fit", "usage"):
                raise ValueError(f"score dimension {name!r} must be letters, digits and underscores, and not fit or usage")
        return v

    @property
    def dimensions(self) -> list[str]:
        """Every score dimension: fit, usage, then the extra ones in order."""
        return ["fit", "usage", *self.scores]

    def rules(self, dim: str) -> list[Rule]:
        return list(getattr(self, dim)) if dim in ("fit", "usage") else list(self.scores[dim])

    backtest: Backtest = Field(default_factory=Backtest)

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, v: dict[str, Metric]) -> dict[str, Metric]:
        for name in v:
            if not NAME_RE.match(name):
                raise ValueError(f"metric name {name!r} must be letters, digits and underscores")
        return v
