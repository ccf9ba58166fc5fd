"""Restart-and-run-all twice in the same environment: the second run must work (no cache, file or
hook left behind breaks it) and, with the same seed, record the same numbers as the first.

Notebook 04 is the one that leaves the most behind (feature caches on disk, forward hooks), so it
is the one run twice here; `python -m tlcourse run` starts a fresh kernel for each run. At the smoke
scale (tiny sizes, one epoch): what is tested does not depend on the sizes, and the two runs take a
minute or two instead of seven (nbval runs the notebook at its real size anyway).
"""

import json
import subprocess
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_feature_extraction.ipynb"


def _run(out: Path) -> dict:
    out.mkdir()
    result = subprocess.run([sys.executable, "-m", "tlcourse", "run", str(NOTEBOOK), "--out", str(out),
                             "--scale", "smoke"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((out / "results.json").read_text())[NOTEBOOK.stem]["results"]


def test_notebook_runs_twice_with_the_same_numbers(tmp_path):
    first, second = _run(tmp_path / "first"), _run(tmp_path / "second")
    timings = {"cached_epoch_speedup"}  # wall-clock numbers differ from run to run, by nature
    assert set(first) == set(second) and len(first) >= 4
    # the smoke scale checks that the notebook runs, not its claims: every claim of the notebook is recorded unchecked
    claims = sum("".join(cell["source"]).count("lesson.claim(")
                 for cell in json.loads(NOTEBOOK.read_text())["cells"] if cell["cell_type"] == "code")
    assert claims >= 3 and len(first["claims not checked"]) == claims
    for key in set(first) - timings:
        value, again = first[key], second[key]
        if key == "finetune_vs_extract":  # a table: compare every column but the timing one
            value = {column: v for column, v in value.items() if column != "train_seconds"}
            again = {column: v for column, v in again.items() if column != "train_seconds"}
        assert value == again, key
