"""Map one opened source to canonical columns, and split its rows into usable rows and rejects."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import polars as pl

from pqlcli.errors import DataError, UsageError
from pqlcli.ingest import normalize as nz
from pqlcli.ingest.presets import PRESETS, Candidate, Preset, candidate_label, detect_preset, preset_for
from pqlcli.ingest.readers import ROW, SOURCE, Source
from pqlcli.workspace.schema import SCHEMAS, TableSchema

# Segment envelope and library fields are not user traits
_JSON_TRAIT_PREFIXES = ("traits.", "properties.")


@dataclass
class Normalized:
    good: pl.LazyFrame  # canonical columns + extras
    rejects: pl.LazyFrame  # row, reason, outcome, source + the original fields (as text)
    preset: str
    skipped: pl.LazyFrame | None = None  # reason, n: rows that belong to no table (identity calls...)
    links: pl.LazyFrame | None = None  # identity links found in the rows
    nullable: list[str] = field(default_factory=list)  # optional parsed columns that may be set to NULL


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
                f"{{param}} {canon}={src}: {source.label} has no column {src!r}. Columns found: {_list(columns)}.",
                "Use one of the columns found as the right-hand side of {param}.",
                param="mapping",
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
                f"Name the column that holds it with {{param}} {canon}=COLUMN, e.g. {{param}} {canon}={example!r}"
                + ("" if preset.name != "generic" else f", or pick an exporter preset ({', '.join(PRESETS)})")
                + ".",
                param="mapping",
            )
    return resolved


def _list(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:30])
    return (shown + f" and {len(columns) - 30} more") if len(columns) > 30 else (shown or "none")


def _canonical_expr(canon: str, kind_of: str, src: Candidate, source: Source, options: NormalizeOptions,
                    preset: Preset) -> pl.Expr:
    if isinstance(src, tuple):
        return pl.concat_str([nz.text_expr(p) for p in src], separator=" ", ignore_nulls=True).pipe(
            lambda e: pl.when(e == "").then(None).otherwise(e)
        )
    dtype = source.schema.get(src)
    if kind_of == "datetime":
        fmt = options.date_formats.get(src)
        return nz.timestamp_expr(src, dtype, options.timezone, epoch_local=preset.epoch_local_time, fmt=fmt,
                                 parsed=options.parsed.get(src))
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


@dataclass
class NormalizeOptions:
    timezone: str | None = None
    date_format: str | None = None  # strftime for every date column written as text (else detected)
    force: bool = False  # ingest a file that looks like another table
    date_formats: dict[str, str] = field(default_factory=dict)  # source column -> strftime (filled per source)
    parsed: dict[str, str] = field(default_factory=dict)  # source column -> its first-pass parse (filled per source)


def _strict_checks(source: Source, kind: str, mapping: dict[str, str], resolved: dict[str, Candidate],
                   options: NormalizeOptions, preset: Preset) -> NormalizeOptions:
    """Refuse wrong tables and wrong mappings; decide each text date column's format."""
    from pqlcli.ingest import strict

    if not options.force:
        strict.check_table_shape(source, kind, dict(resolved), bool(preset.segment_types) and "type" in source.schema)
    strict.check_mapped_values(source, kind, mapping, dict(resolved))
    if options.date_format:
        dated = {src: options.date_format for canon, src in resolved.items()
                 if isinstance(src, str) and SCHEMAS[kind].columns.get(canon) == "datetime"}
    else:
        dated = strict.detect_date_formats(source, kind, dict(resolved))
    return replace(options, date_formats=dated)


def _first_passes(source: Source, kind: str, resolved: dict[str, Candidate], options: NormalizeOptions,
                  preset: Preset) -> dict[str, pl.Expr]:
    """``prelude column -> expression``: each text date column parsed once with the one exact format its
    first values are written in (see :func:`normalize.first_pass`); only the rows that misses are then
    parsed the general way, which tries every accepted shape."""
    columns = [src for canon, src in resolved.items() if isinstance(src, str)
               and SCHEMAS[kind].columns.get(canon) == "datetime" and source.schema.get(src) == pl.String]
    if not columns:
        return {}
    sample = source.head(_FIRST_PASS_SAMPLE)
    out: dict[str, pl.Expr] = {}
    for src in dict.fromkeys(columns):
        expr = nz.first_pass(src, sample[src], options.timezone, options.date_formats.get(src), preset.epoch_local_time)
        if expr is not None:
            out[src] = expr
    return out


