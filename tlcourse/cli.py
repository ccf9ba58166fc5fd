"""Command line: ``python -m tlcourse doctor`` and ``python -m tlcourse run``.

* ``doctor`` says which profile and device the course would use, the versions
  of the main libraries, and whether every asset is present or fetchable.
* ``run`` executes notebooks headless (as a teacher would before a lecture, or
  CI), writes an HTML copy of each, and collects every number the notebooks
  recorded into ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from . import config
from .assets import ASSETS, data_dir
from .files import replace_atomically
from .profiles import get_device, get_profile
from .results import json_safe, load_results

# The libraries whose version can change a recorded number (numpy and scipy: the linear probes' solver;
# scikit-image: the MNIST-M style backgrounds) or break a lesson: printed so two runs can be compared.
LIBRARIES = ["torch", "torchvision", "timm", "transformers", "datasets", "numpy", "scipy", "scikit-learn",
             "scikit-image", "matplotlib", "ipywidgets"]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def doctor() -> int:
    """Print the environment and every asset's status. Always exits 0: it only informs, so a bad setting
    (TLCOURSE_PROFILE, TLCOURSE_DATA) is printed with what to do, where it would have stopped the course."""
    import torch

    device = get_device()
    device_name = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "CPU"
    print(f"profile : {_profile_line()}")
    print(f"device  : {device} ({device_name}), {os.cpu_count()} CPU cores")
    print(f"python  : {platform.python_version()}")
    for package in LIBRARIES:
        print(f"{package:<12}: {_version(package)}")
    problem = _data_folder_problem()
    print(f"data dir: {data_dir() if problem is None else f'NOT USABLE: {problem}. {DATA_ADVICE}'}")
    print()
    print(f"{'asset':<28}{'profile':<9}{'kind':<9}{'status':<16}source")
    for asset in ASSETS.values():
        print(f"{asset.name:<28}{asset.profile:<9}{asset.kind:<9}{_asset_status(asset):<16}{asset.source}")
    print("\npresent = ready offline, sha256 verified where the file is fixed; corrupt = reinstall (see the error); "
          "fetchable = downloaded on first use; needs internet = downloaded on first use, but this machine is "
          "offline; missing = see data/README.md; unknown = could not be checked (see the data dir line)")
    return 0


def _profile_line() -> str:
    """The profile the course would use, or why the setting is refused (the course stops at ``setup()``)."""
    try:
        return f"{get_profile()}  (set {config.PROFILE}=quick|full to choose)"
    except ValueError as err:
        return f"NOT USABLE: {err} Until it is fixed every notebook stops at setup()."


DATA_ADVICE = ("Downloads, caches and recorded numbers go to the data folder: set TLCOURSE_DATA to a folder you "
               "can write to (it is created if missing), or unset it to use the default.")


def _data_folder_problem() -> str | None:
    """Why the data folder (``TLCOURSE_DATA``, or the default) cannot take files, or None."""
    try:
        folder = data_dir()
    except OSError as err:  # data_dir creates the folder: TLCOURSE_DATA names a file, or a read-only place
        folder = config.folder(config.DATA) or Path(err.filename or "").expanduser()
        return _cannot_write(folder) or f"{folder} cannot be used as the data folder ({err.strerror or err})"
    return _cannot_write(folder)


def _cannot_write(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (created if missing), or None. Checked before a run starts,
    so that an hour of notebooks does not end in a folder that cannot take their results."""
    existing = next((place for place in (folder, *folder.parents) if place.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return f"{folder} cannot be written ({err.strerror or err})"
    return None


def _asset_status(asset) -> str:
    """``asset.status()``, or "unknown" when it cannot be checked (an unusable data folder): doctor goes on."""
    try:
        return asset.status()
    except Exception:  # doctor only informs; the reason is on the data dir line, or appears on use
        return "unknown"


def _clean_metadata(notebook) -> None:
    """Store a notebook exactly as JupyterLab saves it, so that opening it does not mark it modified.

    JupyterLab writes the kernelspec of the kernel it starts and that kernel's ``language_info`` (which nbclient
    has just set from the same kernel). Per-cell timings and widget state are dropped: a stored notebook has no
    live widgets, so each explorer output keeps only its figure and a one-line text (see ``widgets``).
    """
    from jupyter_client.kernelspec import KernelSpecManager

    from .widgets import WIDGET_VIEW

    spec = KernelSpecManager().get_kernel_spec("python3")
    notebook.metadata.pop("widgets", None)
    notebook.metadata["kernelspec"] = {"display_name": spec.display_name, "language": spec.language,
                                       "name": "python3"}
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)


ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _cell_label(notebook, index: int | None) -> str:
    """'cell 12 (its first line)', or 'before the first cell' when no cell had started."""
    if index is None:
        return "before the first cell"
    first_line = next((line.strip() for line in notebook.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index} ({first_line[:70]})"


def _failed_cell(notebook) -> str | None:
    """'cell 12 (first line): ValueError: ...' for the cell whose error stopped the run."""
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{_cell_label(notebook, index)}: {output.ename}: {ANSI_CODES.sub('', output.evalue)}"
    return None


def _stopped_by_ctrl_c(client) -> bool:
    """While a notebook runs, nbclient handles Ctrl-C itself: it shuts the kernel down, and the run
    then ends with whatever error that causes. Its handler leaves this future behind."""
    return getattr(client, "_async_cleanup_kernel_future", None) is not None


def execute_notebook(path: Path, out: Path | None, results: Path, in_place: bool = False, timeout: int = 1800,
                     name: str | None = None, cell_seconds: dict | None = None):
    """Run one notebook top to bottom in a fresh kernel; return ``(ok, seconds, error, executed_notebook)``.

    A file that is not a notebook, a cell's error, a kernel that dies and a cell running over ``timeout``
    seconds all end this notebook with ``ok`` False and the reason (``executed_notebook`` is None when the file
    could not be read). Ctrl-C raises KeyboardInterrupt; an in-place copy that cannot be written raises
    OSError, the notebook file unchanged. ``cell_seconds``, when given, receives each executed code cell's
    seconds by cell index.
    """
    results.unlink(missing_ok=True)  # no numbers of an earlier run can pass for this one's
    notebook, error = _read_notebook(path)
    if notebook is None:
        return False, 0.0, error, None
    config.put(config.RESULTS, results.resolve())  # the kernel runs in the notebook's folder
    started = time.perf_counter()
    error = _execute(notebook, path, timeout, cell_seconds)
    seconds = time.perf_counter() - started
    _clean_metadata(notebook)
    if in_place and error is None:
        import nbformat

        replace_atomically(path, lambda tmp: nbformat.write(notebook, tmp))
    if out is not None:
        _write_html_copy(notebook, out / f"{_file_name(name or path.stem)}.html")
    return error is None, seconds, error, notebook


def _read_notebook(path: Path):
    """``(notebook, None)``, or ``(None, why)`` for a file that is not a notebook (a truncated copy, a script
    saved as .ipynb): that notebook fails, the others still run."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4), None
    except Exception as err:  # nbformat raises JSON, Unicode, schema and attribute errors for such files
        reason = ANSI_CODES.sub("", f"{type(err).__name__}: {err}").strip().splitlines()[0][:200]
        return None, (f"{path} is not a notebook / damaged JSON ({reason}). Open it in Jupyter to check, or "
                      "restore it from a backup or git, then run it again.")


def _execute(notebook, path: Path, timeout: int, cell_seconds: dict | None = None) -> str | None:
    """Execute ``notebook`` (in place); None when every cell ran, else what stopped it, naming the cell.
    Each finished code cell's seconds go into ``cell_seconds`` (by index) when it is given."""
    from nbclient import NotebookClient

    running = {}  # the cell that started last: a dead kernel or a timeout names no cell itself
    cell_seconds = {} if cell_seconds is None else cell_seconds

    def started(cell, cell_index):
        running.update(index=cell_index, since=time.perf_counter())

    def finished(cell, cell_index, execute_reply):
        cell_seconds[cell_index] = time.perf_counter() - running["since"]

    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=started, on_cell_executed=finished)
    try:
        client.execute()
    except Exception as err:
        if _stopped_by_ctrl_c(client):
            raise KeyboardInterrupt from None
        return _what_stopped(err, notebook, running.get("index"), timeout)
    return None


def _what_stopped(err: Exception, notebook, index: int | None, timeout: int) -> str:
    """One line for the reason a notebook stopped: the cell, and what to do."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if isinstance(err, CellExecutionError):
        return _failed_cell(notebook) or ANSI_CODES.sub("", str(err)).strip().splitlines()[-1]
    where = _cell_label(notebook, index)
    if isinstance(err, CellTimeoutError):
        return (f"{where}: still running after the --timeout of {timeout} s, so the kernel was stopped. Pass a "
                "larger --timeout, or use a smaller profile (--profile quick).")
    if isinstance(err, DeadKernelError):
        return (f"{where}: the kernel died (out of memory, a crash in compiled code, or os._exit). Run the "
                "notebook in Jupyter to see where; on a small machine try --profile quick.")
    return f"{where}: {type(err).__name__}: {err}"


def _write_html_copy(notebook, target: Path) -> None:
    """The executed notebook as HTML, for reading the run later. A broken nbconvert (no templates, say) or a
    full disk costs only this copy, never the run's results."""
    from nbconvert import HTMLExporter

    try:
        html, _ = HTMLExporter().from_notebook_node(notebook)
    except Exception as err:
        print(f"  no HTML copy of this notebook: nbconvert failed ({type(err).__name__}: {err})")
        return
    try:
        replace_atomically(target, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    except OSError as err:  # replace_atomically names the file and says what to do
        print(f"  no HTML copy of this notebook: {err}")


def _unique_names(paths: list[Path]) -> list[str]:
    """Each notebook's name in results.json: its stem, or as many of its last folders as set it apart
    (a/notebooks/lesson and b/notebooks/lesson); a notebook given twice gets " (2)"."""
    names = []
    for path in paths:
        parts = path.with_suffix("").parts
        others = [other.with_suffix("").parts for other in paths if other != path]
        depth = 1
        while depth < len(parts) - 1 and any(other[-depth:] == parts[-depth:] for other in others):
            depth += 1
        names.append("/".join(parts[-depth:]))
    return _numbered(names)


def _numbered(names: list[str]) -> list[str]:
    """``names`` with " (2)", " (3)"... added where two would share a file name (HTML copy, raw results),
    compared as a case-insensitive file system would."""
    seen, unique = set(), []
    for name in names:
        candidate, number = name, 1
        while _file_name(candidate).casefold() in seen:
            number += 1
            candidate = f"{name} ({number})"
        seen.add(_file_name(candidate).casefold())
        unique.append(candidate)
    return unique


def _file_name(name: str) -> str:
    """A notebook's name as a file name in --out (a/notebooks/lesson -> a__notebooks__lesson)."""
    return name.replace("/", "__")


def _check_run_arguments(paths: list[Path], out_dir: Path | None, force: bool) -> str | None:
    """Everything that can be wrong before a kernel starts; returns the problem, or None."""
    try:
        get_profile()
    except ValueError as err:
        return str(err)
    if not paths:
        return "No notebooks given and none found in ./notebooks"
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        return f"No such notebook: {', '.join(missing)}"
    if out_dir is not None and (out_dir / "results.json").exists() and not force:
        return (f"{out_dir} already holds the results of an earlier run. Choose another --out folder, "
                "or pass --force to replace them.")
    return _check_output(out_dir)


def _check_output(out_dir: Path | None) -> str | None:
    """--out, or without it the data folder, must take files: checked before a kernel starts."""
    if out_dir is not None:
        problem = _cannot_write(out_dir)
        return problem and (f"--out {out_dir}: {problem}. Choose a folder you can write to for results.json and "
                            "the HTML copies (it is created if missing).")
    problem = _data_folder_problem()
    return problem and f"{problem}. {DATA_ADVICE} Or pass --out FOLDER to keep this run's results there."


def _save_run(out_dir: Path, collected: dict, executed: dict) -> bool:
    """results.json and report.html after every notebook, so an interrupted run keeps what finished. Strict
    JSON (no NaN). Returns False, having said why, when they could not be written: the run goes on, since the
    next save writes everything again and may succeed."""
    from .report import write_report

    text = json.dumps(collected, indent=2, sort_keys=True, allow_nan=False)
    try:
        replace_atomically(out_dir / "results.json", lambda tmp: tmp.write_text(text))
        write_report(collected, executed, out_dir / "report.html")
    except OSError as err:  # replace_atomically names the file and says what to do
        print(f"  {err}", file=sys.stderr)
        return False
    return True


def _read_numbers(raw: Path) -> tuple[dict, str | None]:
    """The numbers a notebook recorded (a NaN as null, with a note), or ``{}`` and why they could not be read."""
    try:
        numbers = load_results(raw)
    except ValueError as err:
        return {}, str(err)
    numbers, notes = json_safe(numbers)
    if notes:
        earlier = numbers.get("notes") if isinstance(numbers.get("notes"), dict) else {}
        numbers["notes"] = {**earlier, **notes}
    return numbers, None


def _run_one(path: Path, name: str, raw: Path, out_dir: Path | None, in_place: bool, timeout: int):
    """Run one notebook; return its entry for results.json and the executed notebook (None if unreadable).
    Whatever goes wrong in it (damaged file, dead kernel, timeout, unwritable copy) is its failure, not the run's."""
    cell_seconds = {}
    try:
        ok, seconds, error, notebook = execute_notebook(path, out_dir, raw, in_place, timeout, name, cell_seconds)
    except OSError as err:  # the in-place copy could not be written; the notebook file is unchanged
        ok, seconds, error, notebook = False, 0.0, str(err), None
    numbers, unreadable = _read_numbers(raw)
    entry = {"ok": ok and unreadable is None, "seconds": round(seconds, 1), "profile": get_profile(),
             "results": numbers}
    if cell_seconds:  # the course's time budget limits each cell too; every cell's seconds say where time goes
        entry["cell_seconds"] = {index: round(seconds, 1) for index, seconds in cell_seconds.items()}
        slowest = max(cell_seconds, key=cell_seconds.get)
        entry["slowest_cell"] = {"cell": slowest, "seconds": entry["cell_seconds"][slowest]}
    if not entry["ok"]:
        entry["error"] = error or unreadable
    return entry, notebook


_interrupted = False  # set by Ctrl-C, so that the kernel error it causes is not reported as a failure


def _on_ctrl_c(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def run(notebooks: list[str], profile: str | None, out: str | None, in_place: bool, force: bool = False,
        timeout: int = 1800) -> int:
    """Execute notebooks and gather their recorded numbers into ``OUT/results.json``.

    A notebook that fails (a cell's error, a damaged file, a dead kernel, a cell over ``timeout`` seconds) is
    reported and the run goes on. Exit status: 0 all passed, 1 a notebook failed, a lesson's claim did not hold
    (listed at the end) or results could not be saved, 2 nothing ran (bad arguments), 130 Ctrl-C.
    """
    if profile:
        config.put(config.PROFILE, profile)
    paths = [Path(p).resolve() for p in notebooks] or sorted((Path.cwd() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    out_dir = Path(out).resolve() if out else None
    problem = _check_run_arguments(paths, out_dir, force)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    config.put_default(config.PROGRESS, "0")  # progress bars are noise in stored outputs
    global _interrupted
    raw_dir = out_dir if out_dir else data_dir() / "results"
    raw_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGINT, _on_ctrl_c)
    collected, executed, unsaved = {}, {}, False
    for path, name in zip(paths, _unique_names(paths)):
        print(f"running {path} ...", flush=True)
        raw = raw_dir / f"{_file_name(name)}.results.json"
        try:
            entry, notebook = _run_one(path, name, raw, out_dir, in_place, timeout)
        except KeyboardInterrupt:
            _interrupted = True
        if _interrupted:  # Ctrl-C, whether it reached us first or killed the kernel first
            print(f"interrupted: the results of {len(collected)} finished notebook(s) are kept", file=sys.stderr)
            return 130
        collected[name], executed[name] = entry, notebook
        slowest = (f" (slowest cell: cell {entry['slowest_cell']['cell']}, {entry['slowest_cell']['seconds']:.0f} s)"
                   if "slowest_cell" in entry else "")
        print(f"  {'ok' if entry['ok'] else 'FAILED'} in {entry['seconds']:.0f} s{slowest}, {len(entry['results'])} "
              "numbers recorded" + ("" if entry["ok"] else f": {entry['error']}"), flush=True)
        if out_dir is not None:
            unsaved |= not _save_run(out_dir, collected, executed)
    return _summary(collected, out_dir, unsaved)


def _summary(collected: dict, out_dir: Path | None, unsaved: bool) -> int:
    """The run's last lines (which notebooks failed, where the results are) and its exit status."""
    failed = [name for name, entry in collected.items() if not entry["ok"]]
    if failed:
        print(f"{len(failed)} of {len(collected)} notebook(s) FAILED: {', '.join(failed)} (why: above, and under "
              "'error' in results.json)", file=sys.stderr)
    unsupported = {name: entry["results"].get("claims that did not hold") for name, entry in collected.items()}
    unsupported = {name: claims for name, claims in unsupported.items() if claims}
    for name, claims in unsupported.items():
        print(f"{name}: {len(claims)} of the lesson's claims did not hold in this run (its text assumes them): "
              + "; ".join(claims), file=sys.stderr)
    if unsaved:
        print("Some results could not be saved (see above): free space or choose another --out, then run again.",
              file=sys.stderr)
    elif out_dir is not None:
        print(f"results: {out_dir / 'results.json'}; course report: {out_dir / 'report.html'}")
    return 1 if failed or unsaved or unsupported else 0


def _seconds(text: str) -> int:
    """--timeout's value: a whole number of seconds above 0."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds above 0 (default 1800)")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlcourse", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="show profile, device, versions and asset status")
    run_parser = commands.add_parser("run", help="execute notebooks headless and collect their numbers")
    run_parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks/NN_*.ipynb)")
    run_parser.add_argument("--profile", choices=["quick", "full"], help="override TLCOURSE_PROFILE")
    run_parser.add_argument("--scale", choices=["normal", "smoke"],
                            help="smoke: tiny sizes and one epoch, to check in minutes that everything runs "
                                 "(the lessons' claims are then recorded as not checked); overrides TLCOURSE_SCALE")
    run_parser.add_argument("--out", help="folder for results.json and the HTML copies")
    run_parser.add_argument("--in-place", action="store_true", help="store the fresh outputs in the notebooks")
    run_parser.add_argument("--force", action="store_true",
                            help="replace the results of an earlier run in --out (otherwise refused)")
    run_parser.add_argument("--timeout", type=_seconds, default=1800,
                            help="seconds one cell may run before its notebook fails (default 1800)")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    if args.scale:
        config.put(config.SCALE, args.scale)
    if args.in_place and config.read(config.SCALE, "normal") != "normal":
        print("--in-place stores outputs in the notebooks: only a normal-scale run may do that.", file=sys.stderr)
        return 2
    return run(args.notebooks, args.profile, args.out, args.in_place, args.force, args.timeout)
