"""Writers for machine-readable lead lists: CSV, JSON, JSON Lines, Parquet — to a file (atomically) or a stream.

CSV output is guarded against spreadsheet formula injection by default (:func:`csv_safe`). This module knows
nothing of leads or of the terminal: it writes any DataFrame.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pqlcli.errors import UsageError
from pqlcli.util import atomic

if TYPE_CHECKING:
    import polars as pl

DATA_FORMATS = ("csv", "json", "jsonl", "parquet")
EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# Formats people try that pql does not write, with what to use instead.
UNSUPPORTED = {
    ".xlsx": "Excel",
    ".xls": "Excel",
    ".xlsm": "Excel",
    ".ods": "OpenDocument spreadsheet",
    ".numbers": "Numbers",
}


def format_from_path(path: str | os.PathLike[str]) -> str | None:
    return EXTENSIONS.get(Path(path).suffix.lower())


def check_out_path(out: str | os.PathLike[str], flag: str = "out") -> Path:
    """A writable target: its folder must exist, it must not be a folder, and pql must write its format."""
    path = Path(out)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder.", "Give a file name, e.g. leads.csv.")
    if not parent.is_dir():
        raise UsageError(
            f"{flag} {path}: the folder {parent} does not exist.",
            f"Create it first (mkdir -p {parent}) or write somewhere else.",
        )
    kind = UNSUPPORTED.get(path.suffix.lower())
    if kind is not None:
        raise UsageError(
            f"{flag} {path}: pql does not write {kind} files ({path.suffix}).",
            f"Write {path.with_suffix('.csv').name} instead (spreadsheets open it, formula-safe), "
            "or .json, .jsonl or .parquet.",
        )
    return path


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Neutralise spreadsheet formulas: text cells starting with = + - @ tab or CR get a leading quote."""
    import polars as pl

    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(r"^[=+\-@\t\r]")).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def flatten_for_text(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV-ready: nested columns (lists, structs) as JSON text, timestamps as ISO-8601 (like JSON output)."""
    import polars as pl

    out = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
            out.append(pl.col(name).map_elements(lambda v: json.dumps(v, default=str), return_dtype=pl.String))
        elif isinstance(dtype, pl.Datetime):
            zone = "%:z" if dtype.time_zone else ""
            out.append(pl.col(name).dt.to_string(f"%Y-%m-%dT%H:%M:%S%.f{zone}"))
    return frame.with_columns(out) if out else frame


def to_bytes(frame: pl.DataFrame, fmt: str, *, guard: bool = True) -> bytes:
    """Serialise ``frame`` in ``fmt`` (csv, json, jsonl or parquet); ``guard`` = the CSV formula guard."""
    if fmt == "csv":
        text_frame = flatten_for_text(frame)
        if guard:
            text_frame = csv_safe(text_frame)
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
    raise UsageError(f"Unknown format {fmt!r}.", f"Use one of: {', '.join(DATA_FORMATS)}.")


def write(frame: pl.DataFrame, fmt: str, out: str | os.PathLike[str] | IO[bytes], *, guard: bool = True) -> None:
    """Write to the file ``out`` atomically (temp file + rename), or to a binary stream."""
    data = to_bytes(frame, fmt, guard=guard)
    if isinstance(out, (str, os.PathLike)):
        atomic.write_bytes(check_out_path(out), data)
        return
    out.write(data)
    out.flush()
