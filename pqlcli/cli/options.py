"""The options several commands share, declared once (a command with a different meaning opts out).

    def report(out: options.OutFile = None, snapshot: options.SnapshotRef = None): ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CONFIG_HELP = "The scoring config (YAML; default $PQL_CONFIG, else ./pql.yaml, else ./config/pql.yaml)."
SNAPSHOT_HELP = "Snapshot folder name or path (default: the latest)."
OUT_HELP = "Write to this file (atomically) instead of stdout."

ConfigPath = Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)]
SnapshotRef = Annotated[str | None, typer.Option("--snapshot", metavar="NAME", help=SNAPSHOT_HELP)]
OutFile = Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help=OUT_HELP)]
# A command with its own --format choices: Annotated[MyFormat | None, typer.Option(*FORMAT_FLAGS, help=...)]
FORMAT_FLAGS = ("--format", "-f")
SummaryFormat = Annotated[str, typer.Option(*FORMAT_FLAGS, help="table or json.")]

