"""Ctrl-C inside any command: exit 130 and one line saying nothing stored was lost, never a traceback."""

from __future__ import annotations

import pytest

from pqlcli.errors import ExitCode
from pqlcli.testing import synth_workspace
from pqlcli.workspace import Workspace
from tests import paths

CONFIG = paths.ROOT / "config" / "pql.yaml"


def _ctrl_c(*_args, **_kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("command", [("score", "--config", str(CONFIG)), ("status",), ("list", "users")])
def test_ctrl_c_inside_a_command_exits_130(pql, ws_path, monkeypatch, command):
    ws = Workspace.open(ws_path, create=True)
    synth_workspace(ws, users=50)
    if command[0] == "list":
        assert pql("score", "--config", str(CONFIG))[0] == 0
    # Ctrl-C lands while the command reads the workspace
    monkeypatch.setattr(Workspace, "scan", _ctrl_c)
    monkeypatch.setattr(Workspace, "snapshots", _ctrl_c)
    code, out, err = pql(*command)
    assert code == ExitCode.INTERRUPTED == 130, err
    assert "Interrupted." in err and "Nothing already stored was lost" in err
    assert "Traceback" not in err + out and "KeyboardInterrupt" not in err + out
