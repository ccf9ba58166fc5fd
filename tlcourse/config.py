"""Every setting the course reads from the environment, in one place.

A learner sets these in a shell (``TLCOURSE_PROFILE=quick jupyter lab``) or in a notebook's first cell
(``os.environ["TLCOURSE_PROFILE"] = "quick"``) before ``tlcourse.setup``. The README lists them too. No other
module of the package reads or writes ``os.environ`` for a ``TLCOURSE_*`` variable: they call :func:`read`,
:func:`is_on`, :func:`folder` and :func:`put` here, so a search for one name finds every use.
"""

from __future__ import annotations

import os
from pathlib import Path

# name of the variable            what it sets (default when unset)
PROFILE = "TLCOURSE_PROFILE"  # quick | full (full when a CUDA GPU is present, else quick)
SCALE = "TLCOURSE_SCALE"  # normal | smoke: smoke shrinks every size to check that a lesson runs (normal)
DATA = "TLCOURSE_DATA"  # the data folder: downloads, caches, saved runs (data/ in a checkout, else ~/.cache)
RESULTS = "TLCOURSE_RESULTS"  # the results file `tlcourse run` collects every lesson's numbers in (none)
CHECKPOINTS = "TLCOURSE_CHECKPOINTS"  # where long runs checkpoint (Google Drive when mounted, else the data folder)
PROGRESS = "TLCOURSE_PROGRESS"  # 0 hides training progress bars, as `tlcourse run` does for stored outputs (1)
IMAGE_SIZE = "TLCOURSE_IMAGE_SIZE"  # pixels, replacing the profile's image size: for the offline tests (none)
STAND_INS = "TLCOURSE_STAND_INS"  # 1 when the downloads are stand-ins with random weights: claims unchecked (0)
STRICT_CLAIMS = "TLCOURSE_STRICT_CLAIMS"  # 1 makes a claim that does not hold stop the run: tests and CI (0)

ALL = (PROFILE, SCALE, DATA, RESULTS, CHECKPOINTS, PROGRESS, IMAGE_SIZE, STAND_INS, STRICT_CLAIMS)


def read(name: str, default: str = "") -> str:
    """The variable's value without surrounding spaces, or ``default`` when it is unset or empty."""
    return os.environ.get(name, "").strip() or default


def is_on(name: str, default: bool = False) -> bool:
    """A switch: unset gives ``default``; ``0``, ``false``, ``no`` and ``off`` are off, anything else on."""
    value = read(name).lower()
    if not value:
        return default
    return value not in ("0", "false", "no", "off")


def folder(name: str) -> Path | None:
    """A folder named by the variable (``~`` expanded), or None when it is unset."""
    value = read(name)
    return Path(value).expanduser() if value else None


def put(name: str, value) -> None:
    """Set a variable for this process and the processes it starts (a notebook kernel, say)."""
    if name not in ALL:
        raise ValueError(f"{name!r} is not one of the course's settings: {', '.join(ALL)}.")
    os.environ[name] = str(value)


def put_default(name: str, value) -> None:
    """Set a variable only when the user has not set it."""
    if not read(name):
        put(name, value)
