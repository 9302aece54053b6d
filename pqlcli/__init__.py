"""pql — find product-qualified leads from product events, CRM exports and firmographics.

The library is the product; the ``pql`` command is a client of it. Everything the CLI does can be
done from Python::

    from pqlcli import Workspace
    ws = Workspace.open(".pql", create=True)
"""

from __future__ import annotations

__version__ = "0.1.0"

from pqlcli.errors import ExitCode, PqlError
from pqlcli.workspace import Workspace

__all__ = ["ExitCode", "PqlError", "Workspace", "__version__"]
