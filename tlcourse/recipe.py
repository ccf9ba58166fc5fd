"""A training recipe as one value: every setting of a run in one frozen dataclass.

A lesson shows its recipe once, as a readable value, and varies it with ``dataclasses.replace``::

    recipe = Recipe(epochs=5, lr=1e-3, warmup=0.1, seed=0)
    history = training.fit(model, loader, recipe)
    run = experiments.run(task, replace(recipe, lr=3e-3, strategy="head"), n_labels=200)

Settings travel as this value, not as keyword lists or dicts, so ``recipe.lr`` can be followed from the
notebook to the optimiser in one step (``training.fit`` -> ``training.make_optimizer``). The recipe holds
settings only: ``fit`` takes the model, its loaders, the loss and the extra behaviour at each event
(callbacks, :mod:`tlcourse.callbacks`) beside it; :mod:`tlcourse.experiments` builds the model and loaders from
the recipe's data fields (batch size, strategy, ...).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Recipe:
    """The settings of one training run; frozen, so a recipe shown in a notebook is the one that ran."""

    epochs: int = 3  # passes over the training data; with keep_best the best epoch's weights are kept
    lr: float = 1e-3  # peak learning rate, reached after warm-up (per-group rates: fit's `params`)
    optimizer: str = "adamw"  # "adamw" (the fine-tuning default), "adam" or "sgd" (with momentum 0.9)
    weight_decay: float = 0.01  # pulls weights towards zero each step (AdamW: decoupled from the gradient)
    schedule: str = "cosine"  # after warm-up the rate falls to 0: "cosine", "linear" (BERT) or "constant"
    warmup: float = 0.0  # fraction of all steps spent raising the rate from ~0: protects pretrained weights early
    grad_clip: float | None = 1.0  # largest gradient norm per step; None: no clipping
    device: str | None = None  # where to train: None picks the fastest there is (CUDA, Apple's MPS, the CPU)
    precision: str = "auto"  # "auto": mixed precision on a GPU (bf16 or fp16), fp32 on a CPU; or "fp16", "fp32"
    frozen_batchnorm: str = "eval"  # "eval": frozen BatchNorm layers keep the source's statistics; "train": adapt
    channels_last: bool = False  # image batches in channels-last memory order (faster convolutions)
    compile: bool = False  # torch.compile the model: slow first epoch, faster later ones
    keep_best: bool = False  # end with the weights of the best validation epoch (needs a validation loader)
    patience: int | None = None  # with keep_best: stop after this many epochs without a better validation score
    seed: int | None = None  # seeds everything before training, so a run repeats exactly; None: not reseeded
    momentum: float = 0.9  # SGD only: the share of the previous step carried into the next one
    # What the run trains on and what it trains: read by tlcourse.experiments and dann.train_dann, which build the
    # model and the loaders (fit itself takes a ready model and loader).
    batch_size: int = 32  # training examples per optimiser step
    max_length: int = 64  # text: tokens kept per text; longer costs time (attention grows with its square)
    pooling: str = "cls"  # text: what the new head reads: "cls" (BERT's [CLS]), "mean" of the tokens, or "auto"
    pretrained: bool = True  # start from the source model's weights (transfer), or from random ones (from scratch)
    strategy: str = "full"  # what is trained: "head", "last_k", "full", "gradual" or "discriminative" (freezing.py)
    strategy_options: dict | None = None  # the strategy's own settings, e.g. {"k": 2} or {"blocks_per_epoch": 2}

    def as_dict(self) -> dict:
        """The settings as a plain dict: for a record, a table or a fingerprint, never for passing settings on."""
        return asdict(self)
