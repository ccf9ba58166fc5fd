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
    assert "profile : quick" in result.stdout and "device  : cpu" in result.stdout
    for name in ASSETS:
        assert name in result.stdout
    assert "efficientnet_lite0_imagenet quick    model    present" in result.stdout


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


def test_run_reports_a_failing_notebook(tmp_path):
    notebook = new_notebook(cells=[new_code_cell("assert 1 + 1 == 3, 'arithmetic is broken'")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "98_broken.ipynb"
    nbformat.write(notebook, path)
    result = subprocess.run([sys.executable, "-m", "tlcourse", "run", str(path), "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "FAILED" in result.stdout
