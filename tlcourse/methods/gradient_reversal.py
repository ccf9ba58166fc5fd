"""The gradient reversal layer (Ganin & Lempitsky 2015).

Forward: the identity. Backward: the gradient times ``-lambda``. Placed between a
feature extractor and a domain classifier, it lets one backward pass train the
domain classifier to *tell* the domains apart while pushing the feature extractor
to make them *indistinguishable*.
"""

from __future__ import annotations

import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, strength: float) -> torch.Tensor:
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.strength * grad_output, None  # no gradient for the strength itself


def reverse_gradient(x: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    return _ReverseGradient.apply(x, strength)


class GradientReversal(nn.Module):
    """The reversal as a layer; set ``.strength`` during training to follow a schedule."""

    def __init__(self, strength: float = 1.0):
        super().__init__()
        self.strength = strength

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.strength)
