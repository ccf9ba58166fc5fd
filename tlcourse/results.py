"""Recording a lesson's key numbers, so that tests, reports and teachers can read them.

A notebook starts with :func:`tlcourse.lesson.setup` (which names the lesson) and calls
:func:`record` for every number it claims. The numbers go to a JSON file:
``$TLCOURSE_RESULTS`` when set (``python -m tlcourse run`` sets it), else
``results/<lesson>.json`` in the data folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .assets import data_dir
from .files import replace_atomically

_current_lesson = "session"


def start_recording(lesson: str) -> None:
    """Name the lesson whose numbers :func:`record` stores from now on (called by ``setup``)."""
    global _current_lesson
    _current_lesson = lesson


def results_file() -> Path:
    if os.environ.get("TLCOURSE_RESULTS"):
        return Path(os.environ["TLCOURSE_RESULTS"])
    return data_dir() / "results" / f"{_current_lesson}.json"


def _plain(value):
    """Numbers from NumPy or PyTorch become plain Python numbers, so JSON can hold them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    elif hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float):
        return round(value, 4)  # accuracies to 0.01%: more digits would be noise
    return value


def load_results(path: str | Path | None = None) -> dict:
    path = Path(path) if path else results_file()
    return json.loads(path.read_text()) if path.exists() else {}


def record(key: str, value) -> None:
    """Store ``value`` (a number, or a list/dict of numbers) under ``key`` for this lesson.

    Returns nothing, so a notebook cell that ends with ``record(...)`` shows no stray value.
    """
    path = results_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    results = load_results(path)
    results[key] = _plain(value)
    replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(results, indent=2, sort_keys=True)))
