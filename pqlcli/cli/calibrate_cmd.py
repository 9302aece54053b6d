"""`pql calibrate`: suggest tier thresholds and rule points from a leakage-free replay (never edits your config)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pqlcli.cli import options
from pqlcli.cli.backtest_cmd import (
    Format,
    Level,
    bt_inputs,
    date_option,
    duration,
    pick_format,
    show_report,
    warn_all,
)
from pqlcli.errors import UsageError


def render(report: dict[str, Any], chosen: str, out: Path | None) -> None:
    from types import SimpleNamespace

    from pqlcli.render import calibrate as view

    show_report(report, chosen, out, "calibration", SimpleNamespace(print=view.print_calibration, to_markdown=view.to_markdown, to_html=view.to_html))


def calibrate(
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="DATE", help="Replay as of this past date (UTC); with --label, default the config's.")] = None,
    horizon: Annotated[str, typer.Option("--horizon", metavar="SPAN", help="Count conversions in [as_of, as_of + SPAN), e.g. 90d.")] = "90d",
    config: options.ConfigPath = None,
    level: Annotated[Level, typer.Option("--level", help="Calibrate on users or accounts.")] = Level.user,
    label: Annotated[str | None, typer.Option("--label", metavar="COLUMN", help="Use a 0/1 or boolean column as the outcome instead of converted_at.")] = None,
    capacity: Annotated[int | None, typer.Option("--capacity", metavar="N", min=1, help="Tier 1 records the team can work per horizon (default: today's Tier 1 size).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/held-out split.")] = 0,
    write: Annotated[Path | None, typer.Option("--write", metavar="FILE", help="Write the suggested config here (never over your config).")] = None,
    fmt: Annotated[Format | None, typer.Option(*options.FORMAT_FLAGS, help="table (default on a terminal), json (default when piped), md, html.")] = None,
    out: options.OutFile = None,
    min_conversions: Annotated[int, typer.Option("--min-conversions", metavar="N", min=1, help="Refuse with fewer conversions than this.")] = 20,
) -> None:
    """Suggest tier thresholds and rule points that predict conversion better (train vs held-out AUC)."""
    from pqlcli import config as config_mod
    from pqlcli import export
    from pqlcli import render as say
    from pqlcli.scoring import backtest as bt
    from pqlcli.scoring import calibrate as cal

    if out is not None:
        export.check_out_path(out, "--out")
    chosen = pick_format(fmt, out)
    loaded = config_mod.load(config)
    when = date_option(as_of, "--as-of")
    if when is None:
        if not label:
            raise UsageError("pql calibrate needs a past date to replay from.", "Add --as-of DATE, e.g. --as-of 2026-08-01.")
        when = loaded.as_of()
    span = duration(horizon, "--horizon")
    assert span is not None
    spec = cal.CalibrateSpec(bt.BacktestSpec(when, span, level.value, label, min_conversions), capacity=capacity, seed=seed)
    report, text = cal.calibrate(loaded, bt_inputs(), spec)
    if write is not None:
        cal.write_suggestion(write, text, loaded.path)
    warn_all(report["warnings"])
    render(report, chosen, out)
    if write is not None:
        say.note(f"Wrote the suggested config to {write} (check it with: pql config validate --config {write}).")


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
