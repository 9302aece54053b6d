"""Data-quality checks a user should see before trusting a score (``pql doctor``).

Each check is one lazy Polars query over the canonical tables (no per-row Python) and yields a
:class:`Check`: ``name``, ``severity`` (ok, warning, error), ``count``, up to five ``examples`` and a
``hint``. :func:`diagnose` runs them all; ``Report.as_dict()`` is the JSON shape of ``pql doctor --format json``.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from pqlcli.util.clock import utc_now
from pqlcli.util.domains import free_email_domains
from pqlcli.workspace import Workspace
from pqlcli.workspace.optimize import DISORDER, ORDER_ROWS, mean_jump

if TYPE_CHECKING:
    from pqlcli.config import LoadedConfig

SEVERITIES = ("ok", "warning", "error")
EXAMPLES = 5
DEFAULT_TTL_DAYS = 30.0  # the enrichment cache's default lifetime (pql enrich --ttl)
MISSING_FIRMO_WARN = 0.2  # share of company domains without firmographics that deserves a warning
FREE_EMAIL_WARN = 0.5
WHOLE_HOUR_SHARE = 0.9  # a part whose timestamps sit this often on whole hours lost its time of day
MIN_PART_EVENTS = 20


@dataclass
class Check:
    name: str
    severity: str
    count: int
    examples: list[Any] = field(default_factory=list)
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "count": self.count,
                "examples": [str(e) for e in self.examples[:EXAMPLES]], "hint": self.hint}


@dataclass
class Report:
    checks: list[Check]
    identities: dict[str, Any] | None = None

    @property
    def worst(self) -> str:
        return max((c.severity for c in self.checks), key=SEVERITIES.index, default="ok")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"checks": [c.as_dict() for c in self.checks]}
        if self.identities is not None:
            out["identities"] = self.identities
        return out


@dataclass
class _Tables:
    ws: Workspace
    users: pl.LazyFrame | None
    accounts: pl.LazyFrame | None
    events: pl.LazyFrame | None
    firmographics: pl.LazyFrame | None
    loaded: LoadedConfig | None
    now: datetime
    ttl: timedelta
    _event_users: pl.DataFrame | None = field(default=None, init=False, repr=False)

    def event_users(self) -> pl.DataFrame:
        """Every ``user_id`` of the events with its number of events (``n``): one streaming group-by that
        the checks share, instead of each joining every event to the users (at 1M users / 50M events the
        two checks took 9 s that way)."""
        assert self.events is not None
        if self._event_users is None:
            self._event_users = self.events.group_by("user_id").agg(pl.len().alias("n")).collect(engine="streaming")
        return self._event_users


def _examples(frame: pl.LazyFrame, column: str) -> list[Any]:
    return frame.select(pl.col(column)).head(EXAMPLES).collect().to_series().to_list()


def _count(frame: pl.LazyFrame) -> int:
    return int(frame.select(pl.len()).collect().item())


def _found(name: str, count: int, examples: list[Any], hint: str, severity: str = "warning") -> Check:
    return Check(name, severity if count else "ok", count, examples if count else [], hint if count else "")


def _skipped(name: str, why: str) -> Check:
    return Check(name, "ok", 0, [], f"Not checked: {why}.")


def _user_domain() -> pl.Expr:
    return pl.col("email").str.split("@").list.last().str.to_lowercase()


def events_unknown_user(t: _Tables) -> Check:
    if t.events is None or t.users is None:
        return _skipped("events_unknown_user", "no events or no users table")
    per_user = t.event_users()
    unknown = per_user.lazy().join(t.users.select("user_id"), on="user_id", how="anti").collect()
    n, total = int(unknown["n"].sum()), int(per_user["n"].sum())
    severity = "error" if total and n / total > 0.5 else "warning"
    return _found("events_unknown_user", n, _examples(unknown.lazy().sort("user_id", nulls_last=True), "user_id"),
                  f"{n} of {total} events belong to no known user: their usage counts for nobody. Ingest the users "
                  "export that holds them, or map the id column the events use.", severity)


def users_without_events(t: _Tables) -> Check:
    if t.users is None:
        return _skipped("users_without_events", "no users table")
    if t.events is None:
        n = _count(t.users)
        return _found("users_without_events", n, _examples(t.users, "user_id"),
                      "No events table: every usage metric is 0. Ingest your product events.")
    idle = t.users.join(t.event_users().lazy().select("user_id"), on="user_id", how="anti", maintain_order="left")
    n = _count(idle)
    return _found("users_without_events", n, _examples(idle, "user_id"),
                  f"{n} users have no event at all: check the events export covers them (same user ids).")


def duplicate_emails(t: _Tables) -> Check:
    if t.users is None or "email" not in t.users.collect_schema():
        return _skipped("duplicate_emails", "no users table with emails")
    dup = (t.users.filter(pl.col("email").is_not_null()).group_by("email")
           .agg(pl.col("user_id").n_unique().alias("ids")).filter(pl.col("ids") > 1).sort("email"))
    n = _count(dup)
    return _found("duplicate_emails", n, _examples(dup, "email"),
                  "These emails are under several user ids: one person is scored as several leads. Merge the ids "
                  "upstream, or ingest with identity resolution (docs/identity.md).")


def accounts_shared_domain(t: _Tables) -> Check:
    if t.accounts is None or "domain" not in t.accounts.collect_schema():
        return _skipped("accounts_shared_domain", "no accounts table with domains")
    shared = (t.accounts.filter(pl.col("domain").is_not_null()).group_by("domain")
              .agg(pl.len().alias("n")).filter(pl.col("n") > 1).sort("domain"))
    n = _count(shared)
    return _found("accounts_shared_domain", n, _examples(shared, "domain"),
                  "Several accounts share these domains: their users and firmographics are split. Merge the "
                  "duplicate accounts in the CRM, or keep one per domain.")


def users_without_account(t: _Tables) -> Check:
    if t.users is None:
        return _skipped("users_without_account", "no users table")
    cols = t.users.collect_schema()
    users = t.users if "account_id" in cols else t.users.with_columns(pl.lit(None, pl.String).alias("account_id"))
    if t.accounts is not None:
        lone = users.join(t.accounts.select("account_id"), on="account_id", how="anti", maintain_order="left")  # the same examples every run
    else:
        lone = users
    n = _count(lone)
    joinable = 0
    if n and t.accounts is not None and "email" in cols and "domain" in t.accounts.collect_schema():
        domains = t.accounts.select(pl.col("domain").alias("_d")).unique()
        joinable = _count(lone.with_columns(_d=_user_domain()).join(domains, on="_d", how="semi"))
    return _found("users_without_account", n, _examples(lone, "user_id"),
                  f"{n} users belong to no known account; {joinable} of them join an account by their email "
                  "domain. Their fit comes from their email's company domain only.")


def future_events(t: _Tables) -> Check:
    if t.events is None:
        return _skipped("future_events", "no events table")
    limit = t.now
    as_of = t.loaded.as_of(None) if t.loaded is not None and t.loaded.config.as_of is not None else None
    if as_of is not None:
        limit = min(limit, as_of)
    late = t.events.filter(pl.col("timestamp") >= limit).sort("timestamp")
    n = _count(late)
    return _found("future_events", n, _examples(late, "timestamp"),
                  f"{n} events are at or after {limit:%Y-%m-%d %H:%M} UTC (now or the config's as_of): they never "
                  "count. A clock or timezone problem in the export, or an as_of set too early.")


def config_events_missing(t: _Tables) -> Check:
    if t.loaded is None:
        return _skipped("config_events_missing", "no config")
    known = [] if t.events is None else (
        t.events.select(pl.col("event").unique()).collect().to_series().drop_nulls().sort().to_list())
    missing = []
    for name, metric in t.loaded.config.metrics.items():
        for ev in metric.events:
            if ev != "*" and ev not in known:
                close = difflib.get_close_matches(ev, known, n=3)
                missing.append(f"{ev} (metric {name}" + (f"; closest: {', '.join(close)})" if close else ")"))
    return _found("config_events_missing", len(missing), missing,
                  "These metric events never occur in your data, so the metrics are 0 for everyone. Use the event "
                  "names your export has (`pql status`), e.g. the closest ones shown.", "error")


def _company_domains(t: _Tables) -> pl.LazyFrame | None:
    frames = []
    if t.accounts is not None and "domain" in t.accounts.collect_schema():
        frames.append(t.accounts.select(pl.col("domain")))
    if t.users is not None and "email" in t.users.collect_schema():
        free = sorted(free_email_domains())
        frames.append(t.users.select(_user_domain().alias("domain")).filter(~pl.col("domain").is_in(free)))
    if not frames:
        return None
    return pl.concat(frames).filter(pl.col("domain").is_not_null()).unique()


def missing_firmographics(t: _Tables) -> Check:
    domains = _company_domains(t)
    if domains is None:
        return _skipped("missing_firmographics", "no company domains")
    total = _count(domains)
    if t.firmographics is None:
        missing = domains
    else:
        cols = t.firmographics.collect_schema()
        found = t.firmographics.filter(pl.col("status") == "found") if "status" in cols else t.firmographics
        missing = domains.join(found.select("domain"), on="domain", how="anti")
    n = _count(missing)
    share = n / total if total else 0.0
    severity = "warning" if share > MISSING_FIRMO_WARN else "ok"
    check = _found("missing_firmographics", n, _examples(missing.sort("domain"), "domain"),
                   f"{share:.0%} of {total} company domains have no firmographics (not enriched yet, or not found): "
                   "fit rules on employees, raised, country give them 0 points. Run `pql enrich`.", severity)
    return check


def free_email_share(t: _Tables) -> Check:
    if t.users is None or "email" not in t.users.collect_schema():
        return _skipped("free_email_share", "no users table with emails")
    free = sorted(free_email_domains())
    stats = t.users.select(pl.len().alias("n"), _user_domain().is_in(free).sum().alias("free")).collect()
    total, n = int(stats["n"][0]), int(stats["free"][0] or 0)
    share = n / total if total else 0.0
    examples = t.users.filter(_user_domain().is_in(free)).select("email")
    return _found("free_email_share", n, _examples(examples, "email"),
                  f"{share:.0%} of users sign up with a personal email (gmail.com...): no company to enrich. "
                  "Ask for a work email at signup, or rely on usage for them.",
                  "warning" if share > FREE_EMAIL_WARN else "ok")


def stale_enrichment(t: _Tables) -> Check:
    if t.firmographics is None or "fetched_at" not in t.firmographics.collect_schema():
        return _skipped("stale_enrichment", "no enrichment cache")
    stale = t.firmographics.filter(pl.col("fetched_at") < t.now - t.ttl).sort("fetched_at")
    n = _count(stale)
    return _found("stale_enrichment", n, _examples(stale, "domain"),
                  f"{n} cached lookups are older than {t.ttl.days} days: company data may have changed. "
                  "`pql enrich` refreshes them.")


def _ingested_files(files: list[Any]) -> dict[str, list[Any]]:
    """The events parts by ingested file: one part, or the part of that name in every bucket."""
    parts: dict[str, list[Any]] = {}
    for path in files:
        parts.setdefault(path.name, []).append(path)
    return parts


def _part_clock(name: str, paths: list[Any]) -> pl.LazyFrame:
    """One ingested file's events: how many, the share on whole hours (minute and second 0), and the mean
    of their time of day as a point on the 24-hour circle (``sin``, ``cos``). The events are counted per
    second of the hour and minute of the day (integer arithmetic on the stored microseconds), and the
    circle's means come from those counts: the same figures as per event, at 1/4 of the time (trigonometry
    and calendar fields of every event cost ~3 s at 50M events)."""
    seconds = pl.col("timestamp").dt.epoch("us") // 1_000_000
    counts = (pl.scan_parquet(paths).select("timestamp").filter(pl.col("timestamp").is_not_null())
              .group_by(minute=(seconds // 60) % 1440, whole=seconds % 3600 == 0).agg(pl.len().alias("k")))
    angle = pl.col("minute").cast(pl.Float64) / 60 * (2 * 3.141592653589793 / 24)
    n = pl.col("k").sum()
    return counts.select(
        pl.lit(name).alias("part"), n.cast(pl.UInt32).alias("n"), (pl.col("k").filter(pl.col("whole")).sum() / n).alias("whole"),
        ((angle.sin() * pl.col("k")).sum() / n).alias("sin"), ((angle.cos() * pl.col("k")).sum() / n).alias("cos"))


def timezone_suspect(t: _Tables) -> Check:
    """Parts (one per ingested file) whose times sit on whole hours, or whose daily rhythm is shifted by
    whole hours from the other parts' — the marks of offset-less timestamps read in the wrong zone."""
    if t.events is None:
        return _skipped("timezone_suspect", "no events table")
    parts = _ingested_files(t.ws.table_files("events"))
    clocks = pl.concat([_part_clock(name, paths) for name, paths in sorted(parts.items())]).collect().filter(pl.col("n") >= MIN_PART_EVENTS)
    clocks = clocks.with_columns(
        peak=(pl.arctan2("sin", "cos") * (24 / (2 * 3.141592653589793))) % 24,
        strength=(pl.col("sin") ** 2 + pl.col("cos") ** 2).sqrt())
    suspects = [f"{r['part']}: {r['whole']:.0%} of times on whole hours"
                for r in clocks.iter_rows(named=True) if r["whole"] >= WHOLE_HOUR_SHARE]
    rhythmic = clocks.filter(pl.col("strength") >= 0.2)
    for r in rhythmic.iter_rows(named=True):  # one row per ingested file, not per event
        others = rhythmic.filter(pl.col("part") != r["part"])
        if others.height:
            ref = float(pl.Series(others["peak"]).median())  # type: ignore[arg-type]
            shift = (r["peak"] - ref + 12) % 24 - 12
            if abs(shift) >= 3 and abs(shift - round(shift)) < 0.34:
                suspects.append(f"{r['part']}: busiest hour {shift:+.0f}h from the other exports")
    return _found("timezone_suspect", len(suspects), suspects,
                  "These ingested files look like local time read as UTC (or dates without times): re-ingest them "
                  "with --timezone ZONE (docs/ingest.md), or check the export settings.")


