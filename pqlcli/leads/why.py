"""The "why" column: the one explanation string used by ``pql list``, notify and the CRM export."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

WHY = "why"
WHY_TOP = 3


def add_why(frame: pl.DataFrame, top: int = WHY_TOP) -> pl.DataFrame:
    """Add ``why``: the rules that fired, e.g. ``invites +30, big_company +30, dormant -10``.

    Usage (and extra dimensions' such as marketing) and fit rules alternate (what they did, who they
    are), each biggest absolute points first. Negative points use an ASCII ``-`` so ``grep -- -20`` finds them.
    """
    import polars as pl

    rule_cols = rule_columns(frame.columns)
    if not rule_cols or frame.height == 0:
        return frame.with_columns(pl.lit("", dtype=pl.String).alias(WHY))
    reasons = _reasons(frame.lazy(), rule_cols, top)
    return (
        frame.lazy()
        .with_row_index("_row")
        .join(reasons, on="_row", how="left", maintain_order="left")
        .with_columns(pl.col(WHY).fill_null(""))
        .drop("_row")
        .collect()
    )


def rule_columns(columns: list[str]) -> list[str]:
    """The per-rule points columns ``<dimension>__<rule>``: fit, usage and every ``<dimension>_score``'s."""
    dims = ("fit__", "usage__", *(f"{c.removesuffix('_score')}__" for c in columns if c.endswith("_score")))
    return [c for c in columns if c.startswith(dims)]


def _reasons(lazy: pl.LazyFrame, rule_cols: list[str], top: int) -> pl.LazyFrame:
    """One row per input row (``_row``) with the ``why`` text of the rules that fired."""
    import polars as pl

    pts = pl.col("pts")
    magnitude = pts.abs()
    number = (
        pl.when(magnitude == magnitude.round(0))
        .then(magnitude.round(0).cast(pl.Int64).cast(pl.String))
        .otherwise(magnitude.round(1).cast(pl.String))
    )
    sign = pl.when(pts > 0).then(pl.lit("+")).otherwise(pl.lit("-"))
    return (
        lazy.with_row_index("_row")
        .select("_row", *rule_cols)
        .with_columns(pl.col(rule_cols).cast(pl.Float64))
        .unpivot(index="_row", variable_name="rule", value_name="pts")
        .filter(pts.is_not_null() & (pts != 0))
        .with_columns(
            pl.concat_str(pl.col("rule").str.replace(r"^[A-Za-z0-9_]+?__", ""), pl.lit(" "), sign, number).alias("label")
        )
        # what they did and who they are, alternately: usage #1, fit #1, usage #2, ...
        .with_columns(kind=pl.col("rule").str.starts_with("fit__").cast(pl.Int8))
        .with_columns(rank=pl.struct(magnitude.neg().alias("m"), pl.col("rule")).rank("ordinal").over("_row", "kind"))
        .sort(["_row", "rank", "kind"])
        .group_by("_row", maintain_order=True)
        .agg(pl.col("label").head(top).str.join(", ").alias(WHY))
    )
