"""Choosing a transfer strategy for your own data, with evidence instead of a rule of thumb.

The usual advice is a table: little data and a source like yours -> train a linear classifier on
frozen features; much data or a different source -> fine-tune everything. Which cell you are in is
hard to know in advance, so here the candidates are simply tried on *your* validation split, cheapest
first, within a time budget you set:

1. ``probe``: a logistic regression on features of the frozen pretrained network (computed once, cached);
2. ``head``: the new head trained through the frozen network (fit, with augmentation-free batches);
3. ``full``: every weight fine-tuned.

Each candidate gets its own tuning: the probe its regularisation ``C``, each fine-tuning strategy its
own small grid of learning rates (a new head alone wants large steps, a whole pretrained network
small ones), every run stopped early once validation stops improving and kept at its best epoch. The
best validation accuracy wins (a tie within ``tie``, one validation example by default, goes to the
cheaper one). The time budget decides how much of this is tried. The test split is not touched here:
measure the chosen model on it once, at the end.
"""

from __future__ import annotations

import dataclasses
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data, experiments, features, freezing, models, own_data, training
from .experiments import check_epochs, check_grid, check_n_labels, check_run_settings, check_seeds
from .hooks import forward_hooks
from .profiles import image_model_spec
from .recipe import Recipe

CANDIDATES = ("probe", "head", "full")


@dataclass
class Candidate:
    """One strategy tried on the validation split."""

    name: str
    val_accuracy: float
    seconds: float
    model: nn.Module
    best_epoch: int | None = None  # fine-tuning only: the epoch whose weights were kept
    history: training.History | None = None
    tokenizer: object = None  # text models only
    setting: str = ""  # the hyperparameter chosen on validation, e.g. "lr=0.001" or "C=0.1"
    val_by_lr: dict = field(default_factory=dict)  # fine-tuning: validation accuracy at each learning rate tried
    val_by_c: dict = field(default_factory=dict)  # the probe: validation accuracy at each strength C tried
    epoch_limit: int | None = None  # fine-tuning: the most epochs a run was allowed ...
    patience: int | None = None  # ... and the epochs without improvement that stop it early
    untried: list = field(default_factory=list)  # learning rates of its grid the time budget left no room for


@dataclass
class Choice:
    """The strategies tried, and the one chosen."""

    tried: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    winner: Candidate | None = None
    n_val: int | None = None  # validation examples: one of them is 1 / n_val of accuracy

    def table(self):
        """The candidates as a DataFrame: validation accuracy, seconds, the epoch kept ("-" for the probe)."""
        import pandas as pd

        return pd.DataFrame([{"strategy": c.name, "setting": c.setting, "val_accuracy": round(c.val_accuracy, 3),
                              "seconds": round(c.seconds, 1),
                              "best_epoch": "-" if c.best_epoch is None else c.best_epoch,
                              "validation by lr": ", ".join(f"lr {lr:g} {acc:.3f}" for lr, acc in c.val_by_lr.items())
                              or "-"} for c in self.tried])


# --- inputs for image and text tasks ----------------------------------------------------------


def is_text(task) -> bool:
    return isinstance(task, data.TextTask)


def new_model(task, pretrained: bool = True):
    """``(model, tokenizer)`` for the task and the profile: the image or the text model (tokenizer None for images)."""
    if is_text(task):
        return models.text_classifier(task.num_classes, pretrained=pretrained, pooling="auto")
    return models.image_classifier(task.num_classes, pretrained=pretrained), None


def loaders(task, tokenizer=None, batch_size: int = 32, seed: int = 0, max_length: int = 64):
    """Shuffled training loader and plain validation loader, images decoded once when they fit in memory."""
    if is_text(task):
        train = data.text_loader(task.train_texts, task.train_labels, tokenizer, batch_size, max_length,
                                 shuffle=True, seed=seed)
        return train, validation_loader(task, tokenizer, max_length)
    train = data.make_loader(data.in_memory(task.train), batch_size, shuffle=True, seed=seed)
    return train, validation_loader(task)


def validation_loader(task, tokenizer=None, max_length: int = 64):
    """The validation split in order, images decoded once when they fit in memory."""
    if is_text(task):
        return data.text_loader(task.val_texts, task.val_labels, tokenizer, 128, max_length)
    return data.make_loader(data.in_memory(task.val), 256)


