"""Ready-made experiments that the notebooks repeat many times with different settings.

:func:`run` is one training run in one place, for images and text -- build the model, pick the labelled
examples, train with :func:`~tlcourse.training.fit`, evaluate -- so a notebook can sweep a setting in a
short loop and the reader can still see, here, exactly what was run.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import checkpoint, data, features, freezing, models, training
from .assets import data_dir
from .profiles import get_device
from .recipe import Recipe
from .training import History


@dataclass
class RunResult:
    """What one training run produced: test accuracy (``None`` when the run was not tested), and the
    validation accuracy of the weights kept when the run had a validation split."""

    accuracy: float | None
    history: History
    seconds: float
    model: torch.nn.Module
    trainable_parameters: int = 0
    memory_bytes: int = 0  # estimate for one training step, see training.training_step_memory
    val_accuracy: float | None = None
    from_cache: bool = False  # True: the weights and history are those of an earlier, identical run


def digit_augmentation(fill: float = -1.0):
    """Small shifts, rotations and zooms: plausible variations of a handwritten digit.

    ``fill`` is the normalised value of the empty background (black is -1 with mean = std = 0.5).
    No flips: a mirrored 2 is not a 2.
    """
    from torchvision.transforms import v2

    return v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), fill=fill)


# --- a recipe is checked before anything is built or trained ----------------------------------


def check_grid(argument: str, values) -> list:
    """A grid of settings tried on validation (learning rates, logistic regression's ``C``) as a list: at least
    one value, each a positive number. Checked first: an empty grid used to end in scikit-learn or in
    ``max() arg is an empty sequence``, after the runs before it had trained."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{argument}={values!r}: expected a list of positive numbers to try, e.g. "
                         f"{argument}=[{values!r}] for one value.")
    values = list(values)
    if not values:
        raise ValueError(f"{argument}=[]: give at least one value to try; the best one on validation is kept.")
    bad = [v for v in values if not _positive_number(v)]
    if bad:
        raise ValueError(f"{argument}={values!r}: every value must be a positive number, and {bad} "
                         f"{'is' if len(bad) == 1 else 'are'} not.")
    return values


def _positive_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def check_seeds(seeds) -> list:
    """The seeds as a list, at least one: with none, a spread over seeds is an empty list, and its mean NaN."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds=[]: give at least one seed, e.g. seeds=[0, 1, 2]; each is one run.")
    return seeds


def check_n_labels(n_labels, task) -> None:
    """``n_labels`` training examples must include one of every class (a class never seen cannot be
    learned) and exist in the training split."""
    if isinstance(n_labels, bool) or not isinstance(n_labels, numbers.Integral):
        raise ValueError(f"n_labels={n_labels!r}: the number of labelled training examples is a whole number.")
    if n_labels < task.num_classes:
        raise ValueError(f"n_labels={n_labels} leaves some of the {task.num_classes} classes without a training "
                         f"example, and a class never seen cannot be learned: use at least {task.num_classes}.")
    if n_labels > len(task.train):
        raise ValueError(f"n_labels={n_labels}, but the training split holds only {len(task.train)} examples: "
                         f"use at most {len(task.train)}.")


def check_run_settings(strategy: str, lr, epochs) -> None:
    """A fine-tuning strategy, learning rate and number of epochs that can train, checked before the model
    is built (which may mean a download)."""
    if strategy not in freezing.STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not a fine-tuning strategy: use one of "
                         f"{', '.join(freezing.STRATEGIES)} (see tlcourse.freezing.apply_strategy).")
    if not _positive_number(lr):
        raise ValueError(f"lr={lr!r}: a learning rate must be a positive number, e.g. lr=1e-3.")
    check_epochs(epochs)


def check_epochs(epochs) -> None:
    """At least one whole epoch: with none, training does nothing and there is no best epoch to keep."""
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"epochs={epochs!r}: the number of passes over the training data is a whole number >= 1.")


def _seed_of(recipe: Recipe) -> int:
    """The run's seed: it picks the labelled examples, the new head and the batch order (0 when the recipe has none)."""
    return 0 if recipe.seed is None else recipe.seed


