"""The provider contract: what a firmographics provider is, and the record it returns.

A provider is a class with a ``name``, a ``description``, the env var of its API key (if any), a nested
pydantic ``Options`` model (``extra="forbid"``, so a typo fails loudly) and a batch :meth:`Provider.lookup`
that yields one normalised :class:`Record` per domain. A single unknown or bad domain is a record with
``status="not_found"`` or ``"error"``, never an exception; exceptions (:class:`pqlcli.errors.ProviderError`)
are for failures that stop the whole run: bad key, quota exhausted, provider unreachable.

Third parties publish a provider under the entry-point group ``pqlcli.providers``; the built-ins are
registered the same way (see ``pyproject.toml``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from pqlcli.errors import UsageError
from pqlcli.util import secrets

Status = Literal["found", "not_found", "error", "pending"]
STATUSES: tuple[str, ...] = ("found", "not_found", "error", "pending")

# ``reason`` of an error that is worth trying again next run (network, 5xx, rate limit); other errors
# (an invalid domain) are cached like any other answer.
TRANSIENT_PREFIX = "transient: "

CANONICAL_FIELDS = (
    "domain",
    "name",
    "employees",
    "employees_range",
    "raised",
    "annual_revenue",
    "country",
    "industry",
)


@dataclass
class Record:
    """One provider answer for one domain, normalised.

    ``employees`` is an int, ``raised`` and ``annual_revenue`` are USD, ``country`` is ISO-3166 alpha-2,
    ``extras`` holds provider-specific scalar fields (stored as extra columns).
    """

    domain: str
    status: Status = "found"
    name: str | None = None
    employees: int | None = None
    employees_range: str | None = None
    raised: float | None = None
    annual_revenue: float | None = None
    country: str | None = None
    industry: str | None = None
    reason: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def not_found(cls, domain: str, reason: str | None = None) -> Record:
        return cls(domain=domain, status="not_found", reason=reason)

    @classmethod
    def error(cls, domain: str, reason: str, *, transient: bool = False) -> Record:
        return cls(domain=domain, status="error", reason=(TRANSIENT_PREFIX + reason) if transient else reason)

    @classmethod
    def pending(cls, domain: str, reason: str = "queued by the provider") -> Record:
        return cls(domain=domain, status="pending", reason=reason)

    def as_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {k: v for k, v in self.extras.items() if k not in CANONICAL_FIELDS}
        row.update(
            domain=self.domain,
            name=self.name,
            employees=self.employees,
            employees_range=self.employees_range,
            raised=self.raised,
            annual_revenue=self.annual_revenue,
            country=self.country,
            industry=self.industry,
            status=self.status,
            reason=self.reason,
            fetched_at=self.fetched_at,
        )
        return row


class ProviderOptions(BaseModel):
    """Base of every provider's ``Options``: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class Provider:
    """Base class of firmographics providers (subclass it, or just follow the same shape).

    Subclasses set ``name``, ``description``, ``key_env`` and a nested ``Options`` model, and implement
    :meth:`lookup`. ``env`` maps option names to the env vars they default from (besides the generic
    ``PQL_<PROVIDER>_<OPTION>``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    key_env: ClassVar[str | None] = None
    env: ClassVar[dict[str, str]] = {}
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions

    def __init__(self, options: ProviderOptions | None = None):
        self.options = options if options is not None else self.Options()
        # Things the user should know after a lookup (not errors): shown once at the end of the run.
        self.notes: list[str] = []

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_options(cls, raw: dict[str, Any] | None = None) -> Provider:
        """Build the provider from ``--option`` values, falling back to env vars, then defaults."""
        return cls(parse_options(cls, raw or {}))

    @classmethod
    def status(cls) -> str:
        """A one-word readiness for ``pql providers`` (``ready`` or what is missing)."""
        if cls.key_env and not os.environ.get(cls.key_env):
            return f"needs {cls.key_env}"
        return "ready"

    # ---- the contract ---------------------------------------------------------------------------
    def lookup(self, domains: Sequence[str]) -> Iterable[Record]:
        """Yield one record per domain, in any order, as answers arrive."""
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (connections, servers); safe to call twice."""

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProviderOptionsError(UsageError):
    """Options a provider does not accept (unknown, or a value of the wrong type)."""

    def __init__(self, provider: str, problems: list[str], known: list[str]):
        self.provider, self.problems, self.known = provider, problems, known
        super().__init__(
            f"Invalid options for provider {provider!r}: {'; '.join(problems)}.",
            f"Options it accepts: {', '.join(known) or 'none'}.",
            param="options",
        )


def parse_options(cls: type[Provider], raw: dict[str, Any]) -> ProviderOptions:
    """Validate options: explicit values, else env (``cls.env`` or ``PQL_<NAME>_<FIELD>``), else defaults."""
    options_cls: type[ProviderOptions] = cls.Options
    values: dict[str, Any] = {}
    prefix = f"PQL_{cls.name.upper().replace('-', '_')}_"
    for field_name in options_cls.model_fields:
        env_names = [cls.env[field_name]] if field_name in cls.env else []
        env_names.append(prefix + field_name.upper())
        for env_name in env_names:
            value = os.environ.get(env_name)
            if value:
                values[field_name] = value
                break
    values.update(raw)
    hidden = _secret_fields(options_cls)
    for name in hidden & set(values):  # known before validation, so no error below can show it
        secrets.register_secret(str(values[name]))
    try:
        return options_cls.model_validate(values)
    except ValidationError as exc:
        known = list(options_cls.model_fields)
        raise ProviderOptionsError(cls.name, [_problem(err, hidden, known) for err in exc.errors()], known) from None


def _secret_fields(options_cls: type[ProviderOptions]) -> set[str]:
    return {name for name, info in options_cls.model_fields.items() if "SecretStr" in str(info.annotation)}


def _problem(err: Any, hidden: set[str], known: list[str]) -> str:
    """One validation problem: the option, what is wrong, the value given (redacted), a close name."""
    name = ".".join(str(p) for p in err["loc"]) or "options"
    text = f"{name}: {err['msg'].lower()}"
    if err.get("type") == "extra_forbidden":  # an unknown name: its value is never shown (it may be a key)
        close = difflib.get_close_matches(name, known, n=1)
        return text + (f" (did you mean {close[0]!r}?)" if close else "")
    if "input" in err and not isinstance(err["input"], dict):
        shown = "***" if name in hidden else secrets.redact(repr(str(err["input"]))[:80])
        text += f" (got {shown})"
    return text
