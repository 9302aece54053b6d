"""Readers: paths (globs, ``-``, ``.gz``, zips) to lazy frames of raw columns plus ``_row`` and ``_source``.

CSV and Parquet are scanned lazily (streamed). JSON lines are parsed in chunks into staged Parquet files
(nested objects flattened with dots: ``context.groupId``), so a line that is not JSON becomes a reject
with its line number instead of failing the file, and memory stays bounded by the chunk size.
"""

from __future__ import annotations

import codecs
import glob as globmod
import gzip
import io
import json
import shutil
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from pqlcli.errors import DataError

ROW = "_row"
SOURCE = "_source"
JSON_CHUNK_ROWS = 100_000
SAMPLE_ROWS = 1000  # rows read up front to check mappings and detect date formats
_SNIFF_BYTES = 1 << 20


@dataclass
class Source:
    """One input file, opened."""

    label: str  # what the user passed (or `<stdin>`, or `archive.zip!member`)
    file: Path  # the bytes that were read, for the manifest's sha256
    container: str  # csv | parquet | jsonl | zip
    frame: pl.LazyFrame  # raw columns + _row (1-based) + _source
    schema: dict[str, pl.DataType]
    numeric_keys: set[str] = field(default_factory=set)  # JSON keys whose values were all numbers
    parse_rejects: pl.DataFrame | None = None  # lines that were not JSON objects
    _head: pl.DataFrame | None = field(default=None, repr=False)

    @property
    def columns(self) -> list[str]:
        return [c for c in self.schema if c not in (ROW, SOURCE)]

    def head(self, rows: int = SAMPLE_ROWS) -> pl.DataFrame:
        """The first ``rows`` rows (at most :data:`SAMPLE_ROWS`), read once for every check that samples."""
        if self._head is None:
            self._head = self.frame.head(SAMPLE_ROWS).collect()
        return self._head.head(rows)


def expand_paths(paths: Iterable[str], tmp: Path) -> list[tuple[str, Path]]:
    """(label, path) for every input: globs expanded, ``-`` spooled from stdin; clear errors otherwise."""
    out: list[tuple[str, Path]] = []
    for raw in paths:
        if raw == "-":
            spool = tmp / "stdin"
            with open(spool, "wb") as fh:
                shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
            out.append(("<stdin>", spool))
            continue
        path = Path(raw).expanduser()
        if not path.exists() and any(ch in raw for ch in "*?["):
            matches = sorted(globmod.glob(str(path), recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                raise DataError(f"No file matches the pattern {raw!r}.", "Check the pattern, or quote it so the shell does not expand it.")
            out.extend((str(f), f) for f in files)
            continue
        if not path.exists():
            raise DataError(f"The file {raw} does not exist.", "Check the path (use `-` to read from stdin).")
        if path.is_dir():
            raise DataError(
                f"{raw} is a folder, not a file.",
                f"Pass the files inside it, for example `{path}/*.csv` (quoted) or `{path}/*.jsonl`.",
            )
        out.append((raw, path))
    if not out:
        raise DataError("No input files were given.", "Pass one or more files, a glob, or `-` for stdin.")
    return out


def _magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(8)


def _container_of(name: str, head: bytes) -> str:
    lower = name.lower()
    if lower.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lower.endswith((".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")):
        return "xlsx"
    if lower.endswith(".zip"):
        return "zip"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return "jsonl"
    return "csv"


def open_source(label: str, path: Path, tmp: Path, force_reader: str | None = None) -> list[Source]:
    """Open one file (a zip may hold many members) as raw lazy frames."""
    if path.stat().st_size == 0:
        raise DataError(f"The file {label} is empty (no header, no rows).", "Check the export finished; re-export it if needed.")
    name = path.name
    real = path
    if _magic(path).startswith(b"\x1f\x8b"):
        real = tmp / f"gunzip-{len(list(tmp.iterdir()))}-{name.removesuffix('.gz')}"
        try:
            with gzip.open(path, "rb") as src, open(real, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, EOFError) as exc:
            raise DataError(f"The file {label} looks gzipped but cannot be decompressed ({exc}).", "Re-download or re-export it.")
        name = name.removesuffix(".gz").removesuffix(".GZ")
        if real.stat().st_size == 0:
            raise DataError(f"The file {label} is empty once decompressed.", "Check the export finished.")
    container = force_reader or _container_of(name, _magic(real))
    if container == "zip" and _is_workbook(real):  # an .xlsx is a zip too: not an Amplitude export
        container = "xlsx"
    if container == "xlsx":
        return [_open_excel(label, path, real, tmp)]
    if container == "csv":
        return [_open_csv(label, path, real, tmp)]
    if container == "parquet":
        return [_open_parquet(label, path, real)]
    if container == "zip" or (container == "jsonl" and zipfile.is_zipfile(real)):
        return [_open_zip(label, path, real, tmp)]
    return [_open_jsonl(label, path, _text_lines(real), tmp)]


# ---- CSV -------------------------------------------------------------------------------------------
def _open_csv(label: str, original: Path, path: Path, tmp: Path) -> Source:
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(head, final=len(head) < _SNIFF_BYTES)
    except UnicodeDecodeError:
        # Not UTF-8: spreadsheets on Windows write cp1252 / latin-1. Transcode once, then stream.
        path = _transcode(path, tmp)
        text = head.decode("cp1252", errors="replace")
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    separator = _sniff_separator(first_line)
    try:
        frame = pl.scan_csv(
            path,
            separator=separator,
            infer_schema=False,
            encoding="utf8-lossy",
            raise_if_empty=False,
            missing_columns="insert",
        )
        schema = dict(frame.collect_schema())
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"Could not read {label} as CSV: {_short(exc)}.", "Check it is a CSV export (comma, semicolon, tab or | separated).")
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.lit(label).alias(SOURCE))
    return Source(label, original, "csv", frame, {ROW: pl.UInt32(), **schema, SOURCE: pl.String()})


