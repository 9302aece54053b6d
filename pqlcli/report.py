"""Queries over a score snapshot: ``pql list`` (filtered, sorted leads) and ``pql tiers report``.

Pure polars, no rendering: every function returns a DataFrame or plain JSON-able data, so everything the
CLI shows can be had from Python. The snapshot layout is the contract in ``docs/snapshot.md``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pqlcli.config import DEFAULT_TIER_LABELS, TIERS
from pqlcli.errors import UsageError, WorkspaceError

if TYPE_CHECKING:
    import polars as pl

    from pqlcli.workspace import Workspace

LEVELS = ("users", "accounts")
ID_COLUMN = {"users": "user_id", "accounts": "account_id"}
CANONICAL_TIERS = TIERS
DEFAULT_LABELS = DEFAULT_TIER_LABELS
# Where each canonical tier sits in the fit × usage matrix.
TIER_CELL = {
    "tier1": ("good_fit", "high_usage"),
    "tier2": ("good_fit", "low_usage"),
    "tier3": ("weak_fit", "high_usage"),
    "tier4": ("weak_fit", "low_usage"),
}
WHY = "why"
WHY_TOP = 3
DEFAULT_COLUMNS = {
    "users": ["user_id", "name", "email", "account_name", "owner", "plan", "fit_score", "usage_score", "tier", WHY],
    "accounts": ["account_id", "name", "domain", "owner", "plan", "users", "fit_score", "usage_score", "tier", "pqa", WHY],
}
# The narrower set the terminal table starts from (it must fit 80 columns).
TABLE_COLUMNS = {
    "users": ["name", "email", "account_name", "owner", "plan", "fit_score", "usage_score", "tier", WHY],
    "accounts": ["name", "owner", "plan", "users", "fit_score", "usage_score", "tier", WHY],
}
BREAKDOWNS = ("owner", "plan", "industry", "country")
MAX_GROUPS = 25
UNOWNED = "(unowned)"
MISSING = "(none)"


# ---- snapshot access ----------------------------------------------------------------------------
def snapshot_manifest(snapshot_dir: Path) -> dict[str, Any]:
    from pqlcli.workspace.snapshot import read_manifest

    return read_manifest(snapshot_dir)


def scan_level(snapshot_dir: Path, level: str) -> pl.LazyFrame:
    import polars as pl

    check_level(level)
    path = Path(snapshot_dir) / f"{level}.parquet"
    if not path.is_file():
        raise WorkspaceError(f"The snapshot {snapshot_dir} has no {level}.parquet.", "Run `pql score` again.")
    return pl.scan_parquet(path)


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise UsageError(f"Unknown level {level!r}.", "Use `users` or `accounts`.")


def previous_snapshot_dir(snapshot_dir: Path) -> Path | None:
    """The completed snapshot just before ``snapshot_dir`` in the same scores folder, if any."""
    snapshot_dir = Path(snapshot_dir)
    parent = snapshot_dir.parent
    if not parent.is_dir():
        return None
    earlier = sorted(
        p for p in parent.iterdir() if p.is_dir() and (p / "manifest.json").exists() and p.name < snapshot_dir.name
    )
    return earlier[-1] if earlier else None


def tier_names(manifest: dict[str, Any]) -> dict[str, str]:
    """Canonical tier key (tier1..tier4) -> the name used in the snapshot's ``tier`` column."""
    names = (manifest.get("tiers") or {}).get("names") or {}
    return {key: str(names.get(key, key)) for key in CANONICAL_TIERS}


def tier_labels(manifest: dict[str, Any]) -> dict[str, str]:
    labels = (manifest.get("tiers") or {}).get("labels") or {}
    return {key: str(labels.get(key, DEFAULT_LABELS[key])) for key in CANONICAL_TIERS}


def tier_rank_expr(manifest: dict[str, Any]) -> pl.Expr:
    """0 for the best tier ... 3 for the worst; unknown tiers last."""
    import polars as pl

    names = list(tier_names(manifest).values())
    return pl.col("tier").replace_strict(names, list(range(len(names))), default=len(names), return_dtype=pl.Int32)


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


