"""Throughput of the full profile's workloads, for the T4 budget in README.

The full profile fine-tunes ResNet-50 on CIFAR-10 upscaled to 224 px and BERT-base on SST-2.
This measures, on whatever GPU runs it, the examples per second of what the notebooks really do:

* ``resnet50 train``: :func:`tlcourse.training.fit` (batch 32, as ``experiments.run``) on
  32 px uint8 images decoded and upscaled per item by the same transforms as ``data.cifar10_task``,
  in the loader workers that ``data.make_loader`` starts;
* ``resnet50 predict``: :func:`tlcourse.training.predict` at batch 256 (test sets, feature extraction);
* ``bert-base train`` / ``predict`` (token batches from ``train_speed.make_data``): 64 tokens (the full profile's ``MAX_LENGTH``), batch 32 / 128;
* ``loader only``: the image pipeline alone, with the process pinned to 2 CPU cores as on Colab,
  since on a 2-vCPU machine decoding and upscaling can be slower than a T4.

Each workload runs with ``precision="fp16"`` (what a T4 uses: fp16 autocast and a GradScaler) and,
where the GPU has bf16 tensor cores, ``"auto"`` (bf16). Random weights and random pixels: speed does
not depend on them. Results are JSON lines (``--json``); the first epoch of each run is warm-up.

    python benchmarks/full_profile_speed.py --json benchmarks/results/full_profile_speed.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import time

import numpy as np
import torch
from PIL import Image

from tlcourse import data, models, training
from tlcourse.recipe import Recipe
from train_speed import make_data  # same directory: the synthetic token batches of the other benchmark


class RandomCifar(torch.utils.data.Dataset):
    """``n`` random 32 px RGB images served like torchvision's CIFAR10: a PIL image through ``transform``."""

    def __init__(self, n: int, transform):
        self.images = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.labels = np.random.default_rng(1).integers(0, 10, n)
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def resnet50():
    from torchvision.models import resnet50 as build

    model = build(weights=None)
    model.fc = torch.nn.Linear(model.fc.in_features, 10)
    return model


def bert_base():
    from transformers import BertConfig, BertForSequenceClassification

    return BertForSequenceClassification(BertConfig(num_labels=2))


def measure(name: str, n: int, seconds: list[float], **facts) -> dict:
    """Examples per second of the fastest pass after the first (warm-up), and the GPU memory peak since the
    caller's last ``torch.cuda.reset_peak_memory_stats()``."""
    best = min(seconds[1:]) if len(seconds) > 1 else seconds[0]
    result = {"workload": name, "examples": n, "examples_per_s": round(n / best, 1),
              "peak_gpu_MB": round(torch.cuda.max_memory_allocated() / 2**20), **facts}
    print(json.dumps(result), flush=True)
    return result


def timed_passes(passes: int, one_pass) -> list[float]:
    seconds = []
    for _ in range(passes):
        started = time.perf_counter()
        one_pass()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return seconds


def image_workloads(n: int, precision: str) -> list[dict]:
    spec = models.IMAGE_MODELS["full"]
    train_tf, test_tf = data.cifar10_transforms(spec, augment=True)
    train_loader = data.make_loader(RandomCifar(n, train_tf), 32, shuffle=True)
    test_loader = data.make_loader(RandomCifar(n, test_tf), 256)
    model = resnet50()
    torch.cuda.reset_peak_memory_stats()
    history = training.fit(model, train_loader, Recipe(epochs=2, lr=1e-4, precision=precision), progress=False)
    facts = {"model": "resnet50", "image_size": spec.image_size, "precision": precision}
    rows = [measure("resnet50 train", n, history.seconds, batch_size=32, **facts)]
    torch.cuda.reset_peak_memory_stats()
    seconds = timed_passes(2, lambda: training.predict(model, test_loader, precision=precision))
    rows.append(measure("resnet50 predict", n, seconds, batch_size=256, **facts))
    return rows


