"""What an export file holds (users, accounts, events or firmographics) and which exporter wrote it.

No second detector: a file is opened with the ingest readers, the exporter comes from
:func:`pqlcli.ingest.presets.detect_preset`, and a table kind fits when the ingest column resolution
finds every required column — exactly what ``pql ingest KIND FILE`` would do.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pqlcli.errors import PqlError
from pqlcli.ingest.mapping import resolve_columns
from pqlcli.ingest.presets import detect_preset, preset_for
from pqlcli.ingest.readers import Source, open_source

EXPORT_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet", ".pq", ".zip", ".gz")
FIRMOGRAPHIC_HINTS = ("employees", "raised", "annual_revenue", "industry", "country")


@dataclass(frozen=True)
class DetectedFile:
    """One export: its table ``kind`` (None: not recognised), exporter ``preset`` and why."""

    path: Path
    kind: str | None
    preset: str
    reason: str

    def command(self) -> str:
        """The ``pql`` command that ingests (or enriches from) this file."""
        if self.kind == "firmographics":
            return f"pql enrich --provider file --option path={_quote(self.path)}"
        fmt = "" if self.preset == "generic" else f" --format {self.preset}"
        return f"pql ingest {self.kind} {_quote(self.path)}{fmt}"


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def _fits(source: Source, kind: str) -> tuple[str, dict[str, object]] | None:
    preset = detect_preset(source.columns, kind, source.container) or "generic"
    try:
        return preset, dict(resolve_columns(source, kind, preset_for(preset, kind), {}))
    except PqlError:
        return None


def classify(source: Source) -> tuple[str | None, str, str]:
    """(kind, preset, reason) for one opened source: events, then users with an email, accounts with a
    domain, then any users or accounts shape, then firmographics (a domain plus company columns)."""
    fits = {kind: _fits(source, kind) for kind in ("events", "users", "accounts")}
    events, users, accounts = fits["events"], fits["users"], fits["accounts"]
    if events:
        return "events", events[0], "has a user id, an event name and a timestamp"
    if users and "email" in users[1]:
        return "users", users[0], "has a user id and an email"
    if accounts and "domain" in accounts[1]:
        return "accounts", accounts[0], "has an account id and a company domain"
    if users:
        return "users", users[0], "has a user id"
    if accounts:
        return "accounts", accounts[0], "has an account id"
    cols = {c.lower() for c in source.columns}
    if "domain" in cols and cols & set(FIRMOGRAPHIC_HINTS):
        return "firmographics", "file", "has a domain and company columns (employees, country...)"
    return None, "generic", "no user id, event name + timestamp, account id or domain column was recognised"


def detect_file(path: Path) -> DetectedFile:
    """Open ``path`` with the ingest readers and classify it (a read error is a reason, not a crash)."""
    tmp = Path(tempfile.mkdtemp(prefix="pql-detect-"))
    try:
        sources = open_source(str(path), path, tmp)
        kind, preset, reason = classify(sources[0])
    except PqlError as err:
        kind, preset, reason = None, "generic", f"could not be read ({err.message})"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return DetectedFile(path, kind, preset, reason)


def detect_exports(folder: Path) -> list[DetectedFile]:
    """Every export file directly in ``folder`` (sorted by name), classified."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(EXPORT_SUFFIXES))
    return [detect_file(p) for p in files]
