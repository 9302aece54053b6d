"""Imports that fail loudly: checks made before (and right after) the rows are staged.

- the names given in a column mapping are canonical columns, and the mapped values look right;
- a file that looks like another table is refused (unless forced);
- dates written ``05/02/2024`` are read day-first or month-first as the values prove, an error if they
  cannot tell;
- a file where most rows are rejected fails, naming the first reasons with row numbers.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import polars as pl

from pqlcli.errors import DataError, UsageError
from pqlcli.ingest import normalize as nz
from pqlcli.ingest.readers import Source
from pqlcli.workspace.schema import SCHEMAS

_SAMPLE_ROWS = 1000


class WrongTableError(DataError):
    """The file looks like another table's export (refused unless forced)."""


class RejectRateError(DataError):
    """Too many rows were rejected: nothing was ingested."""


def check_mapping_targets(kind: str, mapping: dict[str, str]) -> None:
    """Every mapping target must be a canonical column of ``kind``."""
    columns = list(SCHEMAS[kind].columns)
    for target, src in mapping.items():
        if target in columns:
            continue
        close = difflib.get_close_matches(target.lower(), columns, n=1, cutoff=0.5)
        suggestion = f"; did you mean {close[0]!r}?" if close else "."
        raise UsageError(
            f"Mapping {target}={src}: {target!r} is not a column of {kind}{suggestion}",
            f"The columns of {kind} are: {', '.join(columns)}. Other source columns are kept as they are, no mapping needed.",
        )


def _share(sample: pl.DataFrame, expr: pl.Expr) -> float:
    frame = sample.select(expr.alias("ok")).drop_nulls()
    mean = frame["ok"].cast(pl.Float64).mean()
    return 1.0 if frame.height == 0 else float(mean) if isinstance(mean, float) else 0.0


def check_mapped_values(source: Source, kind: str, mapping: dict[str, str], resolved: dict[str, object]) -> None:
    """Mapped columns must hold what their target holds (most emails have an ``@``...), on a sample."""
    kinds = SCHEMAS[kind].columns
    targets = {t: resolved[t] for t in mapping if isinstance(resolved.get(t), str)}
    if not targets:
        return
    sample = source.head(_SAMPLE_ROWS)
    for target, src in targets.items():
        assert isinstance(src, str)
        text = pl.col(src).cast(pl.String).str.strip_chars()
        text = pl.when(text == "").then(None).otherwise(text)
        if target == "email":
            share, want = _share(sample, text.str.contains("@")), "an email address (with @)"
        elif target == "domain":
            share, want = _share(sample, text.str.contains(r"\.")), "a domain or website"
        elif kinds.get(target) == "datetime":
            parsed = nz.timestamp_expr(src, source.schema.get(src)).is_not_null()
            share, want = _share(sample, pl.when(text.is_not_null()).then(parsed)), "a date or timestamp"
        else:
            continue
        if share < 0.5:
            example = sample.select(text.drop_nulls().first()).item()
            raise DataError(
                f"Mapping {target}={src}: most values of column {src!r} do not look like {want} "
                f"(only {share:.0%} of the first {sample.height} rows do; e.g. {example!r}).",
                f"Check that {src!r} is the column that holds {target}.",
            )


_PERSON = ("email", "first_name", "last_name", "firstname", "lastname", "job_title", "jobtitle", "email_address")
_COMPANY = ("domain", "website", "website_url", "company_domain_name", "number_of_employees", "industry", "company_name")
_EVENT = ("event", "event_type", "event_name")
_TIME = ("timestamp", "time", "event_time", "properties_time", "occurred_at")


