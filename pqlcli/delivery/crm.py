"""``pql export crm``: import-ready CSV files for HubSpot and Salesforce, optionally only what changed.

Each file has a header row exactly as the CRM's import expects (HubSpot matches ``Email`` /
``Company Domain Name`` / ``Record ID``; Salesforce ``Id`` / ``Email`` / ``Website``), then one row per
record with the pql properties. UTF-8 without BOM, RFC 4180 (CRLF, quotes doubled, quoted only when
needed), and every cell passes the CSV formula-injection guard.

``changed_only``: the previous export of the same target and level is kept in the workspace
(``delivery/crm-<target>-<level>.parquet``, the exported values without the timestamp); only records whose
values differ from it are written — the diffing sync of a reverse-ETL tool, from a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pqlcli.delivery.state import folder
from pqlcli.errors import UsageError
from pqlcli.util import atomic

if TYPE_CHECKING:
    import polars as pl

    from pqlcli.workspace import Snapshot

TARGETS = ("hubspot", "salesforce")
REASON_MAX = 500
ID_COLUMN = {"users": "user_id", "accounts": "account_id"}
# (target, level) -> (record-id header, natural key header, the snapshot column of the natural key)
KEYS = {
    ("hubspot", "users"): ("Record ID", "Email", "email"),
    ("hubspot", "accounts"): ("Record ID", "Company Domain Name", "domain"),
    ("salesforce", "users"): ("Id", "Email", "email"),
    ("salesforce", "accounts"): ("Id", "Website", "domain"),
}
PROPERTIES = ("tier", "fit_score", "usage_score", "is_pql", "definitions", "reason", "scored_at")
NAMES = {
    "hubspot": {p: f"pql_{p}" for p in PROPERTIES},
    "salesforce": {
        "tier": "PQL_Tier__c", "fit_score": "PQL_Fit_Score__c", "usage_score": "PQL_Usage_Score__c",
        "is_pql": "PQL_Is_PQL__c", "definitions": "PQL_Definitions__c", "reason": "PQL_Reason__c",
        "scored_at": "PQL_Scored_At__c",
    },
}


@dataclass
class CrmExport:
    target: str
    level: str
    rows: int  # rows written
    unchanged: int  # rows left out by changed_only
    without_key: int  # records with no key the CRM can match on (left out)
    record_ids: bool


def header(target: str, level: str, record_ids: bool) -> list[str]:
    """The header row of an import file."""
    rid, key, _ = KEYS[(target, level)]
    ids = [rid] if record_ids else []
    first = [*ids, key] if target == "salesforce" else [key, *ids]
    return first + [NAMES[target][p] for p in PROPERTIES]


def check_target(target: str, level: str) -> None:
    if target not in TARGETS:
        raise UsageError(f"Unknown CRM {target!r}.", f"Use one of: {', '.join(TARGETS)}.")
    if level not in ID_COLUMN:
        raise UsageError(f"Unknown level {level!r}.", "Use user or account.")


def ids_come_from(root: Path, target: str, level: str) -> bool:
    """True when the workspace's table for ``level`` was ingested from ``target``'s export (its ids are CRM ids)."""
    import json

    manifest = Path(root) / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        info = json.loads(manifest.read_text("utf-8")).get("tables", {}).get(level, {})
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return target in (info.get("formats") or [])


def rows(snap: Snapshot, target: str, level: str, record_ids: bool) -> pl.DataFrame:
    """Every record of the snapshot as text cells under the CRM's headers (keyless records dropped)."""
    import polars as pl

    from pqlcli.leads.filters import qualified_expr
    from pqlcli.leads.why import add_why

    lazy = snap.scan(level)
    cols = lazy.collect_schema().names()
    rid, key, key_col = KEYS[(target, level)]
    if key_col not in cols:
        raise UsageError(f"Snapshot {snap.id} has no {key_col} column for the {target} key {key!r}.",
                         "Ingest it with your users/accounts export and score again.", command="score")
    flags = [c for c in cols if c.startswith("pql__")] + (["pqa"] if level == "accounts" and "pqa" in cols else [])
    rules = [c for c in cols if c.startswith(("fit__", "usage__"))]
    frame = add_why(lazy.select(
        pl.col(ID_COLUMN[level]).cast(pl.String).alias("_id"), pl.col(key_col).cast(pl.String).alias("_key"),
        "tier", "fit_score", "usage_score", qualified_expr(level, cols).alias("_q"),
        *[pl.col(f).fill_null(False) for f in flags], *rules,
    ).collect())
    names = NAMES[target]
    definitions = pl.concat_list([pl.when(pl.col(f)).then(pl.lit(f.removeprefix("pql__"))) for f in flags]) if flags else None
    out = frame.select(
        pl.col("_id").alias(rid),
        pl.col("_key").str.strip_chars().alias(key),
        pl.col("tier").cast(pl.String).alias(names["tier"]),
        _number(pl.col("fit_score")).alias(names["fit_score"]),
        _number(pl.col("usage_score")).alias(names["usage_score"]),
        pl.when(pl.col("_q")).then(pl.lit("true")).otherwise(pl.lit("false")).alias(names["is_pql"]),
        (definitions.list.drop_nulls().list.join(";") if definitions is not None else pl.lit("")).alias(names["definitions"]),
        _clip(pl.col("why"), REASON_MAX).alias(names["reason"]),
    )
    keyed = (pl.col(key).is_not_null() & (pl.col(key) != "")) | (pl.lit(record_ids) & pl.col(rid).is_not_null())
    result = out.filter(keyed).select(header(target, level, record_ids)[:-1])
    return result.sort(result.columns, nulls_last=True)