def _for_fit(recipe: Recipe) -> Recipe:
    """The recipe ``fit`` gets: everything was seeded before the model was built (so the new head is seeded too);
    seeding again at the start of training would replay the random numbers the head already used."""
    return dataclasses.replace(recipe, seed=None)


def _fit_options(model, recipe: Recipe, loss_fn, val_loader) -> dict:
    """``fit``'s arguments besides the recipe: the strategy's parameter groups and callbacks (it also freezes what
    the strategy leaves out), the loss if one replaces cross-entropy, and the validation loader (for the curve)."""
    options = freezing.apply_strategy(model, recipe.strategy, recipe.lr, **(recipe.strategy_options or {}))
    options |= {"loss_fn": loss_fn} if loss_fn is not None else {}
    return options | ({"val_loader": val_loader} if val_loader is not None else {})


def run(task: data.ImageTask | data.TextTask, recipe: Recipe, *, n_labels: int | None = None, model=None,
        loss_fn=None, val_loader=None, test_loader=None, test: bool = True, cache: bool = False,
        measure_memory: bool = False) -> RunResult:
    """Fine-tune the profile's model on ``task`` (images or text), or train it from scratch, following ``recipe``:
    build the model, pick the labelled examples, train with :func:`~tlcourse.training.fit`, test.

    From ``recipe``: the training settings, and what the run trains -- ``pretrained``, ``strategy``,
    ``batch_size``, and for text ``max_length`` and ``pooling``. ``n_labels``: train on that many balanced
    examples of the training split (images; default: all of it). The same seed gives the same labelled
    examples, the same new head and the same batches, so a pretrained and a from-scratch run differ only in
    their starting weights.

    ``model`` replaces the profile's model (for text a ``(model, tokenizer)`` pair, as
    :func:`~tlcourse.models.text_classifier` returns): one with other dropout, a distilled student.
    ``loss_fn`` replaces cross-entropy (a regularised or a distillation loss).

    Choosing: with ``val_loader`` the run validates after every epoch and reports ``val_accuracy`` (of
    the last epoch, or of the best one with ``recipe.keep_best``: early stopping). ``test=False`` leaves the test
    split unread, as a run that only serves a choice should; ``measure_memory`` estimates one training step's memory.

    ``cache=True`` saves the trained weights and history under a fingerprint of everything the run
    depends on (see :func:`reuse_or_train`); an identical later call, in this notebook or the next,
    loads them instead of training again.
    """
    _check_labelled_examples(n_labels, task)
    check_run_settings(recipe.strategy, recipe.lr, recipe.epochs)
    seed = _seed_of(recipe)
    training.seed_everything(seed)  # before the model is built: the new head is seeded too
    model, tokenizer = _model_and_tokenizer(task, recipe, model)
    fit_options = _fit_options(model, recipe, loss_fn, val_loader)
    train_loader = _train_loader(task, recipe, n_labels, tokenizer, seed)
    test_loader = (test_loader or _test_loader(task, recipe, tokenizer)) if test else None
    kind = {"kind": "image"} if tokenizer is None else {"kind": "text", "tokenizer": tokenizer.name_or_path}
    result = _train_or_reuse(model, train_loader, test_loader, fit_options, measure_memory, recipe,
                             kind if cache else None, train_loader.dataset)
    if val_loader is not None:
        history = result.history
        result.val_accuracy = history.val_acc[history.best_epoch - 1 if recipe.keep_best else -1]
    return result


def _check_labelled_examples(n_labels, task) -> None:
    if n_labels is None:
        return
    if isinstance(task, data.TextTask):
        raise ValueError(f"n_labels={n_labels}: a text run trains on all of the task's training texts; pass a task "
                         "with fewer texts instead.")
    check_n_labels(n_labels, task)


