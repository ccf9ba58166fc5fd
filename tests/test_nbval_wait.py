"""nbval's wait for a finished cell's output is raised from its own 5 s, and each test process gets its share of the
cores (see conftest.py at the repository's root)."""

import os
import subprocess
import sys

import torch

import conftest


class _NotebookCell:
    output_timeout = 5  # nbval's constant


class _UnitTest:
    pass


def test_nbval_waits_longer_for_a_finished_cells_output():
    cell, unit_test = _NotebookCell(), _UnitTest()
    conftest.pytest_collection_modifyitems([cell, unit_test])
    assert cell.output_timeout == conftest.NBVAL_OUTPUT_WAIT_SECONDS >= 60
    assert not hasattr(unit_test, "output_timeout")


def test_each_test_process_gives_torch_its_share_of_the_cores():
    """pytest runs in test processes (pytest-xdist); each one, its notebooks' kernels and its subprocesses use the
    cores divided by the number of processes, never the oversubscribed default of all cores per process."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    expected = conftest.torch_threads_per_process(int(workers)) if workers else torch.get_num_threads()
    in_a_kernel = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    assert torch.get_num_threads() == int(in_a_kernel) == expected
    assert conftest.pytest_xdist_auto_num_workers(None) == min(conftest.TEST_PROCESSES, os.cpu_count() or 1)


class _Item:
    def __init__(self, nodeid):
        self.nodeid = nodeid


def test_the_longest_notebooks_and_test_files_are_handed_out_first():
    """The two test processes take whole files in the collected order (xdist's loadfile, its own reordering off), so
    the longest ones start first and neither process is left running a long notebook alone at the end."""
    listed = conftest.LONGEST_FIRST
    root = conftest.ROOT
    assert all((root / path).is_file() for path in listed), "a listed file no longer exists"
    notebooks = sorted(path.relative_to(root).as_posix() for path in (root / "notebooks").glob("*.ipynb"))
    assert set(notebooks) <= set(listed), "every notebook is placed in the order (a new one too)"
    collected = [f"tests/test_unlisted.py::test_{i}" for i in range(2)]
    collected += [f"{path}::Cell {i}" for path in reversed(listed) for i in range(2)]
    items = [_Item(nodeid) for nodeid in collected]
    conftest.pytest_collection_modifyitems(items)
    order = [item.nodeid for item in items]
    assert order == [f"{path}::Cell {i}" for path in listed for i in range(2)] + collected[:2]
    assert "--no-loadscope-reorder" in (root / "pyproject.toml").read_text()


def test_a_notebook_run_alone_with_pytest_gets_the_suites_settings():
    """`pytest notebooks/NN.ipynb` (one lesson, as a developer checks it) collects no tests/ folder: the settings
    must come from the repository's root, or its kernels run without strict claims, with the checkout's own data
    folder and with every core each (a measurement of 2026-12-06 was wrong for this reason)."""
    root = conftest.ROOT
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith(("TLCOURSE_", "PYTEST_", "OMP_", "MKL_"))}
    header = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-n", "2",
                             "notebooks/00_what_is_transfer_learning.ipynb"], cwd=root, env=clean,
                            capture_output=True, text=True, timeout=300)
    settings = [line for line in header.stdout.splitlines() if line.startswith("tlcourse settings:")]
    assert settings, header.stdout[-2000:] + header.stderr[-2000:]
    assert "strict claims on" in settings[0] and "profile quick" in settings[0]
    assert f"torch threads per process {conftest.torch_threads_per_process(2)}" in settings[0]
    assert str(root / "data") not in settings[0]
