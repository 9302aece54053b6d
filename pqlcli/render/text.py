"""The small formatters every renderer shares, so every format prints the same numbers and titles."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pqlcli.leads.tiers import Movement, TierInfo, TiersReport

LEVEL_TITLES = {"users": "Users", "accounts": "Accounts"}
BREAKDOWN_TITLES = {"owner": "owner", "plan": "plan", "industry": "industry", "country": "country"}
MOVE_FROM = {"new": "(new)"}
MOVE_TO = {"gone": "(gone)"}


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return str(value)


def lift(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def cell(value: Any) -> str:
    """A table cell as text: booleans as ✓, whole floats without decimals, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, float):
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def short_tier(key: str, meta: dict[str, TierInfo] | None = None) -> str:
    """A tier's short title: the head of its (custom) label, e.g. ``Tier 1`` or ``Hot``."""
    if meta and key in meta:
        return meta[key].short
    return key.replace("tier", "Tier ") if key.startswith("tier") else key


def move_from(key: str, meta: dict[str, TierInfo] | None = None) -> str:
    return MOVE_FROM.get(key, short_tier(key, meta))


def move_to(key: str, meta: dict[str, TierInfo] | None = None) -> str:
    return MOVE_TO.get(key, short_tier(key, meta))


def movement_lines(move: Movement, meta: dict[str, TierInfo]) -> list[str]:
    """What to say before the tier moves: whether the two snapshots used the same config, and the count."""
    lines = []
    if move.config_changes:
        shown = move.config_changes[:8]
        more = f" and {len(move.config_changes) - 8} more" if len(move.config_changes) > 8 else ""
        lines.append(
            f"The two snapshots used different configs ({'; '.join(shown)}{more}): tier moves mix changes in "
            "the data with changes in the rules."
        )
    else:
        lines.append("Both snapshots used the same config: tier moves come from the data.")
    return lines


def movement_summary(move: Movement, meta: dict[str, TierInfo]) -> str:
    return f"{move.changed} changed tier; {move.entered_tier1_count} entered {short_tier('tier1', meta)}."


def qualified_title(level: str) -> str:
    return "PQAs or account PQLs" if level == "accounts" else "PQLs"


def who(row: dict[str, Any], level: str) -> str:
    """A lead's display name: its name, else its email, else its id."""
    id_key = "user_id" if level == "users" else "account_id"
    return str(row.get("name") or row.get("email") or row.get(id_key))


def funnel_text(level: str, f: Any, signed_up: str = "") -> str:
    """``Funnel: 40 → 12 PQL (30.0%) → 3 customers (...)`` from a report's funnel."""
    q = "PQA" if level == "accounts" else "PQL"
    return (
        f"Funnel: {f.signed_up}{signed_up} → {f.qualified} {q} ({pct(f.signup_to_qualified)}) → "
        f"{f.customers_from_qualified} customers ({pct(f.qualified_to_customer)} of {q}s; "
        f"non-{q}s convert at {pct(f.unqualified_to_customer)})."
    )


def header_lines(report: TiersReport) -> list[str]:
    th = report.thresholds
    lines = [f"Snapshot {report.snapshot_label} · as of {report.as_of or '—'}"]
    if th.fit is not None:
        lines.append(f"Good fit: fit score ≥ {num(th.fit)}; high usage: usage score ≥ {num(th.usage)}.")
    if report.previous_snapshot:
        lines.append(f"Movement compared with snapshot {report.previous_label or report.previous_snapshot}.")
    return lines