def check_table_shape(source: Source, kind: str, resolved: dict[str, object], typed_calls: bool = False) -> None:
    """Refuse a file that looks like another table (contacts ingested as accounts...). ``typed_calls``:
    a Segment dump, whose rows say which table they belong to (the others are skipped)."""
    from pqlcli.ingest import snake

    if typed_calls:
        return
    cols = {snake(c) for c in source.columns}
    person, company = cols & set(_PERSON), cols & set(_COMPANY)
    looks_events = bool(cols & set(_EVENT)) and bool(cols & set(_TIME))
    other = None
    if kind != "events" and looks_events:
        other, why = "events", "it has event and timestamp columns"
    elif kind == "accounts" and "domain" not in resolved and person:
        other, why = "users", f"it has no domain column and has person columns ({', '.join(sorted(person))})"
    elif kind == "users" and "email" not in resolved and company and not person:
        other, why = "accounts", f"it has no email column and has company columns ({', '.join(sorted(company))})"
    if other:
        raise WrongTableError(
            f"{source.label} looks like a {other} export, not {kind}: {why}.",
            f"Ingest it as {other}; if it really holds {kind}, force the ingest.",
        )


def detect_date_formats(source: Source, kind: str, resolved: dict[str, object]) -> dict[str, str]:
    """``source column -> strftime`` for date columns written ``dd/mm/yyyy`` or ``mm/dd/yyyy``.

    The order is proven by a value above 12 in one position; a column where no value proves it (all
    ``05/02/2024``-like) or where both positions exceed 12 is an error.
    """
    columns = [src for canon, src in resolved.items() if isinstance(src, str)
               and SCHEMAS[kind].columns.get(canon) == "datetime" and source.schema.get(src) == pl.String]
    if not columns:
        return {}
    head = source.head(200)
    slashy = [c for c in columns if head[c].drop_nulls().str.contains(nz.SLASH_DATE).any()]
    if not slashy:
        return {}
    aggs = []
    for c in slashy:
        parts = pl.col(c).str.extract_groups(nz.SLASH_DATE)
        first, second = parts.struct.field("1").cast(pl.Int32), parts.struct.field("3").cast(pl.Int32)
        aggs += [first.max().alias(f"{c}\x00a"), second.max().alias(f"{c}\x00b"),
                 parts.struct.field("2").drop_nulls().first().alias(f"{c}\x00s")]
    stats = source.frame.select(aggs).collect().row(0, named=True)
    return {c: _order(source.label, c, stats[f"{c}\x00a"], stats[f"{c}\x00b"], stats[f"{c}\x00s"] or "/") for c in slashy}


def _order(label: str, column: str, first: int | None, second: int | None, sep: str) -> str:
    if (first or 0) > 12 and (second or 0) > 12:
        raise DataError(f"{label}: column {column!r} mixes day-first and month-first dates (both parts go above 12).",
                        "Give the date format explicitly (a strftime pattern such as %d/%m/%Y), or fix the export.")
    if (first or 0) > 12:
        return f"%d{sep}%m{sep}%Y"
    if (second or 0) > 12:
        return f"%m{sep}%d{sep}%Y"
    raise DataError(
        f"{label}: the dates of column {column!r} (like 05/02/2024) could be day-first or month-first, and no value "
        "tells which.",
        "Give the date format explicitly: %d/%m/%Y for day-first, %m/%d/%Y for month-first.",
    )


def first_reasons(rejects_csv: Path, limit: int = 5) -> list[str]:
    """'row 3: missing user_id ...' for the first rejected rows of a rejects file."""
    frame = pl.scan_csv(rejects_csv, infer_schema=False).filter(pl.col("outcome") == "rejected")
    rows = frame.select("row", "reason").head(limit).collect()
    return [f"row {r['row']}: {r['reason']}" for r in rows.to_dicts()]


def check_reject_rate(kind: str, read: int, rejected: int, max_rate: float | None, rejects_csv: Path) -> None:
    """Fail when more than ``max_rate`` of the rows were rejected (the caller has written nothing)."""
    if max_rate is None or read == 0 or rejected / read <= max_rate:
        return
    reasons = "; ".join(first_reasons(rejects_csv))
    raise RejectRateError(
        f"{rejected} of {read} {kind} row(s) ({rejected / read:.0%}) could not be used, more than the "
        f"{max_rate:.0%} allowed, so nothing was ingested. First reasons: {reasons}. All rejects: {rejects_csv}.",
        "Fix the export or its column mapping; to ingest the usable rows anyway, raise the allowed reject rate.",
    )
