"""``pql list``: the leads of a snapshot, filtered and best first, with the ``why`` column.

Pure polars, no rendering: everything the CLI shows can be had from Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from pqlcli.leads import filters
from pqlcli.leads.errors import ParameterError
from pqlcli.leads.snapshot import ID_COLUMN, LeadSnapshot, SnapshotRef, check_level, open_snapshot
from pqlcli.leads.why import WHY, add_why

if TYPE_CHECKING:
    import polars as pl

# The narrower set the terminal table starts from (it must fit 80 columns).
TABLE_COLUMNS = {
    "users": ["name", "email", "account_name", "owner", "plan", "fit_score", "usage_score", "tier", WHY],
    "accounts": ["name", "owner", "plan", "users", "fit_score", "usage_score", "tier", WHY],
}
DEFAULT_COLUMNS = filters.DEFAULT_COLUMNS


@dataclass
class LeadQuery:
    """A validated ``pql list`` query over one level of a snapshot (built by :meth:`prepare`)."""

    snapshot: LeadSnapshot
    level: str
    columns: list[str]
    sort: list[filters.SortKey] | None
    filters: list[pl.Expr] = field(default_factory=list)
    new: bool = False
    limit: int | None = None
    where: str | None = None

    @classmethod
    def prepare(
        cls,
        snapshot: LeadSnapshot,
        level: str,
        *,
        owner: str | None = None,
        tier: str | None = None,
        pql: str | None = None,
        where: str | None = None,
        signed_up_within: str | timedelta | None = None,
        new: bool = False,
        sort: str | None = None,
        columns: str | list[str] | None = None,
        limit: int | None = None,
    ) -> LeadQuery:
        """Check every parameter against the snapshot's columns before any row is read."""
        import polars as pl

        check_level(level)
        schema = snapshot.scan(level).collect_schema()
        available = list(schema.names())
        selectable = selectable_columns(available)
        chosen = filters.parse_columns(columns, selectable, level)
        sort_keys = filters.parse_sort(sort, selectable) if sort else None
        exprs: list[pl.Expr] = []
        if owner is not None:
            exprs.append(filters.owner_expr(owner, available))
        if tier is not None:
            exprs.append(pl.col("tier").is_in(filters.tier_filter(tier, snapshot.tier_names())))
        if pql is not None:
            exprs.append(filters.pql_filter(pql, level, available))
        if where:
            exprs.append(filters.where_expr(where, available).fill_null(False))
        if signed_up_within is not None:
            exprs += filters.signed_up_filters(signed_up_within, level, schema, snapshot.as_of)
        if limit is not None and limit < 0:
            raise ParameterError("limit", f"{{param}} {limit} is negative.", "Use 0 for no limit, or a positive number.")
        return cls(snapshot, level, chosen, sort_keys, exprs, new, limit or None, where)

    def run(self) -> pl.DataFrame:
        """The matching rows, best first (tier, then usage, then fit) or in the asked order."""
        frame = self._collect(self._scan())
        sort_by_why = bool(self.sort and any(k == WHY for k, _ in self.sort))
        if sort_by_why:
            frame = add_why(frame)
        frame = self._sorted(frame)
        if self.limit:
            frame = frame.head(self.limit)
        if WHY in self.columns and not sort_by_why:
            frame = add_why(frame)  # after the limit: only the rows shown pay for it
        return frame.select(self.columns)

    def _scan(self) -> pl.LazyFrame:
        import polars as pl

        lazy = self.snapshot.scan(self.level)
        if self.new:
            id_col = ID_COLUMN[self.level]
            lazy = lazy.filter(filters.qualified_expr(self.level, list(lazy.collect_schema().names())))
            prev = self.snapshot.previous()
            if prev is not None and prev.has(self.level):
                prev_scan = prev.scan(self.level)
                qualified = filters.qualified_expr(self.level, list(prev_scan.collect_schema().names()))
                before = prev_scan.filter(qualified).select(pl.col(id_col).cast(pl.String))
                lazy = lazy.join(before, on=id_col, how="anti")
        for expr in self.filters:
            lazy = lazy.filter(expr)
        return lazy

    def _collect(self, lazy: pl.LazyFrame) -> pl.DataFrame:
        """Collect, turning the type errors a ``where`` condition can hit at run time into clear errors."""
        import polars as pl

        try:
            return lazy.collect()
        except (pl.exceptions.ColumnNotFoundError, pl.exceptions.SQLInterfaceError) as exc:
            names = ", ".join(sorted(self.snapshot.scan(self.level).collect_schema().names()))
            raise ParameterError(
                "where", f"{{param}} could not be applied ({filters.first_line(exc)}).", f"Columns that exist: {names}."
            )
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError, pl.exceptions.SchemaError) as exc:
            detail = filters.first_line(exc)
            condition = repr(self.where)
            if detail.startswith("regex error"):
                reason = next((ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("error:")), detail)
                raise ParameterError(
                    "where",
                    f"{{param}} {condition} has a pattern that is not a valid regular expression ({reason}).",
                    "Escape the characters ( ) [ ] { } . * + ? ^ $ | \\ with a backslash to match them as they are, "
                    "e.g. \"title RLIKE '\\(ops\\)'\"; or use LIKE '%text%' for plain text.",
                )
            if "predicate must be of type" in detail:
                raise ParameterError(
                    "where",
                    f"{{param}} {condition} is not a true/false condition ({detail}).",
                    'Compare something, e.g. "employees > 50" or "is_free_email".',
                )
            raise ParameterError(
                "where",
                f"{{param}} {condition} compares values of different types ({detail}).",
                "Quote text with single quotes, leave numbers bare, write dates as DATE '2026-10-01', "
                "e.g. \"plan = 'free' AND employees > 50\".",
            )

    def _sorted(self, frame: pl.DataFrame) -> pl.DataFrame:
        import polars as pl

        if "tier" in frame.columns:
            frame = frame.with_columns(filters.tier_rank_expr(self.snapshot.tier_names()).alias("_tier_rank"))
        by: list[pl.Expr] = []
        desc: list[bool] = []
        if self.sort:
            for name, d in self.sort:
                dtype = frame.schema[name]
                by.append(pl.col("_tier_rank" if name == "tier" else name))
                natural = dtype.is_numeric() or dtype == pl.Boolean
                desc.append(bool(d) if name == "tier" else (d if d is not None else natural))
        else:
            for name, d in (("_tier_rank", False), ("usage_score", True), ("fit_score", True)):
                if name in frame.columns:
                    by.append(pl.col(name))
                    desc.append(d)
        id_col = ID_COLUMN[self.level]
        if id_col in frame.columns:
            by.append(pl.col(id_col))
            desc.append(False)
        if by:
            frame = frame.sort(by, descending=desc, nulls_last=True, maintain_order=True)
        return frame


