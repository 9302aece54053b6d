"""`pql notify`: send newly qualified leads to a webhook (Slack or JSON), each exactly once."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated

import typer

from pqlcli.cli import common


class NotifyLevel(StrEnum):
    user = "user"
    account = "account"


class Template(StrEnum):
    slack = "slack"
    json = "json"


class GroupBy(StrEnum):
    owner = "owner"


def notify_command(
    webhook: Annotated[
        str | None,
        typer.Option("--webhook", metavar="URL", show_default=False,
                     help="Webhook URL (else $PQL_WEBHOOK_URL); a secret, never printed."),
    ] = None,
    definition: Annotated[
        list[str] | None,
        typer.Option("--definition", "-d", metavar="NAME", help="PQL definition to send (repeat; default: every one of the level)."),
    ] = None,
    level: Annotated[NotifyLevel, typer.Option("--level", help="user (PQLs) or account (PQAs and account PQLs).")] = NotifyLevel.user,
    template: Annotated[Template, typer.Option("--template", help="slack (incoming-webhook message) or json (stable schema).")] = Template.json,
    group_by: Annotated[GroupBy | None, typer.Option("--group-by", help="owner: one message per CRM owner.")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, metavar="N", help="At most N records per request (Slack: 49).")] = 50,
    max_records: Annotated[
        int | None, typer.Option("--max", min=0, metavar="N", help="Send at most N records this run; the rest wait for the next.")
    ] = None,
    renotify_after: Annotated[
        str | None,
        typer.Option("--renotify-after", metavar="DURATION", help="Re-send a lead that left and re-entered after this span, e.g. 30d (default: never)."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", help="Seconds to wait for each answer.")] = 10.0,
    retries: Annotated[int, typer.Option("--retries", min=0, metavar="N", help="Retries per batch on 429, 5xx and timeouts.")] = 4,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the payloads (JSON Lines) instead of sending them.")] = False,
) -> None:
    """Send newly qualified leads of the latest snapshot to a webhook, each exactly once."""
    import json

    from pqlcli import render
    from pqlcli.delivery import notify

    url = webhook or os.environ.get("PQL_WEBHOOK_URL") or None
    if url:
        notify.register_webhook(url)
    opts = notify.NotifyOptions(
        level=f"{level.value}s",
        definitions=definition or None,
        template=template.value,
        group_by_owner=group_by is not None,
        batch_size=batch,
        max_records=max_records,
        renotify_after=span_option(renotify_after, "--renotify-after"),
        timeout=timeout,
        retries=retries,
    )
    ws = common.workspace()
    snap = ws.snapshot("latest")
    if not dry_run and not url:
        from pqlcli.errors import UsageError

        raise UsageError("pql notify needs a webhook URL.", "Pass --webhook URL or set PQL_WEBHOOK_URL (or use --dry-run).")
    result = notify.notify(ws.root, snap, url, opts, dry_run=dry_run)
    if dry_run:
        for batch_ in result.payloads:
            typer.echo(json.dumps(batch_["body"], ensure_ascii=False))
        count = sum(len(b["ids"]) for b in result.payloads)
        render.note(f"Dry run: {len(result.payloads)} payloads, {count} records (nothing sent, nothing recorded).")
    else:
        _summary(result)
    if result.held_back:
        render.note(f"{result.held_back} more records are pending (--max {max_records}); the next run sends them.")


def span_option(text: str | None, flag: str):  # -> timedelta | None
    """A duration option (``30d``, ``2w``, ``12h``) as a timedelta, or a usage error naming ``flag``."""
    if text is None:
        return None
    from pqlcli.errors import UsageError
    from pqlcli.util.durations import DurationError, parse_duration

    try:
        return parse_duration(text, integer=True, allow_zero=False)
    except DurationError as exc:
        raise UsageError(f"{flag}: {exc}.", f"Example: {flag} 30d.")


def _summary(result) -> None:
    from pqlcli import render

    if not result.sent_records:
        render.note(f"Nothing new to send from snapshot {result.snapshot}.")
        return
    parts = ", ".join(f"{k}: {v}" for k, v in result.per_definition.items())
    again = f" ({result.resent_in_flight} re-sent from an interrupted run, same key)" if result.resent_in_flight else ""
    render.info(f"Sent {result.sent_records} records in {result.sent_batches} batches ({parts}){again}.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("notify")(notify_command)
