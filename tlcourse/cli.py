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
import time
from importlib import metadata
from pathlib import Path

from .assets import ASSETS, data_dir
from .files import replace_atomically
from .profiles import ENV_VAR, SCALE_VAR, get_device, get_profile

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
    """Print the environment and every asset's status. Always exits 0: it only informs."""
    import torch

    device = get_device()
    device_name = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "CPU"
    print(f"profile : {get_profile()}  (set {ENV_VAR}=quick|full to choose)")
    print(f"device  : {device} ({device_name}), {os.cpu_count()} CPU cores")
    print(f"python  : {platform.python_version()}")
    for package in LIBRARIES:
        print(f"{package:<12}: {_version(package)}")
    print(f"data dir: {data_dir()}")
    print()
    print(f"{'asset':<28}{'profile':<9}{'kind':<9}{'status':<16}source")
    for asset in ASSETS.values():
        print(f"{asset.name:<28}{asset.profile:<9}{asset.kind:<9}{asset.status():<16}{asset.source}")
    print("\npresent = ready offline, sha256 verified where the file is fixed; corrupt = reinstall (see the error); "
          "fetchable = downloaded on first use; needs internet = downloaded on first use, but this machine is "
          "offline; missing = see data/README.md")
    return 0


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


def _failed_cell(notebook) -> str | None:
    """'cell 12 (first line): ValueError: ...' for the cell whose error stopped the run."""
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
                return f"cell {index} ({first_line[:70]}): {output.ename}: {ANSI_CODES.sub('', output.evalue)}"
    return None


def _stopped_by_ctrl_c(client) -> bool:
    """While a notebook runs, nbclient handles Ctrl-C itself: it shuts the kernel down, and the run
    then ends with whatever error that causes. Its handler leaves this future behind."""
    return getattr(client, "_async_cleanup_kernel_future", None) is not None


def execute_notebook(path: Path, out: Path | None, results: Path, in_place: bool = False, timeout: int = 1800,
                     name: str | None = None):
    """Run one notebook top to bottom in a fresh kernel; return ``(ok, seconds, error, executed_notebook)``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    os.environ["TLCOURSE_RESULTS"] = str(results.resolve())  # the kernel runs in the notebook's folder
    results.unlink(missing_ok=True)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    started, error = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as err:
        if _stopped_by_ctrl_c(client):
            raise KeyboardInterrupt from None
        error = _failed_cell(notebook) or ANSI_CODES.sub("", str(err)).strip().splitlines()[-1]
    except Exception:
        if _stopped_by_ctrl_c(client):
            raise KeyboardInterrupt from None
        raise
    seconds = time.perf_counter() - started
    _clean_metadata(notebook)
    if in_place and error is None:
        replace_atomically(path, lambda tmp: nbformat.write(notebook, tmp))
    if out is not None:
        _write_html_copy(notebook, out / ((name or path.stem).replace("/", "__") + ".html"))
    return error is None, seconds, error, notebook


def _write_html_copy(notebook, target: Path) -> None:
    """The executed notebook as HTML, for reading the run later. A broken nbconvert (no templates, say)
    costs only this copy, never the run's results."""
    from nbconvert import HTMLExporter

    try:
        html, _ = HTMLExporter().from_notebook_node(notebook)
    except Exception as err:
        print(f"  no HTML copy of this notebook: nbconvert failed ({type(err).__name__}: {err})")
        return
    replace_atomically(target, lambda tmp: tmp.write_text(html, encoding="utf-8"))


def _unique_names(paths: list[Path]) -> list[str]:
    """Each notebook's name in results.json: its stem, or folder/stem when two share a file name."""
    stems = [path.stem for path in paths]
    return [f"{path.parent.name}/{path.stem}" if stems.count(path.stem) > 1 else path.stem for path in paths]


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
    return None


def _save_run(out_dir: Path, collected: dict, executed: dict) -> None:
    """results.json and report.html after every notebook, so an interrupted run keeps what finished."""
    from .report import write_report

    text = json.dumps(collected, indent=2, sort_keys=True)
    replace_atomically(out_dir / "results.json", lambda tmp: tmp.write_text(text))
    write_report(collected, executed, out_dir / "report.html")


_interrupted = False  # set by Ctrl-C, so that the kernel error it causes is not reported as a failure


def _on_ctrl_c(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def run(notebooks: list[str], profile: str | None, out: str | None, in_place: bool, force: bool = False) -> int:
    """Execute notebooks and gather their recorded numbers into ``OUT/results.json``.

    Exit status: 0 all passed, 1 a notebook failed, 2 nothing ran (bad arguments), 130 Ctrl-C.
    """
    if profile:
        os.environ[ENV_VAR] = profile
    os.environ.setdefault("TLCOURSE_PROGRESS", "0")  # progress bars are noise in stored outputs
    paths = [Path(p).resolve() for p in notebooks] or sorted((Path.cwd() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    out_dir = Path(out).resolve() if out else None
    problem = _check_run_arguments(paths, out_dir, force)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    global _interrupted
    raw_dir = out_dir if out_dir else data_dir() / "results"
    raw_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGINT, _on_ctrl_c)
    collected, executed, failures = {}, {}, 0
    for path, name in zip(paths, _unique_names(paths)):
        print(f"running {path} ...", flush=True)
        raw = raw_dir / f"{name.replace('/', '__')}.results.json"
        try:
            ok, seconds, error, executed[name] = execute_notebook(path, out_dir, raw, in_place, name=name)
        except KeyboardInterrupt:
            _interrupted = True
        if _interrupted:  # Ctrl-C, whether it reached us first or killed the kernel first
            print(f"interrupted: the results of {len(collected)} finished notebook(s) are kept", file=sys.stderr)
            return 130
        numbers = json.loads(raw.read_text()) if raw.exists() else {}
        collected[name] = {"ok": ok, "seconds": round(seconds, 1), "profile": get_profile(), "results": numbers}
        print(f"  {'ok' if ok else 'FAILED'} in {seconds:.0f} s, {len(numbers)} numbers recorded"
              + ("" if ok else f": {error}"), flush=True)
        failures += not ok
        if out_dir is not None:
            _save_run(out_dir, collected, executed)
    if out_dir is not None:
        print(f"results: {out_dir / 'results.json'}; course report: {out_dir / 'report.html'}")
    return 1 if failures else 0


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
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    if args.scale:
        os.environ[SCALE_VAR] = args.scale
    if args.in_place and os.environ.get(SCALE_VAR, "normal") != "normal":
        print("--in-place stores outputs in the notebooks: only a normal-scale run may do that.", file=sys.stderr)
        return 2
    return run(args.notebooks, args.profile, args.out, args.in_place, args.force)