def _sniff_separator(line: str) -> str:
    counts = {sep: line.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda s: (counts[s], s == ","))
    return best if counts[best] > 0 else ","


def _transcode(path: Path, tmp: Path) -> Path:
    out = tmp / f"utf8-{len(list(tmp.iterdir()))}-{path.name}"
    with open(path, encoding="cp1252", errors="replace", newline="") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return out


# ---- Excel -----------------------------------------------------------------------------------------
_UNNAMED = r"^(Column\d+|__UNNAMED__\d+|_duplicated_\d+)?$"


def _is_workbook(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _open_excel(label: str, original: Path, path: Path, tmp: Path) -> Source:
    """The first sheet of a workbook, every cell as text (like CSV), through Polars' ``read_excel``
    (the calamine engine, from the ``fastexcel`` package); unnamed all-empty columns (the trailing empty
    column Excel exports often carry) are dropped. Staged to Parquet so it is scanned like the others."""
    import re

    try:
        frame = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    except Exception as exc:  # fastexcel raises its own error types (not a stable public hierarchy)
        raise DataError(f"Could not read {label} as an Excel workbook: {_short(exc)}.", "Check it is a complete .xlsx export, or save it as CSV.")
    empty = [c for c in frame.columns if re.match(_UNNAMED, c) and frame[c].null_count() == frame.height]
    frame = frame.drop(empty)
    staged = tmp / f"excel-{len(list(tmp.iterdir()))}.parquet"
    frame.write_parquet(staged)
    lazy = pl.scan_parquet(staged).with_row_index(ROW, offset=1).with_columns(pl.lit(label).alias(SOURCE))
    return Source(label, original, "xlsx", lazy, {ROW: pl.UInt32(), **dict(frame.schema), SOURCE: pl.String()})


# ---- Parquet ---------------------------------------------------------------------------------------
def _open_parquet(label: str, original: Path, path: Path) -> Source:
    try:
        frame = pl.scan_parquet(path)
        schema = dict(frame.collect_schema())
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"Could not read {label} as Parquet: {_short(exc)}.", "Check the file is a complete Parquet file.")
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.lit(label).alias(SOURCE))
    return Source(label, original, "parquet", frame, {ROW: pl.UInt32(), **schema, SOURCE: pl.String()})


# ---- JSON lines ------------------------------------------------------------------------------------
def _text_lines(path: Path) -> Iterator[str]:
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):  # a JSON array rather than JSON lines
        try:
            with open(path, encoding="utf-8-sig") as fh:
                items = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"The file {path.name} starts like a JSON array but is not valid JSON ({exc}).", "Export as JSON lines (one object per line).")
        for item in items:
            yield json.dumps(item)
        return
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        yield from fh


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, name + ".", out)
        else:
            out[name] = value


