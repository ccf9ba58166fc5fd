"""Recording a lesson's key numbers, so that tests, reports and teachers can read them.

A notebook starts with :func:`tlcourse.lesson.setup` (which names the lesson) and calls
:func:`record` for every number it claims. The numbers go to a JSON file:
``$TLCOURSE_RESULTS`` when set (``python -m tlcourse run`` sets it), else
``results/<lesson>.json`` in the data folder.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from . import config
from .assets import data_dir
from .files import move_aside, replace_atomically

_current_lesson = "session"


def start_recording(lesson: str) -> None:
    """Name the lesson whose numbers :func:`record` stores from now on (called by ``setup``)."""
    global _current_lesson
    _current_lesson = lesson


def results_file() -> Path:
    if config.folder(config.RESULTS):
        return config.folder(config.RESULTS)
    return data_dir() / "results" / f"{_current_lesson}.json"


def _plain(value):
    """Numbers from NumPy or PyTorch become plain Python numbers, so JSON can hold them. Kept as given:
    rounding here stored a learning rate of 3e-5 as 0.0 (the report rounds for display only)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value


_NOT_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_safe(value, where: str = "") -> tuple[object, dict[str, str]]:
    """``value`` with every NaN and infinity replaced by None, and a note for each (``{"loss": "was NaN; stored
    as null"}``). Strict JSON readers (browsers, jq, Go) reject NaN, so a results file holds null instead."""
    if isinstance(value, dict):
        pairs = [json_safe(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()]
        cleaned = dict(zip(value, (item for item, _ in pairs)))
    elif isinstance(value, list):
        pairs = [json_safe(item, f"{where}[{index}]") for index, item in enumerate(value)]
        cleaned = [item for item, _ in pairs]
    elif isinstance(value, float) and not math.isfinite(value):
        return None, {where: f"was {_NOT_FINITE[repr(value)]}; stored as null"}
    else:
        return value, {}
    return cleaned, {where: note for _, notes in pairs for where, note in notes.items()}


def load_results(path: str | Path | None = None) -> dict:
    """The numbers recorded so far (``{}`` when none). A damaged file is named, with what to do about it."""
    path = Path(path) if path else results_file()
    if not path.exists():
        return {}
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        problem = None if isinstance(results, dict) else "does not hold a JSON object"
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        problem = f"is not valid JSON ({err})"
    if problem:
        raise ValueError(f"The results file {path} {problem}: it was damaged, or written by something else. "
                         "Delete it (the next run records its numbers afresh), or set TLCOURSE_RESULTS to "
                         "another file.")
    return results


def _set_aside(path: Path, err: ValueError) -> None:
    """Move a damaged results file out of the way, keeping it, so that the next number can be stored."""
    kept = move_aside(path)  # an earlier damaged copy is kept too
    print(f"{err}\nIts content is kept in {kept}; the numbers recorded from now on go to a new {path}.",
          file=sys.stderr)


def record(key: str, value) -> None:
    """Store ``value`` (a number, or a list/dict of numbers) under ``key`` for this lesson.

    NaN and infinities are stored as null, with an entry under ``"notes"`` saying which. A damaged results
    file is set aside (and named) rather than losing this value. Returns nothing, so a notebook cell that
    ends with ``record(...)`` shows no stray value.
    """
    if key == "notes":
        raise ValueError('"notes" is where record explains stored values (a NaN stored as null): choose another key.')
    path = results_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        results = load_results(path)
    except ValueError as err:
        _set_aside(path, err)
        results = {}
    results[key], notes = json_safe(_plain(value), key)
    earlier = results.get("notes") if isinstance(results.get("notes"), dict) else {}
    kept = {where: note for where, note in earlier.items()
            if where != key and not where.startswith((f"{key}.", f"{key}["))}
    if kept or notes:
        results["notes"] = {**kept, **notes}
    else:
        results.pop("notes", None)
    text = json.dumps(results, indent=2, sort_keys=True, allow_nan=False)
    replace_atomically(path, lambda tmp: tmp.write_text(text))