def text_workloads(n: int, precision: str, length: int = 64) -> list[dict]:
    dataset = make_data("bert-base", n, 0, length)
    model = bert_base()
    torch.cuda.reset_peak_memory_stats()
    history = training.fit(model, data.make_loader(dataset, 32, shuffle=True, workers=0),
                           Recipe(epochs=2, lr=2e-5, precision=precision), progress=False)
    facts = {"model": "bert-base", "sequence_length": length, "precision": precision}
    rows = [measure("bert-base train", n, history.seconds, batch_size=32, **facts)]
    torch.cuda.reset_peak_memory_stats()
    seconds = timed_passes(2, lambda: training.predict(model, data.make_loader(dataset, 128, workers=0),
                                                        precision=precision))
    rows.append(measure("bert-base predict", n, seconds, batch_size=128, **facts))
    return rows


def small_cnn_workloads(n: int) -> list[dict]:
    """Notebook 06's student (``models.SmallCNN`` at 224 px, trained on tensors) and notebook 07's DANN
    (28 px digits: a labelled source batch and an unlabelled target batch per step)."""
    from torch.utils.data import TensorDataset

    from tlcourse.methods import dann

    images = TensorDataset(torch.randn(n, 3, 224, 224), torch.randint(0, 10, (n,)))
    torch.cuda.reset_peak_memory_stats()
    history = training.fit(models.SmallCNN(10, 224), data.make_loader(images, 32, shuffle=True),
                           Recipe(epochs=3, lr=3e-3, precision="fp16"), progress=False)
    rows = [measure("small cnn (06 student) train", n, history.seconds, batch_size=32, image_size=224,
                    precision="fp16")]
    digits = TensorDataset(torch.randn(8 * n, 3, 28, 28), torch.randint(0, 10, (8 * n,)))
    torch.cuda.reset_peak_memory_stats()
    history = dann.train_dann(dann.DANN(num_classes=10), data.make_loader(digits, 64, shuffle=True),
                              data.make_loader(digits, 64, shuffle=True, seed=1),
                              dataclasses.replace(dann.GANIN_RECIPE, epochs=3), progress=False)
    rows.append(measure("dann (07) train, source + target digits", 8 * n, history.seconds, batch_size=64,
                        image_size=28))
    return rows


def loader_on_two_cores(n: int) -> dict:
    """The image pipeline alone in a process limited to 2 CPU cores (Colab's 2 vCPUs), 2 workers."""
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:2]))  # the workers inherit it
    train_tf, _ = data.cifar10_transforms(models.IMAGE_MODELS["full"], augment=True)
    loader = data.make_loader(RandomCifar(n, train_tf), 32, shuffle=True, workers=2)
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        for _batch in loader:
            pass
        seconds.append(time.perf_counter() - started)
    result = {"workload": "cifar10 loader only, 2 cores, 2 workers", "examples": n,
              "examples_per_s": round(n / min(seconds[1:]), 1), "image_size": 224}
    print(json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=4096, help="images per pass")
    parser.add_argument("--texts", type=int, default=8192, help="texts per pass")
    parser.add_argument("--json", help="append the results to this JSON-lines file")
    parser.add_argument("--only-small", action="store_true", help="only the small CNNs of notebooks 06 and 07")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True  # as tlcourse.setup() does on a GPU
    device = torch.cuda.get_device_name()
    precisions = ["fp16"] + (["auto"] if torch.cuda.get_device_capability() >= (8, 0) else [])
    rows = []
    for precision in ([] if args.only_small else precisions):
        rows += image_workloads(args.images, precision)
        rows += text_workloads(args.texts, precision)
    rows += small_cnn_workloads(args.images)
    rows.append(loader_on_two_cores(args.images // 4))
    peak_host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    stamp = {"device": device, "torch": torch.__version__, "cpu_cores": os.cpu_count(),
             "peak_host_MB": round(peak_host), "date": time.strftime("%Y-%m-%d")}
    if args.json:
        with open(args.json, "a") as f:
            for row in rows:
                f.write(json.dumps({**stamp, **row}) + "\n")


if __name__ == "__main__":
    main()