# ---- the "why" column -----------------------------------------------------------------------------
def add_why(frame: pl.DataFrame, top: int = WHY_TOP) -> pl.DataFrame:
    """Add ``why``: the rules that fired, e.g. ``invites +30, big_company +30, projects +25``.

    Usage and fit rules alternate (what they did, who they are), each biggest absolute points first.
    """
    import polars as pl

    rule_cols = [c for c in frame.columns if c.startswith(("fit__", "usage__"))]
    if not rule_cols or frame.height == 0:
        return frame.with_columns(pl.lit("", dtype=pl.String).alias(WHY))
    pts = pl.col("pts")
    magnitude = pts.abs()
    number = (
        pl.when(magnitude == magnitude.round(0))
        .then(magnitude.round(0).cast(pl.Int64).cast(pl.String))
        .otherwise(magnitude.round(1).cast(pl.String))
    )
    long = (
        frame.lazy()
        .with_row_index("_row")
        .select("_row", *rule_cols)
        .with_columns(pl.col(rule_cols).cast(pl.Float64))
        .unpivot(index="_row", variable_name="rule", value_name="pts")
        .filter(pts.is_not_null() & (pts != 0))
        .with_columns(
            pl.concat_str(
                pl.col("rule").str.replace(r"^(fit|usage)__", ""),
                pl.lit(" "),
                pl.when(pts > 0).then(pl.lit("+")).otherwise(pl.lit("−")),
                number,
            ).alias("label")
        )
        # what they did and who they are, alternately: usage #1, fit #1, usage #2, ...
        .with_columns(kind=pl.col("rule").str.starts_with("fit__").cast(pl.Int8))
        .with_columns(
            rank=pl.struct(magnitude.neg().alias("m"), pl.col("rule")).rank("ordinal").over("_row", "kind")
        )
        .sort(["_row", "rank", "kind"])
        .group_by("_row", maintain_order=True)
        .agg(pl.col("label").head(top).str.join(", ").alias(WHY))
    )
    return (
        frame.lazy()
        .with_row_index("_row")
        .join(long, on="_row", how="left", maintain_order="left")
        .with_columns(pl.col(WHY).fill_null(""))
        .drop("_row")
        .collect()
    )


# ---- parsing helpers --------------------------------------------------------------------------------


def parse_duration(text: str, flag: str = "--signed-up-within") -> timedelta:
    """``30d``, ``2w``, ``12h``, ``3mo`` (months of 30 days), ``1y``; a bare number means days (see util.durations)."""
    from pqlcli.util import durations

    try:
        return durations.parse_duration(text, integer=True)
    except durations.DurationError as exc:
        raise UsageError(f"{flag} {text!r} is not a duration ({exc}).", f"Use a number and a unit: {durations.EXAMPLES}.")


def parse_sort(spec: str, columns: list[str]) -> list[tuple[str, bool | None]]:
    """``col[:asc|desc][,col2...]`` -> [(column, descending or None for the column's natural order)]."""
    keys: list[tuple[str, bool | None]] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        name, _, direction = part.partition(":")
        name, direction = name.strip(), direction.strip().lower()
        if direction not in ("", "asc", "desc"):
            raise UsageError(f"--sort {part!r}: the direction must be asc or desc.", "Example: --sort usage_score:desc.")
        if name not in columns:
            raise UsageError(
                f"--sort names an unknown column {name!r}.", f"Columns that exist: {', '.join(sorted(columns))}."
            )
        keys.append((name, None if not direction else direction == "desc"))
    if not keys:
        raise UsageError("--sort needs a column.", "Example: --sort usage_score:desc.")
    return keys


