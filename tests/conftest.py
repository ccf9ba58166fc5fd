"""Every test, and every notebook nbval runs, uses the offline quick profile without progress bars."""

import os
import tempfile

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

# After a cell has finished, nbval reads the cell's outputs and gives up when none arrives within 5 seconds, a
# constant of its own (IPyNbCell.output_timeout). On a loaded 2-core machine the kernel's messages can lag longer:
# "Timeout of 5 seconds exceeded waiting for output" failed notebooks 01 and 06 in a run beside other jobs, although
# every cell had run. The notebooks still have nbval's per-cell limit (--nbval-cell-timeout in pyproject.toml).
NBVAL_OUTPUT_WAIT_SECONDS = 120


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):  # a notebook cell collected by nbval
            item.output_timeout = NBVAL_OUTPUT_WAIT_SECONDS
