"""Ready-made experiments that the notebooks repeat many times with different settings.

Each function is the whole recipe in one place -- build the model, pick the
labelled examples, train with :func:`~tlcourse.training.fit`, evaluate -- so a
notebook can sweep a setting in a short loop and the reader can still see, here,
exactly what was run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from . import data, models, training
from .training import History


@dataclass
class RunResult:
    """What one training run produced."""

    accuracy: float
    history: History
    seconds: float
    model: torch.nn.Module


class Augmented(Dataset):
    """Applies a (random) transform to the images of an in-memory data set, one example at a time."""

    def __init__(self, dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        image, label = self.dataset[index]
        return self.transform(image), label


def digit_augmentation(fill: float = -1.0):
    """Small shifts, rotations and zooms: plausible variations of a handwritten digit.

    ``fill`` is the normalised value of the empty background (black is -1 with mean = std = 0.5).
    No flips: a mirrored 2 is not a 2.
    """
    from torchvision.transforms import v2

    return v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), fill=fill)


def finetune_image_classifier(task: data.ImageTask, n_labels: int, pretrained: bool = True, epochs: int = 5,
                              lr: float = 1e-3, batch_size: int = 32, weight_decay: float = 0.01,
                              dropout: float = 0.2, warmup: float = 0.1, schedule: str = "cosine",
                              augment=None, optimizer: str = "adamw", seed: int = 0,
                              test_loader=None) -> RunResult:
    """Fine-tune the profile's image model (or train it from scratch) on ``n_labels`` balanced examples.

    The same seed gives the same labelled examples, the same new head and the same batches,
    so a pretrained and a from-scratch run differ only in their starting weights.
    """
    training.seed_everything(seed)
    model = models.image_classifier(task.num_classes, pretrained=pretrained, dropout=dropout)
    train_set = data.labelled_subset(task.train, n_labels, seed=seed)
    if augment is not None:
        train_set = Augmented(train_set, augment)
    train_loader = data.make_loader(train_set, batch_size, shuffle=True, seed=seed)
    test_loader = test_loader or data.make_loader(task.test, 256)
    started = time.perf_counter()
    history = training.fit(model, train_loader, epochs=epochs, lr=lr, weight_decay=weight_decay, warmup=warmup,
                           schedule=schedule, optimizer=optimizer)
    seconds = time.perf_counter() - started
    accuracy = training.evaluate(model, test_loader)["accuracy"]
    return RunResult(accuracy, history, seconds, model)


def epochs_for(n_labels: int, min_steps: int = 60, batch_size: int = 32, min_epochs: int = 5) -> int:
    """Enough epochs that a small labelled set still gets ``min_steps`` optimiser steps.

    With 50 labels one epoch is two batches; without this, small-data runs would simply be
    under-trained and the data-efficiency curve would measure the budget, not the data.
    """
    steps_per_epoch = -(-n_labels // batch_size)
    return max(min_epochs, -(-min_steps // steps_per_epoch))
