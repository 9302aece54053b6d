"""`pql backtest`: replay the scoring as of a past date and compare it with what happened next."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pqlcli.cli import common, options
from pqlcli.errors import UsageError

if TYPE_CHECKING:
    from datetime import datetime, timedelta


class Level(StrEnum):
    user = "user"
    account = "account"


class Format(StrEnum):
    table = "table"
    json = "json"
    md = "md"
    html = "html"


# The library's refusals never name options; here they get the ones that help, by kind
# (a hint ending in "+" is added to the library's, the others replace it).
def duration(value: str | None, flag: str) -> timedelta | None:
    from pqlcli.util import durations

    if value is None:
        return None
    try:
        return durations.parse_duration(value, default_unit="d", allow_zero=False)
    except durations.DurationError as err:
        raise UsageError(f"{flag}: {err}.", f"Example: {flag} 90d.")


def date_option(value: str | None, flag: str) -> datetime | None:
    from pqlcli.config import resolve_as_of
    from pqlcli.errors import ConfigError

    if value is None:
        return None
    try:
        return resolve_as_of(value)
    except ConfigError:
        raise UsageError(f"{flag} {value!r} is not a date or time.", f"Use ISO-8601, e.g. {flag} 2026-08-01.")


def pick_format(fmt: Format | None, out: Path | None) -> str:
    """An explicit --format, else the --out suffix, else table on a terminal and json in a pipe."""
    if fmt is not None:
        return fmt.value
    suffix = out.suffix.lower() if out else ""
    by_suffix = {".html": "html", ".htm": "html", ".md": "md", ".json": "json"}.get(suffix)
    return by_suffix or ("table" if out is None and common.env().stdout_isatty else "json")


def emit(text: str, out: Path | None, what: str) -> None:
    from pqlcli import render
    from pqlcli.util import atomic

    if out is None:
        env = common.env()
        env.stdout.write(text)
        env.stdout.flush()
        return
    atomic.write_text(out, text)
    render.note(f"Wrote the {what} to {out}.")


def show_report(report: dict[str, Any], chosen: str, out: Path | None, what: str, view: Any) -> None:
    """A backtest or calibration report in the chosen format; ``view`` has ``print``, ``to_markdown``, ``to_html``."""
    import json

    if chosen == "table":
        if out is not None:
            raise UsageError("--format table is for the screen.", "Use --format md, json or html with --out.")
        view.print(report, common.env().console())
        return
    if chosen == "html" and out is None and common.env().stdout_isatty:
        raise UsageError("--format html writes a page, not terminal text.", f"Add --out {what}.html and open it in a browser.")
    if chosen == "json":
        text = json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    else:
        text = view.to_markdown(report) if chosen == "md" else view.to_html(report)
    emit(text, out, f"{what} ({chosen})")


def render_report(report: dict[str, Any], chosen: str, out: Path | None) -> None:
    from types import SimpleNamespace

    from pqlcli.render import backtest as view
    from pqlcli.render import backtest_html

    show_report(report, chosen, out, "backtest", SimpleNamespace(print=view.print_backtest, to_markdown=view.to_markdown, to_html=backtest_html.to_html))


def backtest(
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="DATE", help="Replay as of this past date (UTC); with --label, default the config's.")] = None,
    horizon: Annotated[str, typer.Option("--horizon", metavar="SPAN", help="Count conversions in [as_of, as_of + SPAN), e.g. 90d.")] = "90d",
    config: options.ConfigPath = None,
    level: Annotated[Level, typer.Option("--level", help="Evaluate users or accounts.")] = Level.user,
    fmt: Annotated[Format | None, typer.Option(*options.FORMAT_FLAGS, help="table (default on a terminal), json (default when piped), md, html.")] = None,
    out: options.OutFile = None,
    every: Annotated[str | None, typer.Option("--every", metavar="SPAN", help="Rolling backtest: one replay every SPAN from --from to --to.")] = None,
    start: Annotated[str | None, typer.Option("--from", metavar="DATE", help="First as-of date of a rolling backtest.")] = None,
    end: Annotated[str | None, typer.Option("--to", metavar="DATE", help="Last as-of date of a rolling backtest (inclusive).")] = None,
    label: Annotated[str | None, typer.Option("--label", metavar="COLUMN", help="Static evaluation against a 0/1 or boolean column instead of converted_at.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail when a rule or PQL uses a column known only after conversion.")] = False,
    min_conversions: Annotated[int, typer.Option("--min-conversions", metavar="N", min=1, help="Refuse with fewer conversions than this.")] = 20,
) -> None:
    """Replay the scoring as of a past date: do Tier 1 and PQLs convert more? (lift, recall, AUC)."""
    from pqlcli import config as config_mod
    from pqlcli import export
    from pqlcli.scoring import backtest as bt

    if out is not None:
        export.check_out_path(out, "--out")
    chosen = pick_format(fmt, out)
    loaded = config_mod.load(config)
    span = duration(horizon, "--horizon")
    step = duration(every, "--every")
    first, last = date_option(start, "--from"), date_option(end, "--to")
    when = date_option(as_of, "--as-of")
    rolling = step is not None or first is not None or last is not None
    if rolling and (step is None or first is None or last is None):
        raise UsageError("A rolling backtest needs all three of --every, --from and --to.", "Example: --every 30d --from 2026-06-01 --to 2026-09-01.")
    if rolling and when is not None:
        raise UsageError("--as-of and --from/--to are two ways to say when.", "Give one as-of date, or a range with --every.")
    if when is None and not rolling:
        if not label:
            raise UsageError("pql backtest needs a past date to replay from.", "Add --as-of DATE (e.g. --as-of 2026-08-01), or --every/--from/--to.")
        when = loaded.as_of()
    assert span is not None
    spec = bt.BacktestSpec(when or first, span, level.value, label, min_conversions, strict)  # type: ignore[arg-type]
    inputs = bt_inputs()
    if rolling:
        report = bt.run_rolling(loaded, inputs, spec, first, last, step)  # type: ignore[arg-type]
    else:
        report = bt.run_backtest(loaded, inputs, spec)
    warn_all(report["warnings"])
    render_report(report, chosen, out)


def bt_inputs() -> Any:
    """The workspace's tables as the scoring API's inputs."""
    from pqlcli.scoring import Inputs

    ws = common.workspace()
    return Inputs.from_workspace(ws)


def warn_all(warnings: list[str]) -> None:
    from pqlcli import render
    from pqlcli.cli.flags import notice

    for w in warnings:
        render.warn(notice(w))


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
