"""Regularised fine-tuning: keep the fine-tuned model close to the pretrained one.

Plain fine-tuning minimises cross-entropy on the target data and nothing ties the
weights to where they started, so with few labels they can wander far from the
useful pretrained solution (and the source task is forgotten). Both losses here add
a penalty ``alpha * R`` that measures the distance to the source model (``alpha`` is
its strength in both, as in Li et al.):

* :class:`L2SPLoss` (Li, Grandvalet & Davoine 2018): distance of the *weights* to the
  pretrained weights, ``alpha/2 * ||w - w0||^2``, plus ordinary decay ``beta/2 * ||v||^2``
  of the new head, which has no pretrained value.
* :class:`FeatureDistanceLoss`: distance of the *features* the model computes to those of
  the frozen source model on the same batch, ``alpha * mean ||f(x) - f0(x)||^2`` (the idea
  behind DELTA, Li et al. 2019, without its attention weights).

Use them with ``weight_decay=0`` in ``fit``: ordinary weight decay pulls towards zero,
which is exactly what L2-SP replaces. Li et al. trained with SGD; with Adam(W) a penalty's
gradient is rescaled per weight like every other gradient, so an ``alpha`` does not mean
the same as in the paper.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..features import last_module, linear_cka, without_head
from ..freezing import batchnorm_layers, blocks, new_head_name
from ..hooks import forward_hooks
from ..training import model_logits


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the new head's parameters: the only ones without a pretrained value to stay close to."""
    prefix = new_head_name(model) + "."
    return {name for name, _ in model.named_parameters() if name.startswith(prefix)}


def l2sp_penalty(model: nn.Module, anchor: dict, alpha: float) -> torch.Tensor:
    """``alpha/2 * sum ||w - w0||^2`` over the trainable parameters named in ``anchor`` (their pretrained values)."""
    total = 0.0
    for name, p in model.named_parameters():
        if p.requires_grad and name in anchor:
            total = total + (p - anchor[name].to(p.device)).pow(2).sum()
    return 0.5 * alpha * total


