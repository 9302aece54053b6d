"""Map one opened source to canonical columns, and split its rows into usable rows and rejects."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pqlcli.errors import DataError, UsageError
from pqlcli.ingest import normalize as nz
from pqlcli.ingest.presets import PRESETS, Candidate, Preset, candidate_label, detect_preset, preset_for
from pqlcli.ingest.readers import ROW, SOURCE, Source
from pqlcli.workspace.schema import SCHEMAS

# Segment envelope and library fields are not user traits
_JSON_TRAIT_PREFIXES = ("traits.", "properties.")


@dataclass
class Normalized:
    good: pl.LazyFrame  # canonical columns + extras
    rejects: pl.LazyFrame  # row, reason, source + the original fields (as text)
    preset: str


def _find(columns: list[str], candidate: Candidate) -> Candidate | None:
    lower = {c.lower(): c for c in columns}
    if isinstance(candidate, str):
        if candidate in columns:
            return candidate
        return lower.get(candidate.lower())
    parts = [_find(columns, part) for part in candidate]
    if all(isinstance(p, str) for p in parts):
        return tuple(p for p in parts if isinstance(p, str))
    return None


def resolve_columns(source: Source, kind: str, preset: Preset, mapping: dict[str, str]) -> dict[str, Candidate]:
    """canonical -> source column(s); raises DataError for a missing required column or --map source."""
    schema = SCHEMAS[kind]
    columns = source.columns
    resolved: dict[str, Candidate] = {}
    for canon, src in mapping.items():
        found = _find(columns, src)
        if found is None:
            raise UsageError(
                f"--map {canon}={src}: {source.label} has no column {src!r}. Columns found: {_list(columns)}.",
                "Use one of the columns found as the right-hand side of --map.",
            )
        resolved[canon] = found
    for canon, candidates in preset.columns.items():
        if canon in resolved:
            continue
        for cand in candidates:
            found = _find(columns, cand)
            if found is not None and found not in resolved.values():
                resolved[canon] = found
                break
    for canon in schema.required:
        if canon not in resolved:
            tried = ", ".join(repr(candidate_label(c)) for c in preset.columns.get(canon, []))
            example = columns[0] if columns else "COLUMN"
            raise DataError(
                f"{source.label}: the {kind} table needs a {canon!r} column, and the file has none"
                + (f" (looked for {tried} as the {preset.name} layout)" if tried else "")
                + f". Columns found: {_list(columns)}.",
                f"Name the column that holds it with --map {canon}=COLUMN, e.g. --map {canon}={example!r}"
                + ("" if preset.name != "generic" else f", or pick an exporter preset with --format ({', '.join(PRESETS)})")
                + ".",
            )
    return resolved


def _list(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:30])
    return (shown + f" and {len(columns) - 30} more") if len(columns) > 30 else (shown or "none")


def _canonical_expr(canon: str, kind_of: str, src: Candidate, source: Source, timezone: str | None,
                    preset: Preset) -> pl.Expr:
    if isinstance(src, tuple):
        return pl.concat_str([nz.text_expr(p) for p in src], separator=" ", ignore_nulls=True).pipe(
            lambda e: pl.when(e == "").then(None).otherwise(e)
        )
    dtype = source.schema.get(src)
    if kind_of == "datetime":
        return nz.timestamp_expr(src, dtype, timezone, epoch_local=preset.epoch_local_time)
    if kind_of == "int":
        return nz.int_expr(src)
    if kind_of == "float":
        return nz.float_expr(src)
    if canon == "email":
        return nz.email_expr(src)
    if canon == "domain":
        return nz.domain_expr(src)
    if canon.endswith("_id"):
        expr = nz.id_expr(src)
        if canon == "account_id":  # HubSpot "Associated Company IDs" may hold "123;456": the first is primary
            expr = expr.str.split(";").list.first().str.strip_chars()
        return expr
    return nz.text_expr(src)


def normalize_source(source: Source, kind: str, fmt: str, mapping: dict[str, str], timezone: str | None) -> Normalized:
    preset_name = fmt if fmt in PRESETS else detect_preset(source.columns, kind, source.container) or "generic"
    preset = preset_for(preset_name, kind)
    schema = SCHEMAS[kind]
    resolved = resolve_columns(source, kind, preset, mapping)

    exprs: dict[str, pl.Expr] = {}
    for canon, src in resolved.items():
        kind_of = schema.columns.get(canon, "float" if kind == "events" else "str")
        exprs[canon] = _canonical_expr(canon, kind_of, src, source, timezone, preset)
    used = {p for src in resolved.values() for p in ((src,) if isinstance(src, str) else src)}
    extras = _extra_exprs(source, kind, preset, used, set(exprs))

    tmp = {f"__c_{name}": expr for name, expr in {**exprs, **extras}.items()}
    frame = source.frame.with_columns(**tmp)

    # (condition, reason text): conditions are cheap and run on every row; texts only on rejected rows
    checks: list[tuple[pl.Expr, pl.Expr]] = []
    if preset.segment_types and "type" in source.schema:
        allowed = list(preset.segment_types)
        checks.append((
            pl.col("type").is_not_null() & ~pl.col("type").is_in(allowed),
            pl.format("a Segment {} call is not a row of the " + kind + " table", pl.col("type")),
        ))
    for canon, src in resolved.items():
        if schema.columns.get(canon) == "datetime" and isinstance(src, str):
            raw = pl.col(src).cast(pl.String).str.strip_chars()
            checks.append((
                pl.col(f"__c_{canon}").is_null() & pl.col(src).is_not_null() & (raw != ""),
                pl.format(f"unparseable {canon} in column {src!r}: {{}}", raw),
            ))
    for canon in schema.required:
        checks.append((pl.col(f"__c_{canon}").is_null(),
                       pl.lit(f"missing {canon} (column {candidate_label(resolved[canon])!r} is empty)")))
    bad = pl.any_horizontal([cond for cond, _ in checks])
    good = frame.filter(~bad).select([pl.col(f"__c_{name}").alias(name) for name in [*exprs, *extras]])
    reason = pl.coalesce([pl.when(cond).then(text) for cond, text in checks])
    rejects = frame.filter(bad).select(
        pl.col(ROW).cast(pl.Int64).alias("row"),
        reason.alias("reason"),
        pl.col(SOURCE).alias("source"),
        *[pl.col(c).cast(pl.String) for c in source.columns if c not in ("row", "reason", "source")],
    )
    if source.parse_rejects is not None:
        rejects = pl.concat([source.parse_rejects.lazy(), rejects], how="diagonal_relaxed")
    return Normalized(good, rejects, preset.name)


def _extra_exprs(source: Source, kind: str, preset: Preset, used: set[str], taken: set[str]) -> dict[str, pl.Expr]:
    """Columns kept beyond the canonical ones: traits for users/accounts, numeric properties for events."""
    from pqlcli.ingest import snake

    out: dict[str, pl.Expr] = {}
    names_taken = set(taken) | set(SCHEMAS[kind].columns)
    json_like = source.container in ("jsonl", "zip")
    for col in source.columns:
        if col in used:
            continue
        dtype = source.schema[col]
        if kind == "events":
            if json_like:
                prefix = next((p for p in preset.property_prefixes if col.startswith(p)), None)
                generic_top = preset.name == "generic" and "." not in col
                if col not in source.numeric_keys or (prefix is None and not generic_top):
                    continue
                name = snake(col[len(prefix):] if prefix else col)
                expr = pl.col(col).cast(pl.Float64, strict=False)
            elif dtype.is_numeric():
                name, expr = snake(col), pl.col(col).cast(pl.Float64)
            else:
                continue  # text columns of a CSV event export are not kept (numbers only)
        else:
            if json_like:
                prefix = next((p for p in _JSON_TRAIT_PREFIXES if col.startswith(p)), None)
                if prefix is None and "." in col:
                    continue  # context.*, library fields...
                if prefix is None and preset.name == "segment":
                    continue  # Segment envelope: type, messageId, sentAt...
                name = snake(col[len(prefix):] if prefix else col)
            else:
                name = snake(col)
            if col in source.numeric_keys:
                expr = pl.col(col).cast(pl.Float64, strict=False)
            elif dtype == pl.String:
                expr = nz.text_expr(col)
            else:
                expr = pl.col(col)
        if name in names_taken:
            continue
        names_taken.add(name)
        out[name] = expr
    return out