def parse_columns(spec: str | list[str] | None, columns: list[str], level: str) -> list[str]:
    if spec is None:
        return [c for c in DEFAULT_COLUMNS[level] if c in columns]
    wanted = spec if isinstance(spec, list) else [c.strip() for c in spec.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in columns]
    if unknown:
        raise UsageError(
            f"--columns names unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}.",
            f"Columns that exist: {', '.join(sorted(columns))}.",
        )
    if not wanted:
        raise UsageError("--columns is empty.", "Example: --columns email,owner,usage_score.")
    return list(dict.fromkeys(wanted))


def where_expr(condition: str, columns: list[str]) -> pl.Expr:
    """Parse a SQL condition with the polars SQL parser (never eval) and check the columns it names."""
    import polars as pl

    try:
        expr = pl.sql_expr(condition)
    except (pl.exceptions.SQLSyntaxError, pl.exceptions.SQLInterfaceError, pl.exceptions.ComputeError) as exc:
        raise UsageError(
            f"--where {condition!r} is not a SQL condition ({_first_line(exc)}).",
            "Example: --where \"projects_30d > 3 AND country IN ('US', 'GB')\"; quote text with single quotes.",
        )
    try:
        names = expr.meta.root_names()
    except Exception:  # a literal-only expression has no roots
        names = []
    unknown = [n for n in dict.fromkeys(names) if n not in columns]
    if unknown:
        raise UsageError(
            f"--where names unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}.",
            f"Columns that exist: {', '.join(sorted(columns))}.",
        )
    return expr


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _as_of(manifest: dict[str, Any]) -> datetime | None:
    raw = manifest.get("as_of")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None


def owner_expr(owner: str, columns: list[str]) -> pl.Expr:
    """Rows owned by ``owner`` (email or name, case-insensitive); ``none`` = rows with no owner."""
    import polars as pl

    owner_cols = [c for c in ("owner", "owner_email", "owner_name") if c in columns]
    if not owner_cols:
        raise UsageError("--owner needs an owner column, and this snapshot has none.", "Ingest `owner` with your CRM export.")
    if owner.strip().lower() == "none":
        return pl.all_horizontal(
            [pl.col(c).cast(pl.String).str.strip_chars().fill_null("").eq("") for c in owner_cols]
        )
    wanted = owner.strip().lower()
    tests = []
    for c in owner_cols:
        value = pl.col(c).cast(pl.String).str.strip_chars().str.to_lowercase()
        tests.append(value.eq(wanted))
        if "@" not in wanted:  # `--owner ana` matches ana@example.com
            tests.append(value.str.split("@").list.first().eq(wanted) & value.str.contains("@", literal=True))
    return pl.any_horizontal(tests).fill_null(False)


def tier_filter(spec: str, manifest: dict[str, Any]) -> list[str]:
    names = tier_names(manifest)
    out = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        key = part.lower()
        if key.isdigit():
            key = f"tier{key}"
        if key in names:
            out.append(names[key])
        elif part in names.values():
            out.append(part)
        else:
            raise UsageError(
                f"--tier {part!r} is not a tier.",
                f"Use 1-4 or a tier name: {', '.join(names.values())} (several: --tier 1,2).",
            )
    return out


def pql_filter(name: str, level: str, columns: list[str]) -> pl.Expr:
    import polars as pl

    flags = sorted(c.removeprefix("pql__") for c in columns if c.startswith("pql__"))
    if name in ("any", "*"):
        return qualified_expr(level, columns)
    if name == "pqa" and "pqa" in columns:
        return pl.col("pqa").fill_null(False)
    if f"pql__{name}" not in columns:
        extra = ["any"] + (["pqa"] if "pqa" in columns else [])
        raise UsageError(
            f"--pql {name!r} is not a {level[:-1]}-level PQL definition in this snapshot.",
            f"Definitions for {level}: {', '.join(flags + extra) or 'none'}.",
        )
    return pl.col(f"pql__{name}").fill_null(False)


