"""Running the course on Google Colab: the notebooks' setup cell, the Colab badges, Colab's widget manager.

The repository's address lives here, once. Every notebook's first cell is :data:`SETUP_CELL` and every
Colab badge in README is :func:`badge_url`; tests/test_colab.py checks that they still are.
"""

from __future__ import annotations

import sys

REPOSITORY = "tlcourse/tlcourse"  # owner/name on GitHub
INSTALL = f"tlcourse @ git+https://github.com/{REPOSITORY}"

# A failed %pip install prints its error and carries on, and the learner would only meet a
# ModuleNotFoundError later. So the cell runs pip itself and stops, loudly, with pip's own words.
SETUP_CELL = f'''# Setup: install the course package when it is missing (Colab, a fresh environment).
# On a Colab GPU runtime the full profile is picked automatically.
try:
    import tlcourse
except ImportError:
    import subprocess
    import sys

    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{INSTALL}"],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError("Installing the course package failed. Check that the runtime is connected to the "
                           "internet, then run this cell again. pip said:\\n" + pip.stderr[-2000:])
    import tlcourse'''


def badge_url(notebook: str) -> str:
    """The "Open in Colab" link of a notebook (its file name, e.g. ``03_freezing.ipynb``)."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{notebook}"


def running_on_colab() -> bool:
    return "google.colab" in sys.modules


def enable_widget_manager() -> None:
    """Let Colab draw ipywidgets 8 sliders (Colab renders its own ipywidgets 7 without help).

    Does nothing outside Colab, so it is safe to call from every explorer.
    """
    if not running_on_colab():
        return
    import ipywidgets

    if int(ipywidgets.__version__.split(".")[0]) >= 8:
        from google.colab import output

        output.enable_custom_widget_manager()