def feature_distance(features: torch.Tensor, source_features: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the squared Euclidean distance between the two feature vectors."""
    return (features - source_features).pow(2).sum(dim=1).mean()


class L2SPLoss:
    """Cross-entropy + ``alpha/2 * ||w - w_pretrained||^2`` (body) + ``beta/2 * ||w_head||^2``.

    Create it from the model *before* training: it stores a copy of the starting weights.
    """

    def __init__(self, model: nn.Module, alpha: float = 0.01, beta: float = 0.01):
        self.alpha, self.beta = alpha, beta
        head = head_parameter_names(model)
        self.anchor = {name: p.detach().clone() for name, p in model.named_parameters() if name not in head}
        self.head = head

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """The regulariser alone (zero at the pretrained weights when ``beta`` is 0)."""
        device = next(model.parameters()).device
        if any(w.device != device for w in self.anchor.values()):  # moved once, not on every step
            self.anchor = {name: w.to(device) for name, w in self.anchor.items()}
        head_norm = 0.0
        for name, p in model.named_parameters():
            if p.requires_grad and name in self.head:
                head_norm = head_norm + p.pow(2).sum()
        return l2sp_penalty(model, self.anchor, self.alpha) + 0.5 * self.beta * head_norm

    def __call__(self, model: nn.Module, inputs, labels: torch.Tensor):
        logits = model_logits(model, inputs)
        return F.cross_entropy(logits, labels) + self.penalty(model), logits


def pooled_features(model: nn.Module, inputs) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits and the features its head reads: the globally average-pooled output of the last
    block below the head (before any dropout), caught by a forward hook, for every architecture that
    :func:`tlcourse.freezing.blocks` knows (timm EfficientNets, torchvision ResNets)."""
    caught = []
    _, last_block = blocks(model)[-2]
    with forward_hooks([last_module(last_block)], lambda module, args, output: caught.append(output)):
        logits = model_logits(model, inputs)
    return logits, caught[0].mean(dim=(2, 3))


class FeatureDistanceLoss:
    """Cross-entropy + ``alpha * mean ||f(x) - f_source(x)||^2`` on the pooled penultimate features.

    The source model is a frozen copy taken when the loss is created. Its BatchNorm layers follow the
    model's, layer by layer: when the model normalises with the batch's statistics (train mode) the source
    does too, so at the start the two compute identical features and the penalty is exactly zero. (A source
    in eval mode would normalise with ImageNet's running statistics instead; the penalty would then be
    positive at step 0 and pull the model *away* from where it started.) The source's running statistics
    are never updated (momentum 0), and its dropout stays off.
    """

    def __init__(self, model: nn.Module, alpha: float = 0.1):
        self.alpha = alpha
        self.source = copy.deepcopy(model).eval()
        for p in self.source.parameters():
            p.requires_grad = False
        for norm in batchnorm_layers(self.source):
            norm.momentum = 0.0  # batch statistics are used, never stored

    def _match_batchnorm_modes(self, model: nn.Module) -> None:
        for source_norm, model_norm in zip(batchnorm_layers(self.source), batchnorm_layers(model), strict=True):
            source_norm.train(model_norm.training)

    def source_features(self, model: nn.Module, inputs) -> torch.Tensor:
        """The frozen source model's pooled features for ``inputs``, with ``model``'s BatchNorm modes."""
        self.source.to(inputs.device)
        self._match_batchnorm_modes(model)
        with torch.no_grad():
            return pooled_features(self.source, inputs)[1]

    def distance(self, model: nn.Module, inputs) -> torch.Tensor:
        """The penalty without ``alpha``: zero while the model still has the source's weights."""
        return feature_distance(pooled_features(model, inputs)[1], self.source_features(model, inputs))

    def __call__(self, model: nn.Module, inputs, labels: torch.Tensor):
        logits, features = pooled_features(model, inputs)
        distance = feature_distance(features, self.source_features(model, inputs))
        return F.cross_entropy(logits, labels) + self.alpha * distance, logits


@torch.no_grad()
def relative_distance(finetuned: nn.Module, pretrained: nn.Module) -> float:
    """How far the body's weights moved: ``||w - w0|| / ||w0||`` over the parameters both models share by
    name and shape (the new head has no pretrained value and is left out). 0: still the source weights;
    0.1: moved by a tenth of their size. It is the distance L2-SP penalises, made comparable across models.
    """
    source = dict(pretrained.named_parameters())
    moved, size = 0.0, 0.0
    for name, w in finetuned.named_parameters():
        if name in source and source[name].shape == w.shape:
            w0 = source[name].to(w.device)
            moved += (w - w0).pow(2).sum().item()
            size += w0.pow(2).sum().item()
    return (moved / size) ** 0.5


def _body_with_batch_statistics(model: nn.Module) -> nn.Module:
    """A copy of the model's body, in eval mode except its BatchNorm layers, which normalise with the statistics of
    the batch they are given (their stored running statistics stay untouched: momentum 0)."""
    body = without_head(model).eval()
    for norm in batchnorm_layers(body):
        norm.train()
        norm.momentum = 0.0
    return body


@torch.no_grad()
def source_features(pretrained: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The untouched source model's pooled features of ``images`` (one batch, normalised with its own statistics):
    what :func:`source_similarity` compares with. Compute them once and pass them to every call of a sweep."""
    return _body_with_batch_statistics(pretrained)(images.to(next(pretrained.parameters()).device)).cpu()


@torch.no_grad()
def source_distance(finetuned: nn.Module, pretrained: nn.Module, images: torch.Tensor,
                    reference: torch.Tensor | None = None) -> float:
    """What :class:`FeatureDistanceLoss` penalises, measured after training: the mean squared distance between the
    fine-tuned body's and the source body's pooled features of ``images`` (one batch, e.g. target validation
    images), each normalising the batch with its own statistics, as both do in training. 0 for an untouched body.
    It tells whether the penalty held down what it penalises; :func:`source_similarity` asks a different question
    (how the body sees photos like the source task's). ``reference``: :func:`source_features` of ``images``."""
    if reference is None:
        reference = source_features(pretrained, images)
    body = _body_with_batch_statistics(finetuned)
    return float(feature_distance(body(images.to(next(body.parameters()).device)).cpu(), reference))


@torch.no_grad()
def source_similarity(finetuned: nn.Module, pretrained: nn.Module, images: torch.Tensor,
                      reference: torch.Tensor | None = None) -> float:
    """How much of the source model's representation survives fine-tuning (a proxy for forgetting).

    The fine-tuned body and the untouched one describe the same natural ``images`` (photos like the source
    task's, not the target's); :func:`~tlcourse.features.linear_cka` says how alike the two descriptions are.
    1.0: the body still tells these images apart as the source model did; lower: it has changed on the kind of
    data the source task was about. Unlike "does it still predict the same ImageNet class", it moves smoothly
    with the weights, so it can rank runs that all changed a little.

    Both bodies normalise the images with the statistics of this batch of images. BatchNorm's stored running
    statistics are re-estimated on the target data during fine-tuning; they are not weights, no weight penalty
    protects them, and the source's ImageNet statistics no longer match the inputs that fine-tuned weights pass
    on. Normalising both sides alike measures what the *weights* kept. ``images``: one batch (a few hundred crops;
    the statistics are those of the whole batch). ``reference``: :func:`source_features` of ``images``.
    """
    if reference is None:
        reference = source_features(pretrained, images)
    body = _body_with_batch_statistics(finetuned)
    return linear_cka(body(images.to(next(body.parameters()).device)).cpu(), reference)
