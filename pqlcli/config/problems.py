"""Turn pydantic's validation errors into problems a person can act on.

A misspelt key is reported as itself with the key it probably meant ("unknown key 'pql'. Did you mean
'pqls'?"), never as the other key being missing; every problem is kept, in file order.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from pqlcli.config.models import Config

_TYPE_TAGS = {"str", "int", "float", "bool", "date", "datetime"}


@dataclass(frozen=True)
class Problem:
    loc: tuple[Any, ...]  # the config path, e.g. ("fit", 0, "points")
    text: str  # "fit.0.points: Input should be a valid number (got 'lots')"
    hint: str | None = None
    at_key: bool = False  # point at the key itself (unknown keys) rather than its value

    @property
    def position_loc(self) -> tuple[Any, ...]:
        return (*self.loc, "__key__") if self.at_key else self.loc


def config_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic's loc without its union/validator tags (``'str'``, ``'function-after[...]'``)."""
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS)))


def _model_fields(tp: Any) -> dict[str, str] | None:
    """Config-facing key -> field name of a pydantic model type (aliases included), else None."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {(f.alias or name): name for name, f in tp.model_fields.items()}
    return None


def _step(tp: Any, part: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        for arg in get_args(tp):
            found = _step(arg, part)
            if found is not None:
                return found
        return None
    fields = _model_fields(tp)
    if fields is not None:
        name = fields.get(part) or (part if part in tp.model_fields else None)
        return tp.model_fields[name].annotation if name else None
    if get_origin(tp) in (list, dict):
        return get_args(tp)[-1]
    if get_origin(tp) is typing.Annotated:
        return _step(get_args(tp)[0], part)
    return None


def keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the config format allows inside the mapping at ``loc`` (empty when names are free)."""
    tp: Any = Config
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    if get_origin(tp) in (Union, types.UnionType):
        tp = next((a for a in get_args(tp) if _model_fields(a) is not None), None)
    return list(_model_fields(tp) or {})


def _close(word: str, options: list[str]) -> str | None:
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None


def _value_text(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if "input" in err and not isinstance(err["input"], dict | list):
        return f"{msg} (got {err['input']!r})"
    return msg


def _unknown_key(loc: tuple[Any, ...]) -> Problem:
    parent, key = loc[:-1], str(loc[-1])
    allowed = keys_at(parent)
    guess = _close(key, allowed)
    where = ".".join(str(p) for p in loc)
    text = f"{where}: unknown key {key!r} (not part of the config format)"
    if guess:
        return Problem(loc, f"{text}. Did you mean {guess!r}?", at_key=True)
    hint = f"Keys allowed here: {', '.join(allowed)}." if allowed else None
    return Problem(loc, f"{text}; check its spelling", hint, at_key=True)


def describe(errors: list[Any]) -> list[Problem]:
    """Every validation error as a :class:`Problem`, misspellings merged, in the order of the file."""
    errs = [{**e, "loc": config_loc(tuple(e["loc"]))} for e in errors]
    extras = [e["loc"] for e in errs if e.get("type") == "extra_forbidden"]
    problems: list[Problem] = []
    for e in errs:
        loc, kind = e["loc"], e.get("type", "")
        where = ".".join(str(p) for p in loc) or "(top level)"
        if kind == "extra_forbidden":
            problems.append(_unknown_key(loc))
        elif kind == "missing":
            # a sibling key spelt close to this one is the same mistake, reported once as that key
            siblings = [str(x[-1]) for x in extras if x[:-1] == loc[:-1]]
            if not _close(str(loc[-1]), siblings):
                problems.append(Problem(loc, f"{where}: this required key is missing"))
        else:
            problems.append(Problem(loc, f"{where}: {_value_text(e)}"))
    seen: set[str] = set()
    unique = [p for p in problems if not (p.text in seen or seen.add(p.text))]  # type: ignore[func-returns-value]
    return unique or [Problem((), "the config is not valid")]
