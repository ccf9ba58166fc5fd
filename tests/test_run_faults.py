"""Issue 34, "nothing silent, nothing lost": a fault in one notebook, in --out or in the environment is
reported where it happens, and never costs the other notebooks' results.

Tests that start real Jupyter kernels are few: one ``tlcourse run`` covers every per-notebook fault, and its
notebooks write their numbers without importing tlcourse, so that each kernel starts in about a second.
"""

import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from test_mistakes import _notebook  # a notebook of code cells, written to a path
from tlcourse import cli, results

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root writes into read-only folders anyway


def _writes_numbers(path: Path, numbers: str, *more_sources: str) -> Path:
    """A notebook that leaves ``numbers`` where ``tlcourse.record`` would, without importing torch."""
    return _notebook(path, f"import json, os\nopen(os.environ['TLCOURSE_RESULTS'], 'w').write(json.dumps({numbers}))",
                     *more_sources)


def _strict_json(path: Path):
    """Parse as strict JSON readers do (JavaScript, Go, jq): NaN and Infinity are not JSON."""
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}, which strict JSON readers reject")

    return json.loads(path.read_text(), parse_constant=refuse)


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tlcourse", "run", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


# --- one run, every per-notebook fault -------------------------------------------------------


def test_a_run_goes_on_past_each_notebooks_fault_and_keeps_every_result(tmp_path):
    out = tmp_path / "out"
    (out / "html_blocked.html").mkdir(parents=True)  # its HTML copy cannot be written, as on a full disk
    first = _writes_numbers(tmp_path / "a" / "notebooks" / "lesson.ipynb",
                            "{'x': 1, 'lr': 3e-05, 'loss': float('nan')}")
    damaged = tmp_path / "damaged.ipynb"
    damaged.write_text('{"cells": [{"cell_type": "code", "sou')  # truncated: a copy that stopped half-way
    not_a_notebook = tmp_path / "not_a_notebook.ipynb"
    not_a_notebook.write_text("print('a script saved with the wrong name')\n")
    dies = _writes_numbers(tmp_path / "dies.ipynb", "{'before': 1}", "import os\nos._exit(1)")
    blocked = _writes_numbers(tmp_path / "html_blocked.ipynb", "{'answer': 42}")
    slow = _writes_numbers(tmp_path / "slow.ipynb", "{'before': 2}", "import time\ntime.sleep(600)")
    second = _writes_numbers(tmp_path / "b" / "notebooks" / "lesson.ipynb", "{'x': 2}")
    result = _run(first, damaged, not_a_notebook, dies, blocked, slow, second, "--out", out, "--timeout", 3)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "tlcourse/cli.py" not in output and "site-packages/nbclient" not in output, output  # no traceback of ours
    runs = _strict_json(out / "results.json")
    # same file and folder name: both kept, under different keys and HTML copies
    lessons = {name: entry for name, entry in runs.items() if name.endswith("lesson")}
    assert sorted(entry["results"]["x"] for entry in lessons.values()) == [1, 2], runs
    assert len({path.name for path in out.glob("*lesson*.html")}) == 2
    # numbers as given; NaN as null, with a note that says so
    numbers = next(entry["results"] for entry in lessons.values() if entry["results"]["x"] == 1)
    assert numbers["lr"] == 3e-05 and numbers["loss"] is None and "loss" in json.dumps(numbers["notes"])
    # not a notebook: that notebook's failure, named, and the rest ran
    for bad in ("damaged", "not_a_notebook"):
        assert not runs[bad]["ok"] and f"{bad}.ipynb" in runs[bad]["error"] and "not a notebook" in runs[bad]["error"]
    # a dead kernel and a cell over --timeout: failures, with what they recorded before
    assert not runs["dies"]["ok"] and runs["dies"]["results"] == {"before": 1} and "died" in runs["dies"]["error"]
    assert not runs["slow"]["ok"] and runs["slow"]["results"] == {"before": 2} and "--timeout" in runs["slow"]["error"]
    assert "cell 1" in runs["slow"]["error"] and "cell 1" in runs["dies"]["error"]
    # the HTML copy failed: the numbers still reach results.json
    assert runs["html_blocked"]["ok"] and runs["html_blocked"]["results"] == {"answer": 42}
    assert "no HTML copy" in result.stdout and "html_blocked.html" in result.stdout
    assert "3e-05" in (out / "report.html").read_text()


