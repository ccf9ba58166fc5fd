"""The package stays readable: short functions, nothing public that nobody calls."""

import ast
import json
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


MAX_PARAMETERS = 10


def _parameter_count(node: ast.FunctionDef) -> int:
    """Every parameter a caller can pass (``self`` and ``cls`` are not passed; ``*args``/``**kwargs`` count one each)."""
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names) + (args.vararg is not None) + (args.kwarg is not None)


def test_no_function_takes_more_than_ten_parameters():
    """Settings travel as one value (a Recipe), not as long keyword lists."""
    many = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({_parameter_count(node)} parameters)"
            for path in _modules() for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _parameter_count(node) > MAX_PARAMETERS]
    assert not many, f"functions with more than {MAX_PARAMETERS} parameters: {many}"


def test_every_public_function_and_class_is_used_by_a_notebook_or_the_package():
    sources = {path: path.read_text() for path in _modules()}
    notebooks = " ".join("".join(cell["source"]) for path in (ROOT / "notebooks").glob("*.ipynb")
                         for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code")  # not prose
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


def _imports_of(path: Path) -> set[str]:
    """The tlcourse modules ``path`` imports anywhere in it, inside functions too (an import hidden in a function
    is still a dependency: it only moves the failure from import time to call time)."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            found |= {f"{base}.{alias.name}" for alias in node.names} if node.module is None else {base}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tlcourse")}
    return found


def test_no_import_cycles_counting_imports_inside_functions():
    names = {path: ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
             for path in _modules()}
    graph = {names[path]: {m for m in _imports_of(path) if m in names.values() and m != "tlcourse"}
             for path in _modules()}
    cycles = []

    def visit(start, module, trail):
        for imported in graph.get(module, ()):
            if imported == start:
                cycles.append(" -> ".join(trail + [start]))
            elif imported not in trail:
                visit(start, imported, trail + [imported])

    for module in graph:
        visit(module, module, [module])
    assert not cycles, f"import cycles: {sorted(set(cycles))}"


def test_one_module_registers_hooks_and_one_function_replaces_files():
    """One hook utility (tlcourse.hooks) and one atomic writer (tlcourse.files): a fix to either reaches every use."""
    registering = sorted(str(path.relative_to(ROOT)) for path in _modules()
                         if re.search(r"register_forward(_pre)?_hook\(", path.read_text()))
    assert registering == ["tlcourse/hooks.py"], registering
    renaming = sorted(str(path.relative_to(ROOT)) for path in _modules()
                      if re.search(r"\bos\.(replace|rename)\(|shutil\.move\(", path.read_text()))
    assert renaming == ["tlcourse/files.py"], renaming


def test_only_the_config_module_reads_or_writes_the_course_settings():
    """Every TLCOURSE_* variable is named once, in tlcourse/config.py; other modules call config's functions.

    A module that touches os.environ itself, or spells a variable's name as a string literal in code (not in a
    docstring or message), would be a second place to look for a setting.
    """
    offenders = []
    for path in _modules():
        if path.name == "config.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        messages = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) or isinstance(node, ast.Call):
                target = node.value if isinstance(node, ast.Subscript) else node.func
                text = ast.unparse(target)
                arguments = ast.unparse(node.slice) if isinstance(node, ast.Subscript) else \
                    " ".join(ast.unparse(a) for a in node.args)
                if ("environ" in text or "getenv" in text) and "TLCOURSE_" in arguments:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and id(node) not in messages and re.fullmatch(r"TLCOURSE_[A-Z_]+", node.value)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} the literal {node.value!r}")
    assert not offenders, f"TLCOURSE_* settings read, written or named outside tlcourse/config.py: {offenders}"
