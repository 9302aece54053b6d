#!/usr/bin/env bash
# Re-pin `pql score` on the bundled examples with the code of COMMIT (default: main), reading the
# examples and config of this checkout. Run from the repository root, with the venv:
#
#     bash tests/golden/pin/regen.sh main        # e.g. after new examples landed on main
#
# Pin with the code that is known to be right (the pre-redesign main), never with the code under test.
set -euo pipefail
COMMIT="${1:-main}"
ROOT="$(git rev-parse --show-toplevel)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
CODE="$(mktemp -d)"
trap 'rm -rf "$CODE"' EXIT
git -C "$ROOT" archive "$COMMIT" pqlcli | tar -x -C "$CODE"
"$PY" "$ROOT/tests/golden/pin/make_pin.py" "$ROOT/tests/golden/pin" --code "$CODE" --root "$ROOT"
echo "pinned with pqlcli from $(git -C "$ROOT" rev-parse --short "$COMMIT"); review: git diff --stat tests/golden/pin"
