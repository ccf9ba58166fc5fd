"""nbval's wait for a finished cell's output is raised from its own 5 s (see tests/conftest.py)."""

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
