"""Several file changes in a workspace made atomic together: a redo journal.

An ingest into a bucketed events table adds one part per bucket; an identity re-key rewrites parts and
moves rows to other buckets. Readers must see all of such a change or none of it. The new files are
written under temporary names first (hidden, so no reader lists them); then :meth:`Commit.apply` writes
the journal ``.commit-<id>.json`` (atomically: that instant is the commit), performs the renames and
deletions it lists, and removes it. A process killed after the journal was written leaves it behind;
the next reader or writer of the table (:func:`recover`) performs what it lists -- every step can be
repeated -- so the change is completed, never half-visible. A single rename needs no journal.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from pqlcli.util import atomic

JOURNAL_GLOB = ".commit-*.json"


class Commit:
    """Renames (staged file -> its place) and deletions applied as one atomic change under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.id = f"{os.getpid()}-{uuid.uuid4().hex[:10]}"
        self.moves: list[tuple[Path, Path]] = []
        self.deletes: list[Path] = []
        self._staging: Path | None = None
        self._journal = root / f".commit-{self.id}.json"

    def stage(self, name: str) -> Path:
        """A path for a new file, in this commit's hidden staging folder under the workspace."""
        if self._staging is None:
            self._staging = self.root / f".commit-{self.id}"
            self._staging.mkdir(parents=True, exist_ok=True)
        return self._staging / name

    def move(self, src: Path, dst: Path) -> None:
        """Put ``src`` (a file staged by :meth:`stage`) at ``dst`` on :meth:`apply`."""
        self.moves.append((src, dst))

    def adopt(self, src: Path, dst: Path) -> None:
        """Like :meth:`move`, for a file written elsewhere in the workspace (moved into the staging folder
        first, so that it outlives its writer's own temporary folder until the commit is complete)."""
        staged = self.stage(f"{len(self.moves)}-{src.name}")
        os.replace(src, staged)
        self.move(staged, dst)

    def delete(self, path: Path) -> None:
        self.deletes.append(path)

    def __bool__(self) -> bool:
        return bool(self.moves or self.deletes)

    def apply(self) -> None:
        """Make every change visible at once (see the module docstring); then drop the staging folder."""
        try:
            if len(self.moves) == 1 and not self.deletes:
                src, dst = self.moves[0]
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
            elif self:
                journal = self._journal
                steps = {"moves": [[self._rel(s), self._rel(d)] for s, d in self.moves],
                         "deletes": [self._rel(p) for p in self.deletes],
                         "staging": self._rel(self._staging) if self._staging else None}
                try:
                    atomic.write_json(journal, steps)
                finally:  # once the journal exists the change is committed, even if an interrupt came just after
                    if journal.exists():
                        _replay(self.root, journal)
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the staging folder (what was not applied is dropped) -- unless the change is committed
        (its journal exists) but not complete: then :func:`recover` needs the staged files."""
        if self._staging is not None and not self._journal.exists():
            shutil.rmtree(self._staging, ignore_errors=True)

    def _rel(self, path: Path) -> str:
        return str(Path(path).resolve().relative_to(self.root.resolve()))

    def __enter__(self) -> Commit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def _replay(root: Path, journal: Path) -> None:
    """Perform a journal's steps (each may already be done) and remove it. A Ctrl-C in the middle does
    not stop it: the steps are finished first, then the interrupt goes on. Any other error leaves the
    journal for :func:`recover`."""
    steps = json.loads(journal.read_text("utf-8"))
    try:
        _steps(root, steps)
    except KeyboardInterrupt:
        _steps(root, steps)
        _forget(root, journal, steps)
        raise
    _forget(root, journal, steps)


def _forget(root: Path, journal: Path, steps: dict[str, Any]) -> None:
    journal.unlink(missing_ok=True)
    if steps.get("staging"):
        shutil.rmtree(root / steps["staging"], ignore_errors=True)


def _steps(root: Path, steps: dict[str, Any]) -> None:
    for src, dst in steps["moves"]:
        source, target = root / src, root / dst
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    for path in steps["deletes"]:
        with contextlib.suppress(FileNotFoundError):
            (root / path).unlink()


def recover(root: Path) -> int:
    """Complete the commits a killed process left (their journals); returns how many. A journal of a
    live writer (it holds the workspace's write lock, :mod:`pqlcli.workspace.lock`) is its own to
    complete: nothing is replayed while another process writes."""
    from pqlcli.workspace.lock import unless_busy

    journals = sorted(root.glob(JOURNAL_GLOB))
    if not journals:
        return 0
    done = 0
    with unless_busy(root) as free:
        if not free:
            return 0
        for journal in journals:
            with contextlib.suppress(FileNotFoundError):  # completed just now
                _replay(root, journal)
                done += 1
    return done


__all__ = ["Commit", "recover"]
