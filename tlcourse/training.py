"""The training and evaluation loops that every notebook uses.

One loop serves image models (batches of ``(images, labels)``) and Hugging Face
models (batches of ``(encoding_dict, labels)``). :func:`fit` is the plain
PyTorch recipe -- forward, loss, backward, step -- plus what fine-tuning needs in
practice: a learning-rate schedule with warm-up, gradient clipping, mixed
precision on a GPU, a progress bar, a returned :class:`History`, and
checkpoints that let an interrupted run carry on where it stopped.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import config
from .callbacks import Callback, FitState, KeepBest, ProgressBar, StopTraining, run_event
from .checkpoint import Checkpoint
from .freezing import keep_frozen_batchnorm_in_eval
from .hooks import forward_hooks
from .profiles import get_device
from .recipe import Recipe

LossFn = Callable[[nn.Module, object, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class History:
    """Per-epoch numbers from :func:`fit`."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None  # with keep_best: the epoch whose weights the model ends with

    @property
    def final_val_acc(self) -> float:
        return self.val_acc[-1] if self.val_acc else float("nan")

    @property
    def seconds_per_epoch(self) -> float:
        return sum(self.seconds) / max(len(self.seconds), 1)

    def as_dict(self) -> dict:
        return asdict(self)

    def add(self, epoch: int, train_loss: float, train_acc: float, lr: float, seconds: float,
            val_scores: dict | None = None) -> None:
        """Append one epoch's numbers (``val_scores`` as :func:`evaluate` returns them, if any)."""
        self.epoch.append(epoch)
        self.train_loss.append(train_loss)
        self.train_acc.append(train_acc)
        self.lr.append(lr)
        self.seconds.append(seconds)
        if val_scores is not None:
            self.val_loss.append(val_scores["loss"])
            self.val_acc.append(val_scores["accuracy"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a run can be repeated exactly (on the CPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def progress_enabled(progress: bool | None) -> bool:
    """Progress bars are on unless turned off here or with ``TLCOURSE_PROGRESS=0``."""
    if progress is not None:
        return progress
    return config.is_on(config.PROGRESS, default=True)


# --- one batch --------------------------------------------------------------------------------


def move_to(obj, device: torch.device):
    """Move a tensor, a dict of tensors (a tokenizer's output) or a list/tuple of them to ``device``."""
    if isinstance(obj, dict):
        return {key: move_to(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(value, device) for value in obj)
    return obj.to(device, non_blocking=True) if isinstance(obj, torch.Tensor) else obj


def model_logits(model: nn.Module, inputs) -> torch.Tensor:
    """Call an image model (``model(x)``) or a Hugging Face model (``model(**encoding).logits``)."""
    output = model(**inputs) if isinstance(inputs, dict) else model(inputs)
    return output.logits if hasattr(output, "logits") else output


def cross_entropy_loss(model: nn.Module, inputs, labels: torch.Tensor):
    """The default loss: multi-class cross-entropy on the model's logits. Returns ``(loss, logits)``."""
    logits = model_logits(model, inputs)
    return F.cross_entropy(logits, labels), logits


def check_labels(labels) -> None:
    """Class labels must be a 1-D tensor of integer class indices; say how to convert anything else."""
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"Labels must be a tensor of class indices, not {type(labels).__name__}: "
                         "torch.tensor(labels, dtype=torch.long).")
    if labels.dim() == 2 and labels.shape[1] == 1:
        raise ValueError(f"Labels have shape {tuple(labels.shape)}; expected [batch]. Use labels.squeeze(1).")
    if labels.dim() == 2:
        raise ValueError(f"Labels have shape {tuple(labels.shape)}: one-hot or probabilities? Expected one class "
                         "index per example, shape [batch]: use labels.argmax(dim=1).")
    if labels.dim() != 1:
        raise ValueError(f"Labels have shape {tuple(labels.shape)}; expected [batch] class indices.")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"Labels have dtype {labels.dtype}; expected integer class indices (torch.long). "
                         "If they are whole numbers, convert them with labels.long().")


def _check_batch(labels: torch.Tensor, logits: torch.Tensor) -> None:
    """Turn the usual input mistakes into errors that say what is wrong."""
    if logits.dim() != 2:
        raise ValueError(f"The model returned logits of shape {tuple(logits.shape)}; expected [batch, classes].")
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"The model returned {logits.shape[0]} predictions for a batch of {labels.shape[0]} labels.")
    _check_label_range(labels, logits.shape[1])


def _check_label_range(labels: torch.Tensor, num_classes: int) -> None:
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"Label {high if high >= num_classes else low} is outside 0..{num_classes - 1}: "
                         f"the model has {num_classes} outputs. Does the head match the number of classes?")


