"""``pql notify``: send newly qualified leads to a webhook (Slack or JSON), each exactly once.

The run, under the workspace's delivery lock:

1. re-send the batch left in flight by an earlier run (same body, same ``Idempotency-Key``), if any;
2. select the records of the latest snapshot that meet a chosen PQL definition and were never delivered
   for it (or left it and re-entered after the re-notify span);
3. for each batch (≤ ``batch_size`` records, one owner per batch when grouped): record it in flight in
   the journal (atomically), POST it, and mark it delivered only after a 2xx.

429 (honouring ``Retry-After``), 5xx, timeouts and connection errors are retried with backoff; a batch
that still fails stops the run with :class:`DeliveryFailed` (exit 3), its records kept for the next run.
The webhook URL is a secret: it is registered with :mod:`pqlcli.util.secrets`, so it is redacted from every
message, and it is never stored.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pqlcli.delivery.state import Journal, run_lock, scope_key
from pqlcli.errors import ExitCode, PqlError, UsageError
from pqlcli.util.secrets import redact, register_secret

if TYPE_CHECKING:
    import httpx
    import polars as pl

    from pqlcli.workspace import Snapshot

ID_COLUMN = {"users": "user_id", "accounts": "account_id"}
TEMPLATES = ("slack", "json")
BACKOFF = 1.0  # seconds before the first retry; doubles each time
SLACK_MAX_RECORDS = 49  # Slack allows 50 blocks per message: one header + one section per lead


class DeliveryFailed(PqlError):
    """The webhook did not accept a batch after retries."""

    exit_code = ExitCode.PROVIDER


@dataclass
class NotifyOptions:
    level: str = "users"
    definitions: list[str] | None = None
    template: str = "json"
    group_by_owner: bool = False
    batch_size: int = 50
    max_records: int | None = None
    renotify_after: timedelta | None = None
    timeout: float = 10.0
    retries: int = 4
    backoff: float = field(default_factory=lambda: BACKOFF)
    max_retry_after: float = 120.0


@dataclass
class NotifyResult:
    snapshot: str
    sent_batches: int = 0
    sent_records: int = 0
    resent_in_flight: int = 0
    per_definition: dict[str, int] = field(default_factory=dict)
    held_back: int = 0  # pending records left for the next run by max_records
    payloads: list[dict[str, Any]] = field(default_factory=list)  # dry run: what would be sent


class _RedactingFilter(logging.Filter):
    """httpx and httpcore log request URLs at INFO/DEBUG: redact them before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


_REDACTING = _RedactingFilter()


def register_webhook(url: str) -> None:
    """Treat ``url`` (and its normalised and path forms) as a secret everywhere pql prints or logs."""
    import httpx

    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACTING not in logger.filters:
            logger.addFilter(_REDACTING)
    register_secret(url)
    try:
        parsed = httpx.URL(url)
    except Exception:
        return
    register_secret(str(parsed))
    tail = parsed.raw_path.decode("ascii", "replace")
    if len(tail) >= 12:
        register_secret(tail)


def check_webhook(url: str | None) -> str:
    import httpx

    if not url:
        raise UsageError("No webhook URL was given.", "Pass it as an option or set PQL_WEBHOOK_URL.")
    register_webhook(url)
    try:
        parsed = httpx.URL(url)
    except Exception:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError("The webhook URL is not an http(s) URL (it is not shown: it is a secret).",
                         "Use the URL your chat tool or receiver gave you, e.g. https://hooks.slack.com/services/...")
    return url


# ---- what to send ------------------------------------------------------------------------------------
def definitions_of(snap: Snapshot, level: str) -> list[str]:
    cols = snap.scan(level).collect_schema().names()
    names = [c.removeprefix("pql__") for c in cols if c.startswith("pql__")]
    return names + (["pqa"] if "pqa" in cols else [])