# ---- pql list ---------------------------------------------------------------------------------------
def list_leads(
    snapshot_dir: str | Path,
    level: str,
    owner: str | None = None,
    tier: str | None = None,
    pql: str | None = None,
    where: str | None = None,
    signed_up_within: str | timedelta | None = None,
    new: bool = False,
    sort: str | None = None,
    columns: str | list[str] | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """Leads of a snapshot, filtered and best first (tier, then usage, then fit), with the ``why`` column."""
    import polars as pl

    snapshot_dir = Path(snapshot_dir)
    manifest = snapshot_manifest(snapshot_dir)
    lazy = scan_level(snapshot_dir, level)
    available = list(lazy.collect_schema().names())
    selectable = [*available, WHY] if WHY not in available else available
    id_col = ID_COLUMN[level]

    # Validate every flag before reading any rows.
    chosen = parse_columns(columns, selectable, level)
    sort_keys = parse_sort(sort, selectable) if sort else None
    filters: list[pl.Expr] = []
    if owner is not None:
        filters.append(owner_expr(owner, available))
    if tier is not None:
        filters.append(pl.col("tier").is_in(tier_filter(tier, manifest)))
    if pql is not None:
        filters.append(pql_filter(pql, level, available))
    if where:
        filters.append(where_expr(where, available).fill_null(False))
    if signed_up_within is not None:
        delta = parse_duration(signed_up_within) if isinstance(signed_up_within, str) else signed_up_within
        col = "signup_at" if level == "users" else "created_at"
        if col not in available:
            raise UsageError(f"--signed-up-within needs a {col} column, and this snapshot has none.")
        as_of = _as_of(manifest)
        start = (as_of - delta) if as_of else None
        stamp = pl.col(col)
        filters.append(stamp >= pl.lit(start).cast(lazy.collect_schema()[col]) if start else stamp.is_not_null())
        if as_of:
            filters.append(stamp < pl.lit(as_of).cast(lazy.collect_schema()[col]))
    if limit is not None and limit < 0:
        raise UsageError(f"--limit {limit} is negative.", "Use 0 for no limit, or a positive number.")
    if new:
        lazy = lazy.filter(qualified_expr(level, available))
        prev = previous_snapshot_dir(snapshot_dir)
        if prev is not None:
            prev_scan = scan_level(prev, level)
            prev_cols = list(prev_scan.collect_schema().names())
            before = prev_scan.filter(qualified_expr(level, prev_cols)).select(pl.col(id_col).cast(pl.String))
            lazy = lazy.join(before, on=id_col, how="anti")

    try:
        for f in filters:
            lazy = lazy.filter(f)
        frame = lazy.collect()
    except (pl.exceptions.ColumnNotFoundError, pl.exceptions.SQLInterfaceError) as exc:
        raise UsageError(f"--where could not be applied ({_first_line(exc)}).", f"Columns that exist: {', '.join(sorted(available))}.")
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError, pl.exceptions.SchemaError) as exc:
        detail = _first_line(exc)
        if "predicate must be of type" in detail:
            raise UsageError(
                f"--where {where!r} is not a true/false condition ({detail}).",
                "Compare something, e.g. --where \"employees > 50\" or --where \"is_free_email\".",
            )
        raise UsageError(
            f"--where {where!r} compares values of different types ({detail}).",
            "Quote text with single quotes, leave numbers bare, write dates as DATE '2026-10-01', "
            "e.g. --where \"plan = 'free' AND employees > 50\".",
        )

    sort_by_why = bool(sort_keys and any(k == WHY for k, _ in sort_keys))
    if sort_by_why:
        frame = add_why(frame)
    frame = frame.with_columns(tier_rank_expr(manifest).alias("_tier_rank")) if "tier" in frame.columns else frame
    by: list[pl.Expr] = []
    desc: list[bool] = []
    if sort_keys:
        for name, d in sort_keys:
            dtype = frame.schema[name]
            if name == "tier":
                by.append(pl.col("_tier_rank"))
                desc.append(bool(d))
            else:
                by.append(pl.col(name))
                desc.append(d if d is not None else (dtype.is_numeric() or dtype == pl.Boolean))
    else:
        for name, d in (("_tier_rank", False), ("usage_score", True), ("fit_score", True)):
            if name in frame.columns:
                by.append(pl.col(name))
                desc.append(d)
    if id_col in frame.columns:
        by.append(pl.col(id_col))
        desc.append(False)
    if by:
        frame = frame.sort(by, descending=desc, nulls_last=True, maintain_order=True)
    if limit:
        frame = frame.head(limit)
    if WHY in chosen and not sort_by_why:
        frame = add_why(frame)  # after the limit: only the rows shown pay for it
    return frame.select(chosen)