class _JsonStager:
    """Parse JSON lines into staged Parquet chunks (all values as strings) and remember numeric keys."""

    def __init__(self, tmp: Path, label: str):
        self.tmp = tmp
        self.label = label
        self.chunks: list[Path] = []
        self.rejects: list[dict[str, Any]] = []
        self.numeric: set[str] = set()
        self.non_numeric: set[str] = set()
        self._rows: list[dict[str, Any]] = []
        self._keys: dict[str, None] = {}

    def add(self, lineno: int, line: str, source: str) -> None:
        text = line.strip()
        if not text:
            return
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            self.rejects.append({"row": lineno, "reason": f"not valid JSON ({exc.msg} at column {exc.colno})", "source": source, "line": text[:1000]})
            return
        if not isinstance(obj, dict):
            self.rejects.append({"row": lineno, "reason": "not a JSON object", "source": source, "line": text[:1000]})
            return
        flat: dict[str, Any] = {}
        _flatten(obj, "", flat)
        row: dict[str, Any] = {ROW: lineno, SOURCE: source}
        for key, value in flat.items():
            if value is None:
                continue
            if isinstance(value, bool):
                self.non_numeric.add(key)
                value = "true" if value else "false"
            elif isinstance(value, int | float):
                self.numeric.add(key)
                value = repr(value) if isinstance(value, float) else str(value)
            elif isinstance(value, list):
                self.non_numeric.add(key)
                value = json.dumps(value, separators=(",", ":"))
            else:
                self.non_numeric.add(key)
                value = str(value)
            row[key] = value
            self._keys[key] = None
        self._rows.append(row)
        if len(self._rows) >= JSON_CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        schema: dict[str, Any] = {ROW: pl.UInt32, SOURCE: pl.String, **{k: pl.String for k in self._keys}}
        frame = pl.from_dicts(self._rows, schema=schema)
        path = self.tmp / f"json-{id(self)}-{len(self.chunks):05d}.parquet"
        frame.write_parquet(path)
        self.chunks.append(path)
        self._rows = []
        self._keys = {}

    def source(self, original: Path, container: str) -> Source:
        self.flush()
        if self.chunks:
            frames = [pl.scan_parquet(p) for p in self.chunks]
            frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal")
        else:
            frame = pl.LazyFrame(schema={ROW: pl.UInt32, SOURCE: pl.String})
        schema = dict(frame.collect_schema())
        rejects = pl.DataFrame(self.rejects, schema={"row": pl.Int64, "reason": pl.String, "source": pl.String, "line": pl.String}) if self.rejects else None
        return Source(self.label, original, container, frame, schema, self.numeric - self.non_numeric, rejects)


def _open_jsonl(label: str, original: Path, lines: Iterable[str], tmp: Path) -> Source:
    stager = _JsonStager(tmp, label)
    for lineno, line in enumerate(lines, start=1):
        stager.add(lineno, line, label)
    return stager.source(original, "jsonl")


def _open_zip(label: str, original: Path, path: Path, tmp: Path) -> Source:
    """An Amplitude-style export: a zip of (gzipped) JSON-lines files, read member by member."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"The file {label} is not a valid zip archive ({exc}).", "Re-download the export.")
    stager = _JsonStager(tmp, label)
    members = 0
    with archive:
        names = sorted(n for n in archive.namelist() if not n.endswith("/"))
        for member in names:
            lower = member.lower()
            if not lower.endswith((".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")):
                continue
            members += 1
            raw: IO[bytes] = archive.open(member)
            stream: Any = gzip.GzipFile(fileobj=raw) if lower.endswith(".gz") else raw
            try:
                text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
                for lineno, line in enumerate(text, start=1):
                    stager.add(lineno, line, f"{label}!{member}")
            except (OSError, EOFError) as exc:
                raise DataError(f"The member {member} of {label} cannot be decompressed ({exc}).", "Re-download the export.")
    if members == 0:
        shown = ", ".join(names[:5]) or "nothing"
        raise DataError(
            f"The zip {label} holds no JSON files (found: {shown}).",
            "An Amplitude export holds <project>/<project>_<date>_<hour>#0.json.gz files; check you downloaded the right archive.",
        )
    return stager.source(original, "zip")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
