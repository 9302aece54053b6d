"""`pql examples generate`: deterministic synthetic exports (users, accounts, events) for benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

examples_app = typer.Typer(help="Example data: generate big synthetic exports.", no_args_is_help=True)


@examples_app.command("generate")
def generate(
    users: Annotated[int, typer.Option("--users", "-n", help="Number of users (accounts ~ users/8, events ~ 50 per user).", min=1)] = 10_000,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write users.csv, accounts.csv, events.csv.")] = Path("synthetic"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same bytes.")] = 42,
    events_per_user: Annotated[int, typer.Option("--events-per-user", help="Average events per user.", min=0)] = 50,
) -> None:
    """Write deterministic synthetic users, accounts and events CSVs (chunked: 1M users fit in memory)."""
    from pqlcli import render
    from pqlcli.examples_gen import generate as run

    result = run(out, users=users, seed=seed, events_per_user=events_per_user)
    render.info(
        f"Wrote {result.users:,} users, {result.accounts:,} accounts, {result.events:,} events to {result.folder}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(examples_app, name="examples")
