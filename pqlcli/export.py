"""Writers for machine-readable lead lists: CSV, JSON, JSON Lines, Parquet — to a file (atomically) or stdout.

CSV output is guarded against spreadsheet formula injection by default (see ``report.csv_safe``).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pqlcli.errors import UsageError
from pqlcli.util import atomic

if TYPE_CHECKING:
    import polars as pl

DATA_FORMATS = ("csv", "json", "jsonl", "parquet")
EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def format_from_path(path: str | os.PathLike[str]) -> str | None:
    return EXTENSIONS.get(Path(path).suffix.lower())


def check_out_path(out: str | os.PathLike[str], flag: str = "--out") -> Path:
    """A writable target: its folder must exist and it must not be a folder itself."""
    path = Path(out)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder.", "Give a file name, e.g. --out leads.csv.")
    if not parent.is_dir():
        raise UsageError(
            f"{flag} {path}: the folder {parent} does not exist.",
            f"Create it first (mkdir -p {parent}) or write somewhere else.",
        )
    return path


def to_bytes(frame: pl.DataFrame, fmt: str, *, csv_safe: bool = True) -> bytes:
    """Serialise ``frame`` in ``fmt`` (csv, json, jsonl or parquet)."""
    from pqlcli.report import csv_safe as guard
    from pqlcli.report import flatten_for_text

    if fmt == "csv":
        text_frame = flatten_for_text(frame)
        if csv_safe:
            text_frame = guard(text_frame)
        return text_frame.write_csv().encode("utf-8")
    if fmt == "json":
        buf = io.StringIO()
        frame.write_json(buf)
        text = buf.getvalue()
        return (text if text.endswith("\n") else text + "\n").encode("utf-8")
    if fmt == "jsonl":
        buf = io.StringIO()
        frame.write_ndjson(buf)
        return buf.getvalue().encode("utf-8")
    if fmt == "parquet":
        raw = io.BytesIO()
        frame.write_parquet(raw)
        return raw.getvalue()
    raise UsageError(f"Unknown format {fmt!r}.", f"Use one of: table, {', '.join(DATA_FORMATS)}.")


def write(frame: pl.DataFrame, fmt: str, out: str | os.PathLike[str] | None, *, csv_safe: bool = True) -> None:
    """Write to ``out`` atomically, or to stdout when ``out`` is None or ``-``."""
    data = to_bytes(frame, fmt, csv_safe=csv_safe)
    if out is None or str(out) == "-":
        if fmt == "parquet" and sys.stdout.isatty():
            raise UsageError("Parquet is binary and stdout is a terminal.", "Add --out leads.parquet, or pipe it.")
        sys.stdout.flush()
        stream: Any = getattr(sys.stdout, "buffer", None) or _TextBridge()
        stream.write(data)
        stream.flush()
        return
    atomic.write_bytes(check_out_path(out), data)


class _TextBridge(io.RawIOBase):
    """Stdout replaced by a text-only stream (pytest capture): write decoded text."""

    def write(self, data):  # type: ignore[override]
        sys.stdout.write(bytes(data).decode("utf-8", errors="replace"))
        return len(data)

    def flush(self) -> None:
        sys.stdout.flush()