# An ingested file of ``ORDER_ROWS`` events or more in no useful time order deserves `pql optimize` (the
# ingest note's threshold and test, pqlcli.workspace.optimize); a bucket with more parts than this deserves
# `pql optimize --merge` (365 daily parts measured +10 % on a pass).
MANY_PARTS = 100


def events_layout(t: _Tables) -> Check:
    """Ingested files whose events are in no useful time order (every row group spans their whole time
    range, so no window filter skips one), and buckets (or an unbucketed table) of very many parts: `pql optimize` makes scores
    faster (docs/performance.md, "Events in time order"). One scan of the stored timestamps."""
    if t.events is None:
        return _skipped("events_layout", "no events table")
    files = t.ws.table_files("events")
    parts = _ingested_files(files)
    # parts per bucket folder ("events" for an unbucketed table)
    buckets = Counter(p.parent.name if p.parent.name.startswith("bucket=") else "events" for p in files)
    spans = pl.concat([
        pl.scan_parquet(paths).select(pl.lit(name).alias("part"), pl.len().alias("n"), mean_jump(pl.col("timestamp")).alias("jump"))
        for name, paths in sorted(parts.items())
    ]).collect()
    slow = spans.filter((pl.col("n") >= ORDER_ROWS) & (pl.col("jump") > DISORDER))
    found = [f"{r['part']}: {r['n']:,} events, {r['jump'].total_seconds() / 86_400:.1f} days apart on average from one row "
             "to the next" for r in slow.iter_rows(named=True)]
    crowded = sorted(((n, b) for b, n in buckets.items() if n > MANY_PARTS), reverse=True)
    found += [f"{b}: {n} parts" for n, b in crowded]
    return _found("events_layout", len(found), found,
                  "Scores read these events slower than they could: `pql optimize` rewrites events stored out of "
                  "time order in time order, and `pql optimize --merge` also merges each bucket's parts into one "
                  "(scores were 0.74-0.87x the time; docs/performance.md).")


