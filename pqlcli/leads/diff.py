"""``pql diff``: who entered and left each tier and PQL definition between two snapshots, and who moved most.

Pure polars over two snapshots; the result is plain JSON-able data (the CLI renders it). The two
snapshots may come from different configs: a column that exists in only one of them is reported under
``columns``, never an error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pqlcli.errors import WorkspaceError
from pqlcli.workspace.snapshot import LEVELS

if TYPE_CHECKING:
    import polars as pl

    from pqlcli.workspace import Snapshot, Workspace

ID_COLUMN = {"users": "user_id", "accounts": "account_id"}
TOP_MOVES = 10
ROW_COLUMNS = ("old", "new", "level", "kind", "name", "change", "id", "fit_before", "fit_after",
               "usage_before", "usage_after", "rules")


def pick_pair(ws: Workspace, old: str | None = None, new: str | None = None, since: timedelta | None = None,
              now: datetime | None = None) -> tuple[Snapshot, Snapshot]:
    """The two snapshots to compare: default previous and latest; ``since``: the newest at least that old."""
    snaps = ws.snapshots()
    if len(snaps) < 2 and old is None:
        raise WorkspaceError(
            f"A diff needs two snapshots and the workspace {ws.root} has {len(snaps)}.",
            "Score again (after new data arrives, or with another as-of date) and diff then.",
            command="score",
        )
    newer = ws.snapshot(new or "latest")
    if since is not None:
        cutoff = (now or datetime.now(UTC)) - since
        candidates = [s for s in snaps if s.created_at <= cutoff and s.id != newer.id]
        if not candidates:
            raise WorkspaceError(
                f"No snapshot is at least {since.days} days old (the oldest is from "
                f"{snaps[0].created_at:%Y-%m-%d %H:%M} UTC).",
                "Use a shorter span, or name the old snapshot by its id.",
            )
        return candidates[-1], newer
    older = ws.snapshot(old or "previous")
    return older, newer


def diff(old: Snapshot, new: Snapshot, owner: str | None = None, top: int = TOP_MOVES) -> dict[str, Any]:
    """The changes from ``old`` to ``new`` per level (JSON shape in the README)."""
    out: dict[str, Any] = {"old": old.id, "new": new.id}
    for level in LEVELS:
        if (old.path / f"{level}.parquet").is_file() and (new.path / f"{level}.parquet").is_file():
            out[level] = level_diff(level, old, new, owner, top)
    return out


def _frame(snap: Snapshot, level: str, owner: str | None) -> pl.DataFrame:
    import polars as pl

    from pqlcli.leads.filters import owner_expr, qualified_expr
    from pqlcli.leads.snapshot import open_snapshot

    lazy = snap.scan(level)
    cols = lazy.collect_schema().names()
    id_col = ID_COLUMN[level]
    names = open_snapshot(snap).tier_keys()
    keep = [c for c in cols if c.startswith(("fit__", "usage__", "pql__"))]
    exprs = [
        pl.col(id_col).cast(pl.String),
        pl.col("tier").cast(pl.String).replace_strict(names, default=pl.col("tier").cast(pl.String)).alias("tier"),
        pl.col("fit_score").cast(pl.Float64),
        pl.col("usage_score").cast(pl.Float64),
        qualified_expr(level, cols).alias("any"),
        *[pl.col(c) for c in keep],
    ]
    if "pqa" in cols:
        exprs.append(pl.col("pqa").fill_null(False).alias("pqa"))
    if owner is not None:
        exprs.append(owner_expr(owner, cols).alias("_owned") if _has_owner(cols) else pl.lit(False).alias("_owned"))
    return lazy.select(exprs).collect()


def _has_owner(cols: list[str]) -> bool:
    return any(c in cols for c in ("owner", "owner_email", "owner_name"))


def level_diff(level: str, old: Snapshot, new: Snapshot, owner: str | None, top: int) -> dict[str, Any]:
    import polars as pl

    id_col = ID_COLUMN[level]
    before, after = _frame(old, level, owner), _frame(new, level, owner)
    joined = after.join(before, on=id_col, how="full", coalesce=True, suffix="_old")
    if owner is not None:
        joined = joined.filter(pl.col("_owned").fill_null(False) | pl.col("_owned_old").fill_null(False))
    joined = joined.sort(id_col)
    old_cols, new_cols = set(before.columns), set(after.columns)
    tiers = {key: _flag_change(joined, id_col, pl.col("tier_old") == key, pl.col("tier") == key)
             for key in ("tier1", "tier2", "tier3", "tier4")}
    pqls: dict[str, Any] = {}
    for col in sorted(c for c in new_cols & old_cols if c.startswith("pql__")):
        pqls[col.removeprefix("pql__")] = _flag_change(joined, id_col, pl.col(f"{col}_old"), pl.col(col))
    pqls["any"] = _flag_change(joined, id_col, pl.col("any_old"), pl.col("any"))
    if "pqa" in new_cols and "pqa" in old_cols:
        pqls["pqa"] = _flag_change(joined, id_col, pl.col("pqa_old"), pl.col("pqa"))
    rules = sorted(c for c in old_cols | new_cols if c.startswith(("fit__", "usage__")))
    return {
        "tiers": tiers,
        "pqls": pqls,
        "moves": _moves(joined, id_col, rules, old_cols, new_cols, top),
        "columns": _only_in(old, new, level),
    }


def _flag_change(joined: pl.DataFrame, id_col: str, was: pl.Expr, now: pl.Expr) -> dict[str, list[str]]:
    was, now = was.fill_null(False), now.fill_null(False)
    return {
        "entered": joined.filter(now & ~was)[id_col].to_list(),
        "left": joined.filter(was & ~now)[id_col].to_list(),
    }


def _moves(joined: pl.DataFrame, id_col: str, rules: list[str], old_cols: set[str], new_cols: set[str],
           top: int) -> list[dict[str, Any]]:
    import polars as pl

    both = joined.filter(pl.col("fit_score_old").is_not_null() & pl.col("fit_score").is_not_null())
    size = (pl.col("fit_score") - pl.col("fit_score_old")).abs() + (pl.col("usage_score") - pl.col("usage_score_old")).abs()
    ranked = both.with_columns(_size=size).filter(pl.col("_size") > 0).sort(
        ["_size", id_col], descending=[True, False]).head(top)
    moves = []
    for row in ranked.iter_rows(named=True):
        changed = []
        for rule in rules:
            before, after = _rule_points(row, rule, old_cols, new_cols)
            if (before or 0) != (after or 0):
                changed.append({"rule": rule, "before": before, "after": after})
        changed.sort(key=lambda r: -abs((r["after"] or 0) - (r["before"] or 0)))  # biggest change first
        moves.append({
            "id": row[id_col],
            "fit_before": row["fit_score_old"], "fit_after": row["fit_score"],
            "usage_before": row["usage_score_old"], "usage_after": row["usage_score"],
            "rules": changed,
        })
    return moves


def _rule_points(row: dict[str, Any], rule: str, old_cols: set[str], new_cols: set[str]) -> tuple[Any, Any]:
    """(points before, points after); None on the side whose config lacks the rule."""
    if rule in old_cols and rule in new_cols:
        return row[f"{rule}_old"], row[rule]
    if rule in new_cols:
        return None, row[rule]
    return row[rule], None


def _only_in(old: Snapshot, new: Snapshot, level: str) -> dict[str, list[str]]:
    a = set(old.scan(level).collect_schema().names())
    b = set(new.scan(level).collect_schema().names())
    return {"only_in_old": sorted(a - b), "only_in_new": sorted(b - a)}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The diff flattened to one row per change (for CSV and JSON Lines)."""
    out: list[dict[str, Any]] = []
    base = {"old": result["old"], "new": result["new"]}
    for level in LEVELS:
        part = result.get(level)
        if not part:
            continue
        for kind in ("tiers", "pqls"):
            for name, change in part[kind].items():
                for what in ("entered", "left"):
                    out += [{**base, "level": level, "kind": kind[:-1], "name": name, "change": what, "id": i,
                             "fit_before": None, "fit_after": None, "usage_before": None, "usage_after": None,
                             "rules": ""} for i in change[what]]
        for move in part["moves"]:
            rules = "; ".join(f"{r['rule']} {_num(r['before'])}->{_num(r['after'])}" for r in move["rules"])
            out.append({**base, "level": level, "kind": "move", "name": "", "change": "moved", "id": move["id"],
                        **{k: move[k] for k in ("fit_before", "fit_after", "usage_before", "usage_after")},
                        "rules": rules})
    return out


def rows_frame(result: dict[str, Any]) -> pl.DataFrame:
    """:func:`rows` as a DataFrame with a fixed schema (also when nothing changed)."""
    import polars as pl

    scores = {"fit_before", "fit_after", "usage_before", "usage_after"}
    schema = {c: (pl.Float64 if c in scores else pl.String) for c in ROW_COLUMNS}
    return pl.DataFrame(rows(result), schema=schema)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