def list_columns(snapshot_dir: str | Path, level: str) -> list[str]:
    """Every column ``pql list`` can filter, sort or show for ``level``."""
    names = list(scan_level(Path(snapshot_dir), level).collect_schema().names())
    return [*names, WHY] if WHY not in names else names


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Neutralise spreadsheet formulas: text cells starting with = + - @ tab or CR get a leading quote."""
    import polars as pl

    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(r"^[=+\-@\t\r]")).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def flatten_for_text(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV-ready: nested columns (lists, structs) as JSON text, timestamps as ISO-8601 (like JSON output)."""
    import polars as pl

    out = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
            out.append(pl.col(name).map_elements(lambda v: json.dumps(v, default=str), return_dtype=pl.String))
        elif isinstance(dtype, pl.Datetime):
            zone = "%:z" if dtype.time_zone else ""
            out.append(pl.col(name).dt.to_string(f"%Y-%m-%dT%H:%M:%S%.f{zone}"))
    return frame.with_columns(out) if out else frame


# ---- pql tiers report -------------------------------------------------------------------------------
def tiers_report(
    ws: Workspace, snapshot: str | Path | None = None, by: list[str] | str | None = None, top: int = 5
) -> dict[str, Any]:
    """The tier report of a snapshot as plain JSON-able data (the other formats render this)."""
    snap = ws.snapshot(snapshot).path
    return tiers_report_for(snap, by=by, top=top)


def tiers_report_for(snapshot_dir: Path, by: list[str] | str | None = None, top: int = 5) -> dict[str, Any]:
    snapshot_dir = Path(snapshot_dir)
    manifest = snapshot_manifest(snapshot_dir)
    dims = _breakdowns(by)
    prev = previous_snapshot_dir(snapshot_dir)
    prev_manifest = snapshot_manifest(prev) if prev else None
    names = tier_names(manifest)
    labels = tier_labels(manifest)
    thresholds = manifest.get("tiers") or {}
    report: dict[str, Any] = {
        "snapshot": snapshot_dir.name,
        "as_of": manifest.get("as_of"),
        "previous_snapshot": prev.name if prev else None,
        "thresholds": {"fit": thresholds.get("fit"), "usage": thresholds.get("usage")},
        "tiers": [
            {"key": key, "name": names[key], "label": labels[key], "fit": TIER_CELL[key][0], "usage": TIER_CELL[key][1]}
            for key in CANONICAL_TIERS
        ],
        "breakdowns": dims,
        "levels": {},
    }
    for level in LEVELS:
        path = snapshot_dir / f"{level}.parquet"
        if not path.is_file():
            continue
        prev_path = prev / f"{level}.parquet" if prev else None
        report["levels"][level] = _level_report(
            level, path, manifest, prev_path if prev_path and prev_path.is_file() else None, prev_manifest, dims, top
        )
    return report


