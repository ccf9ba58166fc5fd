"""The package stays readable: short functions, nothing public that nobody calls."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "tlcourse"
MAX_FUNCTION_LINES = 50


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_function_is_longer_than_one_screen():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_every_public_function_and_class_is_used_by_a_notebook_or_the_package():
    sources = {path: path.read_text() for path in _modules()}
    notebooks = " ".join(path.read_text() for path in (ROOT / "notebooks").glob("*.ipynb"))
    unused = []
    for path, source in sources.items():
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                name = re.compile(rf"\b{node.name}\b")
                used_elsewhere = any(name.search(text) for other, text in sources.items() if other != path)
                used_here = len(name.findall(source)) > 1  # more than its own definition
                if not (used_elsewhere or used_here or name.search(notebooks)):
                    unused.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert not unused, f"public but called by no notebook, package module or CLI: {unused}"
