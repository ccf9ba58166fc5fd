"""Watching a network's layers while it runs: the package's one place that registers PyTorch hooks.

Features of intermediate layers (notebook 04), the pooled features a regulariser compares (05), the inputs of
a head, layer-by-layer memory, multiply-adds and label checks all need to see what a layer receives or returns
during a forward pass. A forward hook does that without changing the model; :func:`forward_hooks` makes sure
the hooks are removed again however the block ends, so a model is never left watched (a leftover hook keeps
catching tensors, and memory, on every later call).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

from torch import nn

Hook = Callable[[nn.Module, tuple, object], None]  # (module, its inputs, its output)


@contextlib.contextmanager
def forward_hooks(modules: Iterable[nn.Module], hook: Hook):
    """Call ``hook(module, inputs, output)`` after every forward pass of each of ``modules`` inside the
    ``with`` block; the hooks are removed when it ends, also on an error."""
    handles = [module.register_forward_hook(hook) for module in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
