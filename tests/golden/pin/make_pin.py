"""Pin `pql score` on the bundled examples: every column of the snapshot's users and accounts tables.

The workspace is built only through the `pql` command (ingest the example exports, enrich from
examples/data/firmographics.csv with the `file` provider, score), so the same steps run against any
version of the code. Two configs are scored: ``tests/golden/pin/default.yaml`` (config/pql.yaml before issue 14
added an activation milestone and a trend to it; pinned in ``OUT_DIR/default``) and
``tests/golden/pin/rich.yaml`` (every metric kind, roll-up, decay, exclusion..., in ``OUT_DIR/rich``).
Each folder holds:

- ``users.ndjson`` / ``accounts.ndjson``: every row, sorted by user_id / account_id, every column in
  the snapshot's order (Polars' NDJSON writer: exact floats, ISO timestamps);
- ``schema.json``: each table's column names and Polars dtypes, in order.

Usage::

    python tests/golden/pin/make_pin.py OUT_DIR [--code DIR] [--root DIR]

``--code`` is a folder holding the ``pqlcli`` package to run (default: this checkout's);
``--root`` the checkout whose ``examples/`` and ``config/`` are read (default: this checkout).
``regen.sh COMMIT`` runs it with the code of a given commit; tests/equivalence/test_score_pin.py with this one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[3]
KEYS = {"users": "user_id", "accounts": "account_id"}
# "default" is config/pql.yaml as it was when pinned (before the activation milestone and trend of issue 14)
CONFIGS = {"default": Path("tests/golden/pin/default.yaml"), "rich": Path("tests/golden/pin/rich.yaml")}


def _env(code: Path, workspace: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(code), "PQL_WORKSPACE": str(workspace), "NO_COLOR": "1"}
    for var in ("PQL_CONFIG", "PQL_OWNER", "PQL_DEBUG", "PQL_PROVIDER"):
        env.pop(var, None)
    return env


def _check_code(code: Path, workspace: Path) -> None:
    """The ``pqlcli`` the steps import is the one in ``code`` (not an installed copy)."""
    probe = "import pqlcli; print(pqlcli.__file__)"
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=_env(code, workspace), capture_output=True, text=True, cwd=workspace.parent
    )
    found = Path(proc.stdout.strip()).resolve()
    if not found.is_relative_to(code.resolve()):
        raise RuntimeError(f"pqlcli was imported from {found}, not from {code}")


def _pql(code: Path, workspace: Path, *args: str) -> None:
    env = _env(code, workspace)
    # cwd: the workspace's folder, so `-m` does not put this checkout ahead of PYTHONPATH
    proc = subprocess.run(
        [sys.executable, "-m", "pqlcli", *args], env=env, capture_output=True, text=True, cwd=workspace.parent
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pql {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")


def build_workspace(code: Path, root: Path, workspace: Path) -> dict[str, Path]:
    """Run the example pipeline with ``pql``; the snapshot folder of each config."""
    workspace.parent.mkdir(parents=True, exist_ok=True)
    _check_code(code, workspace)
    data = root / "examples" / "data"
    _pql(code, workspace, "ingest", "accounts", str(data / "hubspot-companies.csv"), "--format", "hubspot")
    _pql(code, workspace, "ingest", "users", str(data / "users.csv"))
    _pql(code, workspace, "ingest", "events", str(data / "segment-tracks.jsonl"), "--format", "segment")
    _pql(code, workspace, "ingest", "events", str(data / "mixpanel-export.jsonl"), "--format", "mixpanel")
    _pql(code, workspace, "ingest", "events", str(data / "amplitude-export.zip"), "--format", "amplitude")
    _pql(code, workspace, "enrich", "--provider", "file", "--option", f"path={data / 'firmographics.csv'}")
    out = {}
    for name, config in CONFIGS.items():
        before = set(workspace.glob("scores/*/manifest.json"))
        _pql(code, workspace, "score", "--config", str(root / config))
        new = set(workspace.glob("scores/*/manifest.json")) - before
        if len(new) != 1:
            raise RuntimeError(f"expected one new snapshot under {workspace / 'scores'}, found {len(new)}")
        out[name] = new.pop().parent
    return out


def write_pin(snapshot: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    schema: dict[str, dict[str, str]] = {}
    for level, key in KEYS.items():
        df = pl.read_parquet(snapshot / f"{level}.parquet")
        schema[level] = {name: str(dtype) for name, dtype in df.schema.items()}
        df.sort(key).write_ndjson(out / f"{level}.ndjson")
    (out / "schema.json").write_text(json.dumps(schema, indent=1) + "\n")


def make_pin(out: Path, code: Path = ROOT, root: Path = ROOT) -> None:
    with tempfile.TemporaryDirectory(prefix="pql-pin-") as tmp:
        for name, snapshot in build_workspace(code, root, Path(tmp) / ".pql").items():
            write_pin(snapshot, out / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--code", type=Path, default=ROOT)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    make_pin(args.out.resolve(), args.code.resolve(), args.root.resolve())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
