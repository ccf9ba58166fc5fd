"""Choosing what to train: freezing, unfreezing and per-layer learning rates.

A network is treated as an ordered list of *blocks*, from the input to the
classification head (see :func:`blocks`). "Freeze all but the last k blocks",
"unfreeze one more block per epoch" and "smaller learning rates for earlier
blocks" are then a few lines each.

Freezing means ``requires_grad = False``: no gradient is computed for those
weights and the optimiser never changes them. BatchNorm needs one more step:
its running mean and variance are not weights but are updated by every forward
pass in training mode, so :func:`fit <tlcourse.training.fit>` keeps the
BatchNorm layers of frozen blocks in evaluation mode (:func:`keep_frozen_batchnorm_in_eval`).
"""

from __future__ import annotations

from torch import nn

from .callbacks import Callback, FitState
from .models import count_parameters


def new_head_name(model: nn.Module) -> str:
    """Attribute name of the freshly initialised classification layer: the one part of a fine-tuned
    model with no pretrained value (timm ``classifier``, torchvision ResNet ``fc``, Hugging Face
    ``classifier``). The last of :func:`blocks` can hold more than this (BERT's pretrained pooler).
    """
    if hasattr(model, "get_classifier") or (hasattr(model, "base_model") and hasattr(model, "classifier")):
        return "classifier"  # timm models, Hugging Face sequence classifiers
    if hasattr(model, "fc"):  # torchvision ResNets
        return "fc"
    raise TypeError(f"Do not know where the head of {type(model).__name__} is.")


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's blocks in input-to-output order, as ``(name, module)``; the last one is the head.

    Knows the three families used in the course: timm EfficientNets, torchvision ResNets and
    Hugging Face BERT-style sequence classifiers.
    """
    if hasattr(model, "conv_stem") and hasattr(model, "blocks"):  # timm EfficientNet
        stem = nn.ModuleList([model.conv_stem, model.bn1])
        body = [(f"blocks.{i}", block) for i, block in enumerate(model.blocks)]
        top = nn.ModuleList([model.conv_head, model.bn2])
        return [("stem", stem), *body, ("conv_head", top), ("classifier", model.classifier)]
    if hasattr(model, "layer4") and hasattr(model, "fc"):  # torchvision ResNet
        stem = nn.ModuleList([model.conv1, model.bn1])
        body = [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]
        return [("stem", stem), *body, ("fc", model.fc)]
    if hasattr(model, "base_model") and hasattr(model.base_model, "encoder"):  # Hugging Face encoder
        base = model.base_model
        layers = [(f"layer.{i}", layer) for i, layer in enumerate(base.encoder.layer)]
        head = nn.ModuleList([m for m in (getattr(base, "pooler", None), model.classifier) if m is not None])
        return [("embeddings", base.embeddings), *layers, ("head", head)]
    raise TypeError(f"Do not know the blocks of {type(model).__name__}: freeze its sub-modules with set_trainable() instead.")


def set_trainable(module: nn.Module, trainable: bool) -> None:
    """Freeze (``False``) or unfreeze (``True``) every parameter of ``module``."""
    for parameter in module.parameters():
        parameter.requires_grad = trainable


def train_last_blocks(model: nn.Module, k: int) -> None:
    """Freeze everything except the head and the last ``k`` blocks below it (k=0: head only)."""
    ordered = blocks(model)
    set_trainable(model, False)
    for _, block in ordered[max(0, len(ordered) - 1 - k):]:
        set_trainable(block, True)


def count_trainable(model: nn.Module) -> int:
    """Parameters the optimizer will update (those with ``requires_grad``)."""
    return count_parameters(model, trainable_only=True)


def trainable_fraction(model: nn.Module) -> float:
    """The share of the model's parameters that training updates."""
    return count_parameters(model, trainable_only=True) / count_parameters(model)


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``model``, in module order (two copies of a model list them alike)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def keep_frozen_batchnorm_in_eval(model: nn.Module) -> int:
    """Put every BatchNorm layer whose weights are all frozen into eval mode; return how many.

    In training mode a BatchNorm layer normalises with the current batch's statistics and
    overwrites its running averages, so a "frozen" block would still change. Call after
    ``model.train()`` (``fit`` does).
    """
    count = 0
    for module in batchnorm_layers(model):
        parameters = list(module.parameters())
        if parameters and not any(p.requires_grad for p in parameters):
            module.eval()
            count += 1
    return count


def block_learning_rates(num_blocks: int, lr: float, decay: float) -> list[float]:
    """Discriminative learning rates, first block first: the head (last block) gets ``lr``, and each
    block below gets ``decay`` times the rate of the block above it."""
    return [lr * decay ** (num_blocks - 1 - i) for i in range(num_blocks)]


def layerwise_lr_groups(model: nn.Module, lr: float, decay: float = 0.5) -> list[dict]:
    """Parameter groups with "discriminative" learning rates: ``lr`` for the head, times ``decay`` per block down.

    Early blocks hold general features that need little change, late blocks task-specific
    ones (Howard & Ruder 2018, ULMFiT). Frozen parameters are left out.
    """
    ordered = blocks(model)
    groups = []
    for (name, block), rate in zip(ordered, block_learning_rates(len(ordered), lr, decay)):
        params = [p for p in block.parameters() if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": rate, "name": name})
    return groups[::-1]  # head first, as before


class GradualUnfreezing(Callback):
    """Callback for ``fit``: head only in the first epoch, then one more block every epoch.

    Pass ``params=list(model.parameters())`` to ``fit`` so the optimiser knows every weight from
    the start; weights that are still frozen get no gradient and are skipped by the optimiser.

    In a network with BatchNorm, unfreezing a block also changes how it normalises: ``fit`` keeps
    frozen BatchNorm layers in eval mode (the source's running statistics), so the epoch a block is
    unfrozen its layers switch to batch statistics under the blocks above, which were trained on the
    old ones. Notebook 03 measures what that switch costs late in a short run; a recipe with
    ``frozen_batchnorm="train"`` lets every BatchNorm layer adapt from the first epoch instead.
    """

    def __init__(self, model: nn.Module, blocks_per_epoch: int = 1):
        self.model, self.blocks_per_epoch = model, blocks_per_epoch

    def before_epoch(self, state: FitState) -> None:
        train_last_blocks(self.model, state.epoch * self.blocks_per_epoch)


STRATEGIES = ("head", "last_k", "full", "gradual", "discriminative")


def apply_strategy(model: nn.Module, strategy: str, lr: float, k: int = 1, decay: float = 0.5,
                   blocks_per_epoch: int = 1) -> dict:
    """Set ``model`` up for a fine-tuning strategy; return the extra keyword arguments for ``fit``.

    * ``"head"``: train the new head only (the body is a fixed feature extractor).
    * ``"last_k"``: the head and the last ``k`` blocks.
    * ``"full"``: everything, with one learning rate.
    * ``"gradual"``: head first, then ``blocks_per_epoch`` more blocks every epoch (ULMFiT).
    * ``"discriminative"``: everything, learning rate ``lr * decay**depth`` (head at depth 0).
    """
    if strategy == "head":
        train_last_blocks(model, 0)
        return {}
    if strategy == "last_k":
        train_last_blocks(model, k)
        return {}
    if strategy == "full":
        set_trainable(model, True)
        return {}
    if strategy == "gradual":
        train_last_blocks(model, 0)
        return {"params": list(model.parameters()), "callbacks": [GradualUnfreezing(model, blocks_per_epoch)]}
    if strategy == "discriminative":
        set_trainable(model, True)
        return {"params": layerwise_lr_groups(model, lr, decay)}
    raise ValueError(f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
