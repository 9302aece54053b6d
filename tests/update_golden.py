"""Regenerate tests/golden/examples_score.json from the bundled examples: `python -m tests.update_golden`.

Run it only after an intended change to scoring or to the examples, then review `git diff tests/golden`:
the golden test compares with this file and never writes it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tests.e2e.test_examples_golden import GOLDEN, score_examples, summary


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = summary(score_examples(Path(tmp) / ".pql"))
    GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}; review it with `git diff {GOLDEN.relative_to(Path.cwd()) if GOLDEN.is_relative_to(Path.cwd()) else GOLDEN}`")


if __name__ == "__main__":
    main()
