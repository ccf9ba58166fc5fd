"""Every test, and every notebook nbval runs, uses the offline quick profile without progress bars.

At the repository's root, not in tests/: pytest loads a conftest.py only from the folders of what it collects and
their parents, so `pytest notebooks/01_finetune_cnn.ipynb` (one lesson, as a developer checks it) gets these settings
too. Before they moved here such a run had no strict claims and gave every kernel all the cores.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TLCOURSE_PROFILE", "quick")
# The tests and the notebooks nbval runs keep their downloads, caches and recorded numbers out of the checkout's data/
# folder, which is a developer's own: one folder in the system's temporary directory, kept between runs (the run and
# feature caches key on the package's code, so nothing stale is reused).
os.environ.setdefault("TLCOURSE_DATA", os.path.join(tempfile.gettempdir(), "tlcourse-tests-data"))
os.environ.setdefault("TLCOURSE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A lesson's claim that does not hold fails the test (and the nbval run of its notebook, whose kernel inherits this
# environment); in a learner's own run it only prints and records the verdict (tlcourse.profiles.claims_are_strict).
os.environ.setdefault("TLCOURSE_STRICT_CLAIMS", "1")

# pytest runs in two processes (pytest-xdist: `-n auto --dist loadfile` in pyproject.toml; each notebook and each test
# file stays in one process, in order), each with half the cores for torch. Two torch threads on one training run are
# far from twice as fast: on the course's 2-core machine one quick-profile run took 31 s with 2 threads and 42 s with
# 1, so two one-thread processes get through about 1.5x the work of one two-thread process. The notebooks' kernels
# and the course's own subprocesses inherit the thread count from this environment.
TEST_PROCESSES = 2


def pytest_xdist_auto_num_workers(config):
    return min(TEST_PROCESSES, os.cpu_count() or 1)


def torch_threads_per_process(processes: int) -> int:
    """The cores shared out among ``processes`` test processes, at least one each."""
    return max(1, (os.cpu_count() or 1) // processes)


if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # a worker process, started before anything imports torch
    _threads = str(torch_threads_per_process(int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, _threads)

# After a cell has finished, nbval reads the cell's outputs and gives up when none arrives within 5 seconds, a
# constant of its own (IPyNbCell.output_timeout). On a loaded 2-core machine the kernel's messages can lag longer:
# "Timeout of 5 seconds exceeded waiting for output" failed notebooks 01 and 06 in a run beside other jobs, although
# every cell had run. The notebooks still have nbval's per-cell limit (--nbval-cell-timeout in pyproject.toml).
NBVAL_OUTPUT_WAIT_SECONDS = 120


ROOT = Path(__file__).resolve().parent

# The two test processes take whole files, one at a time, in the collected order (xdist's loadfile, with its own
# reordering by number of items turned off in pyproject.toml), and a process is handed its next file when its current
# one is nearly done. In the default order the notebooks came late, so one process could be left running a
# 25-minute notebook alone while the other had nothing to do. Longest first ("longest processing time first"
# scheduling) makes the two finish at about the same time. The order comes from measured times (the notebooks'
# quick-profile runs, the slowest test files from `pytest --durations`); only the order matters, and a file not
# listed here runs after these, in collected order.
LONGEST_FIRST = [
    "notebooks/05_regularised_finetuning.ipynb",
    "notebooks/01_finetune_cnn.ipynb",
    "notebooks/02_finetune_bert.ipynb",
    "notebooks/06_distillation.ipynb",
    "notebooks/08_your_own_data.ipynb",
    "notebooks/07_domain_adversarial.ipynb",
    "notebooks/03_freezing.ipynb",
    "tests/test_full_profile_notebooks.py",  # all nine notebooks once more, on stand-ins: about 11 minutes
    "notebooks/04_feature_extraction.ipynb",
    "notebooks/00_what_is_transfer_learning.ipynb",
    "tests/test_browser.py",
    "tests/test_mistakes.py",
    "tests/test_notebooks_rerun.py",
    "tests/test_cli.py",
    "tests/test_run_cache.py",
    "tests/test_outside_repo.py",
    "tests/test_run_faults.py",
    "tests/test_robustness.py",
]


def _longest_first(item) -> int:
    """Where the item's file is in LONGEST_FIRST (an unlisted file after all of them)."""
    path = getattr(item, "nodeid", "").split("::")[0]
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_report_header(config):
    """The settings the notebooks' kernels inherit, on the first lines of every run (CI's log included)."""
    workers = config.getoption("numprocesses", None)
    workers = pytest_xdist_auto_num_workers(config) if workers in ("auto", "logical") else int(workers or 1)
    strict = "on" if os.environ.get("TLCOURSE_STRICT_CLAIMS") == "1" else "off"
    return (f"tlcourse settings: profile {os.environ['TLCOURSE_PROFILE']}, data {os.environ['TLCOURSE_DATA']}, "
            f"strict claims {strict}, {max(workers, 1)} test processes, torch threads per process "
            f"{torch_threads_per_process(max(workers, 1))}")


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):  # a notebook cell collected by nbval
            item.output_timeout = NBVAL_OUTPUT_WAIT_SECONDS
    items.sort(key=_longest_first)  # a stable sort: each file's own items keep their order
