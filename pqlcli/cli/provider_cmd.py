"""`pql provider serve`: run the Clearbit-compatible stub server in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

provider_app = typer.Typer(help="Provider tools: the Clearbit-compatible stub server.", no_args_is_help=True)


@provider_app.command("serve")
def serve(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Firmographics CSV/Parquet/JSONL (default: the demo companies shipped with pql, or PQL_STUB_DATA)."),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0 = any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    fail_rate: Annotated[
        float, typer.Option("--fail-rate", help="Share of requests answered 503 (fault injection).", min=0, max=1)
    ] = 0.0,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", help="Requests per second before answering 429 (0 = off).", min=0)
    ] = 0.0,
    rate_window: Annotated[
        float, typer.Option("--rate-window", help="Seconds over which --rate-limit is counted (60 = per minute).", min=0.001)
    ] = 1.0,
    latency: Annotated[float, typer.Option("--latency", help="Milliseconds added to every answer.", min=0)] = 0.0,
    api_key: Annotated[
        str | None, typer.Option("--require-key", help="Answer 401 unless this Bearer token is sent.")
    ] = None,
) -> None:
    """Serve /v2/companies/find in the Clearbit JSON shape from a local firmographics file, until Ctrl-C."""
    from pqlcli import render
    from pqlcli.providers.builtin.stub_server import StubServer
    from pqlcli.util import secrets

    secrets.register_secret(api_key)
    try:
        server = StubServer(
            data, host=host, port=port, fail_rate=fail_rate, rate_limit=rate_limit, rate_window=rate_window,
            latency=latency, api_key=api_key,
        )
    except OSError as exc:
        from pqlcli.errors import UsageError

        raise UsageError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.", "Pick another --port (0 = any free port).")
    render.info(
        f"Stub provider serving {len(server.companies)} companies at [bold]{server.url}[/] — "
        f"use it with `PQL_CLEARBIT_URL={server.url} CLEARBIT_API_KEY=any pql enrich --provider clearbit`. "
        "Ctrl-C to stop."
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        render.note(f"Stopped after {server.requests} requests.")
    finally:
        server.stop()


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(provider_app, name="provider")