@contextlib.contextmanager
def _labels_checked_when_the_model_returns(model: nn.Module, cpu_labels: torch.Tensor):
    """Check the labels against the model's number of outputs as soon as its forward pass returns.

    Checking after the loss is too late on a GPU: cross-entropy with a label >= the number of outputs
    fails inside a kernel ("device-side assert triggered"), and from then on every CUDA call of the
    session fails, until the runtime is restarted. A forward hook runs before any loss is computed.
    """
    def check(module, args, output):
        logits = getattr(output, "logits", output)
        if isinstance(logits, torch.Tensor) and logits.dim() == 2:
            _check_label_range(cpu_labels, logits.shape[1])

    with forward_hooks([model], check):
        yield


def _forward_checked(loss_fn: LossFn, model: nn.Module, inputs, labels: torch.Tensor, cpu_labels: torch.Tensor):
    """Forward pass and loss, with clear errors. Labels are checked on their CPU copy: reading
    GPU values would make the CPU wait for the GPU at every step."""
    check_labels(cpu_labels)
    try:
        with _labels_checked_when_the_model_returns(model, cpu_labels):
            loss, logits = loss_fn(model, inputs, labels)
    except IndexError:  # cross-entropy met a label >= number of outputs: say which, and why
        with torch.no_grad():
            _check_batch(cpu_labels, model_logits(model, inputs))
        raise
    except torch.cuda.OutOfMemoryError:
        raise  # explained by explain_out_of_memory, around the whole step
    except RuntimeError as err:
        if "shape" in str(err) or "size" in str(err) or "channels" in str(err):
            shape = {k: tuple(v.shape) for k, v in inputs.items()} if isinstance(inputs, dict) else tuple(inputs.shape)
            raise ValueError(f"The model could not process a batch of shape {shape}: {err}") from err
        raise
    _check_batch(cpu_labels, logits)
    return loss, logits


@contextlib.contextmanager
def explain_out_of_memory():
    """Re-raise a GPU out-of-memory error (forward or backward) with what to do about it."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        raise torch.cuda.OutOfMemoryError(
            "The GPU ran out of memory. Use a smaller batch_size (or a smaller image size / max_length), "
            "train fewer layers, or switch to the quick profile (TLCOURSE_PROFILE=quick). "
            f"PyTorch said: {str(err).splitlines()[0] if str(err) else 'out of memory'}") from err


# --- optimiser, schedule, precision -----------------------------------------------------------


def make_optimizer(params, name: str = "adamw", lr: float = 1e-3, weight_decay: float = 0.0, momentum: float = 0.9):
    """AdamW (the fine-tuning default), Adam or SGD with momentum, by name."""
    name = name.lower()
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer {name!r}: use 'adamw', 'adam' or 'sgd'.")


def lr_multiplier(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Factor applied to the base learning rate at ``step``: linear warm-up, then the schedule.

    * ``"cosine"``: half a cosine from 1 down to 0 (cosine annealing).
    * ``"linear"``: a straight line down to 0 (the BERT recipe).
    * ``"constant"``: stays at 1.
    * ``"annealed"``: ``1 / (1 + 10 p) ** 0.75`` at progress ``p``, from 1 to 1/6 (Ganin et al. 2016, for SGD
      with momentum): large steps while features form, small ones late, so that an adversarial game settles.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(progress, 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "constant":
        return 1.0
    if schedule == "annealed":
        return 1.0 / (1.0 + 10.0 * progress) ** 0.75
    raise ValueError(f"Unknown schedule {schedule!r}: use 'cosine', 'linear', 'constant' or 'annealed'.")


def warmup_linear_decay(step: int, total_steps: int, warmup_steps: int) -> float:
    """The BERT recipe's multiplier: linear warm-up to 1, then a straight line down to 0 at ``total_steps``."""
    return lr_multiplier(step, total_steps, warmup_steps, "linear")


