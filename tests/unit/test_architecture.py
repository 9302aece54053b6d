"""Architecture rules a reviewer would otherwise check by eye: short functions, no hand-written HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import paths

PACKAGE = paths.ROOT / "pqlcli"
MAX_FUNCTION_LINES = 80


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}", (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_function_is_longer_than_80_lines() -> None:
    long = [
        f"{where} ({lines} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for where, lines in _functions(path)
        if lines > MAX_FUNCTION_LINES
    ]
    assert not long, "split these functions: " + "; ".join(long)


def test_the_length_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES + 1))
    sample = PACKAGE / "__init__.py"
    long_file = tmp_path / "long.py"
    long_file.write_text(f"def too_long():\n{body}\n", encoding="utf-8")
    assert sample.exists()
    [(name, lines)] = [(n, n_lines) for n, n_lines in _functions_at(long_file)]
    assert name.endswith("too_long") and lines > MAX_FUNCTION_LINES


def _functions_at(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.name, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_module_assigns_sys_modules() -> None:
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if "sys.modules[" in path.read_text(encoding="utf-8").replace(" ", "")
    ]
    assert not offenders