def identity_numbers(ws: Workspace, events: pl.LazyFrame | None) -> dict[str, Any] | None:
    """Merged identities and events of no known person, when the workspace has an ``identities`` table."""
    if not ws.has_table("identities"):
        return None
    ids = ws.scan("identities")
    users = ids.filter(pl.col("kind") == "user")
    merged = (users.group_by("canonical_id")
              .agg(pl.col("alias").n_unique().alias("aliases")).filter(pl.col("aliases") > 1).sort("canonical_id"))
    out: dict[str, Any] = {"merged_users": _count(merged), "merged_examples": _examples(merged, "canonical_id")}
    if events is not None:
        # a person known by one id only has no identities row: the users table lists every person
        known = users.filter(pl.col("record")).select(pl.col("canonical_id").alias("user_id"))
        if ws.has_table("users"):
            known = pl.concat([known, ws.scan("users").select(pl.col("user_id").cast(pl.String))])
        known = known.unique()
        orphan = events.join(known, on="user_id", how="anti")
        out["events_of_no_known_person"] = _count(orphan)
        out["orphan_examples"] = _examples(orphan.select("user_id").unique(maintain_order=True), "user_id")
    return out


CHECKS: tuple[Callable[[_Tables], Check], ...] = (
    events_unknown_user, users_without_events, duplicate_emails, accounts_shared_domain, users_without_account,
    future_events, config_events_missing, missing_firmographics, free_email_share, stale_enrichment,
    timezone_suspect, events_layout,
)


def diagnose(ws: Workspace, loaded: LoadedConfig | None = None, *, now: datetime | None = None,
             ttl_days: float = DEFAULT_TTL_DAYS, only: Iterable[str] | None = None) -> Report:
    """Run every check (or those named in ``only``) over the workspace; writes nothing. Run again once
    when `pql optimize --merge` replaced events parts while they were read (``Workspace.reading_events``)."""

    def run() -> Report:
        tables = {name: ws.scan_or_none(name) for name in ("users", "accounts", "events", "firmographics")}
        t = _Tables(ws, loaded=loaded, now=now or utc_now(), ttl=timedelta(days=ttl_days), **tables)
        wanted = set(only) if only is not None else None
        checks = [check(t) for check in CHECKS if wanted is None or check.__name__ in wanted]
        return Report(checks, identity_numbers(ws, tables["events"]))

    return ws.reading_events(run)


__all__ = ["CHECKS", "Check", "Report", "diagnose"]
