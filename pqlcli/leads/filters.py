"""The filters and choices of a leads query: owner, tier, PQL, where, signed-up window, sort and columns.

Each parser checks its input against the snapshot before any row is read and raises a
:class:`~pqlcli.leads.errors.ParameterError` naming the parameter (the CLI names the flag).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pqlcli.leads.errors import ParameterError, did_you_mean, unknown_names
from pqlcli.leads.why import WHY
from pqlcli.util.sqltext import double_quote_hint

if TYPE_CHECKING:
    import polars as pl

DEFAULT_COLUMNS = {
    "users": ["user_id", "name", "email", "account_name", "owner", "plan", "fit_score", "usage_score", "tier", WHY],
    "accounts": ["account_id", "name", "domain", "owner", "plan", "users", "fit_score", "usage_score", "tier", "pqa", WHY],
}
OWNER_COLUMNS = ("owner", "owner_email", "owner_name")
SortKey = tuple[str, bool | None]


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def parse_duration(text: str) -> timedelta:
    """``30d``, ``2w``, ``12h``, ``3mo`` (months of 30 days), ``1y``; a bare number means days (util.durations)."""
    from pqlcli.util import durations

    try:
        return durations.parse_duration(text, integer=True)
    except durations.DurationError as exc:
        raise ParameterError(
            "signed_up_within",
            f"{{param}} {text!r} is not a duration ({exc!s}).",
            f"Use a number and a unit: {durations.EXAMPLES}.",
        )


def parse_sort(spec: str, columns: list[str]) -> list[SortKey]:
    """``col[:asc|desc][,col2...]`` -> [(column, descending or None for the column's natural order)]."""
    keys: list[SortKey] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        name, _, direction = part.partition(":")
        name, direction = name.strip(), direction.strip().lower()
        if direction not in ("", "asc", "desc"):
            raise ParameterError(
                "sort", f"{{param}} {part!r}: the direction must be asc or desc.", "Example: usage_score:desc."
            )
        if name not in columns:
            raise unknown_names("sort", [name], columns)
        keys.append((name, None if not direction else direction == "desc"))
    if not keys:
        raise ParameterError("sort", "{param} needs a column.", "Example: usage_score:desc.")
    return keys


def parse_columns(spec: str | list[str] | None, columns: list[str], level: str) -> list[str]:
    """The columns to return: ``spec`` (comma-separated or a list) or the level's defaults."""
    if spec is None:
        return [c for c in with_routing(DEFAULT_COLUMNS[level], columns) if c in columns]
    wanted = spec if isinstance(spec, list) else [c.strip() for c in spec.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in columns]
    if unknown:
        raise unknown_names("columns", unknown, columns)
    if not wanted:
        raise ParameterError("columns", "{param} is empty.", "Example: email,owner,usage_score.")
    return list(dict.fromkeys(wanted))


def where_expr(condition: str, columns: list[str]) -> pl.Expr:
    """Parse a SQL condition with the polars SQL parser (never eval) and check the columns it names."""
    import polars as pl

    try:
        expr = pl.sql_expr(condition)
    except (pl.exceptions.SQLSyntaxError, pl.exceptions.SQLInterfaceError, pl.exceptions.ComputeError) as exc:
        raise ParameterError(
            "where",
            f"{{param}} {condition!r} is not a SQL condition ({first_line(exc)}).",
            "Example: \"projects_30d > 3 AND country IN ('US', 'GB')\"; quote text with single quotes.",
        )
    try:
        names = expr.meta.root_names()
    except Exception:  # a literal-only expression has no roots
        names = []
    unknown = [n for n in dict.fromkeys(names) if n not in columns]
    if unknown:
        raise unknown_names("where", unknown, columns, hint_prefix=double_quote_hint(condition, unknown))
    return expr


def fold(expr: pl.Expr) -> pl.Expr:
    """Text compared the way people read it: trimmed, lower case, accents removed ("Inès" = "ines")."""
    import polars as pl

    return expr.cast(pl.String).str.strip_chars().str.normalize("NFKD").str.replace_all(r"\p{M}", "").str.to_lowercase()


def fold_text(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def with_routing(default: list[str], columns: list[str]) -> list[str]:
    """Default columns: with routing, the assigned owner and whether it was routed instead of the CRM owner."""
    if "assigned_owner" not in columns:
        return default
    out: list[str] = []
    for c in default:
        out += ["assigned_owner", "routed"] if c == "owner" else [c]
    return out


def owner_columns(columns: list[str]) -> list[str]:
    """The columns an owner is matched on: ``assigned_owner`` when the config routes records (owner, else
    the routed owner), else the CRM owner columns."""
    if "assigned_owner" in columns:
        return ["assigned_owner"]
    owner_cols = [c for c in OWNER_COLUMNS if c in columns]
    if not owner_cols:
        raise ParameterError(
            "owner", "{param} needs an owner column, and this snapshot has none.", "Ingest `owner` with your CRM export."
        )
    return owner_cols


def owner_expr(owner: str, columns: list[str]) -> pl.Expr:
    """Rows owned by ``owner`` (email or name, case- and accent-insensitive); ``none`` = rows with no owner."""
    import polars as pl

    owner_cols = owner_columns(columns)
    if owner.strip().lower() == "none":
        return pl.all_horizontal([pl.col(c).cast(pl.String).str.strip_chars().fill_null("").eq("") for c in owner_cols])
    wanted = fold_text(owner)
    tests = []
    for c in owner_cols:
        value = fold(pl.col(c))
        tests.append(value.eq(wanted))
        if "@" not in wanted:  # `--owner ana` matches ana@example.com
            tests.append(value.str.split("@").list.first().eq(wanted) & value.str.contains("@", literal=True))
    return pl.any_horizontal(tests).fill_null(False)


def tier_filter(spec: str, names: dict[str, str]) -> list[str]:
    """Tier names in the snapshot for ``1,2``, ``tier1`` or configured names (any case)."""
    by_name = {name.lower(): name for name in names.values()}
    out = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        key = part.lower()
        if key.isdigit():
            key = f"tier{key}"
        if key in names:
            out.append(names[key])
        elif key in by_name:
            out.append(by_name[key])
        else:
            raise ParameterError(
                "tier",
                f"{{param}} {part!r} is not a tier.{did_you_mean(part, names.values())}",
                f"Use 1-4 or a tier name: {', '.join(names.values())} (several: 1,2).",
            )
    return out


def qualified_expr(level: str, columns: list[str]) -> pl.Expr:
    """A user is qualified when it is a PQL; an account when it is a PQA or meets an account PQL."""
    import polars as pl

    if level == "users":
        if "is_pql" in columns:
            return pl.col("is_pql").fill_null(False)
        flags = [c for c in columns if c.startswith("pql__")]
    else:
        flags = [c for c in columns if c.startswith("pql__") or c == "pqa"]
    if not flags:
        return pl.lit(False)
    return pl.any_horizontal([pl.col(c).fill_null(False) for c in flags])


def pql_filter(name: str, level: str, columns: list[str]) -> pl.Expr:
    import polars as pl

    flags = sorted(c.removeprefix("pql__") for c in columns if c.startswith("pql__"))
    if name in ("any", "*"):
        return qualified_expr(level, columns)
    if name == "pqa" and "pqa" in columns:
        return pl.col("pqa").fill_null(False)
    if f"pql__{name}" not in columns:
        extra = ["any"] + (["pqa"] if "pqa" in columns else [])
        raise ParameterError(
            "pql",
            f"{{param}} {name!r} is not a {level[:-1]}-level PQL definition in this snapshot."
            + did_you_mean(name, flags + extra),
            f"Definitions for {level}: {', '.join(flags + extra) or 'none'}.",
        )
    return pl.col(f"pql__{name}").fill_null(False)


def signed_up_filters(
    within: str | timedelta, level: str, schema: pl.Schema, as_of: datetime | None
) -> list[pl.Expr]:
    """Signed up (accounts: created) within ``within`` before ``as_of``."""
    import polars as pl

    delta = parse_duration(within) if isinstance(within, str) else within
    col = "signup_at" if level == "users" else "created_at"
    if col not in schema:
        raise ParameterError("signed_up_within", f"{{param}} needs a {col} column, and this snapshot has none.")
    stamp = pl.col(col)
    if as_of is None:
        return [stamp.is_not_null()]
    return [stamp >= pl.lit(as_of - delta).cast(schema[col]), stamp < pl.lit(as_of).cast(schema[col])]


def tier_rank_expr(names: dict[str, str]) -> pl.Expr:
    """0 for the best tier ... 3 for the worst; unknown tiers last."""
    import polars as pl

    ordered = list(names.values())
    return pl.col("tier").replace_strict(ordered, list(range(len(ordered))), default=len(ordered), return_dtype=pl.Int32)
