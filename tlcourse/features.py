"""Using a frozen pretrained network as a feature extractor."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .profiles import get_device
from .training import model_logits, move_to


def without_head(model: nn.Module) -> nn.Module:
    """A copy of an image classifier that returns pooled features instead of class scores."""
    body = copy.deepcopy(model)
    if hasattr(body, "reset_classifier"):  # timm models
        body.reset_classifier(0)
    elif hasattr(body, "fc"):  # torchvision ResNets
        body.fc = nn.Identity()
    else:
        raise TypeError(f"Do not know where the head of {type(model).__name__} is.")
    return body


@torch.inference_mode()
def extract_features(backbone: nn.Module, loader, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``backbone`` over a loader once, in eval mode, and return ``(features, labels)`` on the CPU."""
    device = get_device(device)
    backbone.to(device).eval()
    features, labels = [], []
    for inputs, targets in loader:
        features.append(model_logits(backbone, move_to(inputs, device)).float().cpu())
        labels.append(targets)
    return torch.cat(features), torch.cat(labels)
