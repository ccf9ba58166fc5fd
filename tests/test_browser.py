"""The course as a learner meets it: JupyterLab in a real (headless) Chromium, driven by Playwright.

One JupyterLab (free port, random token) serves a copy of the notebooks. The tests open every stored notebook
(its outputs render, no widget errors, saving it untouched changes no byte), run a softmax-temperature explorer
and move its slider (readout and figure change), and check the check itself on an explorer whose slider is broken.
Browser console errors fail the tests, except for resources that need the internet (the Colab badge, CDNs).

Needs ``pip install playwright`` and Debian's Chromium (``apt-get install chromium``); Playwright drives it
through ``executable_path``, so no browser download is needed. In CI (``CI=true``) a missing one is a failure.
"""

from __future__ import annotations

import difflib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, NamedTuple

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
INSTALL_HINT = "pip install playwright && apt-get install chromium  (or set CHROMIUM to a Chromium binary)"
EXPLORER_CODE = ("import torch\nfrom tlcourse import widgets\n"
                 "slider = widgets.temperature_explorer(torch.tensor([3.0, 1.5, 0.5, -1.0]), "
                 "['cat', 'dog', 'fox', 'owl'], start=1)")
BROKEN_CODE = EXPLORER_CODE + "\nslider.unobserve_all('value')  # broken on purpose: moving it redraws nothing"


def _chromium_or_explain() -> str:
    """Path of a Chromium that Playwright can drive; fails in CI, skips elsewhere, when something is missing."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        missing.append("a chromium binary")
    if missing:
        message = f"browser test needs {' and '.join(missing)}: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return chromium


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_notebook(path: Path, code: str) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                       "name": "python3"}
    nbformat.write(notebook, path)


def _lab_environment(settings: Path) -> dict:
    """JupyterLab's environment: this checkout's tlcourse, the inline backend, every cell rendered."""
    settings.mkdir()
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}')  # render all cells, not only those in view, so every output is checked
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    return env


def _wait_until_up(url: str, server: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    """Wait for JupyterLab's API to answer; on failure, say why with the end of its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {seconds} s")


class Lab(NamedTuple):
    chromium: str  # the browser binary Playwright drives
    url_of: Callable[[str], str]  # notebook name -> the JupyterLab address that opens it alone
    folder: Path  # where the notebooks it serves are


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running JupyterLab over a copy of the notebooks and two explorer notebooks; shut down afterwards."""
    chromium = _chromium_or_explain()
    folder = tmp_path_factory.mktemp("course")
    for notebook in NOTEBOOKS:
        shutil.copy(notebook, folder / notebook.name)
    _write_notebook(folder / "explorer.ipynb", EXPLORER_CODE)
    _write_notebook(folder / "broken_explorer.ipynb", BROKEN_CODE)
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path_factory.mktemp("log") / "jupyterlab.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
         f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('workspaces')}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--allow-root"],
        env=_lab_environment(tmp_path_factory.mktemp("lab") / "settings"),
        stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/api/status?token={token}", server, log)
        yield Lab(chromium, lambda name: f"http://127.0.0.1:{port}/lab/tree/{name}?reset&token={token}", folder)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=lab.chromium)
        yield browser
        browser.close()


def _needs_internet(error: str) -> bool:
    """A resource from outside this machine (the Colab badge, a CDN): it cannot load offline, which is fine."""
    return error.startswith("Failed to load resource") and "[http://127.0.0.1:" not in error


def _open(browser, url: str):
    """Open a notebook in a fresh tab and wait until its kernel is idle; returns ``(page, console_errors)``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(
        f"{message.text} [{message.location.get('url', '')}]"))
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.goto(url)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    return page, errors


def _real_errors(errors: list[str]) -> list[str]:
    return [error for error in errors if not _needs_internet(error)]


def _diff(before: bytes, after: bytes) -> str:
    """The first differing lines, each cut to 200 characters: difflib on whole lines of base64 images
    takes minutes."""
    cut = [[line[:200] for line in text.decode().splitlines()] for text in (before, after)]
    lines = difflib.unified_diff(*cut, lineterm="", n=1)
    return "\n".join(list(lines)[:40])


def _save_and_wait(page, path: Path) -> None:
    """Save with Ctrl+S, as a learner would, and wait until the file on disk has been rewritten."""
    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel").first.click(position={"x": 5, "y": 60})
    page.keyboard.press("Control+s")
    _wait_until_rewritten(path, before)


def _wait_until_rewritten(path: Path, before_ns: int, seconds: float = 20) -> None:
    """Wait until ``path`` is newer than ``before_ns`` and holds a whole notebook. Jupyter's server writes a notebook
    in place (after copying the old one aside), so the new time shows while the file is still empty or half written:
    on a loaded machine the test once read an empty file."""
    deadline = time.monotonic() + seconds
    while True:
        if path.stat().st_mtime_ns != before_ns:
            try:
                nbformat.reads(path.read_text(), 4)
                return
            except Exception:  # not yet all written
                pass
        assert time.monotonic() < deadline, f"{path.name} was not saved"
        time.sleep(0.2)


