"""Colab, where most learners run the course: installing tlcourse must not replace Colab's own packages, a failed
install must stop the setup cell with pip's message, the repository address lives in one place, and ipywidgets 8
sliders get Colab's widget manager."""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tlcourse import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COLAB_PACKAGES = {
    name.lower().replace("_", "-"): Version(version)
    for name, version in (line.split("==") for line in
                          (ROOT / "tests" / "data" / "colab_gpu_packages.txt").read_text().splitlines()
                          if line and not line.startswith("#"))
}


def our_requirements() -> list[Requirement]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def test_colab_already_satisfies_every_requirement_it_has():
    """pip upgrades a preinstalled package only when its version falls outside our bounds: none may."""
    checked, unsatisfied = 0, []
    for requirement in our_requirements():
        installed = COLAB_PACKAGES.get(requirement.name.lower().replace("_", "-"))
        if installed is None:
            continue  # not on Colab: a new install, which replaces nothing
        checked += 1
        if not requirement.specifier.contains(installed, prereleases=True):
            unsatisfied.append(f"{requirement} (Colab has {installed})")
    assert not unsatisfied, unsatisfied
    assert checked >= 12


def test_every_notebook_starts_with_the_one_setup_cell():
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code")
        assert "".join(first_code["source"]) == colab.SETUP_CELL, path.name


def test_every_colab_badge_points_at_the_one_repository():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert colab.badge_url(path.name) in readme, path.name
        assert colab.badge_url(path.name) in path.read_text(), path.name
    stray = [line for line in readme.splitlines() if "colab.research.google.com/github/" in line
             and f"github/{colab.REPOSITORY}/" not in line]
    assert not stray


def test_a_failed_install_stops_the_setup_cell_with_pips_message(tmp_path):
    """As on a runtime without internet: tlcourse is missing and pip cannot install it."""
    cell = colab.SETUP_CELL.replace(colab.INSTALL, str(tmp_path / "no-such-package"))
    assert cell != colab.SETUP_CELL
    # -I -S: no site-packages, so tlcourse cannot be imported; the pip the cell starts is a normal interpreter
    result = subprocess.run([sys.executable, "-I", "-S", "-c", cell], capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert result.returncode != 0
    assert "RuntimeError: Installing the course package failed" in result.stderr
    assert "pip said:" in result.stderr and "no-such-package" in result.stderr


@pytest.mark.parametrize("major, enabled", [(7, False), (8, True)])
def test_colab_widget_manager_is_enabled_for_ipywidgets_8_only(monkeypatch, major, enabled):
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    google = types.ModuleType("google")
    google_colab = types.ModuleType("google.colab")
    google_colab.output = output
    google.colab = google_colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)
    import ipywidgets

    monkeypatch.setattr(ipywidgets, "__version__", f"{major}.1.0")
    colab.enable_widget_manager()
    assert calls == ([1] if enabled else [])


def test_outside_colab_the_widget_manager_is_left_alone(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    colab.enable_widget_manager()  # would fail on the import of google.colab if it tried