def _number(expr: pl.Expr) -> pl.Expr:
    """A score as text: ``80`` or ``37.5``."""
    import polars as pl

    rounded = expr.cast(pl.Float64).round(1)
    return (pl.when(rounded == rounded.floor()).then(rounded.cast(pl.Int64).cast(pl.String))
            .otherwise(rounded.cast(pl.String)))


def _clip(expr: pl.Expr, limit: int) -> pl.Expr:
    import polars as pl

    return pl.when(expr.str.len_chars() > limit).then(expr.str.slice(0, limit - 1) + "…").otherwise(expr)


def scored_at(snap: Snapshot) -> str:
    """The snapshot's as-of time as ISO-8601 UTC (``2026-11-01T00:00:00Z``), which both CRMs import."""
    from datetime import UTC

    when = snap.manifest.as_of
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_csv(frame: pl.DataFrame) -> bytes:
    """RFC 4180 CSV (CRLF, quotes only where needed), UTF-8 without BOM, every cell formula-guarded."""
    import polars as pl

    from pqlcli.export import csv_safe

    text = frame.with_columns(pl.all().cast(pl.String)).with_columns(
        pl.when(pl.all() == "").then(None).otherwise(pl.all()).name.keep()  # empty cells unquoted, like nulls
    )
    data = csv_safe(text).write_csv(line_terminator="\r\n", quote_style="necessary", null_value="")
    return (data if data.endswith("\r\n") else data + "\r\n").encode("utf-8")


def state_path(root: Path, target: str, level: str) -> Path:
    return folder(root) / f"crm-{target}-{level}.parquet"


def export(root: Path, snap: Snapshot, target: str, level: str, out: Path, *, changed_only: bool = False,
           record_ids: bool | None = None) -> CrmExport:
    """Write the import file to ``out`` (atomically), then remember what was exported for ``changed_only``."""
    import polars as pl

    check_target(target, level)
    with_ids = ids_come_from(root, target, level) if record_ids is None else record_ids
    current = rows(snap, target, level, with_ids)
    total = snap.scan(level).select(pl.len()).collect().item()
    chosen = current
    previous = state_path(root, target, level)
    if changed_only and previous.is_file():
        before = pl.read_parquet(previous)
        if before.columns == current.columns:
            chosen = current.join(before, on=current.columns, how="anti", nulls_equal=True, maintain_order="left")
    stamped = chosen.with_columns(pl.lit(scored_at(snap)).alias(NAMES[target]["scored_at"]))
    atomic.write_bytes(out, to_csv(stamped))
    atomic.write_parquet(previous, current)
    return CrmExport(target, level, stamped.height, current.height - chosen.height, total - current.height, with_ids)
