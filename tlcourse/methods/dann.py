"""Domain-adversarial training (DANN, Ganin et al. 2016) and the proxy A-distance.

Three parts share one backward pass:

* a **feature extractor** G_f, used for both domains;
* a **label predictor** G_y, trained on labelled *source* images only;
* a **domain classifier** G_d, behind a gradient reversal layer, trained to tell source
  from target features. The reversal sends the opposite of its gradient into G_f, so G_f
  learns features that G_d cannot separate: features that work the same in both domains.

The target domain contributes images only: :func:`train_dann` never reads target labels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from ..features import extract_features, make_probe
from ..models import ImageModelSpec
from ..profiles import get_device
from ..recipe import Recipe
from ..training import History, evaluate, progress_enabled, seed_everything
from .gradient_reversal import GradientReversal


# What the digit CNN below takes: 28x28 colour digits scaled to [-1, 1] (pass it to data.digits_task).
DIGIT_CNN_INPUT = ImageModelSpec("dann_digit_cnn", asset="", image_size=28, mean=(0.5,) * 3, std=(0.5,) * 3)
# Ganin et al.'s optimiser (2016, section 5.2): SGD with momentum 0.9 from lr 0.01, annealed (annealed_learning_rate).
GANIN_RECIPE = Recipe(epochs=10, lr=0.01, optimizer="sgd", momentum=0.9, weight_decay=0.0)


def digit_feature_extractor(channels: tuple[int, int] = (32, 48)) -> nn.Sequential:
    """A small CNN for 28x28 colour digits, after Ganin et al.'s MNIST network (32 and 48 channels):
    ``channels[1] * 16`` features."""
    first, second = channels
    return nn.Sequential(
        nn.Conv2d(3, first, 5), nn.BatchNorm2d(first), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(first, second, 5), nn.BatchNorm2d(second), nn.Dropout2d(0.25), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten())


def domain_classifier(feature_dim: int, hidden: int = 100) -> nn.Sequential:
    """Source (0) or target (1)? One logit per example."""
    return nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class DANN(nn.Module):
    """Feature extractor + label predictor + (reversed) domain classifier.

    ``model(x)`` returns class logits, so :func:`tlcourse.training.evaluate` works on it directly.
    """

    def __init__(self, num_classes: int = 10, channels: tuple[int, int] = (32, 48)):
        super().__init__()
        self.features = digit_feature_extractor(channels)
        feature_dim = channels[1] * 4 * 4
        self.label_predictor = nn.Sequential(nn.Linear(feature_dim, 100), nn.ReLU(), nn.Dropout(0.2),
                                             nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, num_classes))
        self.reversal = GradientReversal(0.0)
        self.domain_classifier = domain_classifier(feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.label_predictor(self.features(x))

    def domain_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Domain logits from features, through the gradient reversal."""
        return self.domain_classifier(self.reversal(features)).squeeze(1)


@dataclass
class DANNHistory(History):
    """:class:`~tlcourse.training.History` plus the domain classifier's accuracy on each epoch's training batches
    (source and target together). Near 0.5 it cannot tell the domains apart in the features it is shown; near 1
    the features still give the domain away."""

    domain_acc: list[float] = field(default_factory=list)


def reversal_strength(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s schedule: 0 at the start (the domain classifier is still random), rising to ~1."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def _images_only(loader):
    """Yield the images of a loader forever, dropping whatever else a batch holds (labels)."""
    while True:
        for batch in loader:
            yield batch[0] if isinstance(batch, (list, tuple)) else batch


def _dann_loss(model: DANN, images, labels, target_images, device, adapt: bool, domain_weight: float,
               joint_batches: bool = False):
    """CE on the labelled source batch, plus (when adapting) the domain loss on a source and a target batch.

    Returns ``(loss, class logits, domain correct, domain seen)``.
    """
    if adapt and joint_batches:  # one batch of both domains: BatchNorm normalises them with shared statistics
        both = model.features(torch.cat([images, next(target_images).to(device)]))
        source_features, target_features = both[:len(images)], both[len(images):]
    else:
        source_features = model.features(images)
    logits = model.label_predictor(source_features)
    loss = F.cross_entropy(logits, labels)
    if not adapt:
        return loss, logits, 0, 0
    if not joint_batches:  # each domain through the network on its own, with its own batch statistics
        target_features = model.features(next(target_images).to(device))
    source_domain = model.domain_logits(source_features)
    target_domain = model.domain_logits(target_features)
    domain_loss = (F.binary_cross_entropy_with_logits(source_domain, torch.zeros_like(source_domain))
                   + F.binary_cross_entropy_with_logits(target_domain, torch.ones_like(target_domain)))
    correct = int((source_domain < 0).sum()) + int((target_domain > 0).sum())
    return loss + domain_weight * domain_loss, logits, correct, len(source_domain) + len(target_domain)


def annealed_learning_rate(lr: float, progress: float) -> float:
    """Ganin et al.'s annealing: ``lr / (1 + 10 p) ** 0.75``, from ``lr`` at the start to ``lr / 6`` at the end.

    Large steps early while the features form, small ones late so that the adversarial game settles."""
    return lr / (1.0 + 10.0 * progress) ** 0.75


def _ganin_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    """SGD with the recipe's momentum: the optimiser that Ganin et al.'s annealed rate was designed for."""
    if recipe.optimizer != "sgd":
        raise ValueError(f"train_dann follows Ganin et al.'s SGD recipe: use a recipe with optimizer='sgd', not "
                         f"{recipe.optimizer!r}.")
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)


