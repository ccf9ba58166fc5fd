"""What a Colab user gets: the package installed from its wheel, one notebook alone in an empty folder.

The wheel is built from this checkout and installed into a fresh virtual environment. That
environment sees the heavy dependencies (torch, transformers ...) of the test environment through a
``.pth`` line (and their Jupyter data files, kernel spec and nbconvert templates, through
``JUPYTER_PATH``), so the test does not download 5 GB again, but it does not see the checkout: not its
``tlcourse`` folder, not its editable install, not its ``data/`` folder. A last cell added to the
copied notebook reports where ``tlcourse`` was imported from, which must be the fresh environment.
It runs at the smoke scale (tiny sizes, one epoch): where things are found does not depend on the sizes,
and nbval runs the notebook at its real size anyway.
"""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

CHECKOUT = Path(__file__).resolve().parents[1]
NOTEBOOK = CHECKOUT / "notebooks" / "00_what_is_transfer_learning.ipynb"


def _build_wheel(folder: Path) -> Path:
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(folder),
                             str(CHECKOUT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (wheel,) = folder.glob("tlcourse-*.whl")
    return wheel


def _fresh_environment(folder: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed and the test environment's dependencies visible."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    # A plain directory line: its own .pth files (the checkout's editable install) are not run.
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --target: the test environment's own (editable) tlcourse is visible through the .pth line, and
    # a plain install would take it for "already installed".
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                             str(site_packages), "--disable-pip-version-check", str(wheel)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return python


def test_a_notebook_runs_from_the_installed_wheel_in_an_empty_folder(tmp_path):
    wheel = _build_wheel(tmp_path / "dist")
    python = _fresh_environment(tmp_path / "venv", wheel)

    lesson = tmp_path / "lesson"
    lesson.mkdir()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(new_code_cell(
        "import sys, tlcourse, tlcourse.assets\n"
        "tlcourse.record('where', {'package': tlcourse.__file__, 'python': sys.executable, "
        "'data': str(tlcourse.assets.data_dir())})"))
    nbformat.write(notebook, lesson / NOTEBOOK.name)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TLCOURSE_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(TLCOURSE_PROFILE="quick", TLCOURSE_SCALE="smoke", TLCOURSE_PROGRESS="0", HOME=str(tmp_path / "home"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), MPLBACKEND="Agg",
               JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),  # the dependencies' data files
               PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}")
    result = subprocess.run([str(python), "-m", "tlcourse", "run", NOTEBOOK.name, "--out", "out"],
                            cwd=lesson, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    results = json.loads((lesson / "out" / "results.json").read_text())[NOTEBOOK.stem]
    assert results["ok"] and results["profile"] == "quick" and results["results"]["claims not checked"]  # smoke
    where = results["results"]["where"]
    assert Path(where["package"]).is_relative_to(tmp_path / "venv"), where  # the wheel, not the checkout
    assert Path(where["python"]).parent == python.parent, where  # the kernel ran in the fresh venv
    assert Path(where["data"]).is_relative_to(tmp_path / "cache"), where  # no path inside the checkout
    assert len(results["results"]) > 1  # the notebook's own numbers were recorded too