def _breakdowns(by: list[str] | str | None) -> list[str]:
    if by is None:
        return ["owner", "plan"]
    items = [by] if isinstance(by, str) else list(by)
    dims = [d.strip().lower() for item in items for d in item.split(",") if d.strip()]
    bad = [d for d in dims if d not in BREAKDOWNS]
    if bad:
        raise UsageError(f"--by {', '.join(bad)} is not a breakdown.", f"Use one or more of: {', '.join(BREAKDOWNS)}.")
    return list(dict.fromkeys(dims))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _level_report(
    level: str,
    path: Path,
    manifest: dict[str, Any],
    prev_path: Path | None,
    prev_manifest: dict[str, Any] | None,
    dims: list[str],
    top: int,
) -> dict[str, Any]:
    import polars as pl

    frame = pl.read_parquet(path)
    cols = frame.columns
    names = tier_names(manifest)
    key_of = {v: k for k, v in names.items()}
    total = frame.height
    counts_frame = frame.group_by("tier").agg(pl.len().alias("n"))
    counts = {key_of.get(t, str(t)): int(n) for t, n in counts_frame.iter_rows()}
    tiers: dict[str, dict[str, Any]] = {
        key: {"count": counts.get(key, 0), "share": _share(counts.get(key, 0), total)} for key in CANONICAL_TIERS
    }
    matrix: dict[str, dict[str, int]] = {"good_fit": {}, "weak_fit": {}}
    for key, (fit, usage) in TIER_CELL.items():
        matrix[fit][usage] = counts.get(key, 0)
    qualified = frame.select(qualified_expr(level, cols).alias("q"))["q"]
    out: dict[str, Any] = {
        "total": total,
        "qualified": int(qualified.sum()),
        "tiers": tiers,
        "matrix": matrix,
        "by": {dim: _breakdown(frame, dim, key_of) for dim in dims if dim in cols},
    }
    if level == "accounts":
        out["top"] = _top(frame, manifest, top)
    out["movement"] = _movement(level, frame, manifest, prev_path, prev_manifest) if prev_path else None
    out["conversion"] = _conversion(frame, qualified, key_of) if _has_outcomes(frame) else None
    return out


