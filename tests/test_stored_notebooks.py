"""The notebooks as stored read cleanly on GitHub: no stray return values under a cell."""

import ast
import json
from pathlib import Path

import nbformat
import pytest

import tlcourse
import tlcourse.results

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9]*.ipynb"))


def test_record_returns_nothing_so_a_cell_ending_in_it_shows_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_RESULTS", str(tmp_path / "results.json"))
    assert tlcourse.record("answer", 42) is None
    assert tlcourse.results.load_results(tmp_path / "results.json") == {"answer": 42}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_cell_shows_the_value_it_records(notebook):
    stray = [index for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells)
             if _ends_in_record(cell) and any(output.output_type == "execute_result" for output in cell.outputs)]
    assert not stray, f"cells {stray} show the value they record (a stray return value)"


def _ends_in_record(cell) -> bool:
    """True for a code cell whose last statement is a ``tlcourse.record(...)`` call."""
    if cell.cell_type != "code" or not cell.source.strip():
        return False
    try:
        last = ast.parse(cell.source).body[-1]
    except SyntaxError:  # IPython syntax (%pip, !ls): not a recording cell
        return False
    return isinstance(last, ast.Expr) and ast.unparse(last).startswith("tlcourse.record(")


def test_notebooks_are_stored_exactly_as_jupyter_writes_them():
    # keys sorted, one-space indent, a final newline: otherwise opening and saving a notebook in JupyterLab
    # rewrites it (the browser test catches that too, but in minutes rather than milliseconds)
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        expected = json.dumps(json.loads(text), indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        assert text == expected, f"{path.name} is not stored the way nbformat writes it"
