"""Entry point of the ``pql`` command: global options, command registration, error rendering."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pqlcli import __version__
from pqlcli.cli import common, flags
from pqlcli.errors import ExitCode, PqlError

if TYPE_CHECKING:
    from pqlcli.render.console import Environment

app = typer.Typer(
    name="pql",
    help="Find product-qualified leads: ingest exports, enrich companies, score fit and usage, list leads.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # pql --install-completion (bash, zsh, fish, PowerShell)
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pql {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help=common.WORKSPACE_HELP, envvar="PQL_WORKSPACE")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks (also PQL_DEBUG=1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes, summaries or progress on stderr (warnings and errors still).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """pql: product-qualified leads from the exports you already have."""
    run = common.session()
    run.workspace = workspace
    run.debug = debug or run.debug
    run.env.quiet = quiet or run.env.quiet


def _register_commands() -> None:
    from pqlcli.cli import (
        backtest_cmd,
        calibrate_cmd,
        config_cmd,
        diff_cmd,
        doctor_cmd,
        enrich_cmd,
        examples_cmd,
        explain_cmd,
        export_cmd,
        ingest_cmd,
        init_cmd,
        list_cmd,
        notify_cmd,
        optimize_cmd,
        provider_cmd,
        score_cmd,
        sql_cmd,
        status_cmd,
        tiers_cmd,
    )

    for module in (
        init_cmd,
        ingest_cmd,
        status_cmd,
        doctor_cmd,
        optimize_cmd,
        enrich_cmd,
        provider_cmd,
        score_cmd,
        explain_cmd,
        config_cmd,
        list_cmd,
        tiers_cmd,
        sql_cmd,
        backtest_cmd,
        calibrate_cmd,
        examples_cmd,
        diff_cmd,
        notify_cmd,
        export_cmd,
    ):
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run ``pql`` with ``argv`` and return the exit status (never raises for user errors).

    ``env`` (stdout, stderr, terminal or not, colour) defaults to the real ones; tests pass their own.
    """
    from pqlcli import render

    args = list(sys.argv[1:] if argv is None else argv)
    # --debug works anywhere on the line (`pql score --debug` as well as `pql --debug score`)
    debug = "--debug" in args or render.debug_enabled()
    if "--" not in args:
        args = [a for a in args if a != "--debug"]
    with common.begin(env, debug=debug) as run:
        return _run(args, run)


def _run(args: list[str], run: common.Session) -> int:
    from pqlcli import render
    from pqlcli.workspace import lock

    lock.waiting_note = render.note  # "waiting for another pql command writing to the workspace"
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="pql", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if code == ExitCode.INTERRUPTED:  # typer turns Ctrl-C inside a command into a silent Exit(130)
            render.info("[yellow]Interrupted.[/] Nothing already stored was lost.")
        return code if isinstance(code, int) else 1
    except PqlError as err:
        render.error(flags.in_cli_terms(err), debug=run.debug)
        return int(err.exit_code)
    except KeyboardInterrupt:
        render.info("[yellow]Interrupted.[/] Nothing already stored was lost.")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    except Exception as exc:
        if run.debug:
            import traceback

            from pqlcli.util.secrets import redact

            run.env.stderr.write(redact(traceback.format_exc()))
        render.unexpected(exc)
        return int(ExitCode.INTERNAL)
    return 0


def _quiet_broken_pipe() -> None:
    # The reader went away (`pql list ... | head`): stop writing, exit quietly.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run() -> None:
    sys.exit(main())
