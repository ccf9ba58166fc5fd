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
# Colab's own published list (googlecolab/backend-info, commit a724079, 2026-08-19, "Upgrade to Python 3.13"),
# copied unchanged; lines "name @ url" (packages Colab builds itself) have no version to compare and are skipped.
COLAB_FREEZE = ROOT / "tests" / "data" / "colab-pip-freeze.gpu.2026-08-19.txt"
COLAB_PACKAGES = {
    name.lower().replace("_", "-"): Version(version)
    for name, version in (line.split("==") for line in COLAB_FREEZE.read_text().splitlines()
                          if "==" in line and not line.startswith("#"))
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
    assert COLAB_PACKAGES["torch"].release[:2] == (2, 11) and COLAB_PACKAGES["transformers"] == Version("5.15.0")


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


def _bare_python(tmp_path: Path) -> Path:
    """A fresh virtual environment without tlcourse that still sees the course's dependencies (torch and the
    rest, through a .pth file), as a Colab runtime has them preinstalled; returns its interpreter."""
    env = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)  # pip comes with the rest
    python = env / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (Path(site) / "course_dependencies.pth").write_text("\n".join(ours) + "\n")
    return python


def _offline_env(tmp_path: Path) -> dict:
    """No index and no git: every network source fails at once, as on a runtime without internet."""
    import os

    return {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "GIT_CONFIG_GLOBAL": str(tmp_path / "none"),
            "PYTHONPATH": "", "HOME": str(tmp_path)}


def test_the_setup_cell_installs_a_wheel_placed_next_to_the_notebook_with_no_network(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True)
    notebook_folder = tmp_path / "content"
    notebook_folder.mkdir()
    wheel = next(wheels.glob("tlcourse-*.whl"))
    wheel.rename(notebook_folder / wheel.name)
    python = _bare_python(tmp_path)
    cell = colab.SETUP_CELL + "\nprint('imported from', tlcourse.__file__)"
    result = subprocess.run([str(python), "-c", cell], capture_output=True, text=True, cwd=notebook_folder,
                            env=_offline_env(tmp_path), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"installed tlcourse from {notebook_folder / wheel.name}" in result.stdout
    assert "imported from" in result.stdout and str(ROOT) not in result.stdout.split("imported from")[1]


def test_when_every_source_fails_the_setup_cell_names_each_one(tmp_path):
    python = _bare_python(tmp_path)
    result = subprocess.run([str(python), "-c", colab.SETUP_CELL], capture_output=True, text=True, cwd=tmp_path,
                            env=_offline_env(tmp_path), timeout=600)
    assert result.returncode != 0
    message = result.stderr
    assert "RuntimeError: Could not install the course package" in message
    assert "an installed tlcourse: not found" in message
    assert "tlcourse-*.whl" in message and str(tmp_path) in message  # where it looked for a wheel
    assert f"{colab.REPOSITORY}" in message and colab.TAG in message and "pip said" in message
    assert "Password" not in message and "Username" not in message  # git never asks for credentials


def test_one_command_rewrites_every_badge_setup_cell_and_colab_setting_for_a_fork(tmp_path):
    import shutil

    copy = tmp_path / "course"
    shutil.copytree(ROOT / "notebooks", copy / "notebooks")
    shutil.copy(ROOT / "README.md", copy / "README.md")
    result = subprocess.run([sys.executable, "-m", "tlcourse.colab", "--repository", "a-teacher/her-course",
                             "--tag", "v9.9", "--root", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    readme = (copy / "README.md").read_text()
    for path in sorted((copy / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text()
        assert "github/a-teacher/her-course/blob/v9.9/notebooks/" + path.name in text and path.name in readme
        assert "git+https://github.com/a-teacher/her-course@v9.9" in text
        assert f"github/{colab.REPOSITORY}/" not in text
    assert "github/a-teacher/her-course/blob/v9.9/notebooks/00_" in readme
    assert f"github/{colab.REPOSITORY}/" not in readme


def test_every_notebook_opens_on_a_colab_gpu_runtime():
    """Without this metadata the badge opens a CPU runtime, and a learner silently gets the quick profile."""
    for path in NOTEBOOKS:
        metadata = json.loads(path.read_text())["metadata"]
        assert metadata.get("accelerator") == "GPU", path.name
        assert metadata.get("colab", {}).get("gpuType") == "T4", path.name


def _pretend_colab(monkeypatch, **parts) -> None:
    """Make ``google.colab`` importable, with ``parts`` (``output=``, ``drive=``) as its submodules."""
    google = types.ModuleType("google")
    google_colab = types.ModuleType("google.colab")
    for name, part in parts.items():
        setattr(google_colab, name, part)
    google.colab = google_colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)


@pytest.mark.parametrize("major, enabled", [(7, False), (8, True)])
def test_colab_widget_manager_is_enabled_for_ipywidgets_8_only(monkeypatch, major, enabled):
    calls = []
    _pretend_colab(monkeypatch, output=types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1)))
    import ipywidgets

    monkeypatch.setattr(ipywidgets, "__version__", f"{major}.1.0")
    colab.enable_widget_manager()
    assert calls == ([1] if enabled else [])


def test_outside_colab_the_widget_manager_is_left_alone(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delitem(sys.modules, "google", raising=False)
    colab.enable_widget_manager()  # would fail on the import of google.colab if it tried
    assert not colab.running_on_colab() and "google.colab" not in sys.modules


def test_without_a_gpu_a_lesson_says_it_fell_back_to_the_quick_profile_and_how_to_switch(monkeypatch, capsys):
    from tlcourse import lesson

    monkeypatch.delenv("TLCOURSE_PROFILE", raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert lesson.setup("fallback_test").profile == "quick"
    said = capsys.readouterr().out
    assert "no CUDA GPU" in said and "Change runtime type" in said
    monkeypatch.setenv("TLCOURSE_PROFILE", "quick")  # chosen on purpose: nothing to warn about
    lesson.setup("fallback_test")
    assert "no CUDA GPU" not in capsys.readouterr().out


def test_one_line_keeps_the_courses_data_caches_and_checkpoints_on_drive(tmp_path, monkeypatch):
    """Each Colab notebook gets its own VM: on Drive, downloads, feature caches, the run cache and checkpoints
    survive a disconnect and are shared by the notebooks (02 and 06 reuse 01's and 04's runs)."""
    from tlcourse import assets, profiles

    mounted = []
    _pretend_colab(monkeypatch, drive=types.SimpleNamespace(mount=lambda where: mounted.append(where)))
    for name in ("TLCOURSE_DATA", "TLCOURSE_CHECKPOINTS", "TORCH_HOME", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    folder = colab.keep_data_on_drive(tmp_path / "MyDrive" / "tlcourse", mount_point=str(tmp_path))
    assert mounted == [str(tmp_path)]
    assert assets.data_dir() == folder / "data" and profiles.checkpoint_dir() == folder / "checkpoints"
    import torch

    assert Path(torch.hub.get_dir()) == folder / "torch" / "hub"
    import os

    assert os.environ["HF_HOME"] == str(folder / "huggingface")


def test_outside_colab_keeping_data_on_drive_says_it_does_nothing(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    import os

    before = os.environ.get("TLCOURSE_DATA")
    assert colab.keep_data_on_drive() is None
    assert "only on Colab" in capsys.readouterr().out and os.environ.get("TLCOURSE_DATA") == before
