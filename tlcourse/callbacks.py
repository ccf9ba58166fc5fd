"""What :func:`~tlcourse.training.fit` does at each event beyond the plain loop: callbacks.

``fit`` calls every callback at these events, in this order (the same idea as fastai's callbacks):

* ``before_fit(state)``: once, after the model and optimiser are ready (and a checkpoint restored);
* ``before_epoch(state)``: at the start of each epoch (``state.epoch`` is 0-based), e.g. unfreeze a block;
* ``after_step(state)``: after each optimiser step (``state.step`` counts steps from the start of the run);
* ``after_epoch(state)``: after the epoch's training and validation (``state.history`` has its numbers);
* ``after_fit(state)``: once, at the end, also after an early stop.

The course's callbacks: :class:`KeepBest` (early stopping), :class:`ProgressBar`,
:class:`~tlcourse.checkpoint.Checkpoint`, :class:`~tlcourse.freezing.GradualUnfreezing` and
:class:`~tlcourse.methods.dann.ReversalSchedule`.

A callback ends training early by raising :class:`StopTraining`. What it must remember across epochs goes in
``state_dict()``: ``fit`` saves that in its checkpoints and gives it back with ``load_state_dict`` on resume,
so a resumed run is the same run. Its simple attributes (numbers, strings) are part of the run's identity: a
checkpoint is not resumed with a callback of other settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm


class StopTraining(Exception):
    """Raised by a callback to end training before the last epoch (``fit`` then calls ``after_fit``)."""


@dataclass
class FitState:
    """What a callback can read (and change) at an event of ``fit``."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: object  # tlcourse.training.History
    epochs: int  # the recipe's number of epochs
    steps_per_epoch: int  # optimiser steps in one epoch (batches of the training loader)
    epoch: int = 0  # 0-based index of the current (or last) epoch
    step: int = 0  # optimiser steps taken in this run so far
    # The rest of the run, for callbacks that save or restore all of it (tlcourse.checkpoint.Checkpoint):
    recipe: object = None  # the tlcourse.Recipe being followed
    train_loader: object = None
    loss_fn: object = None
    scheduler: object = None  # the learning-rate schedule (a torch LambdaLR)
    scaler: object = None  # the fp16 gradient scaler (disabled in fp32 and bf16)
    callbacks: tuple = ()  # the run's callbacks, in the order they are called (the progress bar left out)

    @property
    def progress(self) -> float:
        """How far through the run: 0 at the first step, 1 after the last (schedules read this)."""
        return self.step / (self.epochs * self.steps_per_epoch)


class Callback:
    """Does nothing at every event; a callback overrides the events it needs.

    ``order``: callbacks run in increasing order at every event (ties in the order given), as in fastai: a
    :class:`~tlcourse.checkpoint.Checkpoint` (-10) restores the others before they start; the bar (10) comes last.
    """

    order = 0

    def before_fit(self, state: FitState) -> None: ...

    def before_epoch(self, state: FitState) -> None: ...

    def after_step(self, state: FitState) -> None: ...

    def after_epoch(self, state: FitState) -> None: ...

    def after_fit(self, state: FitState) -> None: ...

    def state_dict(self) -> dict:
        """What a checkpoint must hold for a resumed run to continue exactly (nothing, by default)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Take back what :meth:`state_dict` returned."""


class KeepBest(Callback):
    """Early stopping: remember the weights of the epoch with the best validation accuracy, end with them, and
    (with ``patience``) stop once that many epochs in a row have not beaten it.

    A tie keeps the earlier epoch. ``history.best_epoch`` says which epoch's weights the model ends with.
    """

    def __init__(self, patience: int | None = None):
        self.patience = patience
        self._epoch, self._accuracy, self._weights = None, None, None  # the best epoch so far (1-based)

    def before_epoch(self, state: FitState) -> None:
        if self.patience is not None and self._epoch is not None and state.epoch - self._epoch >= self.patience:
            raise StopTraining(f"no better validation accuracy for {self.patience} epochs")

    def after_epoch(self, state: FitState) -> None:
        accuracy = state.history.val_acc[-1]
        if self._epoch is None or accuracy > self._accuracy:
            self._epoch, self._accuracy = state.epoch + 1, accuracy
            self._weights = {k: v.detach().to("cpu", copy=True) for k, v in state.model.state_dict().items()}

    def after_fit(self, state: FitState) -> None:
        if self._weights is not None:
            state.model.load_state_dict(self._weights)
            state.history.best_epoch = self._epoch

    def state_dict(self) -> dict:
        return {"epoch": self._epoch, "accuracy": self._accuracy, "weights": self._weights}

    def load_state_dict(self, state: dict) -> None:
        self._epoch, self._accuracy, self._weights = state.get("epoch"), state.get("accuracy"), state.get("weights")


class ProgressBar(Callback):
    """One progress bar for the whole run, with the last epoch's loss and accuracies beside it.

    One bar per run, not per epoch: a notebook receives every bar as a widget, and hundreds of short-lived
    ones (many small runs in one cell) overran the wait for a cell's output under nbval.
    """

    order = 10
    min_steps = 10  # a run of fewer steps is over before a bar helps

    def before_fit(self, state: FitState) -> None:
        total = state.epochs * state.steps_per_epoch
        self._bar = tqdm(total=total, initial=state.step, desc="training", leave=False, disable=total < self.min_steps)

    def after_step(self, state: FitState) -> None:
        self._bar.update(1)

    def after_epoch(self, state: FitState) -> None:
        history = state.history
        shown = {"epoch": f"{state.epoch + 1}/{state.epochs}", "loss": f"{history.train_loss[-1]:.3f}",
                 "acc": f"{history.train_acc[-1]:.3f}"}
        if len(history.val_acc) == len(history.train_acc):
            shown["val_acc"] = f"{history.val_acc[-1]:.3f}"
        self._bar.set_postfix(shown)

    def after_fit(self, state: FitState) -> None:
        self._bar.close()


def run_event(callbacks, event: str, state: FitState) -> None:
    """Call ``event`` on every callback, in order."""
    for callback in callbacks:
        getattr(callback, event)(state)