def selectable_columns(available: list[str]) -> list[str]:
    return [*available, WHY] if WHY not in available else available


def list_leads(
    snapshot: SnapshotRef,
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
    query = LeadQuery.prepare(
        open_snapshot(snapshot),
        level,
        owner=owner,
        tier=tier,
        pql=pql,
        where=where,
        signed_up_within=signed_up_within,
        new=new,
        sort=sort,
        columns=columns,
        limit=limit,
    )
    return query.run()


def list_columns(snapshot: SnapshotRef, level: str) -> list[str]:
    """Every column ``pql list`` can filter, sort or show for ``level``."""
    return selectable_columns(list(open_snapshot(snapshot).scan(level).collect_schema().names()))


def owners(snapshot: SnapshotRef, level: str) -> list[str]:
    """The distinct owners in ``level`` (every owner column), sorted; empty when there is no owner column."""
    import polars as pl

    lazy = open_snapshot(snapshot).scan(level)
    cols = [c for c in filters.OWNER_COLUMNS if c in lazy.collect_schema().names()]
    if not cols:
        return []
    values = lazy.select(pl.concat_list([pl.col(c).cast(pl.String) for c in cols]).alias("o")).explode("o")
    found = values.select(pl.col("o").str.strip_chars()).filter(pl.col("o").is_not_null() & (pl.col("o") != ""))
    return sorted(found.unique().collect()["o"].to_list(), key=str.lower)


def owner_exists(snapshot: SnapshotRef, level: str, owner: str) -> bool:
    """Whether ``owner`` (as ``--owner`` matches it) owns any row of ``level``, whatever the other filters."""
    lazy = open_snapshot(snapshot).scan(level)
    expr = filters.owner_expr(owner, list(lazy.collect_schema().names()))
    return lazy.filter(expr).head(1).collect().height > 0
