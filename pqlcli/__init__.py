"""pql — find product-qualified leads from product events, CRM exports and firmographics.

The library is the product; the ``pql`` command is a client of it. Everything the CLI does can be
done from Python::

    from pqlcli import Workspace, load_config
    ws = Workspace.open(".pql", create=True)
    loaded = load_config("pql.yaml")
    latest = ws.snapshot("latest")        # a Snapshot: .id, .manifest, .read("users")

The public names below are imported lazily, so ``import pqlcli`` (and ``pql --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from pqlcli.errors import ExitCode, PqlError

if TYPE_CHECKING:
    from pqlcli.config import load as load_config
    from pqlcli.workspace import Snapshot, Workspace

__all__ = ["ExitCode", "PqlError", "Snapshot", "Workspace", "__version__", "load_config"]


def __getattr__(name: str) -> Any:
    if name in ("Workspace", "Snapshot"):
        from pqlcli import workspace

        return getattr(workspace, name)
    if name == "load_config":
        from pqlcli.config import load

        return load
    raise AttributeError(f"module 'pqlcli' has no attribute {name!r}")
