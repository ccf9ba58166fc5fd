"""nbval's wait for a finished cell's output is raised from its own 5 s, and each test process gets its share of the
cores (see tests/conftest.py)."""

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
