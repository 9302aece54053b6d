"""Every command has help text and a place in the docs; the CLI reference is generated and fresh."""

from __future__ import annotations

from pqlcli.cli.docgen import reference, walk
from tests import paths

ROOT = paths.ROOT


def test_every_command_has_help():
    for path, command in walk():
        assert (command.help or "").strip(), f"pql {' '.join(path)} has no help text"
        for param in getattr(command, "params", []):
            if param.param_type_name == "option" and param.name not in ("help",):
                assert (getattr(param, "help", "") or "").strip(), f"pql {' '.join(path)} option {param.name} has no help"


def test_cli_reference_is_fresh():
    committed = (ROOT / "docs" / "cli.md").read_text()
    assert committed == reference(), "run: python -m pqlcli.cli.docgen > docs/cli.md"


def test_readme_covers_every_top_level_command():
    readme = (ROOT / "README.md").read_text()
    top = {path[0] for path, _ in walk() if len(path) == 1}
    missing = [name for name in sorted(top) if f"pql {name}" not in readme]
    assert not missing, f"README does not show: {missing}"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