def test_loader(task, tokenizer=None, max_length: int = 64):
    """The test split in order, for the one measurement at the end."""
    if is_text(task):
        return data.text_loader(task.test_texts, task.test_labels, tokenizer, 128, max_length)
    return data.make_loader(data.in_memory(task.test), 256)


# --- the probe, folded into the model's head --------------------------------------------------


def last_linear(head: nn.Module) -> nn.Linear:
    """The Linear layer that produces the class scores (the head itself, or the last Linear inside it)."""
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f"No Linear layer in the head {type(head).__name__}.")
    return linears[-1]


@torch.inference_mode()
def head_inputs(model: nn.Module, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """What the head receives for every example (pooled features), caught by a hook, and the labels."""
    head = last_linear(getattr(model, freezing.new_head_name(model)))
    caught, labels = [], []
    model.to(training.get_device()).eval()
    with forward_hooks([head], lambda module, args, output: caught.append(args[0].float().cpu())):
        for inputs, targets in loader:
            training.model_logits(model, training.move_to(inputs, training.get_device()))
            labels.append(targets)
    return training.concat_batches(caught, loader), training.concat_batches(labels, loader)


def fold_probe_into_head(model: nn.Module, probe) -> None:
    """Copy a fitted ``StandardScaler + LogisticRegression`` into the model's last Linear layer.

    ``w . (x - mu) / s + b = (w / s) . x + (b - w . mu / s)``: the scaled probe is itself a linear
    layer, so the model computes exactly the probe's scores and can be saved and used like any other.
    A two-class probe has one score; the Linear gets ``[0, score]`` (the same softmax).
    """
    scaler, regression = probe[0], probe[-1]
    weight = regression.coef_ / scaler.scale_
    bias = regression.intercept_ - weight @ scaler.mean_
    if weight.shape[0] == 1:
        weight, bias = np.vstack([np.zeros_like(weight), weight]), np.concatenate([[0.0], bias])
    linear = last_linear(getattr(model, freezing.new_head_name(model)))
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(weight, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(bias, dtype=linear.bias.dtype))


def _cached_head_inputs(name: str, model, loader, dataset_key, cache_folder):
    """Head inputs from the feature cache (a fingerprint of the weights and the data names the file)."""
    computed, _, _ = features.cached(name, lambda: dict(zip(("x", "labels"), head_inputs(model, loader))),
                                     model, dataset_key, folder=cache_folder)
    return computed["x"].numpy(), computed["labels"].numpy()


# logistic regression's C tried on validation, 10^7 wide: the course's own data chose both ends of a 10^5 grid
# (pixels of digits on photos C = 0.001, TF-IDF on reviews C = 100), so it reaches one step past each (TF-IDF then
# chose 1000, the top again, on a validation curve flat from C = 10 up: benchmarks/README.md)
STRENGTHS = (1e-4, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def try_probe(task, seed: int = 0, cache_folder=None, strengths=STRENGTHS) -> Candidate:
    """A logistic regression on frozen pretrained features, fitted on train, its ``C`` chosen on validation."""
    strengths = check_grid("strengths", strengths)
    started = time.perf_counter()
    model, tokenizer = new_model(task)
    train_loader, val_loader = loaders(task, tokenizer, batch_size=128, seed=seed)
    x_train, y_train = _cached_head_inputs("probe_train", model, train_loader, _data_key(task, "train"), cache_folder)
    x_val, y_val = _cached_head_inputs("probe_val", model, val_loader, _data_key(task, "val"), cache_folder)
    c, probe, val_by_c = features.choose_on_validation(lambda c: features.make_probe(c, max_iter=3000), strengths,
                                                       (x_train, y_train), (x_val, y_val))  # C chosen on validation
    fold_probe_into_head(model, probe)
    return Candidate("probe", val_by_c[c], time.perf_counter() - started, model, tokenizer=tokenizer,
                     setting=f"C={c:g}", val_by_c=val_by_c)


def _data_key(task, split: str):
    """What identifies a split's data for the feature cache: its texts, or its image files / tensors."""
    if is_text(task):
        return [getattr(task, f"{split}_texts"), getattr(task, f"{split}_labels")]
    dataset = task.train if split == "train" else task.val
    if isinstance(dataset, own_data.FolderImages):
        # a changed file changes its size or modification time, and so the fingerprint
        files = [[str(p), Path(p).stat().st_size, Path(p).stat().st_mtime_ns] for p in dataset.paths]
        return [files, dataset.targets, dataset.image_size]
    return dataset


# --- fine-tuning with early stopping ----------------------------------------------------------


def finetune(task, strategy: str = "full", epochs: int = 5, lr: float = 1e-3, pretrained: bool = True,
             batch_size: int = 32, seed: int = 0, name: str | None = None, patience: int | None = None) -> Candidate:
    """Fine-tune with ``strategy`` (see :func:`tlcourse.freezing.apply_strategy`), validating every epoch,
    and keep the weights of the epoch with the best validation accuracy. With ``patience``, stop once that
    many epochs in a row bring no improvement (early stopping): ``epochs`` is then only an upper limit.
    One run of :func:`tlcourse.experiments.run`, on all the training examples, as a candidate of the procedure."""
    check_run_settings(strategy, lr, epochs)
    started = time.perf_counter()
    recipe = Recipe(epochs=epochs, lr=lr, warmup=0.1, keep_best=True, patience=patience, seed=seed,
                    pretrained=pretrained, strategy=strategy, batch_size=batch_size, pooling="auto")
    tokenizer = models.text_tokenizer() if is_text(task) else None
    decoded = task if is_text(task) else dataclasses.replace(task, train=data.in_memory(task.train))
    result = experiments.run(decoded, recipe, val_loader=validation_loader(task, tokenizer), test=False)
    return Candidate(name or strategy, result.val_accuracy, time.perf_counter() - started, result.model,
                     result.history.best_epoch, result.history, tokenizer, setting=f"lr={lr:g}", epoch_limit=epochs,
                     patience=patience)


def default_learning_rates(task) -> dict[str, list[float]]:
    """A small grid of AdamW learning rates per strategy, each tried on validation: a new head alone takes
    large steps, a whole pretrained network small ones (text transformers smaller still), random weights
    larger ones. Rates a factor of ~3 apart; the whole-network grids are the profile's image model's own
    (:class:`~tlcourse.profiles.ImageModelSpec`): a small network at 32-64 px and ResNet-50 at 224 px differ."""
    if is_text(task):
        return {"head": [3e-3, 1e-2, 3e-2], "full": [3e-5, 1e-4], "scratch": [1e-4, 3e-4]}
    spec = image_model_spec()
    return {"head": [3e-3, 1e-2, 3e-2], "full": list(spec.finetune_lrs), "scratch": list(spec.scratch_lrs)}


# --- the procedure ----------------------------------------------------------------------------


def choose_strategy(task, budget_seconds: float = 300, epochs: int = 5, candidates=CANDIDATES,
                    learning_rates: dict | None = None, tie: float | None = None, seed: int = 0,
                    cache_folder=None, verbose: bool = True, patience: int | None = 2) -> Choice:
    """Try the ``candidates`` on the validation split, cheapest first, while time is left.

    Each fine-tuning candidate is run at every learning rate of its own grid (``learning_rates``: a rate
    or a list per strategy; :func:`default_learning_rates` by default), for at most ``epochs`` epochs,
    stopped after ``patience`` epochs without a better validation accuracy, and the best rate is kept.

    ``tie``: a candidate this close to the best counts as equal, and the cheaper one wins. By default
    it is one validation example (at least 0.01): a gap of one example is not evidence.

    A run is skipped when the time spent so far says it would not finish in the budget (a full
    fine-tuning run costs about three head-only runs: the backward pass through the body); the
    explanation lists what was skipped, so a larger budget has a visible effect.
    """
    candidates, learning_rates = _usable_candidates(task, candidates, learning_rates)
    check_epochs(epochs)
    choice, started = Choice(n_val=validation_size(task)), time.perf_counter()
    for name in candidates:
        if choice.tried and time.perf_counter() - started + _estimate(choice, name) > budget_seconds:
            choice.skipped.append(name)
            continue
        if name == "probe":
            candidate = try_probe(task, seed, cache_folder)
        else:
            candidate = _tune_learning_rate(task, name, learning_rates[name], epochs, patience, seed,
                                            deadline=started + budget_seconds)
        choice.tried.append(candidate)
        if verbose:
            print(f"{name:>6} ({candidate.setting}): validation accuracy {candidate.val_accuracy:.3f} "
                  f"in {candidate.seconds:.0f} s")
    choice.winner = pick_winner(choice.tried, default_tie(choice.n_val) if tie is None else tie)
    if verbose:
        print(explain(choice))
    return choice


def centre_first(grid: list[float]) -> list[float]:
    """The grid's middle rate, then the others in their order. Each default grid is centred on the usual rate
    for its strategy, so a budget that ends after one run (a slow machine) has run that one, not the smallest."""
    middle = len(grid) // 2
    return [grid[middle]] + grid[:middle] + grid[middle + 1:]


def _tune_learning_rate(task, name: str, grid: list[float], epochs: int, patience: int | None, seed: int,
                        deadline: float) -> Candidate:
    """``name`` at each rate of its grid, the centre first, while the budget lasts (the first run always
    happens); the run best on validation is kept, with every rate's validation accuracy and the rates left
    untried."""
    runs = {}
    for lr in centre_first(grid):
        longest = max((run.seconds for run in runs.values()), default=0.0)
        if runs and time.perf_counter() + longest > deadline:
            break
        runs[lr] = finetune(task, name, epochs, lr, seed=seed, patience=patience)
    tried = [lr for lr in grid if lr in runs]  # in the grid's order: the first of equals wins
    best = max(tried, key=lambda lr: runs[lr].val_accuracy)
    return dataclasses.replace(runs[best], seconds=sum(run.seconds for run in runs.values()),
                               val_by_lr={lr: runs[lr].val_accuracy for lr in tried},
                               untried=[lr for lr in grid if lr not in runs])


def _usable_candidates(task, candidates, learning_rates: dict | None) -> tuple[list[str], dict]:
    """The candidates, and a learning rate for each one that fine-tunes, checked before anything is trained:
    an unknown name, or a typo in ``learning_rates``, used to fail (or be ignored) after the runs before it."""
    others = [s for s in freezing.STRATEGIES if s not in CANDIDATES]
    choices = (f"choose from {', '.join(CANDIDATES)} (cheapest first; the default), or the fine-tuning "
               f"strategies {', '.join(others)} with a learning rate each in learning_rates")
    if isinstance(candidates, (str, bytes)) or not hasattr(candidates, "__iter__"):
        raise ValueError(f"candidates={candidates!r}: expected a list of names, e.g. ['probe', 'head']; {choices}.")
    names, unknown = list(candidates), [c for c in candidates if c not in ("probe",) + freezing.STRATEGIES]
    if not names or unknown:
        problem = f"{unknown} unknown" if unknown else "nothing to try"
        raise ValueError(f"candidates={candidates!r}: {problem}; {choices}.")
    if learning_rates is not None and not isinstance(learning_rates, dict):
        raise ValueError(f"learning_rates={learning_rates!r}: expected one rate per strategy, e.g. "
                         "learning_rates={'full': 1e-3}.")
    given = dict(learning_rates or {})
    stray = [name for name in given if name not in freezing.STRATEGIES]
    if stray:
        raise ValueError(f"learning_rates={given!r} has a rate for {stray}, which is no fine-tuning strategy: "
                         f"the names are {', '.join(CANDIDATES[1:])} (or {', '.join(others)}).")
    grids = {name: list(r) if isinstance(r, (list, tuple)) else [r] for name, r in given.items()}
    for name, grid in grids.items():
        if not grid:
            raise ValueError(f"learning_rates={given!r}: the list for {name!r} is empty; give at least one rate.")
        for rate in grid:
            if not (isinstance(rate, numbers.Real) and not isinstance(rate, bool) and rate > 0 and np.isfinite(rate)):
                raise ValueError(f"The learning rate for {name!r} is {rate!r} (learning_rates={given!r}): it must "
                                 "be a positive number, e.g. 1e-3, or a list of them to try.")
    rates = {**default_learning_rates(task), **grids}
    missing = [name for name in names if name != "probe" and name not in rates]
    if missing:
        raise ValueError(f"candidates {missing} have no default learning rate: pass one, as "
                         f"learning_rates={{{missing[0]!r}: ...}} (e.g. 1e-3 for an image model).")
    return names, rates


def _estimate(choice: Choice, name: str) -> float:
    """Seconds the first run of ``name`` will probably take, from the candidates already run."""
    head = next((c for c in choice.tried if c.name == "head"), None)
    if name == "full" and head is not None:
        return 3 * head.seconds / len(head.val_by_lr or [None])  # one full run costs about three head runs
    if name == "head" and head is None:
        return 0.0  # nothing to go on yet: try it
    return 3 * max(c.seconds for c in choice.tried)


def default_tie(n_val: int | None) -> float:
    """One validation example's worth of accuracy (0.01 when the split size is unknown, or larger)."""
    return max(0.01, 1 / n_val) if n_val else 0.01


def tied_with_best(scores: dict, tie: float) -> list:
    """The settings of ``scores`` (setting -> validation accuracy) within ``tie`` of the best one, in their order.

    Validation cannot tell these apart, so a stated rule for ties picks among them: the cheapest
    (:func:`pick_winner`), or the strongest penalty (lesson 05). ``tie`` is what one split can resolve, e.g.
    :func:`default_tie` or :func:`tlcourse.uncertainty.split_noise`."""
    best = max(scores.values())
    return [setting for setting, score in scores.items() if score >= best - tie - 1e-9]  # 1e-9: rounding of k / n


def pick_winner(tried: list[Candidate], tie: float = 0.01) -> Candidate:
    """The best on validation; among those within ``tie`` of it, the first (cheapest) one tried."""
    return tried[tied_with_best({i: c.val_accuracy for i, c in enumerate(tried)}, tie)[0]]


def validation_size(task) -> int | None:
    """How many examples the validation split holds (None for a task without one)."""
    split = task.val_texts if is_text(task) else getattr(task, "val", None)
    return None if split is None else len(split)


def explain(choice: Choice) -> str:
    """One sentence per candidate on why it won or lost, from the measured numbers.

    A gap is also given in validation examples: on a small split, 0.022 may be a single text.
    """
    winner, lines = choice.winner, []
    for c in choice.tried:
        gap = c.val_accuracy - winner.val_accuracy
        in_examples = f" ({round(abs(gap) * choice.n_val)} of {choice.n_val} validation examples)" if choice.n_val else ""
        if c is winner:
            lines.append(f"chosen: {c.name} ({c.val_accuracy:.3f} on validation, {c.seconds:.0f} s)")
        elif gap >= 0:
            lines.append(f"{c.name} scored {gap:+.3f}{in_examples} but within the tie margin, and costs more time")
        else:
            lines.append(f"{c.name} scored {-gap:.3f} lower on validation{in_examples}")
    lines += [note for note in map(epoch_note, choice.tried) if note]
    lines += [f"{c.name}: learning rates {', '.join(f'{lr:g}' for lr in c.untried)} not tried, the time budget "
              "was spent" for c in choice.tried if c.untried]
    lines += [note for note in map(edge_note, choice.tried) if note]
    lines += [f"{name} skipped: it would not finish in the time budget" for name in choice.skipped]
    lines.append("one run with one seed and one split: a choice for this data, not a ranking of the strategies")
    return "\n".join(lines)


def epoch_note(candidate: Candidate) -> str:
    """A sentence when a run may have been stopped while still improving: its best epoch is its last, or it ran
    to its epoch limit with its best epoch too late for early stopping to fire. Empty otherwise."""
    if candidate.history is None or candidate.best_epoch is None:
        return ""
    ran, best, patience = len(candidate.history.val_acc), candidate.best_epoch, candidate.patience
    if best == ran:
        return (f"{candidate.name} was best at its last epoch ({best}): it may still have been improving, more "
                "epochs could change the choice")
    if patience and ran == candidate.epoch_limit and best > ran - patience:
        return (f"{candidate.name} ran to its limit of {ran} epochs, best epoch {best}: early stopping (patience "
                f"{patience}) could not fire, so it may still have been improving; more epochs could change the choice")
    return ""


def edge_note(candidate) -> str:
    """A sentence when the best learning rate or strength ``C`` is the smallest or largest of those tried: the
    best value may then lie outside the grid, and the run kept is not known to be well tuned. Empty otherwise.
    Works for a :class:`Candidate` and a :class:`SimpleBaseline`."""
    notes = [_grid_edge(candidate.name, what, scores) for what, scores in
             [("learning rate", getattr(candidate, "val_by_lr", {})), ("C", getattr(candidate, "val_by_c", {}))]]
    return "; ".join(note for note in notes if note)


def _grid_edge(name: str, what: str, scores: dict) -> str:
    if not scores:
        return ""
    best = max(scores, key=scores.get)
    side = grid_position(scores, best)
    if side == "inside":
        return ""
    return (f"{name} was best at the {side} {what} of its grid ({best:g}): a "
            f"{'larger' if side == 'largest' else 'smaller'} one might do better")


def grid_position(grid, value) -> str:
    """Where a chosen ``value`` lies in the ``grid`` it was chosen from: ``"inside"``, ``"smallest"`` or
    ``"largest"``. At an end the grid does not bracket the choice: the best value may lie beyond it."""
    values = sorted(grid)
    if len(values) < 2 or values[0] < value < values[-1]:
        return "inside"
    return "largest" if value == values[-1] else "smallest"


def grid_note(grid, value) -> str:
    """:func:`grid_position` in words, for a printout."""
    side = grid_position(grid, value)
    if side == "inside":
        return "inside its grid"
    return f"the {side} of its grid: a {'larger' if side == 'largest' else 'smaller'} value was not tried"


def from_scratch(task, epochs: int = 5, learning_rates=None, seed: int = 0, verbose: bool = True,
                 patience: int | None = None) -> Candidate:
    """The baseline without transfer: the same architecture from random weights, all of it trained.

    A fair baseline gets its own tuning: each learning rate in ``learning_rates`` (by default the
    ``"scratch"`` grid of :func:`default_learning_rates`) is tried and the best on validation is kept,
    each run stopped early after ``patience`` epochs without improvement (random weights need many
    more epochs than pretrained ones: give ``epochs`` room and let validation say when to stop).
    """
    grid = default_learning_rates(task)["scratch"] if learning_rates is None else learning_rates
    learning_rates = check_grid("learning_rates", grid)
    check_epochs(epochs)
    runs = []
    for lr in learning_rates:
        runs.append(finetune(task, "full", epochs, lr, pretrained=False, seed=seed, name="from scratch",
                             patience=patience))
        if verbose:
            print(f"from scratch, lr={lr:g}: validation accuracy {runs[-1].val_accuracy:.3f} "
                  f"(best epoch {runs[-1].best_epoch} of {epochs}, {runs[-1].seconds:.0f} s)")
    best = max(runs, key=lambda run: run.val_accuracy)
    best = dataclasses.replace(best, val_by_lr={lr: run.val_accuracy for lr, run in zip(learning_rates, runs)})
    for note in [edge_note(best), epoch_note(best)] if verbose else []:
        if note:
            print(note)
    return best


# --- the simple baselines a practitioner tries first --------------------------------------------


def majority_class(task) -> tuple[str, float]:
    """The most frequent class *in the training split*, and the test accuracy of always answering it.

    The class is taken from training labels, as any model's would be; counting it on the test split
    would let the test labels choose the baseline.
    """
    train_labels = task.train_labels if is_text(task) else data.dataset_labels(task.train).tolist()
    test_labels = task.test_labels if is_text(task) else data.dataset_labels(task.test).tolist()
    most_frequent = max(sorted(set(train_labels)), key=train_labels.count)
    return task.classes[most_frequent], test_labels.count(most_frequent) / len(test_labels)


@dataclass
class SimpleBaseline:
    """A scikit-learn model fitted on train, its setting chosen on validation."""

    name: str
    setting: str
    val_accuracy: float
    pipeline: object
    val_by_c: dict = field(default_factory=dict)  # validation accuracy at each strength C tried

    def test_accuracy(self, task, test_inputs=None) -> float:
        """Accuracy on the test split: call it once, at the end. ``test_inputs``: the split as
        :func:`simple_inputs` returns it, when it was already converted."""
        inputs, labels = test_inputs or simple_inputs(task, "test")
        return float(self.pipeline.score(inputs, labels))


PIXEL_SIZE = 16  # pixels per side for the pixel baseline: enough for digits, few enough weights for ~100 images
PIXEL_BATCH = 256  # images decoded at the model's size at once, before shrinking


def simple_inputs(task, split: str):
    """``(inputs, labels)`` of a split for the scikit-learn baselines: raw texts, or images shrunk to
    ``PIXEL_SIZE`` and flattened into one row of numbers each."""
    if is_text(task):
        return getattr(task, f"{split}_texts"), getattr(task, f"{split}_labels")
    dataset = {"train": task.train, "val": task.val, "test": task.test}[split]
    # Shrunk a batch at a time: a whole split at the model's size may not fit in memory (CIFAR-10's test split
    # at 224 px is 6 GB).
    rows = [nn.functional.interpolate(images.float(), size=(PIXEL_SIZE, PIXEL_SIZE), mode="area").flatten(1)
            for images, _ in data.make_loader(dataset, PIXEL_BATCH, workers=0)]
    return torch.cat(rows).numpy(), data.dataset_labels(dataset).numpy()


def simple_baseline(task, strengths=STRENGTHS, seed: int = 0, val_inputs=None) -> SimpleBaseline:
    """What a practitioner tries before any network: TF-IDF words + logistic regression for texts,
    logistic regression on (shrunk) pixels for images. The regularisation ``C`` is chosen on validation
    (``val_inputs``: that split as :func:`simple_inputs` returns it, when it was already converted)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    strengths = check_grid("strengths", strengths)

    def pipeline(c):
        if is_text(task):
            return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=1),
                                 LogisticRegression(C=c, max_iter=3000, random_state=seed))
        return features.make_probe(c, max_iter=3000)  # pixels: the same standardised probe as on features

    train, val = simple_inputs(task, "train"), val_inputs or simple_inputs(task, "val")
    c, fitted, val_by_c = features.choose_on_validation(pipeline, strengths, train, val)
    name = "TF-IDF + logistic regression" if is_text(task) else "logistic regression on pixels"
    setting = f"C={c:g}" if is_text(task) else f"{PIXEL_SIZE}x{PIXEL_SIZE} px, C={c:g}"
    return SimpleBaseline(name, setting, val_by_c[c], fitted, val_by_c=val_by_c)


@dataclass
class Recommendation:
    """The procedure's last step: what to use, the transfer candidate or the simple baseline, and why."""

    use: str  # the name of the model to use
    beats_baseline: bool  # the transfer candidate beat the simple baseline on validation by more than a tie
    reason: str  # one sentence with the numbers


def recommend(choice: Choice, baseline: SimpleBaseline, tie: float | None = None) -> Recommendation:
    """Does the chosen transfer candidate beat the simple baseline? Both on the same validation split, before the
    test split is touched.

    The candidates of :func:`choose_strategy` are all transfer strategies, so its winner is the best of them even
    when a logistic regression on pixels or on TF-IDF words beats every one: that is evidence, already on
    validation, that transfer does not pay here. The baseline wins a tie (by default one validation example, at
    least 0.01, as among the candidates): it is cheaper to train, to run and to explain. One run on one split, like
    the choice itself."""
    tie = default_tie(choice.n_val) if tie is None else tie
    winner, gap = choice.winner, choice.winner.val_accuracy - baseline.val_accuracy
    in_examples = f" ({round(gap * choice.n_val):+d} of {choice.n_val} examples)" if choice.n_val else ""
    if pick_winner([baseline, winner], tie) is winner:  # the baseline first: the candidates' tie rule favours it
        return Recommendation(winner.name, True, f"use {winner.name}: on validation it scored {gap:+.3f}{in_examples} "
                              f"against the simple baseline, {baseline.name} ({baseline.setting}); one run")
    return Recommendation(baseline.name, False,
                          f"use the simple baseline, {baseline.name} ({baseline.setting}): the best transfer "
                          f"candidate, {winner.name}, scored {gap:+.3f}{in_examples} against it on validation, not "
                          f"more than the tie margin ({tie:.3f}); one run, and the simple model is cheaper")


def simple_baseline_over_seeds(task, n_labels: int, seeds, strengths=STRENGTHS) -> list[float]:
    """Test accuracy of :func:`simple_baseline` fitted, for each seed, on the ``n_labels`` training examples a
    network gets with that seed (:func:`~tlcourse.data.labelled_subset`). The validation and test splits are
    converted once for all seeds: for CIFAR-10 at 224 px each conversion is a pass over the images."""
    strengths, seeds = check_grid("strengths", strengths), check_seeds(seeds)
    check_n_labels(n_labels, task)
    val_inputs, test_inputs = simple_inputs(task, "val"), simple_inputs(task, "test")
    accuracies = []
    for seed in seeds:
        labelled = dataclasses.replace(task, train=data.labelled_subset(task.train, n_labels, seed=seed))
        baseline = simple_baseline(labelled, strengths, seed=seed, val_inputs=val_inputs)
        accuracies.append(baseline.test_accuracy(task, test_inputs))
    return accuracies


# --- how much one small split can say -----------------------------------------------------------