def check_definitions(snap: Snapshot, level: str, wanted: list[str] | None) -> list[str]:
    known = definitions_of(snap, level)
    chosen = list(dict.fromkeys(wanted or known))
    unknown = [d for d in chosen if d not in known]
    if unknown:
        raise UsageError(
            f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not a {level[:-1]}-level PQL "
            f"definition in snapshot {snap.id}.",
            f"Definitions for {level}: {', '.join(known) or 'none'}.",
        )
    if not chosen:
        raise UsageError(f"Snapshot {snap.id} has no {level[:-1]}-level PQL definitions.",
                         "Add one under `pqls:` in the config and score again.", command="score")
    return chosen


def qualified(snap: Snapshot, level: str, definitions: list[str]) -> pl.DataFrame:
    """Records meeting any of ``definitions``, best first, with the columns the payloads need."""
    import polars as pl

    from pqlcli.leads.filters import tier_rank_expr
    from pqlcli.leads.snapshot import open_snapshot

    lazy = snap.scan(level)
    cols = lazy.collect_schema().names()
    flag = {d: ("pqa" if d == "pqa" and f"pql__{d}" not in cols else f"pql__{d}") for d in definitions}
    wanted = [ID_COLUMN[level], "email", "name", "account_name", "owner", "tier", "fit_score", "usage_score"]
    rules = [c for c in cols if c.startswith(("fit__", "usage__"))]
    frame = (
        lazy.filter(pl.any_horizontal([pl.col(c).fill_null(False) for c in flag.values()]))
        .select([pl.col(c) for c in wanted if c in cols] + [pl.col(c).fill_null(False).alias(f"_q_{d}")
                                                             for d, c in flag.items()] + [pl.col(c) for c in rules])
        .with_columns(pl.col(ID_COLUMN[level]).cast(pl.String).alias("_id"))
        .with_columns(tier_rank_expr(open_snapshot(snap).tier_names()).alias("_rank"))
        .sort(["_rank", "usage_score", "fit_score", "_id"], descending=[False, True, True, False], nulls_last=True)
        .collect()
    )
    return frame


def pending_ids(journal: Journal, frame: pl.DataFrame, level: str, definition: str,
                renotify_after: timedelta | None, now: datetime) -> list[str]:
    """Ids (best first) meeting ``definition`` that are due: never delivered, or re-entered after the span."""
    scope = scope_key(level, definition)
    now_in = frame.filter(frame[f"_q_{definition}"])["_id"].to_list()
    done = journal.delivered.get(scope, {})
    qualifying = set(now_in)
    gone = [i for i in done if i not in qualifying]
    journal.mark_left(scope, gone, now)
    left = journal.left.get(scope, {})
    flying = set(journal.in_flight["ids"]) if journal.in_flight and journal.in_flight["scope"] == scope else set()

    def due(rid: str) -> bool:
        if rid in flying:
            return False
        if rid not in done:
            return True
        # sent before: again only after leaving the definition and the re-notify span since that delivery
        return renotify_after is not None and rid in left and now - datetime.fromisoformat(done[rid]["at"]) >= renotify_after

    return [rid for rid in now_in if due(rid)]


# ---- batches and bodies ------------------------------------------------------------------------------
def plan_batches(frame: pl.DataFrame, due: dict[str, list[str]], level: str, snap: Snapshot,
                 opts: NotifyOptions) -> tuple[list[dict[str, Any]], int]:
    """Batches to send (in flight records, ready for the journal) and how many records ``max`` held back."""
    from pqlcli.leads.why import add_why

    size = min(opts.batch_size, SLACK_MAX_RECORDS) if opts.template == "slack" else opts.batch_size
    budget = opts.max_records if opts.max_records is not None else sum(len(v) for v in due.values())
    held = max(0, sum(len(v) for v in due.values()) - budget)
    wanted = [i for ids in due.values() for i in ids][: max(budget, 0)]
    rows = add_why(frame.filter(frame["_id"].is_in(wanted)))
    by_id = {r["_id"]: r for r in rows.iter_rows(named=True)}
    batches: list[dict[str, Any]] = []
    for definition, ids in due.items():
        ids = [i for i in ids if i in by_id and budget > 0][:budget]
        budget -= len(ids)
        groups: dict[str | None, list[str]] = {}
        for rid in ids:
            groups.setdefault(_owner(by_id[rid]) if opts.group_by_owner else None, []).append(rid)
        for owner, members in groups.items():
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                records = [_record(by_id[i], level, snap.id) for i in chunk]
                batches.append(make_batch(level, definition, owner, snap.id, records, opts.template,
                                          grouped=opts.group_by_owner))
    return batches, held