def _model_and_tokenizer(task, recipe: Recipe, model):
    """The model to train and, for text, its tokenizer: the profile's, built from the recipe, unless given."""
    if isinstance(task, data.TextTask):
        if model is None:
            return models.text_classifier(task.num_classes, pretrained=recipe.pretrained, pooling=recipe.pooling)
        if not isinstance(model, tuple):
            raise ValueError("For a text task pass model=(model, tokenizer): the tokenizer that model reads with.")
        return model
    if model is None:
        model = models.image_classifier(task.num_classes, pretrained=recipe.pretrained)
    return model, None


def _train_loader(task, recipe: Recipe, n_labels, tokenizer, seed: int):
    """The shuffled training batches: ``n_labels`` balanced images (all with None), or all the texts, tokenised."""
    if tokenizer is not None:
        return data.text_loader(task.train_texts, task.train_labels, tokenizer, recipe.batch_size,
                                recipe.max_length, shuffle=True, seed=seed)
    train_set = task.train if n_labels is None else data.labelled_subset(task.train, n_labels, seed=seed)
    return data.make_loader(train_set, recipe.batch_size, shuffle=True, seed=seed)


def _test_loader(task, recipe: Recipe, tokenizer):
    if tokenizer is not None:
        return data.text_loader(task.test_texts, task.test_labels, tokenizer, 128, recipe.max_length)
    return data.make_loader(task.test, 256)


def choose_learning_rate(task, recipe: Recipe, learning_rates, val_loader, n_labels: int | None = None,
                         cache: bool = False) -> tuple[float, dict[float, RunResult]]:
    """Train ``recipe`` once per learning rate on the same labelled examples; keep the best on validation.

    Returns ``(best_lr, {lr: run})``. The test split is never read: a learning rate picked by its test
    accuracy would make that test accuracy an optimistic estimate of how the model does on new data.
    """
    runs = {lr: run(task, dataclasses.replace(recipe, lr=lr), n_labels=n_labels, val_loader=val_loader, test=False,
                    cache=cache)
            for lr in check_grid("learning_rates", learning_rates)}
    return max(runs, key=lambda lr: runs[lr].val_accuracy), runs


def accuracy_over_seeds(task, recipe: Recipe, seeds, test_loader, n_labels: int | None = None) -> list[float]:
    """Test accuracy of the same recipe run with each seed (other labelled examples, head and batch order).

    One run is one draw; the spread over seeds is what tells a finding from luck (see
    :mod:`tlcourse.uncertainty`).
    """
    return [run(task, dataclasses.replace(recipe, seed=seed), n_labels=n_labels, test_loader=test_loader).accuracy
            for seed in check_seeds(seeds)]


# --- reusing a run -----------------------------------------------------------------------------


def run_cache_dir() -> Path:
    return data_dir() / "cache" / "runs"


def _train_or_reuse(model, train_loader, test_loader, fit_options: dict, measure_memory: bool, recipe: Recipe,
                    run: dict | None, train_set) -> RunResult:
    """Train with ``fit``; with a ``run`` description (``cache=True``), reuse an identical earlier run instead."""
    if run is None:
        return _train_and_measure(model, train_loader, test_loader, fit_options, measure_memory, recipe)
    if "loss_fn" in fit_options:
        raise ValueError("cache=True works for runs fully described by their settings: a custom loss_fn cannot be "
                         "fingerprinted, so such a run is never reused.")
    val_loader = fit_options.get("val_loader")
    return reuse_or_train(model, train_loader, test_loader, fit_options, measure_memory, recipe, run,
                          train_set, None if val_loader is None else val_loader.dataset)