def test_the_wait_for_a_save_outlasts_a_file_written_in_two_steps(tmp_path):
    """The server's save as seen from outside: first the file is emptied (its time changes), then it is filled."""
    path = tmp_path / "saved.ipynb"
    whole = nbformat.writes(nbformat.v4.new_notebook())
    path.write_text(whole)
    before = path.stat().st_mtime_ns

    def save_in_two_steps():
        time.sleep(0.3)
        path.write_text("")
        os.utime(path, ns=(before + 10**9, before + 10**9))
        time.sleep(1.0)
        path.write_text(whole)

    saver = threading.Thread(target=save_in_two_steps)
    saver.start()
    _wait_until_rewritten(path, before)
    assert path.read_text() == whole
    saver.join()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_opens_renders_and_saves_unchanged(lab, browser, notebook):
    path = lab.folder / notebook.name
    stored = path.read_bytes()
    page, errors = _open(browser, lab.url_of(notebook.name))
    try:
        stored_images = sum("image/png" in output.get("data", {})
                            for cell in nbformat.reads(stored.decode(), 4).cells for output in cell.get("outputs", []))
        page.wait_for_function(f"document.querySelectorAll('.jp-OutputArea-output img').length >= {stored_images}",
                               timeout=30_000)
        assert page.locator(".jp-RenderedMarkdown").count() > 0
        assert page.get_by_text("Error displaying widget").count() == 0
        time.sleep(1)  # time for JupyterLab to fill in the kernel's metadata, were any missing
        dirty = page.locator(".jp-mod-dirty").count()
        _save_and_wait(page, path)
    finally:
        page.close()
    assert dirty == 0, "JupyterLab marks the untouched notebook as modified"
    saved = path.read_bytes()
    assert saved == stored, "saving the untouched notebook in JupyterLab changed it:\n" + _diff(stored, saved)
    assert _real_errors(errors) == []


def _value_of_when_changed(read, before: str, seconds: float) -> str:
    """Poll ``read()`` until it differs from ``before`` (a redraw arrives from the kernel) or time runs out."""
    deadline = time.monotonic() + seconds
    while (now := read()) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    return now


def _move_and_check(page, move, how: str) -> None:
    """``move()`` the slider; its readout and the figure in the explorer must both change."""
    readout = page.locator(".widget-readout").first
    figure = page.locator(".widget-output img").first
    readout_before, figure_before = readout.inner_text(), figure.get_attribute("src")
    move()
    readout_after = _value_of_when_changed(readout.inner_text, readout_before, 10)
    assert readout_after != readout_before, f"moving the slider by {how} did not change its readout"
    figure_after = _value_of_when_changed(lambda: figure.get_attribute("src"), figure_before, 10)
    assert figure_after != figure_before, f"moving the slider by {how} (to {readout_after}): figure did not change"
    assert page.locator(".jp-OutputArea-output img").count() == 1, "the explorer shows more than one figure"


def _run_first_cell(page) -> None:
    """Run the first cell with Ctrl+Enter; again if the keystroke was lost while JupyterLab was still busy."""
    from playwright.sync_api import expect

    prompt = page.locator(".jp-Cell .jp-InputPrompt").first
    for attempt in range(3):
        page.locator(".jp-Cell .jp-InputArea-editor").first.click()
        page.keyboard.press("Control+Enter")
        try:
            expect(prompt).not_to_have_text("[ ]:", timeout=5_000)
            return
        except AssertionError:
            if attempt == 2:
                raise


def check_explorer(browser, url: str) -> list[str]:
    """Run the explorer cell, move its slider by keyboard and by mouse; returns the console errors."""
    page, errors = _open(browser, url)
    try:
        _run_first_cell(page)
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.wait_for(timeout=60_000)
        page.locator(".widget-output img").first.wait_for(timeout=30_000)
        label = page.locator(".widget-slider .widget-label").first
        assert label.evaluate("node => node.scrollWidth <= node.clientWidth"), "the slider's label is cut off"
        _move_and_check(page, lambda: (handle.focus(), page.keyboard.press("ArrowRight")), "keyboard")
        track = page.locator(".widget-slider .noUi-target").first.bounding_box()
        _move_and_check(page, lambda: page.mouse.click(track["x"] + track["width"] - 2,
                                                       track["y"] + track["height"] / 2), "mouse")
        assert page.get_by_text("Error displaying widget").count() == 0
    finally:
        page.close()
    return _real_errors(errors)


def test_explorer_slider_redraws_its_one_figure(lab, browser):
    assert check_explorer(browser, lab.url_of("explorer.ipynb")) == []


def test_the_check_fails_on_an_explorer_whose_slider_redraws_nothing(lab, browser):
    with pytest.raises(AssertionError, match="figure did not change"):
        check_explorer(browser, lab.url_of("broken_explorer.ipynb"))


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(outcome, match="apt-get install chromium"):
        _chromium_or_explain()