_FIRST_PASS_SAMPLE = 200


def _row_fallbacks(canon: str, kind_of: str, resolved: Candidate, source: Source, options: NormalizeOptions,
                   preset: Preset, mapping: dict[str, str]) -> pl.Expr:
    """The canonical expression, with the preset's other candidates as per-row fallbacks where asked."""
    first = _canonical_expr(canon, kind_of, resolved, source, options, preset)
    if canon not in preset.per_row or canon in mapping:
        return first
    others = [f for f in (_find(source.columns, c) for c in preset.columns[canon]) if f is not None and f != resolved]
    if not others:
        return first
    return pl.coalesce([first, *[_canonical_expr(canon, kind_of, o, source, options, preset) for o in others]])


def _skip_rules(source: Source, kind: str, preset: Preset) -> list[tuple[pl.Expr, pl.Expr]]:
    """Rows that are not rows of this table but not errors either (other Segment calls, Mixpanel system
    events): skipped and counted by reason."""
    rules: list[tuple[pl.Expr, pl.Expr]] = []
    if preset.segment_types and "type" in source.schema:
        rules.append((pl.col("type").is_not_null() & ~pl.col("type").is_in(list(preset.segment_types)),
                      pl.format("Segment {} call", pl.col("type"))))
    event_col = preset.columns.get("event", [None])[0]
    if preset.system_events and isinstance(event_col, str) and event_col in source.schema:
        rules.append((pl.col(event_col).is_in(list(preset.system_events)),
                      pl.format("Mixpanel {} (identity bookkeeping)", pl.col(event_col))))
    return rules


def _link_frame(source: Source, preset: Preset, kind: str) -> pl.LazyFrame | None:
    """Identity links (``kind``, ``a``, ``b``, ``source``) found in the rows of this source."""
    frames = []
    for a, b, label in preset.links:
        if a in source.schema and b in source.schema:
            frames.append(source.frame.select(
                pl.lit("users").alias("kind"), nz.id_expr(a).alias("a"), nz.id_expr(b).alias("b"),
                pl.lit(label).alias("source")))
    if not frames:
        return None
    return pl.concat(frames).filter(pl.col("a").is_not_null() & pl.col("b").is_not_null() & (pl.col("a") != pl.col("b"))).unique()