def test_names_are_unique_per_notebook_path_and_per_html_file():
    paths = [Path("/c/a/notebooks/lesson.ipynb"), Path("/c/b/notebooks/lesson.ipynb"),
             Path("/c/a__notebooks/lesson.ipynb"), Path("/c/99_other.ipynb"), Path("/c/99_other.ipynb")]
    names = cli._unique_names(paths)
    assert names[3] == "99_other" and len(set(names)) == len(paths), names
    assert len({name.replace("/", "__").casefold() for name in names}) == len(paths), names
    assert "a/notebooks/lesson" in names and "b/notebooks/lesson" in names


# --- --out and the data folder, checked before any kernel starts -----------------------------


def _refused(tmp_path, capsys, *args) -> str:
    marker = tmp_path / "ran.txt"
    notebook = _notebook(tmp_path / "95_marker.ipynb", f"open({str(marker)!r}, 'w').write('ran')")
    assert cli.main(["run", str(notebook), *map(str, args)]) == 2
    assert not marker.exists()
    return capsys.readouterr().err


def test_out_naming_a_file_is_refused_before_running(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    message = _refused(tmp_path, capsys, "--out", target)
    assert str(target) in message and "--out" in message and "folder" in message
    message = _refused(tmp_path, capsys, "--out", target / "run1")
    assert str(target) in message and "--out" in message
    assert target.read_text() == "keep me"


@pytest.mark.skipif(AS_ROOT, reason="root can write into a read-only folder")
def test_out_in_a_read_only_folder_is_refused_before_running(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        message = _refused(tmp_path, capsys, "--out", locked / "run1")
    finally:
        locked.chmod(0o755)
    assert str(locked / "run1") in message and "--out" in message


def test_unusable_data_folder_is_refused_before_running(tmp_path, capsys, monkeypatch):
    not_a_folder = tmp_path / "data.txt"
    not_a_folder.write_text("")
    monkeypatch.setenv("TLCOURSE_DATA", str(not_a_folder))
    message = _refused(tmp_path, capsys)  # without --out the numbers go to the data folder
    assert str(not_a_folder) in message and "TLCOURSE_DATA" in message


# --- doctor always informs, and exits 0 ------------------------------------------------------


def test_doctor_explains_a_bad_profile_and_exits_0(monkeypatch, capsys):
    monkeypatch.setenv("TLCOURSE_PROFILE", "bogus")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.doctor() == 0
    shown = capsys.readouterr().out
    assert "bogus" in shown and "TLCOURSE_PROFILE" in shown and "quick" in shown
    assert "efficientnet_lite0_imagenet" in shown  # the rest of the report is still there


def test_doctor_explains_an_unusable_data_folder_and_exits_0(tmp_path, monkeypatch, capsys):
    not_a_folder = tmp_path / "data.txt"
    not_a_folder.write_text("")
    monkeypatch.setenv("TLCOURSE_DATA", str(not_a_folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.doctor() == 0
    shown = capsys.readouterr().out
    assert str(not_a_folder) in shown and "TLCOURSE_DATA" in shown
    assert "efficientnet_lite0_imagenet" in shown


@pytest.mark.skipif(AS_ROOT, reason="root can write into a read-only folder")
def test_doctor_says_a_read_only_data_folder_cannot_be_written(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "data"
    locked.mkdir()
    locked.chmod(0o555)
    monkeypatch.setenv("TLCOURSE_DATA", str(locked))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        assert cli.doctor() == 0
    finally:
        locked.chmod(0o755)
    shown = capsys.readouterr().out
    assert str(locked) in shown and "TLCOURSE_DATA" in shown and "cannot be written" in shown


# --- in place, results files ----------------------------------------------------------------


def test_in_place_keeps_the_notebooks_file_mode(tmp_path):
    path = _notebook(tmp_path / "in_place.ipynb", "x = 6 * 7\nx")
    path.chmod(0o640)
    ok, _, error, _ = cli.execute_notebook(path, None, tmp_path / "r.json", in_place=True)
    assert ok, error
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["data"]["text/plain"] == "42"


def test_recorded_numbers_are_kept_as_given_and_the_file_is_strict_json(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    monkeypatch.setenv("TLCOURSE_RESULTS", str(path))
    results.record("lr", 3e-5)
    results.record("accuracy", 0.123456789)
    results.record("loss", float("nan"))
    results.record("curve", [0.5, float("inf")])
    stored = _strict_json(path)
    assert stored["lr"] == 3e-5 and stored["accuracy"] == 0.123456789
    assert stored["loss"] is None and stored["curve"] == [0.5, None]
    notes = json.dumps(stored["notes"])
    assert "loss" in notes and "NaN" in notes and "curve" in notes and "inf" in notes.lower()
    results.record("loss", 0.25)  # a finite value later: the note about it goes
    stored = _strict_json(path)
    assert stored["loss"] == 0.25 and "loss" not in json.dumps(stored["notes"])


def test_report_rounds_only_for_display(tmp_path):
    from tlcourse.report import write_report

    collected = {"n": {"ok": True, "seconds": 1.0, "profile": "quick",
                       "results": {"accuracy": 0.876543219, "lr": 3e-5, "loss": None}}}
    page = write_report(collected, {}, tmp_path / "report.html").read_text()
    assert "<td>accuracy</td><td>0.8765</td>" in page and "<td>lr</td><td>3e-05</td>" in page
    assert math.isclose(collected["n"]["results"]["accuracy"], 0.876543219)  # the numbers themselves untouched


@pytest.mark.parametrize("damage", ['{"answer": 4', "[1, 2]"])
def test_a_damaged_results_file_is_named_and_record_keeps_the_new_value(tmp_path, monkeypatch, capsys, damage):
    path = tmp_path / "lesson.json"
    path.write_text(damage)
    monkeypatch.setenv("TLCOURSE_RESULTS", str(path))
    with pytest.raises(ValueError) as caught:
        results.load_results(path)
    message = str(caught.value)
    assert str(path) in message and "delete" in message.lower() and "TLCOURSE_RESULTS" in message
    results.record("answer", 42)
    assert results.load_results(path) == {"answer": 42}
    set_aside = [p for p in tmp_path.iterdir() if p != path]
    assert len(set_aside) == 1 and set_aside[0].read_text() == damage  # the damaged copy is kept, not lost
    assert str(set_aside[0]) in capsys.readouterr().err


def test_a_claim_that_did_not_hold_in_a_learners_run_is_listed_and_the_exit_status_says_so(tmp_path):
    """Outside strict checking a lesson carries on past a claim its numbers do not support (issue 32); the run's
    summary must then name it, and the exit status must not say that everything held."""
    notebook = _notebook(tmp_path / "claims.ipynb",
                         "import tlcourse\nlesson = tlcourse.setup('claims', verbose=False)\n"
                         "lesson.claim(True, 'holds')\nlesson.claim(False, 'pretrained beats scratch')\n"
                         "print('the notebook went on')")
    result = _run(notebook, "--out", tmp_path / "out", env={"TLCOURSE_STRICT_CLAIMS": "0"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "claims did not hold" in result.stderr and "pretrained beats scratch" in result.stderr
    entry = _strict_json(tmp_path / "out" / "results.json")["claims"]
    assert entry["ok"] and entry["results"]["claims that did not hold"] == ["pretrained beats scratch"]