def train_dann(model: DANN, source_loader, target_loader, recipe: Recipe = GANIN_RECIPE, *, adapt: bool = True,
               reverse: bool = True, domain_weight: float = 1.0, joint_batches: bool = False, val_loader=None,
               progress: bool | None = None) -> DANNHistory:
    """Train on labelled source and unlabelled target batches with Ganin et al.'s optimiser (2016, section 5.2):
    SGD with momentum, :func:`annealed_learning_rate`, loss CE(source) + domain_weight * BCE(domain) with the
    reversal strength of :func:`reversal_strength`. Only the images of ``target_loader`` are used. From ``recipe``:
    ``epochs``, ``lr`` (the starting rate, annealed), ``momentum``, ``seed`` and ``device``; its optimiser is SGD.

    ``adapt=False``: source batches alone (the *source-only* baseline). ``reverse=False``: the control that
    isolates the adversarial part: target batches still pass through the network (BatchNorm sees each domain
    on its own) and the domain classifier still trains, but no gradient from it reaches the features.
    """
    if recipe.seed is not None:
        seed_everything(recipe.seed)
    device = get_device(recipe.device)
    optimizer = _ganin_optimizer(model.to(device), recipe)
    epochs, lr = recipe.epochs, recipe.lr
    target_images = _images_only(target_loader)
    total_steps, step = epochs * len(source_loader), 0
    history = DANNHistory()
    # one bar for the whole run, not one per epoch: many short-lived widgets flood a notebook's output channel
    bar = tqdm(total=total_steps, desc="DANN" if adapt else "training", leave=False,
               disable=not progress_enabled(progress))
    for epoch in range(epochs):
        model.train()
        started, correct, seen, total_loss = time.perf_counter(), 0, 0, 0.0
        domain_correct, domain_seen = 0, 0
        bar.set_postfix_str(f"epoch {epoch + 1}/{epochs}")
        for images, labels in source_loader:
            images, labels = images.to(device), labels.to(device)
            for group in optimizer.param_groups:
                group["lr"] = annealed_learning_rate(lr, step / total_steps)
            model.reversal.strength = reversal_strength(step / total_steps) if reverse else 0.0
            loss, logits, right, shown = _dann_loss(model, images, labels, target_images, device, adapt,
                                                    domain_weight, joint_batches)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
            total_loss += loss.item() * len(labels)
            domain_correct, domain_seen = domain_correct + right, domain_seen + shown
            step += 1
            bar.update(1)
        history.add(epoch + 1, total_loss / seen, correct / seen, optimizer.param_groups[0]["lr"],
                    time.perf_counter() - started, None if val_loader is None else evaluate(model, val_loader, device=device))
        if adapt:
            history.domain_acc.append(domain_correct / domain_seen)
    bar.close()
    return history


def domain_features(model: DANN, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The feature extractor's output for ``images`` (eval mode, no gradients), on the CPU."""
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=batch_size)
    return extract_features(model.features, loader)[0]


def proxy_a_distance(source_features, target_features, seed: int = 0, repeats: int = 1) -> float:
    """Proxy A-distance (Ben-David et al. 2007): 2 (1 - 2 err) of a linear source-vs-target classifier.

    Trained on half of each domain's features, tested on the other half; with ``repeats`` > 1 the error is
    averaged over that many random halvings (seeds ``seed``, ``seed + 1``, ...), which takes the luck of one
    split out of a comparison between models. 0: the domains are indistinguishable; 2: perfectly separable.
    """
    from sklearn.model_selection import train_test_split

    x = np.concatenate([np.asarray(source_features), np.asarray(target_features)])
    y = np.concatenate([np.zeros(len(source_features)), np.ones(len(target_features))])
    errors = []
    for split_seed in range(seed, seed + repeats):
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, stratify=y, random_state=split_seed)
        errors.append(1.0 - make_probe().fit(x_train, y_train).score(x_test, y_test))
    return a_distance_from_error(float(np.mean(errors)))


def a_distance_from_error(domain_error: float) -> float:
    """Proxy A-distance from the test error of a source-vs-target classifier: ``2 (1 - 2 error)``.

    Error 0.5 (the domains cannot be told apart) gives 0; error 0 (perfectly separable) gives 2.
    """
    return 2.0 * (1.0 - 2.0 * domain_error)