def _owner(row: dict[str, Any]) -> str | None:
    value = row.get("owner")
    return str(value).strip() or None if value is not None else None


def _record(row: dict[str, Any], level: str, snapshot: str) -> dict[str, Any]:
    def score(v: Any) -> float | None:
        return None if v is None else round(float(v), 1)

    return {
        "id": row["_id"],
        "email": row.get("email"),
        "name": row.get("name"),
        "account": row.get("account_name") if level == "users" else row.get("name"),
        "tier": row.get("tier"),
        "fit_score": score(row.get("fit_score")),
        "usage_score": score(row.get("usage_score")),
        "why": row.get("why") or "",
        "snapshot": snapshot,
    }


def idempotency_key(level: str, definition: str, owner: str | None, snapshot: str, ids: list[str]) -> str:
    """Stable for a batch: the same records of the same snapshot always get the same key."""
    raw = json.dumps([level, definition, owner, snapshot, sorted(ids)], separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def make_batch(level: str, definition: str, owner: str | None, snapshot: str, records: list[dict[str, Any]],
               template: str, *, grouped: bool = False) -> dict[str, Any]:
    ids = [r["id"] for r in records]
    body = {"definition": definition, "level": level[:-1], "owner": owner, "records": records}
    if template == "slack":
        body = slack_body(definition, level, owner or ("unowned" if grouped else None), records)
    return {
        "key": idempotency_key(level, definition, owner, snapshot, ids),
        "scope": scope_key(level, definition),
        "level": level,
        "definition": definition,
        "owner": owner,
        "snapshot": snapshot,
        "ids": ids,
        "body": body,
    }


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _mrkdwn(text: Any) -> str:
    """Slack mrkdwn escaping: data can never ping @channel or forge a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(definition: str, level: str, owner: str | None, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A Slack incoming-webhook payload: ``text`` (the notification line) plus one block per lead."""
    noun = "PQL" if level == "users" else "qualified account"
    plural = "s" if len(records) != 1 else ""
    title = f"{len(records)} new {noun}{plural} · {definition}" + (f" · {owner}" if owner else "")
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    for r in records:
        who = f"*{_mrkdwn(r['name'] or r['id'])}*"
        if r["email"]:
            who += f" · {_mrkdwn(r['email'])}"
        if r["account"] and level == "users":
            who += f" · {_mrkdwn(r['account'])}"
        line = f"{who}\n{_mrkdwn(r['tier'])} · fit {_n(r['fit_score'])} · usage {_n(r['usage_score'])}"
        if r["why"]:
            line += f"\n_{_mrkdwn(r['why'])}_"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}})
    return {"text": title, "blocks": blocks}


# ---- sending -----------------------------------------------------------------------------------------
@dataclass
class Attempt:
    status: int | None  # None: no answer (timeout, connection error)
    detail: str