def _breakdown(frame: pl.DataFrame, dim: str, key_of: dict[str, str]) -> list[dict[str, Any]]:
    import polars as pl

    blank = UNOWNED if dim == "owner" else MISSING
    value = pl.col(dim).cast(pl.String).str.strip_chars()
    grouped = (
        frame.with_columns(pl.when(value.is_null() | (value == "")).then(pl.lit(blank)).otherwise(value).alias("_v"))
        .group_by("_v", "tier")
        .agg(pl.len().alias("n"))
    )
    rows: dict[str, dict[str, int]] = {}
    for v, t, n in grouped.iter_rows():
        rows.setdefault(v, {}).setdefault(key_of.get(t, str(t)), 0)
        rows[v][key_of.get(t, str(t))] += int(n)
    ordered = sorted(rows.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    if len(ordered) > MAX_GROUPS:
        rest: dict[str, int] = {}
        for _, c in ordered[MAX_GROUPS - 1 :]:
            for k, n in c.items():
                rest[k] = rest.get(k, 0) + n
        ordered = [*ordered[: MAX_GROUPS - 1], ("(other)", rest)]
    result = []
    for v, c in ordered:
        group_total = sum(c.values())
        result.append(
            {
                "value": v,
                "total": group_total,
                "tiers": {key: c.get(key, 0) for key in CANONICAL_TIERS},
                "tier1_share": _share(c.get("tier1", 0), group_total),
            }
        )
    return result


def _top(frame: pl.DataFrame, manifest: dict[str, Any], top: int) -> dict[str, list[dict[str, Any]]]:
    import polars as pl

    names = tier_names(manifest)
    keep = [c for c in ("account_id", "name", "owner", "plan", "users", "fit_score", "usage_score") if c in frame.columns]
    ranked = frame.sort(
        [pl.col(c) for c in ("usage_score", "fit_score") if c in frame.columns] + [pl.col("account_id")],
        descending=[True] * len([c for c in ("usage_score", "fit_score") if c in frame.columns]) + [False],
        nulls_last=True,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for key in CANONICAL_TIERS:
        part = ranked.filter(pl.col("tier") == names[key]).head(top)
        part = add_why(part).select([*keep, WHY])
        out[key] = _jsonable_rows(part)
    return out


def _jsonable_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows = frame.to_dicts()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, datetime):
                row[k] = v.isoformat()
            elif isinstance(v, float):
                row[k] = round(v, 4)
    return rows


def _movement(
    level: str, frame: pl.DataFrame, manifest: dict[str, Any], prev_path: Path, prev_manifest: dict[str, Any] | None
) -> dict[str, Any]:
    import polars as pl

    id_col = ID_COLUMN[level]
    now_key = {v: k for k, v in tier_names(manifest).items()}
    before_key = {v: k for k, v in tier_names(prev_manifest or {}).items()}
    before = pl.read_parquet(prev_path, columns=[id_col, "tier"]).select(
        pl.col(id_col).cast(pl.String), pl.col("tier").replace_strict(before_key, default=pl.col("tier")).alias("before")
    )
    now = frame.select(
        pl.col(id_col).cast(pl.String), pl.col("tier").replace_strict(now_key, default=pl.col("tier")).alias("after")
    )
    joined = now.join(before, on=id_col, how="full", coalesce=True).with_columns(
        pl.col("before").fill_null("new"), pl.col("after").fill_null("gone")
    )
    pairs = joined.group_by("before", "after").agg(pl.len().alias("n"))
    rows = [*CANONICAL_TIERS, "new"]
    cols = [*CANONICAL_TIERS, "gone"]
    matrix = {r: dict.fromkeys(cols, 0) for r in rows}
    for b, a, n in pairs.iter_rows():
        matrix.setdefault(b, dict.fromkeys(cols, 0))[a] = int(n)
    entered = joined.filter((pl.col("after") == "tier1") & (pl.col("before") != "tier1"))
    show = [c for c in (id_col, "name", "email", "owner", "fit_score", "usage_score") if c in frame.columns]
    entered_rows = (
        frame.with_columns(pl.col(id_col).cast(pl.String))
        .join(entered.select(id_col, "before"), on=id_col, how="inner")
        .sort(["usage_score", "fit_score", id_col], descending=[True, True, False], nulls_last=True)
        .select([*show, "before"])
    )
    changed = int(joined.filter(pl.col("before") != pl.col("after")).height)
    return {
        "previous_snapshot": prev_path.parent.name,
        "matrix": matrix,
        "changed": changed,
        "entered_tier1_count": entered_rows.height,
        "entered_tier1": _jsonable_rows(entered_rows.head(25)),
    }


def _has_outcomes(frame: pl.DataFrame) -> bool:
    return "converted_at" in frame.columns and frame["converted_at"].null_count() < frame.height


def _conversion(frame: pl.DataFrame, qualified: pl.Series, key_of: dict[str, str]) -> dict[str, Any]:
    import polars as pl

    conv = frame.select(pl.col("tier"), pl.col("converted_at").is_not_null().alias("c")).with_columns(q=qualified)
    per = conv.group_by("tier").agg(pl.len().alias("n"), pl.col("c").sum().alias("k"))
    stats = {key_of.get(t, str(t)): (int(n), int(k)) for t, n, k in per.iter_rows()}
    tiers: dict[str, dict[str, Any]] = {}
    for key in CANONICAL_TIERS:
        n, k = stats.get(key, (0, 0))
        tiers[key] = {"count": n, "converted": k, "rate": _share(k, n)}
    base = tiers["tier4"]["rate"]
    for key in CANONICAL_TIERS:
        rate = tiers[key]["rate"]
        tiers[key]["lift_vs_tier4"] = round(rate / base, 2) if rate is not None and base else None
    total = conv.height
    n_q = int(conv["q"].sum())
    q_conv = int(conv.filter(pl.col("q"))["c"].sum())
    other = total - n_q
    other_conv = int(conv.filter(~pl.col("q"))["c"].sum())
    return {
        "tiers": tiers,
        "converted": int(conv["c"].sum()),
        "funnel": {
            "signed_up": total,
            "qualified": n_q,
            "customers_from_qualified": q_conv,
            "signup_to_qualified": _share(n_q, total),
            "qualified_to_customer": _share(q_conv, n_q),
            "unqualified_to_customer": _share(other_conv, other),
        },
    }
