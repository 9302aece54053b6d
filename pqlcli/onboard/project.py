"""``init``: a starter config (plain, or guessed from your exports) and a workspace, never overwriting."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pqlcli.errors import UsageError
from pqlcli.onboard.detect import DetectedFile, detect_exports
from pqlcli.util.atomic import write_text
from pqlcli.workspace import Workspace

CONFIG_NAME = "pql.yaml"
SCHEMA_NAME = "pql.schema.json"
INGEST_ORDER = {"accounts": 0, "users": 1, "events": 2, "firmographics": 3}


@dataclass
class InitResult:
    """What ``init`` wrote (or, with ``dry_run``, would run), and the next commands to type."""

    config: Path
    workspace: Path
    written: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    files: list[DetectedFile] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # the ingest/enrich commands (run, or to run)
    notes: list[str] = field(default_factory=list)  # what was guessed, and how to change it
    next_steps: list[str] = field(default_factory=list)
    dry_run: bool = False


def starter_config() -> str:
    """The commented starter config shipped with pql (package data)."""
    return resources.files("pqlcli").joinpath("data/starter.yaml").read_text("utf-8")


def _refuse_existing(paths: list[Path]) -> None:
    for path in paths:
        if path.exists():
            raise UsageError(
                f"{path} already exists; pql init never overwrites a file.",
                "Pass {param} to replace it (the old file is kept beside it as a .bak), or init another folder.",
                param="force",
            )


def _write(path: Path, text: str, force: bool, result: InitResult) -> None:
    if path.exists():
        if not force:
            _refuse_existing([path])
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
        result.backups.append(backup)
    write_text(path, text)
    result.written.append(path)


def _ingest_exports(ws: Workspace | None, files: list[DetectedFile], result: InitResult) -> None:
    from pqlcli.enrich.run import enrich
    from pqlcli.ingest import ingest

    for f in sorted((f for f in files if f.kind), key=lambda f: (INGEST_ORDER[f.kind or ""], f.path.name)):
        result.commands.append(f.command())
        if ws is None:
            continue
        if f.kind == "firmographics":
            if ws.has_table("users") or ws.has_table("accounts"):
                enrich(ws, "file", {"path": str(f.path)})
        else:
            ingest(ws, f.kind or "", [str(f.path)], fmt="auto")


def init_project(folder: Path, workspace: Path | None = None, *, exports: Path | None = None,
                 dry_run: bool = False, force: bool = False) -> InitResult:
    """Create ``folder/pql.yaml`` (+ its JSON Schema) and the workspace; with ``exports``, ingest them first
    and guess the config from them. Raises UsageError when a file exists and ``force`` is off."""
    from pqlcli import config

    folder = Path(folder)
    ws_path = Path(workspace) if workspace else folder / ".pql"
    result = InitResult(folder / CONFIG_NAME, ws_path, dry_run=dry_run)
    if exports is not None:
        if not Path(exports).is_dir():
            raise UsageError(f"{exports} is not a folder of exports.", "Pass the folder that holds your export files as {param}.",
                             param="exports")
        result.files = detect_exports(Path(exports))
        if not any(f.kind in ("users", "events") for f in result.files):
            raise UsageError(f"No users or events export was recognised in {exports}.",
                             "Ingest your files one by one with `pql ingest KIND FILE --map canonical=column` instead.", param="exports")
    if not force and not dry_run:
        _refuse_existing([result.config, folder / SCHEMA_NAME])  # before anything is ingested or written
    if dry_run:
        _ingest_exports(None, result.files, result)
        return result
    folder.mkdir(parents=True, exist_ok=True)
    ws = Workspace.open(ws_path, create=True)
    ws.root.mkdir(parents=True, exist_ok=True)
    text = starter_config()
    if exports is not None:
        _ingest_exports(ws, result.files, result)
        from pqlcli.onboard.guess import guess_config

        text, result.notes = guess_config(ws, [f"pql config guessed by `pql init --from {exports}`: change what you like.",
                                                "Every key: docs/config.md. Check it with `pql config validate`."])
    config.loads(text, result.config)  # never write a config that does not validate
    _write(result.config, text, force, result)
    _write(folder / SCHEMA_NAME, config.json_schema_text(), force, result)
    result.next_steps = _next_steps(exports is not None)
    return result


def _next_steps(from_exports: bool) -> list[str]:
    if from_exports:
        return ["pql doctor", "pql score", "pql list users --limit 20"]
    return ["pql ingest users users.csv", "pql ingest events events.jsonl", "pql score"]