def post(client: httpx.Client, url: str, batch: dict[str, Any], opts: NotifyOptions) -> Attempt:
    """POST one batch with retries; returns the last attempt (status 2xx on success)."""
    import httpx

    headers = {"Idempotency-Key": batch["key"], "Content-Type": "application/json"}
    data = json.dumps(batch["body"], ensure_ascii=False).encode("utf-8")
    last = Attempt(None, "not sent")
    for attempt in range(opts.retries + 1):
        wait = opts.backoff * (2**attempt)
        try:
            response = client.post(url, content=data, headers=headers)
        except httpx.TimeoutException:
            last = Attempt(None, f"no answer within {opts.timeout:g} s")
        except httpx.TransportError as exc:
            last = Attempt(None, f"network error ({type(exc).__name__})")
        else:
            last = Attempt(response.status_code, f"HTTP {response.status_code}")
            if response.is_success:
                return last
            if response.status_code == 429:
                asked = retry_after(response.headers.get("Retry-After"))
                if asked is not None and asked > opts.max_retry_after:
                    last.detail += f" (Retry-After {asked:g} s, longer than pql waits)"
                    return last
                wait = asked if asked is not None else wait
            elif response.status_code < 500:
                return last  # the receiver refused the request itself: retrying cannot help
        if attempt < opts.retries:
            time.sleep(min(wait, opts.max_retry_after))
    last.detail += f" after {opts.retries + 1} attempts"
    return last


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (a number, or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# ---- the run -----------------------------------------------------------------------------------------
def notify(root: Path, snap: Snapshot, url: str | None, opts: NotifyOptions, *, dry_run: bool = False,
           now: datetime | None = None) -> NotifyResult:
    """Deliver what is pending (see the module docstring); ``dry_run`` returns the payloads unsent."""
    definitions = check_definitions(snap, opts.level, opts.definitions)
    if opts.batch_size < 1:
        raise UsageError(f"The batch size must be at least 1, not {opts.batch_size}.")
    now = now or datetime.now(UTC)
    if dry_run:
        return _plan(root, snap, definitions, opts, now, Journal.load(root))[0]
    url = check_webhook(url)
    with run_lock(root):
        journal = Journal.load(root)
        import httpx

        with httpx.Client(timeout=opts.timeout, follow_redirects=False) as client:
            result = NotifyResult(snap.id)
            if journal.in_flight is not None:
                _deliver(client, url, journal, journal.in_flight, opts, result, now, resend=True)
            result, batches = _plan(root, snap, definitions, opts, now, journal, result)
            total = len(batches)
            for number, batch in enumerate(batches, 1):
                journal.begin(batch)
                _deliver(client, url, journal, batch, opts, result, now, number=number, total=total,
                         pending=sum(len(b["ids"]) for b in batches[number:]))
            journal.save()  # the records seen leaving a definition
        return result


def _plan(root: Path, snap: Snapshot, definitions: list[str], opts: NotifyOptions, now: datetime,
          journal: Journal, result: NotifyResult | None = None) -> tuple[NotifyResult, list[dict[str, Any]]]:
    result = result or NotifyResult(snap.id)
    frame = qualified(snap, opts.level, definitions)
    due = {d: pending_ids(journal, frame, opts.level, d, opts.renotify_after, now) for d in definitions}
    batches, result.held_back = plan_batches(frame, due, opts.level, snap, opts)
    result.payloads = ([journal.in_flight] if journal.in_flight else []) + batches
    return result, batches


def _deliver(client: httpx.Client, url: str, journal: Journal, batch: dict[str, Any], opts: NotifyOptions,
             result: NotifyResult, now: datetime, *, resend: bool = False, number: int = 1, total: int = 1, pending: int = 0) -> None:
    attempt = post(client, url, batch, opts)
    if attempt.status is not None and 200 <= attempt.status < 300:
        journal.complete(batch, now)
        result.sent_batches += 1
        result.sent_records += len(batch["ids"])
        result.resent_in_flight += len(batch["ids"]) if resend else 0
        result.per_definition[batch["definition"]] = result.per_definition.get(batch["definition"], 0) + len(batch["ids"])
        return
    which = "the batch left in flight by an earlier run" if resend else f"batch {number} of {total}"
    raise DeliveryFailed(redact(
        f"The webhook did not accept {which} ({len(batch['ids'])} {batch['definition']} records): "
        f"{attempt.detail}. Delivered in this run: {result.sent_records} records in {result.sent_batches} "
        f"batches; not delivered: {len(batch['ids'])} records kept in flight (idempotency key "
        f"{batch['key']}) and {pending} more pending."),
        "Notify again later: it re-sends the failed batch with the same key, then the rest.",
        command="notify",
    )
