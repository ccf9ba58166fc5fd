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
