"""`pql ingest`: read exports (CSV, Parquet, JSON lines, Excel; exporter presets) into the workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pqlcli.cli import common

if TYPE_CHECKING:
    from datetime import timedelta

    from pqlcli.ingest import IngestResult

FORMAT_HELP = (
    "auto (detect), csv, parquet, jsonl, xlsx, or an exporter preset: segment, mixpanel, amplitude, hubspot, salesforce."
)


def _window(text: str | None) -> timedelta | None:
    from pqlcli.errors import UsageError
    from pqlcli.util.durations import DurationError, parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text, default_unit="s", allow_zero=False)
    except DurationError as exc:
        raise UsageError(f"--dedupe-window {exc}.", "Use a number of seconds, minutes or hours, e.g. 2s, 1m or 1h.")


def _rate(value: float) -> float | None:
    from pqlcli.errors import UsageError

    if not 0 <= value <= 1:
        raise UsageError(f"--max-reject-rate {value} is not between 0 and 1.", "Use e.g. 0.5 (the default), or 1 to never fail.")
    return None if value >= 1 else value


def ingest(
    kind: Annotated[str, typer.Argument(help="Table to load: users, accounts or events.", metavar="KIND")],
    paths: Annotated[list[str], typer.Argument(help="Files or globs (.csv, .parquet, .jsonl, .xlsx, .zip, each maybe .gz); - for stdin.", metavar="PATH...")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "auto",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help="canonical=source column, repeatable, e.g. --map user_id=uid."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="Zone of timestamps written without an offset (and of old Mixpanel epochs)."),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option("--date-format", help="strftime of text dates, e.g. %d/%m/%Y (default: detected; ambiguous is an error)."),
    ] = None,
    max_reject_rate: Annotated[
        float, typer.Option("--max-reject-rate", help="Fail (exit 1, nothing written) when more than this share of rows is rejected; 1 never fails."),
    ] = 0.5,
    force: Annotated[bool, typer.Option("--force", help="Ingest a file that looks like another table's export.")] = False,
    source: Annotated[
        str | None, typer.Option("--source", help="Name of the system the rows come from (default: the preset, e.g. hubspot)."),
    ] = None,
    dedupe_window: Annotated[
        str | None,
        typer.Option("--dedupe-window", help="Events of the same person and name from another source within this time (e.g. 2s) count once. Off by default."),
    ] = None,
    prefer: Annotated[
        list[str] | None,
        typer.Option("--prefer", help="Trait precedence, repeatable: COLUMN=crm|product|source,source (default owner=crm, plan=product)."),
    ] = None,
) -> None:
    """Read exports into the workspace's users, accounts or events table (re-ingesting adds nothing)."""
    from pqlcli import render
    from pqlcli.errors import DataError
    from pqlcli.ingest import IngestOptions
    from pqlcli.ingest import ingest as run_ingest
    from pqlcli.ingest.identity import parse_precedence
    from pqlcli.ingest.strict import RejectRateError, WrongTableError

    options = IngestOptions(date_format=date_format, max_reject_rate=_rate(max_reject_rate), force=force,
                            source=source, dedupe_window=_window(dedupe_window),
                            precedence=parse_precedence(common.parse_kv(prefer, "--prefer")))
    ws = common.workspace(create=True)
    try:
        with render.progress(f"Ingesting {kind}", unit="files") as handle:
            result = run_ingest(ws, kind, paths, fmt=fmt, mapping=common.parse_kv(mapping, "--map"),
                                timezone=timezone, progress=handle, options=options)
    except WrongTableError as err:
        raise DataError(err.message, f"{err.hint} (--force)") from err
    except RejectRateError as err:
        raise DataError(err.message, f"{err.hint} (--max-reject-rate, e.g. 0.9)") from err
    _summary(kind, result)


def _summary(kind: str, result: IngestResult) -> None:
    from pqlcli import render

    rows: list[list[object]] = [
        ["read", result.read],
        ["added", result.added],
        ["updated", result.updated],
        ["duplicates", result.duplicates],
        ["rejected", result.rejected],
    ]
    rows += [[f"skipped: {reason}", n] for reason, n in result.skipped.items()]
    rows += [[f"{column} set to NULL (unparseable)", n] for column, n in result.nulled.items()]
    if result.links:
        rows.append(["identity links added", result.links])
    if result.users_merged or result.accounts_merged:
        rows += [["user records merged into another person", result.users_merged],
                 ["account records merged into another account", result.accounts_merged]]
    if result.anonymous_linked:
        rows.append(["anonymous ids linked to a person", result.anonymous_linked])
    if result.parts_rekeyed:
        rows.append(["event parts re-keyed", result.parts_rekeyed])
    rows.append([f"{kind} now", result.total_rows])
    render.table(f"pql ingest {kind} ({', '.join(result.formats)})", ["rows", "count"], rows)
    if result.out_of_order:
        render.note("These events are not in time order, so every score reads all of them: `pql optimize` "
                    "rewrites them in time order and scores get faster (docs/performance.md).")
    if result.rejects_path:
        first = "; ".join(result.first_rejects[:3])
        what = f"{result.rejected} row(s) could not be used" if result.rejected else "some values were set to NULL"
        render.warn(f"{what}; see {result.rejects_path} (row number and reason)." + (f" First: {first}." if first else ""))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