def reuse_or_train(model, train_loader, test_loader, fit_options: dict, measure_memory: bool, recipe: Recipe,
                   run: dict, train_set, val_set) -> RunResult:
    """Train ``model`` following ``recipe``, or load the result of an identical earlier run.

    A run is identical when its starting weights (pretrained body and seeded new head), training
    data, validation data, every field of ``recipe`` (settings, batch size, seed, strategy...), the kind of run
    (and the tokenizer) in ``run``, the package's own code (:func:`~tlcourse.features.code_fingerprint`) and the
    software and device are the same: the file name is a fingerprint of all of them, so changing any one trains anew. The cache saves
    a notebook the time of a run that an earlier notebook already made (a teacher, a fine-tuned
    model); each notebook still trains it when run alone. The test split is evaluated every time
    (it is cheap), and ``seconds`` and the history's timings are those of the run that trained.
    """
    key = features.fingerprint(model, train_set, val_set, recipe.as_dict() | run, torch.__version__,
                               str(get_device()), features.code_fingerprint())
    path = run_cache_dir() / f"{run['kind']}-{key}.pt"
    saved = features.load_saved(path)
    if saved is None:
        result = _train_and_measure(model, train_loader, test_loader, fit_options, measure_memory, recipe)
        checkpoint.save_atomically({"weights": model.state_dict(), "history": result.history.as_dict(),
                                  "seconds": result.seconds, "trainable": result.trainable_parameters,
                                  "memory": result.memory_bytes,
                                  "trained": [name for name, p in model.named_parameters() if p.requires_grad]}, path)
        return result
    checkpoint.load_weights(model, saved["weights"], source=str(path))
    for name, parameter in model.named_parameters():  # gradual unfreezing ends with more trainable weights
        parameter.requires_grad = name in saved["trained"]
    memory = saved["memory"] or (_step_memory(model, train_loader, fit_options) if measure_memory else 0)
    accuracy = None if test_loader is None else training.evaluate(model, test_loader)["accuracy"]
    return RunResult(accuracy, History(**saved["history"]), saved["seconds"], model, saved["trainable"], memory,
                     from_cache=True)


def _train_and_measure(model, train_loader, test_loader, fit_options: dict, measure_memory: bool,
                       recipe: Recipe) -> RunResult:
    """Train with ``fit``, then measure what a RunResult reports: time, trainable weights, memory, accuracy."""
    started = time.perf_counter()
    history = training.fit(model, train_loader, _for_fit(recipe), **fit_options)
    seconds = time.perf_counter() - started
    # counted after training: gradual unfreezing ends with more trainable weights than it starts with
    trainable = freezing.count_trainable(model)
    memory = _step_memory(model, train_loader, fit_options) if measure_memory else 0
    accuracy = None if test_loader is None else training.evaluate(model, test_loader)["accuracy"]
    return RunResult(accuracy, history, seconds, model, trainable, memory)


def _step_memory(model, loader, fit_options) -> int:
    """Memory estimate of one training step on one batch, measured on a copy of the model
    in its final state (all the weights that were trained by the end are counted).

    The random states are put back afterwards, so measuring does not change anything.
    """
    torch_state, loader_state = torch.get_rng_state(), loader.generator.get_state()
    inputs, labels = next(iter(loader))
    loss_fn = fit_options.get("loss_fn", training.cross_entropy_loss)
    total = training.training_step_memory(copy.deepcopy(model), inputs, labels, loss_fn=loss_fn)["total"]
    torch.set_rng_state(torch_state)
    loader.generator.set_state(loader_state)
    return total


def epochs_for(n_labels: int, min_steps: int = 60, batch_size: int = 32, min_epochs: int = 5) -> int:
    """Enough epochs that a small labelled set still gets ``min_steps`` optimiser steps.

    With 50 labels one epoch is two batches; without this, small-data runs would simply be
    under-trained and the data-efficiency curve would measure the budget, not the data.
    """
    steps_per_epoch = -(-n_labels // batch_size)
    return max(min_epochs, -(-min_steps // steps_per_epoch))
