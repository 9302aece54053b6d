"""Move the flat tests/ into layers (issue 9 item 7) and rewrite what named the old places.

    python tools/relayout_tests.py            # git mv every file listed in MOVES that is still flat, then fix
                                              # imports (tests.test_x -> tests.unit.area.test_x), paths and docs

Idempotent: run it again after rebasing a branch that added tests/test_*.py at the old depth, once its file
is added to MOVES (tests/LAYOUT.md says which layer takes what). Paths inside tests use `tests/paths.py`
(ROOT, TESTS, DATA, GOLDEN), so a test file works at any depth.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

MOVES: dict[str, str] = {
    "test_doctor.py": "unit/workspace",
    "test_fuzz_cli.py": "cli",
    "test_explain_identity.py": "cli",
    "test_firmo_warning.py": "cli",
    "test_tiers_report_identity.py": "cli",
    "test_validate_reach.py": "cli",
    "test_init.py": "cli",
    "test_leads_only.py": "e2e",
    "test_wheel.py": "e2e",
    # unit/<area>: one library area each, through its Python API (and its command where that is the API)
    "test_scoring_semantics.py": "unit/scoring",
    "test_rule_compiler_properties.py": "unit/scoring",
    "test_score_summary.py": "unit/scoring",
    "test_backtest.py": "unit/scoring",
    "test_calibrate.py": "unit/scoring",
    "test_list.py": "unit/leads",
    "test_tiers_report.py": "unit/leads",
    "test_diff.py": "unit/leads",
    "test_identity.py": "unit/ingest",
    "test_ingest_bad_input.py": "unit/ingest",
    "test_ingest_presets.py": "unit/ingest",
    "test_ingest_properties.py": "unit/ingest",
    "test_ingest_strict.py": "unit/ingest",
    "test_providers_clearbit.py": "unit/providers",
    "test_providers_stub.py": "unit/providers",
    "test_provider_plugin.py": "unit/providers",
    "test_enrich.py": "unit/enrich",
    "test_workspace_snapshot.py": "unit/workspace",
    "test_config_errors.py": "unit/config",
    "test_config_fuzz.py": "unit/config",
    "test_durations.py": "unit/util",
    "test_atomic.py": "unit/util",
    "test_architecture.py": "unit",
    "test_notify.py": "unit/delivery",
    "test_export_crm.py": "unit/delivery",
    # cli: the command line itself (flags, exit codes, errors, help, CI policy)
    "test_cli_basics.py": "cli",
    "test_cli_interrupt.py": "cli",
    "test_cli_param_errors.py": "cli",
    "test_score_cli.py": "cli",
    "test_ingest_timezone_cli.py": "cli",
    "test_docs.py": "cli",
    "test_ci_skips_fail.py": "cli",
    # equivalence: engines against each other, hand-written SQL, PostgreSQL, the condition corpus, the pin
    "test_differential.py": "equivalence",
    "test_engines.py": "equivalence",
    "engine_config.yaml": "equivalence",
    "test_postgres_sql.py": "equivalence",
    "test_condition_corpus.py": "equivalence",
    "test_score_pin.py": "equivalence",
    "test_bucketed.py": "equivalence",
    # e2e: whole stories on real files, real processes, a real browser
    "test_demo.py": "e2e",
    "test_examples_golden.py": "e2e",
    "test_report_browser.py": "e2e",
    "test_backtest_browser.py": "e2e",
    "test_identity_e2e.py": "e2e",
    "test_list_report_e2e.py": "e2e",
    # factories: shared builders and servers the tests import
    "scoring_helpers.py": "factories",
    "snapshot_factory.py": "factories",
    "webhook_receiver.py": "factories",
    "browser_helpers.py": "factories",
}

# old spellings of the repository root / the tests folder, relative to a flat test file
PATH_FIXES = [
    (r"Path\(__file__\)\.resolve\(\)\.parent\.parent", "paths.ROOT"),
    (r"Path\(__file__\)\.resolve\(\)\.parents\[1\]", "paths.ROOT"),
    (r"Path\(__file__\)(?:\.resolve\(\))?\.parent / \"data\"", "paths.DATA"),
    (r"Path\(__file__\)\.resolve\(\)\.parent / \"golden\"", "paths.GOLDEN"),
    (r"HERE\.parent / \"config\"", "paths.ROOT / \"config\""),
]
TEXT_FILES = ["pyproject.toml", "README.md", ".ci/run", "Makefile", "pqlcli", "docs", "bench", "tests", "tools"]


def git(*args: str) -> None:
    subprocess.run(["git", "-C", str(ROOT), *args], check=True)


def moved() -> dict[str, str]:
    """old dotted/relative name -> new one, for every file of MOVES."""
    out = {}
    for name, layer in MOVES.items():
        out[f"tests/{name}"] = f"tests/{layer}/{name}"
        if name.endswith(".py"):
            out[f"tests.{name[:-3]}"] = f"tests.{layer.replace('/', '.')}.{name[:-3]}"
    return out


def move_files() -> None:
    for name, layer in MOVES.items():
        src, dst = TESTS / name, TESTS / layer / name
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        for pkg in [dst.parent, *dst.parent.parents]:
            if pkg == TESTS:
                break
            init = pkg / "__init__.py"
            if not init.exists():
                init.write_text("")
                git("add", str(init))
        git("mv", str(src), str(dst))


def rewrite(path: Path, renames: dict[str, str]) -> None:
    text = original = path.read_text()
    for old, new in renames.items():
        text = re.sub(re.escape(old) + r"(?![\w/])", new, text)
    if path.suffix == ".py" and path.is_relative_to(TESTS) and path.name not in ("paths.py", "conftest.py"):
        for pattern, repl in PATH_FIXES:
            text = re.sub(pattern, repl, text)
        if "paths." in text and "from tests import paths" not in text:
            text = re.sub(r"\n(import (?!__future__)|from (?!__future__))", "\nfrom tests import paths\n\\1", text, count=1)
    if text != original:
        path.write_text(text)


def main() -> None:
    move_files()
    renames = moved()
    for entry in TEXT_FILES:
        base = ROOT / entry
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.suffix in (".py", ".md", ".toml", ".sh", ".yaml", "")]
        for f in files:
            if f.is_file() and f != Path(__file__).resolve() and not ({"data"} & set(f.relative_to(ROOT).parts[1:2])):
                rewrite(f, renames)


if __name__ == "__main__":
    main()
