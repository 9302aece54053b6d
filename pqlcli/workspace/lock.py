"""One writer at a time: the workspace's write lock.

Commands that change stored tables (``pql ingest``, ``pql optimize``) hold ``<workspace>/.write.lock``
while they run, and every update of the workspace's ``manifest.json`` takes it briefly. So two of them
(a cron job and a manual run, say) never read-modify-write the same tables at once: the second waits for
the first (up to ``PQL_LOCK_TIMEOUT`` seconds, default 600), then works on what the first stored.
``pql enrich`` holds ``.enrich.lock`` instead: it writes only the ``firmographics`` table, which nothing
else writes, and may run for long, so it excludes other enrichments, not ingests.

It is a kernel lock (``flock``, through the ``filelock`` package): a process that dies, even by SIGKILL,
releases it, so there is never a stale lock to remove by hand. Readers (``pql score``, ``pql list`` ...)
take no lock: every change becomes visible at once (:mod:`pqlcli.workspace.commit`). Re-entrant within
a thread (an ingest's identity re-key runs inside the ingest's lock).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pqlcli.errors import UsageError, WorkspaceError

LOCK_FILE = ".write.lock"
ENRICH_LOCK_FILE = ".enrich.lock"  # one `pql enrich` at a time (it alone writes firmographics)
TIMEOUT_ENV = "PQL_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 600.0

# Set by the CLI to say on stderr that a command is waiting for another one (the library says nothing).
waiting_note: Callable[[str], None] | None = None

_held: dict[tuple[Path, int], int] = {}  # (lock file, thread) -> depth, for re-entry
_guard = threading.Lock()


def timeout() -> float:
    """Seconds to wait for another writer: ``PQL_LOCK_TIMEOUT`` (0: fail at once), default 600."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0 or value != value:
        raise UsageError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds.",
                         f"Set {TIMEOUT_ENV} to how long a command may wait for another one writing to the "
                         "same workspace, e.g. 600 (0: fail at once), or unset it.")
    return value


def _key(root: Path, name: str) -> tuple[Path, int]:
    return Path(root).resolve() / name, threading.get_ident()


def _reenter(key: tuple[Path, int]) -> bool:
    """Count one more hold of a lock this thread already holds (True), or False when it does not."""
    with _guard:
        if key in _held:
            _held[key] += 1
            return True
    return False


@contextmanager
def _holding(key: tuple[Path, int], lock: Any) -> Iterator[None]:
    """The block run as this thread's hold of ``lock`` (acquired, or re-entered), released after it."""
    if lock is not None:  # a first hold (a re-entered one was counted by _reenter)
        with _guard:
            _held[key] = 1
    try:
        yield
    finally:
        with _guard:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
        if lock is not None:
            lock.release()


@contextmanager
def writing(root: Path, what: str, name: str = LOCK_FILE) -> Iterator[None]:
    """Hold the workspace's write lock (or the lock ``name``) while the block runs (``what``: the
    command, for messages)."""
    from filelock import FileLock, Timeout

    key = _key(root, name)
    if _reenter(key):
        with _holding(key, None):
            yield
        return
    limit = timeout()
    path = key[0]
    lock = FileLock(str(path), is_singleton=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:  # (a TimeoutError, so an OSError: caught first)
        if waiting_note is not None and limit > 0:
            waiting_note(f"Waiting for another pql command that is writing to the workspace {path.parent} "
                         f"(up to {limit:g} s; {TIMEOUT_ENV} sets how long) ...")
        try:
            lock.acquire(timeout=limit)
        except Timeout:
            raise WorkspaceError(
                f"Another pql command is still writing to the workspace {path.parent} after {limit:g} s "
                f"(it holds {path}), so `{what}` did not start and changed nothing.",
                f"Run it again when the other command has finished, or give it longer with {TIMEOUT_ENV}=SECONDS.",
            ) from None
    except OSError as exc:  # a workspace we may not write to (read-only, another user's)
        raise WorkspaceError(f"Cannot write to the workspace {path.parent} ({exc.strerror or exc}), so `{what}` did not start.",
                             "Check that the folder exists and that you may write to it, or choose another with --workspace.") from None
    with _holding(key, lock):
        yield


@contextmanager
def unless_busy(root: Path) -> Iterator[bool]:
    """Hold the write lock if no other process does (True), else yield False at once: for work a live
    writer would do itself (completing its commit)."""
    from filelock import FileLock, Timeout

    key = _key(root, LOCK_FILE)
    if _reenter(key):
        with _holding(key, None):
            yield True
        return
    lock = FileLock(str(key[0]), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):  # OSError: a workspace we may not write to; nothing to complete then
        yield False
        return
    with _holding(key, lock):
        yield True


__all__ = ["ENRICH_LOCK_FILE", "LOCK_FILE", "TIMEOUT_ENV", "timeout", "unless_busy", "writing"]
