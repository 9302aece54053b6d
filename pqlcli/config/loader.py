"""Find, read and validate ``pql.yaml``, keeping line and column of every piece for errors.

A mistake is reported with file:line:column, the lines around it, what was expected and, for a misspelt
key, the key it probably meant. Every problem pydantic finds is listed, not just the first.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pqlcli.config import yamlsafe
from pqlcli.config.models import Config
from pqlcli.config.problems import Problem, describe
from pqlcli.errors import ConfigError

# Where `load(None)` looks, in order (after $PQL_CONFIG); documented in docs/config.md.
SEARCH_PATHS = (Path("pql.yaml"), Path("config/pql.yaml"))
DEFAULT_CONFIG = SEARCH_PATHS[-1]
DOCS_HINT = "See docs/config.md for every key and its meaning."

Positions = dict[tuple[Any, ...], tuple[int, int]]


@dataclass
class LoadedConfig:
    """A validated config plus where each piece came from, for errors that point at the line."""

    config: Config
    path: Path
    text: str
    positions: Positions = field(default_factory=dict)

    def where(self, loc: tuple[Any, ...]) -> tuple[int, int] | None:
        """1-based (line, column) of the node at ``loc`` (or its closest parent)."""
        return nearest(self.positions, loc)

    def error(self, loc: tuple[Any, ...], message: str, hint: str | None = None) -> ConfigError:
        return config_error(self.path, self.text, self.where(loc), message, hint)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def as_of(self, override: str | date | datetime | None = None) -> datetime:
        return resolve_as_of(override if override is not None else self.config.as_of)


def nearest(positions: Positions, loc: tuple[Any, ...]) -> tuple[int, int] | None:
    """The position of ``loc``, or of its closest parent that has one."""
    loc = tuple(loc)
    while loc:
        if loc in positions:
            return positions[loc]
        loc = loc[:-1]
    return positions.get(())


def resolve_as_of(value: str | date | datetime | None) -> datetime:
    """A UTC datetime: a date means its midnight UTC; naive datetimes are UTC; None means now."""
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{{param}} {value!r} is not a date or time.",
                "Use ISO-8601, e.g. 2026-11-01 or 2026-11-01T12:00:00Z.",
                param="as_of",
            ) from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def snippet(text: str, pos: tuple[int, int]) -> str:
    """The line at ``pos`` with its neighbours and a caret under the column."""
    lines = text.splitlines()
    lo, hi = max(1, pos[0] - 1), min(len(lines), pos[0] + 1)
    shown = []
    for n in range(lo, hi + 1):
        shown.append(f"  {'>' if n == pos[0] else ' '} {n:>4} | {lines[n - 1]}")
        if n == pos[0]:
            shown.append("         | " + " " * (pos[1] - 1) + "^")
    return "\n" + "\n".join(shown) if shown else ""


def config_error(
    path: Path, text: str, pos: tuple[int, int] | None, message: str, hint: str | None = None
) -> ConfigError:
    where = f"{path}:{pos[0]}:{pos[1]}" if pos else str(path)
    return ConfigError(f"{where}: {message}{snippet(text, pos) if pos else ''}", hint)


def _positions(node: yaml.Node, loc: tuple[Any, ...], out: Positions) -> None:
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


def _parse(text: str, path: Path) -> tuple[Any, Positions]:
    try:
        node, data = yamlsafe.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else None
        if isinstance(exc, yamlsafe.YamlProblem):
            raise config_error(path, text, pos, str(exc.problem), exc.hint) from None
        raise config_error(path, text, pos, f"not valid YAML: {exc.problem or exc}", "Fix the YAML syntax at that spot.") from None
    except yaml.YAMLError as exc:
        raise config_error(path, text, None, f"not valid YAML: {exc}", "Fix the YAML syntax.") from None
    positions: Positions = {}
    if node is not None:
        _positions(node, (), positions)
    return data, positions


def _report(path: Path, text: str, positions: Positions, problems: list[Problem]) -> ConfigError:
    """One error: the first problem with its lines, then every other problem on a line of its own."""

    def pos(p: Problem) -> tuple[int, int] | None:
        return positions.get(p.position_loc) or nearest(positions, p.loc)

    ordered = sorted(problems, key=lambda p: pos(p) or (0, 0))
    first, rest = ordered[0], ordered[1:]
    err = config_error(path, text, pos(first), first.text, DOCS_HINT if not first.hint else f"{first.hint} {DOCS_HINT}")
    if rest:
        lines = []
        for p in rest:
            at = pos(p)
            lines.append(f"  {path}:{at[0]}:{at[1]}: {p.text}" if at else f"  {path}: {p.text}")
        err = ConfigError(f"{err.message}\n{len(rest)} more problem(s):\n" + "\n".join(lines), err.hint)
    return err


def loads(text: str, path: str | Path = "<config>") -> LoadedConfig:
    """Parse and validate config text."""
    path = Path(path)
    data, positions = _parse(text, path)
    if not isinstance(data, dict):
        raise config_error(
            path, text, positions.get(()), "the config must be a YAML mapping with version:, metrics:, fit:, usage: ...",
            "See config/pql.yaml for a complete example.",
        )
    if "version" not in data and not difflib.get_close_matches("version", [str(k) for k in data], n=1):
        raise config_error(path, text, (1, 1), "the config has no version: key", "Add `version: 1` at the top.")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise _report(path, text, positions, describe(exc.errors())) from None
    loaded = LoadedConfig(config, path, text, positions)
    _check_names(loaded)
    return loaded


def _loc(dim: str) -> tuple[Any, ...]:
    return (dim,) if dim in ("fit", "usage") else ("scores", dim)


def _check_rules(loaded: LoadedConfig) -> None:
    cfg = loaded.config
    for dim in cfg.dimensions:
        seen: dict[str, int] = {}
        for i, rule in enumerate(cfg.rules(dim)):
            if rule.name in seen:
                raise loaded.error(
                    (*_loc(dim), i, "name"),
                    f"duplicate {dim} rule name {rule.name!r} (also rule #{seen[rule.name] + 1})",
                    "Give every rule its own name: explanations and the points columns use it.",
                )
            seen[rule.name] = i
            if rule.metric is not None and rule.metric not in cfg.metrics:
                raise loaded.error(
                    (*_loc(dim), i, "metric"),
                    f"{dim} rule {rule.name!r} uses metric {rule.metric!r}, which is not defined",
                    f"Defined metrics: {', '.join(cfg.metrics) or 'none'}.{_suggest(rule.metric, cfg.metrics)}",
                )


def _check_trends(loaded: LoadedConfig) -> None:
    metrics = loaded.config.metrics
    for name, m in metrics.items():
        if m.trend is None:
            continue
        base = metrics.get(m.trend)
        if base is None:
            raise loaded.error(
                ("metrics", name, "trend"),
                f"trend {name!r} is of metric {m.trend!r}, which is not defined",
                f"Defined metrics: {', '.join(metrics)}.{_suggest(m.trend, metrics)}",
            )
        if base.trend is not None or base.window is None or base.decay is not None or base.agg not in (
            "count", "sum", "active_days"
        ):
            raise loaded.error(
                ("metrics", name, "trend"),
                f"trend {name!r}: metric {m.trend!r} must be a windowed count, sum or active_days metric "
                "without decay (a trend compares its window with the one just before it)",
                f"Give {m.trend} a window: (e.g. 7d), agg: count, sum or active_days, and no decay:.",
            )


def _check_activation(loaded: LoadedConfig) -> None:
    cfg = loaded.config
    taken = set(cfg.metrics)
    for i, a in enumerate(cfg.activation):
        for col in (a.name, f"{a.name}_steps", f"{a.name}_days", f"{a.name}_users"):
            if col in taken:
                raise loaded.error(
                    ("activation", i, "name"),
                    f"activation {a.name!r} makes the column {col!r}, which a metric or another milestone already has",
                    "Rename the milestone.",
                )
            taken.add(col)


def _check_tiers(loaded: LoadedConfig) -> None:
    cfg = loaded.config
    for axis in ("x", "y"):
        dim = getattr(cfg.tiers, axis)
        if dim not in cfg.dimensions:
            raise loaded.error(
                ("tiers", axis),
                f"tiers {axis}: {dim!r} is not a score dimension",
                f"Score dimensions: {', '.join(cfg.dimensions)}.{_suggest(dim, cfg.dimensions)}",
            )
        if cfg.tiers.threshold(dim) is None:
            raise loaded.error(
                ("tiers", axis),
                f"tiers {axis}: {dim} has no threshold",
                f"Add `{dim}: 40` (the score from which {dim} counts as high) under tiers:.",
            )
    if cfg.tiers.x == cfg.tiers.y:
        raise loaded.error(("tiers", "y"), "tiers x: and y: name the same dimension", "Pick two different dimensions.")
    for key in cfg.tiers.__pydantic_extra__ or {}:
        if key not in cfg.scores:
            raise loaded.error(
                ("tiers", key, "__key__"),
                f"tiers: {key!r} is not a score dimension (a threshold key names fit, usage or a scores: dimension)",
                f"Score dimensions: {', '.join(cfg.dimensions)}.{_suggest(key, cfg.dimensions)}",
            )


def _check_names(loaded: LoadedConfig) -> None:
    _check_rules(loaded)
    _check_trends(loaded)
    _check_activation(loaded)
    _check_tiers(loaded)
    seen_pql: set[str] = set()
    for i, pql in enumerate(loaded.config.pqls):
        if pql.name in seen_pql:
            raise loaded.error((("pqls", i, "name")), f"duplicate PQL definition name {pql.name!r}", "Rename one of them.")
        seen_pql.add(pql.name)


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def find(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``path``, else ``$PQL_CONFIG``, else ``./pql.yaml``, else ``./config/pql.yaml``."""
    if path:
        chosen = Path(path)
        if not chosen.exists():
            raise ConfigError(f"The config file {chosen} does not exist.", "Check the path passed as {param}.", param="config")
        return chosen
    env = os.environ.get("PQL_CONFIG")
    if env:
        if not Path(env).exists():
            raise ConfigError(f"PQL_CONFIG points at {env}, which does not exist.", "Fix or unset PQL_CONFIG.")
        return Path(env)
    for candidate in SEARCH_PATHS:
        if candidate.exists():
            return candidate
    raise ConfigError(
        f"No config file found: looked at $PQL_CONFIG, {', '.join(f'./{p}' for p in SEARCH_PATHS)} (in {Path.cwd()}).",
        "Run `pql init` to write a commented starter pql.yaml here (`pql init --from EXPORTS_DIR` guesses one "
        "from your exports), or pass the file as {param}.",
        param="config",
    )


def load(path: str | os.PathLike[str] | None = None) -> LoadedConfig:
    """Load and validate a config file (lookup order: ``path``, ``$PQL_CONFIG``, ``./pql.yaml``, ``./config/pql.yaml``)."""
    chosen = find(path)
    if chosen.is_dir():
        raise ConfigError(f"The config path {chosen} is a folder, not a file.", "Pass the YAML file as {param}.", param="config")
    try:
        text = chosen.read_text("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"The config file {chosen} is not UTF-8 text.", "Save it as UTF-8.") from None
    return loads(text, chosen)
