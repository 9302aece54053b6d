"""A starter config guessed from the data in a workspace: the events actually present, the columns that exist.

Every guess is said in a note (``Guess.notes``) and written as a comment beside what it decided, so a user
can see what to change. Thresholds come from the data (medians of the active users), and the tier
thresholds are then set from a first in-memory score so the four tiers all hold someone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl

from pqlcli.workspace import Workspace

TOP_EVENTS = 6
WINDOW_DAYS = 30
# page views and sessions say someone was there, not what they did: they feed active days instead
_PASSIVE = re.compile(r"(^|[_$ .])(page|pageview|page_view|page_viewed|screen|session|session_start)($|[_ .])", re.I)
_OUTCOME = re.compile(r"convert|won|closed|churn|customer|revenue|mrr|arr", re.I)
_ID_LIKE = re.compile(r"(^|_)(id|number|no|uuid|key)$", re.I)
BUYER_TITLES = "VP|Vice President|Head|Director|Chief|CTO|CEO|COO|Founder|Owner"


@dataclass
class Rule:
    section: str  # fit | usage
    name: str
    when: str
    points: int
    comment: str


@dataclass
class Guess:
    """What was guessed: metrics, rules, tier thresholds, as_of; ``notes`` say it in words."""

    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_comments: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    tiers: dict[str, float] = field(default_factory=lambda: {"fit": 50.0, "usage": 40.0})
    as_of: str | None = None
    notes: list[str] = field(default_factory=list)


def metric_name(event: str) -> str:
    base = re.sub(r"[^0-9a-zA-Z]+", "_", event).strip("_").lower() or "event"
    return f"{'e_' if base[0].isdigit() else ''}{base}_{WINDOW_DAYS}d"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _median(values: pl.Series) -> float:
    values = values.drop_nulls()
    return float(values.median()) if len(values) else 0.0  # type: ignore[arg-type]


def _nice(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:.3g}"


def guess_usage(ws: Workspace, guess: Guess) -> None:
    """Metrics over the most frequent events (page views feed active days), one rule each at the median."""
    if not ws.has_table("events"):
        guess.notes.append("No events: usage comes from numeric user traits, if any.")
        return
    events = ws.scan("events")
    last = events.select(pl.col("timestamp").max()).collect().item()
    if last is None:
        return
    as_of = (last + timedelta(days=1)).date()
    guess.as_of = as_of.isoformat()
    guess.notes.append(f"as_of: {as_of} (the day after the last event), so the windows see your export; "
                       "remove it to score as of now once your exports are fresh.")
    start = last + timedelta(days=1) - timedelta(days=WINDOW_DAYS)
    recent = events.filter(pl.col("timestamp") >= start)
    counts = recent.group_by("event").agg(pl.len().alias("n")).sort(["n", "event"], descending=[True, False]).collect()
    active = [e for e in counts["event"].drop_nulls().to_list() if not _PASSIVE.search(e)][:TOP_EVENTS]
    per_user = recent.filter(pl.col("event").is_in(active)).group_by("user_id", "event").agg(pl.len().alias("n")).collect()
    points = max(10, round(100 / (len(active) + 1)))
    for event in active:
        name = metric_name(event)
        guess.metrics[name] = {"event": event, "window": f"{WINDOW_DAYS}d"}
        n = int(counts.filter(pl.col("event") == event)["n"][0])
        guess.metric_comments[name] = f"{n} events in the last {WINDOW_DAYS} days"
        typical = max(1.0, _median(per_user.filter(pl.col("event") == event)["n"]))
        guess.rules.append(Rule("usage", name.removesuffix(f"_{WINDOW_DAYS}d"), f"{name} >= {_nice(typical)}", points,
                                "the median among users who did it"))
    guess.metrics["active_days_30d"] = {"event": "*", "window": "30d", "agg": "active_days"}
    guess.metric_comments["active_days_30d"] = "days with any event"
    days = recent.group_by("user_id").agg(pl.col("timestamp").dt.date().n_unique().alias("d")).collect()["d"]
    guess.rules.append(Rule("usage", "active_days", f"active_days_30d >= {_nice(max(1.0, _median(days)))}", points,
                            "the median active days"))
    guess.notes.append(f"metrics: the {len(active)} most frequent events of the last {WINDOW_DAYS} days "
                       f"({', '.join(active) or 'none'}), plus active days; each usage rule fires at the median "
                       f"of the users who did it and gives {points} points.")


def _firmographic_values(ws: Workspace, column: str) -> pl.Series | None:
    for table in ("firmographics", "accounts"):
        if ws.has_table(table) and column in ws.scan(table).collect_schema():
            values = ws.scan(table).select(pl.col(column)).collect().to_series().drop_nulls()
            if len(values):
                return values
    return None


def guess_fit(ws: Workspace, guess: Guess) -> None:
    """Fit rules over the firmographic and user columns that exist (thresholds at their medians)."""
    employees = _firmographic_values(ws, "employees")
    if employees is not None and employees.dtype.is_numeric():
        guess.rules.append(Rule("fit", "company_size", f"employees >= {round(_median(employees))}", 30,
                                "the median company size in your data"))
    raised = _firmographic_values(ws, "raised")
    if raised is not None and raised.dtype.is_numeric() and (raised > 0).any():
        guess.rules.append(Rule("fit", "funded", f"raised >= {_nice(_median(raised.filter(raised > 0)))}", 20,
                                "the median amount raised among funded companies"))
    country = _firmographic_values(ws, "country")
    if country is not None:
        top = country.value_counts(sort=True).head(3)[country.name].to_list()
        guess.rules.append(Rule("fit", "main_countries", f"country IN ({', '.join(map(_sql_text, top))})", 20,
                                "your three most common countries"))
    users = ws.scan("users")
    cols = users.collect_schema()
    if "title" in cols and users.select(pl.col("title").is_not_null().any()).collect().item():
        guess.rules.append(Rule("fit", "buyer_title", f"regexp_like(title, {_sql_text(BUYER_TITLES)})", 20,
                                "decision makers"))
    if "email" in cols and users.select(pl.col("email").is_not_null().any()).collect().item():
        guess.rules.append(Rule("fit", "personal_email", "is_free_email", -20, "gmail.com, outlook.com..."))
    if employees is None and country is None and ws.has_table("accounts"):
        guess.notes.append("No firmographics yet: run `pql enrich`, then add fit rules on employees, raised, country.")


def _trait_columns(ws: Workspace) -> dict[str, pl.DataType]:
    from pqlcli.workspace.schema import USERS

    schema = ws.scan("users").collect_schema()
    return {c: d for c, d in schema.items()
            if c not in USERS.columns and not _OUTCOME.search(c) and not _ID_LIKE.search(c) and not c.startswith("_")}


def _outcome(frame: pl.DataFrame) -> pl.Expr | None:
    for c in frame.columns:
        if _OUTCOME.search(c) and not _ID_LIKE.search(c):
            if frame[c].dtype.is_numeric():
                return (pl.col(c) > 0).cast(pl.Float64)
            if frame[c].dtype == pl.Datetime or c.endswith("_at"):
                return pl.col(c).is_not_null().cast(pl.Float64)
    return None


def guess_traits(ws: Workspace, guess: Guess) -> None:
    """Lead exports: numeric traits become usage rules (without events), categories with the best
    conversion rate become fit rules (when a conversion column exists)."""
    traits = _trait_columns(ws)
    if not traits:
        return
    users = ws.scan("users").collect()
    outcome = _outcome(users)
    used = []
    for col, dtype in traits.items():
        if dtype.is_numeric() and not ws.has_table("events") and users[col].drop_nulls().n_unique() > 2:
            guess.rules.append(Rule("usage", col, f"{col} >= {_nice(_median(users[col]))}", 25, "its median"))
            used.append(col)
        elif dtype == pl.String and outcome is not None and 2 <= users[col].n_unique() <= 12:
            rates = (users.filter(pl.col(col).is_not_null()).group_by(col)
                     .agg(outcome.mean().alias("rate"), pl.len().alias("n"))
                     .filter(pl.col("n") >= max(5, users.height // 20)).sort("rate", descending=True))
            if rates.height >= 2:
                best = rates[col][0]
                guess.rules.append(Rule("fit", f"{col}_match"[:60], f"{col} = {_sql_text(best)}", 25,
                                        f"the value with the best conversion rate ({rates['rate'][0]:.0%})"))
                used.append(col)
    if used:
        guess.notes.append(f"traits used in rules: {', '.join(used)} (numbers at their median, "
                           "categories at their best conversion rate).")


def render(guess: Guess, header: list[str]) -> str:
    """The config text: the schema line, what was guessed as comments, then the guessed sections."""
    lines = ["# yaml-language-server: $schema=pql.schema.json", *[f"# {h}" for h in header], "version: 1"]
    if guess.as_of:
        lines.append(f"as_of: {guess.as_of}            # the day after your last event; remove to score as of now")
    lines += ["", "metrics:                     # per user; accounts get the sum over their users"]
    if not guess.metrics:
        lines[-1] = "metrics: {}                  # no events ingested: add some with `pql ingest events FILE`"
    for name, spec in guess.metrics.items():
        body = ", ".join(f"{k}: {json.dumps(v)}" for k, v in spec.items())
        lines.append(f"  {name}: {{{body}}}   # {guess.metric_comments.get(name, '')}")
    for section, title in (("fit", "Customer Fit: who they are"), ("usage", "Product Usage: what they do")):
        rules = [r for r in guess.rules if r.section == section]
        lines += ["", f"{section}:{' []' if not rules else ''}                 # {title}. Points add up, clamp to 0..100"]
        for r in rules:
            lines.append(f"  - {{name: {r.name}, when: {json.dumps(r.when)}, points: {r.points}}}   # {r.comment}")
    lines += [
        "",
        f"tiers: {{fit: {_nice(guess.tiers['fit'])}, usage: {_nice(guess.tiers['usage'])}}}"
        "   # set from a first score so every tier holds someone; tier1: fit and usage at or above",
        "",
        "pqls:                        # one PQL definition per sales motion",
        "  - {name: hot_lead, level: user, when: \"tier = 'tier1'\"}",
        "",
    ]
    return "\n".join(lines)


def _split(scores: pl.Series) -> float | None:
    """The threshold among the scores' values closest to splitting them in half (None: all equal)."""
    values = sorted(set(scores.drop_nulls().to_list()))
    if len(values) < 2:
        return None
    n = len(scores)
    return min(values[1:], key=lambda t: abs(float((scores >= t).sum()) / n - 0.5))


