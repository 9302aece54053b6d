"""Everything a person sees — the only package outside ``cli/`` that imports rich.

``console`` (the environment and the stderr messages), ``terminal`` (tables and the tier report on a
terminal), ``markdown`` and ``html`` (the tier report as files), ``styles`` (tier colours, once) and
``text`` (the formatters every renderer shares). Messages are re-exported here: ``render.note(...)``.
"""

from __future__ import annotations

from pqlcli.render.console import (
    Environment,
    ProgressHandle,
    current,
    debug_enabled,
    error,
    info,
    note,
    progress,
    stderr_console,
    stdout_console,
    table,
    unexpected,
    using,
    warn,
)

__all__ = [
    "Environment",
    "ProgressHandle",
    "current",
    "debug_enabled",
    "error",
    "info",
    "note",
    "progress",
    "stderr_console",
    "stdout_console",
    "table",
    "unexpected",
    "using",
    "warn",
]
