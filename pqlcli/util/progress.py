"""The progress protocol long-running library calls (ingest, enrich) report to.

The library only calls these two methods; the CLI passes a rich progress bar, Python users may pass
anything with the same shape (or nothing).
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def advance(self, n: float = 1) -> None: ...

    def update(
        self, *, completed: float | None = None, total: float | None = None, description: str | None = None
    ) -> None: ...
