"""The command line: doctor informs offline, run executes notebooks and collects their numbers."""

import json
import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from tlcourse import ASSETS


def test_doctor_lists_profile_device_and_every_asset():
    result = subprocess.run([sys.executable, "-m", "tlcourse", "doctor"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    from tlcourse.profiles import get_device

    assert "profile : quick" in result.stdout and f"device  : {get_device()}" in result.stdout
    for name in ASSETS:
        assert name in result.stdout
    assert "efficientnet_lite0_imagenet quick    model    present " in result.stdout


def test_run_executes_notebooks_and_writes_results(tmp_path):
    notebook = new_notebook(cells=[new_code_cell(
        "import tlcourse\nlesson = tlcourse.setup('99_tiny')\ntlcourse.record('answer', 6 * 7)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(notebook, path)
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run([sys.executable, "-m", "tlcourse", "run", str(path), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["99_tiny"]["ok"] and results["99_tiny"]["results"] == {"answer": 42}
    assert (out / "99_tiny.html").read_text().count("42") >= 1
    report = (out / "report.html").read_text()
    assert "99_tiny" in report and "<td>answer</td><td>42</td>" in report


def test_every_notebook_converts_to_slides(tmp_path):
    """Lecture mode: each course notebook renders as a reveal.js deck with several slides."""
    from pathlib import Path

    from nbconvert import SlidesExporter

    notebooks = sorted(Path(__file__).parents[1].glob("notebooks/[0-9][0-9]_*.ipynb"))
    assert len(notebooks) >= 8
    for path in notebooks:
        body, _ = SlidesExporter().from_notebook_node(nbformat.read(path, as_version=4))
        assert body.count("<section") >= 5, f"{path.name} has too few slides"


def test_run_reports_a_failing_notebook(tmp_path):
    notebook = new_notebook(cells=[new_code_cell("assert 1 + 1 == 3, 'arithmetic is broken'")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "98_broken.ipynb"
    nbformat.write(notebook, path)
    result = subprocess.run([sys.executable, "-m", "tlcourse", "run", str(path), "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "FAILED" in result.stdout


def test_a_failed_html_copy_keeps_the_run_and_says_why(tmp_path, monkeypatch, capsys):
    # seen on a GPU machine whose nbconvert had no templates: six notebooks ran and their results were lost
    import nbconvert

    from tlcourse import cli

    def broken(self, notebook, **kwargs):
        raise ValueError("No template sub-directory with name 'lab' found")

    monkeypatch.setattr(nbconvert.HTMLExporter, "from_notebook_node", broken)
    notebook = new_notebook(cells=[new_code_cell("import tlcourse\ntlcourse.record('answer', 42)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "97_no_html.ipynb"
    nbformat.write(notebook, path)
    ok, seconds, error, _ = cli.execute_notebook(path, tmp_path, tmp_path / "results.json")
    assert ok and error is None
    assert "no HTML copy" in capsys.readouterr().out and not (tmp_path / "97_no_html.html").exists()


def test_run_reports_each_notebooks_slowest_cell(tmp_path):
    """The course's time budget limits every cell (3 minutes quick): a run says which cell took longest."""
    notebook = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("import time\ntime.sleep(1.5)"),
                                   new_code_cell("y = 2")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "96_slow_cell.ipynb"
    nbformat.write(notebook, path)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "tlcourse", "run", str(path), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    slowest = json.loads((out / "results.json").read_text())["96_slow_cell"]["slowest_cell"]
    assert slowest["cell"] == 1 and 1.4 <= slowest["seconds"] < 10
    assert "slowest cell: cell 1," in result.stdout
    every = json.loads((out / "results.json").read_text())["96_slow_cell"]["cell_seconds"]
    assert set(every) == {"0", "1", "2"} and every["1"] == slowest["seconds"]  # where a notebook's minutes go
