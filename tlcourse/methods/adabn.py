"""AdaBN (Li, Wang, Shi, Liu & Hou 2016): re-estimate BatchNorm statistics on the target domain.

A network with BatchNorm normalises each layer with running means and variances collected on the
training data. When the test images come from another domain, those statistics describe the wrong
images. AdaBN keeps every weight and simply recomputes the statistics on unlabelled target images.
No labels and no training are needed, which makes it the first thing to try under domain shift.

It matters for DANN too: :func:`~tlcourse.methods.dann.train_dann` passes the source and the target
batches through the network separately, so during training each domain is normalised with its own
batch statistics, while the running statistics used at test time mix the two.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..freezing import batchnorm_layers


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are those of ``images`` (the weights are unchanged).

    Each batch's statistics count equally (momentum ``None``: a plain average over the batches, not a
    moving one); use large batches. Dropout stays off while they are collected.
    """
    adapted = copy.deepcopy(model).eval()
    device = next(adapted.parameters()).device
    momenta = [norm.momentum for norm in batchnorm_layers(adapted)]
    for norm in batchnorm_layers(adapted):
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over every batch below
        norm.train()  # only the BatchNorm layers: they update their statistics, dropout stays off
    for batch in images.split(batch_size):
        adapted(batch.to(device))
    for norm, momentum in zip(batchnorm_layers(adapted), momenta):
        norm.momentum = momentum  # the model's own setting back, for any later training
    return adapted.eval()
