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
import sys
import time
from importlib import metadata
from pathlib import Path

from .assets import ASSETS, data_dir
from .profiles import ENV_VAR, get_device, get_profile

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
    print(f"{'asset':<28}{'profile':<9}{'kind':<9}{'status':<11}source")
    for asset in ASSETS.values():
        print(f"{asset.name:<28}{asset.profile:<9}{asset.kind:<9}{asset.status():<11}{asset.source}")
    print("\npresent = ready offline; fetchable = downloaded on first use; missing = see data/README.md")
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


def execute_notebook(path: Path, out: Path | None, results: Path, in_place: bool = False, timeout: int = 1800):
    """Run one notebook top to bottom in a fresh kernel; return ``(ok, seconds, error, executed_notebook)``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    os.environ["TLCOURSE_RESULTS"] = str(results)
    results.unlink(missing_ok=True)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    started, error = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1]
    seconds = time.perf_counter() - started
    _clean_metadata(notebook)
    if in_place and error is None:
        nbformat.write(notebook, path)
    if out is not None:
        from nbconvert import HTMLExporter

        html, _ = HTMLExporter().from_notebook_node(notebook)
        (out / f"{path.stem}.html").write_text(html, encoding="utf-8")
    return error is None, seconds, error, notebook


def run(notebooks: list[str], profile: str | None, out: str | None, in_place: bool) -> int:
    """Execute notebooks and gather their recorded numbers into ``OUT/results.json``."""
    if profile:
        os.environ[ENV_VAR] = profile
    os.environ.setdefault("TLCOURSE_PROGRESS", "0")  # progress bars are noise in stored outputs
    paths = [Path(p) for p in notebooks] or sorted((Path.cwd() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print("No notebooks given and none found in ./notebooks", file=sys.stderr)
        return 2
    out_dir = Path(out) if out else None
    raw_dir = out_dir if out_dir else data_dir() / "results"
    raw_dir.mkdir(parents=True, exist_ok=True)
    collected, executed, failures = {}, {}, 0
    for path in paths:
        print(f"running {path} ...", flush=True)
        raw = raw_dir / f"{path.stem}.results.json"
        ok, seconds, error, executed[path.stem] = execute_notebook(path.resolve(), out_dir, raw, in_place)
        numbers = json.loads(raw.read_text()) if raw.exists() else {}
        collected[path.stem] = {"ok": ok, "seconds": round(seconds, 1), "profile": get_profile(), "results": numbers}
        print(f"  {'ok' if ok else 'FAILED'} in {seconds:.0f} s, {len(numbers)} numbers recorded"
              + ("" if ok else f": {error}"), flush=True)
        failures += not ok
    if out_dir is not None:
        (out_dir / "results.json").write_text(json.dumps(collected, indent=2, sort_keys=True))
        from .report import write_report

        report = write_report(collected, executed, out_dir / "report.html")
        print(f"results: {out_dir / 'results.json'}; course report: {report}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlcourse", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="show profile, device, versions and asset status")
    run_parser = commands.add_parser("run", help="execute notebooks headless and collect their numbers")
    run_parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks/NN_*.ipynb)")
    run_parser.add_argument("--profile", choices=["quick", "full"], help="override TLCOURSE_PROFILE")
    run_parser.add_argument("--out", help="folder for results.json and the HTML copies")
    run_parser.add_argument("--in-place", action="store_true", help="store the fresh outputs in the notebooks")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    return run(args.notebooks, args.profile, args.out, args.in_place)
