"""Atomic file writes: write to a temp file beside the target, then ``os.replace``.

A crash or Ctrl-C in the middle of a write leaves the previous file untouched, never a half-written one.
The file gets the mode any program would give it (0666 less the user's umask), like ``open()``; only a
file that holds secrets is written ``private`` (0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None, *, private: bool = False) -> Iterator[Path]:
    """Yield a temp path in the target's folder; on success it replaces ``target`` atomically.

    The file ends with mode 0666 less the umask, as ``open()`` would create it (``mkstemp`` makes it
    0600, which would hide reports and exports from the user's group); ``private``: 0600 (secrets).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o600 if private else 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(target: str | os.PathLike[str], data: bytes, *, private: bool = False) -> None:
    with atomic_path(target, private=private) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str, *, private: bool = False) -> None:
    write_bytes(target, text.encode("utf-8"), private=private)


def write_json(target: str | os.PathLike[str], obj: Any, *, private: bool = False) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", private=private)


def write_parquet(target: str | os.PathLike[str], frame: Any, compression_level: int | None = None) -> None:
    """Write a polars DataFrame or LazyFrame to Parquet atomically (a LazyFrame is streamed); zstd at
    ``compression_level`` (Polars' default level if None)."""
    import polars as pl

    with atomic_path(target, suffix=".parquet") as tmp:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(tmp, compression_level=compression_level)
        else:
            frame.write_parquet(tmp, compression_level=compression_level)