def make_scheduler(optimizer, total_steps: int, warmup: float = 0.0, schedule: str = "cosine"):
    """A LambdaLR that follows :func:`lr_multiplier`; ``warmup`` is a fraction of all steps."""
    warmup_steps = int(round(warmup * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_multiplier(step, total_steps, warmup_steps, schedule))


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The mixed-precision type for ``device``: None (full fp32) on the CPU or when asked.

    bf16 only on GPUs with bf16 tensor cores (compute capability 8.0 and up: A100, L4, H100...).
    ``torch.cuda.is_bf16_supported()`` also says yes on older GPUs such as Colab's T4 (7.5), where
    bf16 is emulated and slow; there fp16 is used, with a GradScaler (see :func:`fit`).
    """
    if precision == "fp32" or device.type != "cuda":
        return None
    if precision == "fp16":
        return torch.float16
    return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16


def uses_gradient_scaling(dtype: torch.dtype | None) -> bool:
    """fp16 only: its narrow range underflows small gradients to zero unless the loss is scaled up first;
    bf16 has float32's range and needs no scaling (see :func:`autocast_dtype`)."""
    return dtype == torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# --- the loops --------------------------------------------------------------------------------


def _check_number(name: str, value, example: str, zero_ok: bool = False, where: str = "") -> None:
    """A learning rate, clip or decay given as text fails deep inside PyTorch, and a zero or negative one
    trains nothing or trains backwards without a word: refuse it here in one sentence."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}{where} must be a number such as {example}, not the {type(value).__name__} {value!r}.")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        problem = "trains nothing" if value == 0 else "is negative" if value < 0 else "is not a finite number"
        raise ValueError(f"{name}={value!r}{where} {problem}: use a positive number such as {example}"
                         f"{' (to keep weights fixed, freeze them: tlcourse.freezing)' if name == 'lr' else ''}.")


def _check_learning_rates(optimizer) -> None:
    """Every parameter group's own learning rate (from ``params=`` or a ready optimizer) must be usable too."""
    many = len(optimizer.param_groups) > 1
    for i, group in enumerate(optimizer.param_groups):
        _check_number("lr", group["lr"], "1e-3", where=f" in parameter group {i}" if many else " of the optimizer")


def _check_fit_arguments(model: nn.Module, train_loader, recipe: Recipe, optimizer, val_loader) -> None:
    """Arguments that would otherwise train nothing, or something else, without a word."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"fit's third argument is the training recipe, a tlcourse.Recipe (e.g. Recipe(epochs=3, "
                        f"lr=1e-3)), not the {type(recipe).__name__} {recipe!r}.")
    _check_numbers_of_fit(recipe)
    _check_early_stopping(recipe, val_loader)
    epochs, warmup, frozen_batchnorm = recipe.epochs, recipe.warmup, recipe.frozen_batchnorm
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1, not {epochs!r}.")
    _check_number("warmup", warmup, "0.1", zero_ok=True)
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup is the fraction of all steps spent warming up: 0 <= warmup < 1, not {warmup!r}.")
    if frozen_batchnorm not in ("eval", "train"):
        raise ValueError(f"frozen_batchnorm must be 'eval' or 'train', not {frozen_batchnorm!r}.")
    if len(train_loader) == 0:
        raise ValueError("train_loader yields no batches: is the data set empty?")
    if optimizer is not None:
        own = {id(p) for p in model.parameters()}
        if any(id(p) not in own for group in optimizer.param_groups for p in group["params"]):
            raise ValueError("The optimizer was built for another model's parameters: build it from this "
                             "model, e.g. torch.optim.AdamW(model.parameters(), lr=...).")


def _check_numbers_of_fit(recipe: Recipe) -> None:
    _check_number("lr", recipe.lr, "1e-3")
    _check_number("weight_decay", recipe.weight_decay, "0.01", zero_ok=True)
    if recipe.grad_clip is not None:
        _check_number("grad_clip", recipe.grad_clip, "1.0")


def _check_early_stopping(recipe: Recipe, val_loader) -> None:
    if recipe.keep_best and val_loader is None:
        raise ValueError("keep_best keeps the weights of the epoch with the best validation accuracy: pass a val_loader.")
    if recipe.patience is not None and not recipe.keep_best:
        raise ValueError("patience stops when the validation accuracy stops improving: set keep_best=True as well.")


def _training_parts(model, device, recipe: Recipe, params, optimizer, total_steps: int):
    """The model moved to its device, and the optimiser, scheduler, autocast type and gradient scaler of a fit."""
    model.to(device)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    if optimizer is None:
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = make_optimizer(trainable if params is None else params, recipe.optimizer, recipe.lr,
                                   recipe.weight_decay, recipe.momentum)
    _check_learning_rates(optimizer)
    scheduler = make_scheduler(optimizer, total_steps, recipe.warmup, recipe.schedule)
    dtype = autocast_dtype(device, recipe.precision)
    scaler = torch.amp.GradScaler("cuda", enabled=uses_gradient_scaling(dtype))
    return optimizer, scheduler, dtype, scaler


def fit(model: nn.Module, train_loader, recipe: Recipe = Recipe(), *, val_loader=None,
        loss_fn: LossFn = cross_entropy_loss, params=None, optimizer: torch.optim.Optimizer | None = None,
        callbacks: Sequence[Callback] = (), checkpoint: str | Path | None = None, progress: bool | None = None) -> History:
    """Train ``model`` on ``train_loader`` following ``recipe`` (a :class:`~tlcourse.recipe.Recipe`); return its
    :class:`History`.

    The plain PyTorch loop -- forward, loss, backward, step -- plus warm-up and a schedule, gradient
    clipping, mixed precision on a GPU, validation after every epoch (with ``val_loader``), and a checkpoint
    after every epoch that a re-run resumes from (with the same settings: a changed one is refused, not ignored).
    Training stops with a ``FloatingPointError`` at the first loss, gradient or weight that is not a finite
    number (NaN inputs, a learning rate far too high), keeping the weights of the last finite step.

    * ``loss_fn(model, inputs, labels) -> (loss, logits)``: cross-entropy by default; distillation and
      regularised fine-tuning plug in here.
    * ``params``: what to optimise (parameters, or parameter groups with their own learning rates); default:
      every parameter with ``requires_grad``. ``optimizer``: a ready optimiser built from this model, instead.
    * ``callbacks``: what happens at each event (:mod:`tlcourse.callbacks`), e.g. gradual unfreezing. With
      ``recipe.keep_best`` a :class:`~tlcourse.callbacks.KeepBest` (early stopping) comes first.
    * ``checkpoint``: a file saved after every epoch; if it exists, the run resumes from it. Only the same run
      resumes (same recipe, parameter groups, starting weights, loader seed and callback settings). The same as
      ``callbacks=[Checkpoint(path)]`` (:class:`~tlcourse.checkpoint.Checkpoint`).
    """
    _check_fit_arguments(model, train_loader, recipe, optimizer, val_loader)
    if recipe.seed is not None:
        seed_everything(recipe.seed)
    device = get_device(recipe.device)
    callbacks = ([KeepBest(recipe.patience)] if recipe.keep_best else []) + list(callbacks)
    callbacks += [Checkpoint(checkpoint)] if checkpoint is not None else []
    callbacks = tuple(sorted(callbacks, key=lambda callback: callback.order))  # stable: ties keep their order
    optimizer, scheduler, dtype, scaler = _training_parts(model, device, recipe, params, optimizer,
                                                          recipe.epochs * len(train_loader))
    state = FitState(model, optimizer, History(), recipe.epochs, len(train_loader), recipe=recipe,
                     train_loader=train_loader, loss_fn=loss_fn, scheduler=scheduler, scaler=scaler,
                     callbacks=callbacks)
    # the bar shows the run; it is not part of it (a run resumes with the bar on or off)
    events = callbacks + ((ProgressBar(),) if progress_enabled(progress) else ())
    step = _EpochSettings(loss_fn, device, dtype, recipe.grad_clip, recipe.frozen_batchnorm == "eval",
                          recipe.channels_last, events, state)
    runner = torch.compile(model) if recipe.compile else model  # same weights; `model` keeps the plain names
    run_event(events, "before_fit", state)  # a Checkpoint first: it may resume from a later epoch
    with contextlib.suppress(StopTraining):  # a callback ended the run early (KeepBest: its patience ran out)
        for state.epoch in range(state.epoch, recipe.epochs):
            run_event(events, "before_epoch", state)
            _run_epoch(runner, train_loader, val_loader, scheduler, scaler, step, recipe)
            run_event(events, "after_epoch", state)
    run_event(events, "after_fit", state)
    return state.history


def _run_epoch(runner, train_loader, val_loader, scheduler, scaler, step, recipe: Recipe) -> None:
    """Train one epoch, validate, and add the epoch's numbers to the history."""
    state = step.state
    started = time.perf_counter()
    with explain_out_of_memory():
        loss, accuracy = _train_one_epoch(runner, train_loader, state.optimizer, scheduler, scaler, step, state.epoch)
    state.history.add(state.epoch + 1, loss, accuracy, state.optimizer.param_groups[0]["lr"],
                      time.perf_counter() - started,
                      None if val_loader is None else evaluate(state.model, val_loader, device=step.device,
                                                               precision=recipe.precision))


@dataclass(frozen=True)
class _EpochSettings:
    loss_fn: LossFn
    device: torch.device
    dtype: torch.dtype | None
    grad_clip: float | None
    frozen_batchnorm_eval: bool
    channels_last: bool
    callbacks: tuple  # their after_step runs after each optimiser step
    state: FitState


def _diverged(epoch: int, step: int, lr: float) -> FloatingPointError:
    return FloatingPointError(
        f"Training stopped at epoch {epoch + 1}, step {step + 1}: the loss, the gradients or the weights are not "
        f"finite numbers (NaN or inf). Likely causes: a learning rate that is too high (lr={lr:g} here), or NaN/inf "
        "values in the input (check torch.isfinite(images).all()). The model keeps the weights of the last "
        "finite step, or of the start of this epoch if the weights themselves had overflowed.")


def _restore_if_not_finite(model: nn.Module, snapshot: dict) -> bool:
    """Put back the epoch-start weights if the current ones hold NaN or inf; say whether it did."""
    finite = torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all().item()  # one GPU read
    if not finite:
        model.load_state_dict(snapshot)
    return not finite


def _step_is_finite(loss: torch.Tensor, optimizer, scaler, grad_clip: float | None) -> torch.Tensor:
    """Clip the gradients if asked, and return (as a tensor: no GPU read yet) whether loss and gradients are finite.

    The gradients' norm is computed with or without clipping: a finite loss can have NaN gradients, and one
    step with them turns every weight into NaN without a word. With fp16, inf gradients are expected: the
    GradScaler skips those steps itself.
    """
    finite = torch.isfinite(loss.detach())
    if grad_clip is None and scaler.is_enabled():
        return finite
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if grad_clip is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    elif hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6
        norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    else:
        norm = torch.nn.utils.clip_grad_norm_(params, math.inf)  # scales by 1: only the norm is wanted
    return finite if scaler.is_enabled() else finite & torch.isfinite(norm)


def _train_one_epoch(model, loader, optimizer, scheduler, scaler, settings: _EpochSettings, epoch: int):
    model.train()
    if settings.frozen_batchnorm_eval:
        keep_frozen_batchnorm_in_eval(model)
    device = settings.device
    snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}  # for a divergence, see below
    # running sums stay on the device: calling .item() every step would stall the GPU pipeline
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for step, (inputs, cpu_labels) in enumerate(loader):
        inputs, labels = move_to(inputs, device), move_to(cpu_labels, device)
        if settings.channels_last and isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with _autocast(device, settings.dtype):
            loss, logits = _forward_checked(settings.loss_fn, model, inputs, labels, cpu_labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # with the scaler disabled (fp32, bf16): loss.backward()
        scaler.unscale_(optimizer)
        finite = _step_is_finite(loss, optimizer, scaler, settings.grad_clip)
        if not finite.item():  # one small read per step: stop before a non-finite step touches the weights
            _restore_if_not_finite(model, snapshot)
            raise _diverged(epoch, step, optimizer.param_groups[0]["lr"])
        scaler.step(optimizer)  # disabled: optimizer.step()
        scaler.update()
        with warnings.catch_warnings():
            # fp16: the GradScaler skips the first step or two while it finds its scale, and the scheduler
            # would warn on every run that it stepped before the optimizer. Harmless: the schedule is one
            # step ahead.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            scheduler.step()
        settings.state.step += 1
        run_event(settings.callbacks, "after_step", settings.state)
        n = len(labels)
        total_loss += loss.detach().float() * n
        correct += (logits.detach().argmax(dim=1) == labels).sum()
        seen += n
    if _restore_if_not_finite(model, snapshot):  # the last step overflowed the weights: no later loss shows it
        raise _diverged(epoch, step, optimizer.param_groups[0]["lr"])
    return total_loss.item() / seen, correct.item() / seen


def concat_batches(parts: list[torch.Tensor], loader=None) -> torch.Tensor:
    """Join per-batch results into an ordinary tensor. Tensors made under ``inference_mode`` cannot
    enter autograd later (e.g. to train a head on them), so the joined copy is made outside it.

    With the ``loader`` that served the batches, the rows are put back in its data set's order where the loader
    served them in another (``data.text_loader``'s evaluation batches go longest first): row i is example i.
    """
    with torch.inference_mode(False):
        joined = torch.cat(parts)
        order = getattr(getattr(loader, "sampler", None), "order", None)
        if order is None:
            return joined.clone()
        restored = torch.empty_like(joined)
        restored[torch.as_tensor(order)] = joined
        return restored


@torch.inference_mode()
def predict(model: nn.Module, loader, device=None, precision: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(logits, labels)`` for a whole loader, on the CPU."""
    device = get_device(device)
    model.to(device).eval()
    dtype = autocast_dtype(device, precision)
    all_logits, all_labels = [], []
    for batch, (inputs, labels) in enumerate(loader):
        with _autocast(device, dtype), explain_out_of_memory():
            logits = model_logits(model, move_to(inputs, device))
        all_logits.append(logits.float().cpu())
        all_labels.append(labels.cpu())
        if not torch.isfinite(all_logits[-1]).all():  # on the CPU copy: no extra GPU read
            raise _not_finite_outputs(model, inputs, batch)
    if not all_logits:
        raise ValueError("The loader yields no batches: is the data set empty?")
    return concat_batches(all_logits, loader), concat_batches(all_labels, loader)


def _not_finite_outputs(model: nn.Module, inputs, batch: int) -> ValueError:
    """Say whether the data or the model made NaN/inf outputs: any score computed on them would be meaningless
    (argmax of all-NaN logits is class 0, so accuracy becomes the share of class 0)."""
    tensors = inputs.values() if isinstance(inputs, dict) else inputs if isinstance(inputs, (list, tuple)) else [inputs]
    bad_inputs = any(torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all() for t in tensors)
    bad_weights = not all(torch.isfinite(p).all() for p in model.parameters())
    cause = ("its inputs hold NaN or inf values: clean the data (find them with torch.isfinite(x).all())" if bad_inputs
             else "the model's weights hold NaN or inf (a training run that diverged?): retrain it or load good "
                  "weights" if bad_weights
             else "the model overflows although inputs and weights are finite: try precision='fp32'")
    return ValueError(f"The model's outputs for batch {batch + 1} of the loader are NaN or inf, so no score or "
                      f"prediction can be computed: {cause}.")


def evaluate(model: nn.Module, loader, device=None, precision: str = "auto") -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``loader``."""
    logits, labels = predict(model, loader, device=device, precision=precision)
    check_labels(labels)
    _check_batch(labels, logits)
    return {"loss": F.cross_entropy(logits, labels).item(),
            "accuracy": (logits.argmax(dim=1) == labels).float().mean().item()}


@torch.inference_mode()
def inference_memory(model: nn.Module, inputs, device=None) -> dict[str, int]:
    """Bytes a forward pass without gradients needs, the cost of *extracting* features: an estimate.

    * ``weights``: all parameters (the whole network must be loaded to run it);
    * ``activations``: the largest input-plus-output of any single layer. Without autograd nothing is
      saved for a backward pass, so each layer's input can be freed once its output exists; the peak is
      about one layer's worth, not the sum over layers that training keeps.

    ``total`` is their sum, comparable with :func:`training_step_memory`'s.
    """
    device = get_device(device)
    model.to(device).eval()
    largest = 0

    def measure(module, args, output):
        nonlocal largest
        tensors = [t for t in (*args, output) if isinstance(t, torch.Tensor)]
        largest = max(largest, sum(t.numel() * t.element_size() for t in tensors))

    with forward_hooks([m for m in model.modules() if not list(m.children())], measure):
        model_logits(model, move_to(inputs, device))
    parts = {"weights": sum(p.numel() * p.element_size() for p in model.parameters()), "activations": largest}
    parts["total"] = parts["weights"] + parts["activations"]
    return parts


def training_step_memory(model: nn.Module, inputs, labels: torch.Tensor, loss_fn: LossFn = cross_entropy_loss,
                         device=None) -> dict[str, int]:
    """Bytes one AdamW training step needs, split into its parts; weights are not changed.

    * ``weights``: all parameters (frozen ones too: the forward pass needs them);
    * ``gradients`` and ``optimizer_state`` (AdamW keeps two numbers per weight): trainable ones only;
    * ``activations``: what autograd saves during the forward pass to compute the backward pass.
      Frozen early layers save nothing, which is why freezing saves memory as well as time.

    ``total`` is their sum: the same estimate on any device, so CPU and GPU runs compare.
    """
    device = get_device(device)
    model.to(device).train()
    keep_frozen_batchnorm_in_eval(model)
    inputs, labels = move_to(inputs, device), labels.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    weight_storage = {p.data_ptr() for p in model.parameters()}
    saved = {}

    def pack(tensor):
        if tensor.data_ptr() not in weight_storage:  # weights saved for backward are counted once, above
            saved[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss, _ = loss_fn(model, inputs, labels)
    loss.backward()
    parts = {"weights": sum(p.numel() * p.element_size() for p in model.parameters()),
             "gradients": sum(p.numel() * p.element_size() for p in trainable),
             "optimizer_state": 2 * sum(p.numel() * p.element_size() for p in trainable),
             "activations": sum(saved.values())}
    parts["total"] = sum(parts.values())
    model.zero_grad(set_to_none=True)
    return parts
