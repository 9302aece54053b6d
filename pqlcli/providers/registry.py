"""Find providers: every one, built-in or third-party, comes from the entry-point group ``pqlcli.providers``.

A plugin that fails to import becomes a warning naming its package, never a crash; asking for an unknown
provider lists the ones available, with a close-match suggestion.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pqlcli.errors import UsageError
from pqlcli.providers.base import Provider

GROUP = "pqlcli.providers"


@dataclass
class Broken:
    name: str
    package: str
    error: str

    @property
    def warning(self) -> str:
        return (
            f"The provider plugin {self.name!r} from package {self.package!r} failed to load ({self.error}); "
            f"it is skipped. Reinstall or uninstall {self.package} to silence this."
        )


@dataclass
class Registry:
    providers: dict[str, type[Provider]] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    broken: dict[str, Broken] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return [b.warning for b in self.broken.values()]

    def provider_class(self, name: str) -> type[Provider]:
        """The class registered as ``name``; an unknown or broken one is a usage error with the choices."""
        if name in self.providers:
            return self.providers[name]
        if name in self.broken:
            b = self.broken[name]
            raise UsageError(
                f"The provider {name!r} (package {b.package}) is installed but failed to load: {b.error}.",
                f"Reinstall {b.package}, or pick another provider: {', '.join(sorted(self.providers))}.",
            )
        close = difflib.get_close_matches(name, list(self.providers), n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        raise UsageError(
            f"Unknown provider {name!r}.",
            f"{hint}Available providers: {', '.join(sorted(self.providers)) or 'none'}.",
        )


def _package(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else ep.value.split(":")[0].split(".")[0]


def load() -> Registry:
    """Load every provider published under ``pqlcli.providers``."""
    reg = Registry()
    seen: set[str] = set()
    for ep in entry_points(group=GROUP):
        if ep.name in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(ep.name)
        package = _package(ep)
        try:
            obj: Any = ep.load()
        except Exception as exc:  # a broken plugin must not take pql down
            reg.broken[ep.name] = Broken(ep.name, package, f"{type(exc).__name__}: {exc}")
            continue
        if not (isinstance(obj, type) and callable(getattr(obj, "lookup", None))):
            reg.broken[ep.name] = Broken(ep.name, package, f"{ep.value} is not a provider class with lookup()")
            continue
        reg.providers[ep.name] = obj
        reg.packages[ep.name] = package
    return reg


def create(name: str, options: dict[str, Any] | None = None, *, registry: Registry | None = None) -> Provider:
    """The one way to make a provider: ``name`` from the registry (loaded now unless given), with validated
    options (given values, then env, then defaults)."""
    cls = (registry or load()).provider_class(name)
    from_options = getattr(cls, "from_options", None)
    if from_options is not None:
        return from_options(options or {})
    return cls(**(options or {}))
