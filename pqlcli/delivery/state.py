"""The delivery journal: what was delivered, what is in flight, and the run lock.

``<workspace>/delivery/notify.json`` (schema_version 1)::

    {"schema_version": 1,
     "delivered": {"users:free_to_paid": {"u1": {"at": "...", "snapshot": "...", "key": "..."}}},
     "left":      {"users:free_to_paid": {"u1": "<when it was seen not qualifying>"}},
     "in_flight": {"key": "...", "level": "users", "definition": "...", "ids": [...], "body": {...}} | null}

Exactly once, from a cron job: a batch is written to ``in_flight`` (atomically, with its idempotency key
and the exact body) *before* it is sent, and moved to ``delivered`` only after a 2xx. A run killed
mid-batch leaves it in flight; the next run re-sends that body with the same key first, so the receiver
sees at most that one batch twice, and can drop it by key. The webhook URL is never stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pqlcli.errors import PqlError, WorkspaceError
from pqlcli.util import atomic

SCHEMA_VERSION = 1
JOURNAL = "notify.json"
LOCK = "notify.lock"


class LockBusy(PqlError):
    """Another delivery run holds the workspace's lock."""


def folder(root: Path) -> Path:
    return Path(root) / "delivery"


@contextmanager
def run_lock(root: Path, name: str = LOCK, timeout: float = 0) -> Iterator[None]:
    """Hold the workspace's delivery lock (a kernel lock: released when the process dies, even by SIGKILL)."""
    from filelock import FileLock, Timeout

    path = folder(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise LockBusy(
            f"Another delivery run is in progress on the workspace {root} (it holds {path}).",
            "Wait for it to finish; the next run sends whatever is still pending.",
        )
    try:
        yield
    finally:
        lock.release()


@dataclass
class Journal:
    """The notify journal, loaded into memory; every change is saved atomically with :meth:`save`."""

    path: Path
    delivered: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    left: dict[str, dict[str, str]] = field(default_factory=dict)
    in_flight: dict[str, Any] | None = None

    @classmethod
    def load(cls, root: Path) -> Journal:
        path = folder(root) / JOURNAL
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WorkspaceError(
                f"The delivery journal {path} is not valid JSON ({exc}).",
                "Restore it from a backup; deleting it would re-send every lead.",
            )
        if data.get("schema_version") != SCHEMA_VERSION:
            raise WorkspaceError(
                f"The delivery journal {path} has schema_version {data.get('schema_version')!r}; "
                f"this pql reads {SCHEMA_VERSION}.",
                "Upgrade pql.",
            )
        return cls(path, data.get("delivered", {}), data.get("left", {}), data.get("in_flight"))

    def save(self) -> None:
        atomic.write_json(self.path, {
            "schema_version": SCHEMA_VERSION,
            "delivered": self.delivered,
            "left": self.left,
            "in_flight": self.in_flight,
        })

    def begin(self, batch: dict[str, Any]) -> None:
        """Record ``batch`` as in flight (saved before anything is sent)."""
        self.in_flight = batch
        self.save()

    def complete(self, batch: dict[str, Any], at: datetime) -> None:
        """Mark the in-flight batch delivered (after a 2xx)."""
        scope = scope_key(batch["level"], batch["definition"])
        done = self.delivered.setdefault(scope, {})
        left = self.left.get(scope, {})
        for rid in batch["ids"]:
            done[rid] = {"at": at.isoformat(), "snapshot": batch["snapshot"], "key": batch["key"]}
            left.pop(rid, None)
        self.in_flight = None
        self.save()

    def mark_left(self, scope: str, ids: list[str], at: datetime) -> bool:
        """Note delivered records seen no longer qualifying; True when something new was noted."""
        seen = self.left.setdefault(scope, {})
        fresh = [i for i in ids if i not in seen]
        for rid in fresh:
            seen[rid] = at.isoformat()
        return bool(fresh)


def scope_key(level: str, definition: str) -> str:
    return f"{level}:{definition}"