def calibrate_tiers(ws: Workspace, guess: Guess, header: list[str]) -> None:
    """Score once in memory and set the tier thresholds where they split the users in two."""
    from pqlcli import config, scoring

    loaded = config.loads(render(guess, header), "pql.yaml")
    frames = scoring.compute(ws, loaded)
    for axis in ("fit", "usage"):
        split = _split(frames.users[f"{axis}_score"])
        if split is None:
            guess.notes.append(f"tiers.{axis}: every user has the same {axis} score; add {axis} rules to tell them apart.")
        else:
            guess.tiers[axis] = float(split)
    tiers = (frames.users.with_columns(
        tier=pl.when(pl.col("fit_score") >= guess.tiers["fit"]).then(pl.lit(1)).otherwise(pl.lit(3))
        + pl.when(pl.col("usage_score") >= guess.tiers["usage"]).then(pl.lit(0)).otherwise(pl.lit(1)))["tier"])
    spread = ", ".join(f"tier{t}: {int((tiers == t).sum())}" for t in (1, 2, 3, 4))
    guess.notes.append(f"tiers: fit >= {_nice(guess.tiers['fit'])}, usage >= {_nice(guess.tiers['usage'])} "
                       f"(where your users split in half); first score: {spread}.")


def guess_config(ws: Workspace, header: list[str]) -> tuple[str, list[str]]:
    """The starter config text for the data in ``ws`` and the notes on what was guessed."""
    guess = Guess()
    guess_usage(ws, guess)
    guess_fit(ws, guess)
    guess_traits(ws, guess)
    calibrate_tiers(ws, guess, header)
    return render(guess, header), guess.notes