def normalize_source(source: Source, kind: str, fmt: str, mapping: dict[str, str],
                     options: NormalizeOptions | str | None = None) -> Normalized:
    if not isinstance(options, NormalizeOptions):
        options = NormalizeOptions(timezone=options)
    preset_name = fmt if fmt in PRESETS else detect_preset(source.columns, kind, source.container) or "generic"
    preset = preset_for(preset_name, kind)
    schema = SCHEMAS[kind]
    resolved = resolve_columns(source, kind, preset, mapping)
    options = _strict_checks(source, kind, mapping, resolved, options, preset)
    firsts = _first_passes(source, kind, resolved, options, preset)
    options = replace(options, parsed={src: f"__f_{i}" for i, src in enumerate(firsts)})
    exprs: dict[str, pl.Expr] = {}
    trimmed: set[str] = set()
    for canon, src in resolved.items():
        kind_of = schema.columns.get(canon, "float" if kind == "events" else "str")
        if isinstance(src, str) and _trim_only(canon, kind_of, schema, preset, mapping):
            exprs[canon] = nz.trimmed(src)
            trimmed.add(canon)
        else:
            exprs[canon] = _row_fallbacks(canon, kind_of, src, source, options, preset, mapping)
    used = {p for src in resolved.values() for p in ((src,) if isinstance(src, str) else src)}
    extras = _extra_exprs(source, kind, preset, used, set(exprs))
    frame = source.frame.with_columns(**{options.parsed[src]: expr for src, expr in firsts.items()})
    frame = frame.with_columns(**{f"__c_{name}": expr for name, expr in {**exprs, **extras}.items()})
    skips = _skip_rules(source, kind, preset)
    checks, nulls = _row_checks(resolved, schema, trimmed)
    skipped = pl.any_horizontal([c for c, _ in skips]) if skips else pl.lit(False)
    bad = pl.any_horizontal([cond for cond, _ in checks]) & ~skipped
    nulled = (pl.any_horizontal([cond for cond, _ in nulls]) if nulls else pl.lit(False)) & ~skipped & ~bad
    good = frame.filter(~bad & ~skipped).select([pl.col(f"__c_{name}").alias(name) for name in [*exprs, *extras]])
    reason = pl.coalesce([pl.when(cond).then(text) for cond, text in checks])
    null_reason = pl.concat_str([pl.when(cond).then(text) for cond, text in nulls], separator="; ", ignore_nulls=True) if nulls else pl.lit(None, pl.String)
    rejects = frame.filter(bad | nulled).select(
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.when(bad).then(reason).otherwise(null_reason).alias("reason"),
        pl.when(bad).then(pl.lit("rejected")).otherwise(pl.lit("kept, value set to NULL")).alias("outcome"),
        pl.col(SOURCE).alias("source"),
        *[pl.col(c).cast(pl.String) for c in source.columns if c not in ("row", "reason", "outcome", "source")],
    )
    if source.parse_rejects is not None:
        rejects = pl.concat([source.parse_rejects.lazy().with_columns(pl.lit("rejected").alias("outcome")), rejects],
                            how="diagonal_relaxed")
    skip_counts = None
    if skips:
        skip_reason = pl.coalesce([pl.when(c).then(t) for c, t in skips])
        skip_counts = frame.filter(skipped).group_by(skip_reason.alias("reason")).agg(pl.len().alias("n"))
    nulled_cols = [canon for canon, src in resolved.items() if schema.columns.get(canon) == "datetime"
                   and canon not in schema.required and isinstance(src, str)]
    return Normalized(good, rejects, preset.name, skip_counts, _link_frame(source, preset, kind), nulled_cols)


def _trim_only(canon: str, kind_of: str, schema: TableSchema, preset: Preset, mapping: dict[str, str]) -> bool:
    """A required id or text read from one column is only trimmed: a blank value is rejected by the row
    checks like a missing one, so it needs no NULL of its own (one pass less over a column of every row)."""
    single = canon not in preset.per_row or canon in mapping  # per-row fallbacks need blanks as NULL
    return canon in schema.required and kind_of == "str" and single and canon not in ("account_id", "email", "domain")


def _row_checks(resolved: dict[str, Candidate], schema: TableSchema, trimmed: set[str] | None = None,
                ) -> tuple[list[tuple[pl.Expr, pl.Expr]], list[tuple[pl.Expr, pl.Expr]]]:
    """(rejecting checks, nulling checks): each a (condition, reason text) pair. An unparseable required
    value rejects the row; an unparseable optional one becomes NULL (the row is kept). ``trimmed``:
    required columns whose blank values are still ``''`` (see :func:`_trim_only`)."""
    checks: list[tuple[pl.Expr, pl.Expr]] = []
    nulls: list[tuple[pl.Expr, pl.Expr]] = []
    for canon, src in resolved.items():
        if schema.columns.get(canon) == "datetime" and isinstance(src, str):
            raw = pl.col(src).cast(pl.String).str.strip_chars()
            # the text is trimmed only where the parse failed (NULL elsewhere): not a pass over every row
            unparsed = pl.when(pl.col(f"__c_{canon}").is_null()).then(pl.col(src).cast(pl.String)).str.strip_chars()
            failed = (unparsed != "").fill_null(False)
            if canon in schema.required:
                checks.append((failed, pl.format(f"unparseable {canon} in column {src!r}: {{}}", raw)))
            else:
                nulls.append((failed, pl.format(f"{canon} set to NULL: unparseable value in column {src!r}: {{}}", raw)))
    for canon in schema.required:
        value = pl.col(f"__c_{canon}")
        checks.append((value.is_null() | (value == "") if canon in (trimmed or ()) else value.is_null(),
                       pl.lit(f"missing {canon} (column {candidate_label(resolved[canon])!r} is empty)")))
    return checks, nulls


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
