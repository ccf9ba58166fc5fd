"""Run notebooks with ``python -m tlcourse run`` and measure each one: wall time, peak host memory (the run and
its kernel: the largest process) and peak GPU memory (as ``nvidia-smi`` reports it, all processes), sampled twice a second.

    python benchmarks/notebook_run.py --profile full --scale smoke --out runs notebooks/0*.ipynb >> results.jsonl

One JSON line per notebook on stdout. ``--deadline SECONDS`` skips the notebooks that would start after it
and gives the last one only the time that is left (a GPU lease is short).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil


def gpu_memory_mb() -> float | None:
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True).stdout.split()
    return float(out[0]) if out else None


def largest_rss_mb(process: psutil.Process) -> float:
    """The resident memory of the largest process in the tree (the kernel). Not the sum: the data loader's
    forked workers share most of their pages with the kernel, and adding their RSS counts those pages again."""
    largest = 0
    for p in [process] + process.children(recursive=True):
        try:
            largest = max(largest, p.memory_info().rss)
        except psutil.NoSuchProcess:
            pass
    return largest / 2**20


def run_one(notebook: Path, args, timeout: float) -> dict:
    command = [sys.executable, "-m", "tlcourse", "run", str(notebook), "--profile", args.profile,
               "--scale", args.scale, "--out", str(args.out / notebook.stem), "--force"]
    start, peak_host, peak_gpu = time.time(), 0.0, 0.0
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(child.pid)
    while child.poll() is None and time.time() - start < timeout:
        peak_host = max(peak_host, largest_rss_mb(watched))
        peak_gpu = max(peak_gpu, gpu_memory_mb() or 0.0)
        time.sleep(0.5)
    timed_out = child.poll() is None
    if timed_out:
        child.kill()
    output = child.communicate()[0]
    results = args.out / notebook.stem / "results.json"
    run = json.loads(results.read_text()).get(notebook.stem, {}) if results.exists() else {}
    return {"notebook": notebook.stem, "profile": args.profile, "scale": args.scale, "ok": bool(run.get("ok")),
            "timed_out": timed_out, "seconds": round(time.time() - start, 1),
            "kernel_seconds": run.get("seconds"), "peak_kernel_rss_MB": round(peak_host),
            "peak_gpu_MB": round(peak_gpu) if shutil.which("nvidia-smi") else None,
            "error": None if run.get("ok") else output[-1500:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--profile", default="full")
    parser.add_argument("--scale", default="normal")
    parser.add_argument("--out", type=Path, default=Path("runs"))
    parser.add_argument("--deadline", type=float, default=float("inf"), help="seconds from now")
    args = parser.parse_args()
    end = time.time() + args.deadline
    for notebook in args.notebooks:
        left = end - time.time()
        if left < 20:
            print(json.dumps({"notebook": notebook.stem, "scale": args.scale, "skipped": "deadline"}), flush=True)
            continue
        print(json.dumps(run_one(notebook, args, left)), flush=True)


if __name__ == "__main__":
    main()
