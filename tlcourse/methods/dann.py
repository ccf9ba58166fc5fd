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
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ..features import extract_features, make_probe
from ..models import ImageModelSpec
from ..recipe import Recipe
from ..callbacks import Callback, FitState
from ..training import History, cross_entropy_loss, fit
from .gradient_reversal import GradientReversal


# What the digit CNN below takes: 28x28 colour digits scaled to [-1, 1] (pass it to data.digits_task).
DIGIT_CNN_INPUT = ImageModelSpec("dann_digit_cnn", asset="", image_size=28, mean=(0.5,) * 3, std=(0.5,) * 3)
# Ganin et al.'s optimiser (2016, section 5.2): SGD with momentum 0.9 from lr 0.01, annealed, without clipping.
GANIN_RECIPE = Recipe(epochs=10, lr=0.01, optimizer="sgd", momentum=0.9, weight_decay=0.0, schedule="annealed",
                      grad_clip=None)


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


class ReversalSchedule(Callback):
    """Sets the gradient reversal's strength before every step, from :func:`reversal_strength` of the run's progress
    (held at 0 with ``enabled=False``: the no-reversal control)."""

    def __init__(self, model: DANN, enabled: bool = True):
        self.model, self.enabled = model, enabled

    def before_fit(self, state: FitState) -> None:
        self.after_step(state)

    def after_step(self, state: FitState) -> None:  # the strength for the next step
        self.model.reversal.strength = reversal_strength(state.progress) if self.enabled else 0.0


class DomainAdversarialLoss(Callback):
    """DANN's loss, as ``fit``'s ``loss_fn``: cross-entropy on the labelled source batch plus ``weight`` times the
    domain classifier's loss on a source and a target batch. Only the images of ``target_loader`` are used.

    It is a callback too, to count per epoch how often the domain classifier told the domains apart
    (``accuracy_per_epoch``). ``joint_batches``: source and target pass through the network as one batch, so that
    BatchNorm normalises both with shared statistics; otherwise each domain has its own batch statistics.
    """

    def __init__(self, target_loader, weight: float = 1.0, joint_batches: bool = False):
        self.weight, self.joint_batches = weight, joint_batches
        self._target_images = _images_only(target_loader)
        self.accuracy_per_epoch, self._correct, self._seen = [], 0, 0

    def __call__(self, model: DANN, images, labels):
        target_images = next(self._target_images).to(images.device)
        if self.joint_batches:
            both = model.features(torch.cat([images, target_images]))
            source_features, target_features = both[:len(images)], both[len(images):]
        else:
            source_features = model.features(images)
        logits = model.label_predictor(source_features)
        if not self.joint_batches:  # each domain through the network on its own, with its own batch statistics
            target_features = model.features(target_images)
        source_domain, target_domain = model.domain_logits(source_features), model.domain_logits(target_features)
        domain_loss = (F.binary_cross_entropy_with_logits(source_domain, torch.zeros_like(source_domain))
                       + F.binary_cross_entropy_with_logits(target_domain, torch.ones_like(target_domain)))
        self._correct += int((source_domain < 0).sum()) + int((target_domain > 0).sum())
        self._seen += len(source_domain) + len(target_domain)
        return F.cross_entropy(logits, labels) + self.weight * domain_loss, logits

    def before_epoch(self, state: FitState) -> None:
        self._correct, self._seen = 0, 0

    def after_epoch(self, state: FitState) -> None:
        self.accuracy_per_epoch.append(self._correct / self._seen)


def _images_only(loader):
    """Yield the images of a loader forever, dropping whatever else a batch holds (labels)."""
    while True:
        for batch in loader:
            yield batch[0] if isinstance(batch, (list, tuple)) else batch


def _check_ganin_recipe(recipe: Recipe) -> None:
    """SGD with momentum (the optimiser Ganin et al.'s annealed rate was designed for), and no clipping."""
    if recipe.optimizer != "sgd":
        raise ValueError(f"train_dann follows Ganin et al.'s SGD recipe: use a recipe with optimizer='sgd', not "
                         f"{recipe.optimizer!r}.")
    if recipe.grad_clip is not None:
        raise ValueError(f"grad_clip={recipe.grad_clip!r}: use grad_clip=None (as dann.GANIN_RECIPE does). Clipping "
                         "scales every gradient by the norm of all of them, the domain classifier's included, so the "
                         "domain loss would reach the features even in the no-reversal control.")


def train_dann(model: DANN, source_loader, target_loader, recipe: Recipe = GANIN_RECIPE, *, adapt: bool = True,
               reverse: bool = True, domain_weight: float = 1.0, joint_batches: bool = False, val_loader=None,
               progress: bool | None = None) -> DANNHistory:
    """Train on labelled source and unlabelled target batches with :func:`~tlcourse.training.fit` (its checks,
    mixed precision and clipping), Ganin et al.'s way (2016, section 5.2): loss CE(source) + domain_weight *
    BCE(domain) (:class:`DomainAdversarialLoss`) with the reversal strength of :func:`reversal_strength`
    (:class:`ReversalSchedule`). Only the images of ``target_loader`` are used. The recipe's optimiser must be SGD
    (with momentum); :data:`GANIN_RECIPE` is theirs, with the annealed learning rate and no clipping.

    ``adapt=False``: source batches alone (the *source-only* baseline). ``reverse=False``: the control that
    isolates the adversarial part: target batches still pass through the network (BatchNorm sees each domain
    on its own) and the domain classifier still trains, but no gradient from it reaches the features.
    """
    _check_ganin_recipe(recipe)
    callbacks = [ReversalSchedule(model, enabled=reverse)]
    loss = DomainAdversarialLoss(target_loader, domain_weight, joint_batches) if adapt else cross_entropy_loss
    if adapt:
        callbacks.append(loss)
    history = fit(model, source_loader, recipe, val_loader=val_loader, loss_fn=loss, callbacks=callbacks,
                  progress=progress)
    return DANNHistory(**history.as_dict(), domain_acc=loss.accuracy_per_epoch if adapt else [])


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
