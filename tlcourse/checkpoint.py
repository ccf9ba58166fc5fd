"""Checkpoints: a run saved after every epoch and resumed exactly, as a :class:`Checkpoint` callback.

A resumed run must be the *same* run, not just one started from the saved weights: the optimiser's moments,
the learning-rate schedule, the gradient scaler, every callback's memory (early stopping's best epoch, say) and
the random number generators (dropout, the loader's shuffle) are saved too, so the steps after a resume are the
ones an uninterrupted run would have taken (tests/test_robustness.py kills a run with ``kill -9`` to check).
And only the same run resumes: a checkpoint written with other settings, another seed or other starting weights
is refused with what differs, never silently continued.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import weakref
from pathlib import Path

import torch
from torch import nn

from .callbacks import Callback, FitState
from .files import replace_atomically


class Checkpoint(Callback):
    """Save the whole run to ``path`` after every epoch; when the file exists, resume from it (``fit(checkpoint=...)``
    adds one).

    It runs before every other callback: it restores them before they start, and it saves an epoch at the start of
    the next one (or at the end of the run), once every callback has recorded it.
    """

    order = -10

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._saved = self._completed = 0  # epochs done in the file; epochs done in the run

    def before_fit(self, state: FitState) -> None:
        _check_checkpoint_path(self.path)
        others = [c for c in state.callbacks if not isinstance(c, Checkpoint)]
        self._callbacks = others
        self._settings = _run_settings(state) | _run_identity(state, self.path, others)
        if self.path.exists():
            self._saved = _restore_training_state(self.path, state, self._settings, others)
        self._completed = self._saved
        state.epoch, state.step = self._saved, self._saved * state.steps_per_epoch

    def before_epoch(self, state: FitState) -> None:
        self._save_if_behind(state)

    def after_epoch(self, state: FitState) -> None:
        self._completed = state.epoch + 1

    def after_fit(self, state: FitState) -> None:
        self._save_if_behind(state)

    def _save_if_behind(self, state: FitState) -> None:
        if self._completed > self._saved:
            save_atomically(_training_state(state, self._completed, self._settings, self._callbacks), self.path)
            self._saved = self._completed


def save_atomically(obj, path: str | Path) -> None:
    """``torch.save`` through :func:`tlcourse.files.replace_atomically`: a crash or a full disk never leaves half a
    checkpoint, and a write that fails is explained in a sentence that names the file."""
    replace_atomically(path, lambda tmp: torch.save(obj, tmp))


def check_weights_fit(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """Refuse weights of another architecture, listing the keys that differ."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
    if missing or unexpected or wrong_shape:
        raise ValueError(f"The {source} does not fit this model (a different architecture?). "
                         f"Missing keys: {missing[:5]}; unexpected keys: {unexpected[:5]}; "
                         f"shape mismatch: {wrong_shape[:5]}")


def load_weights(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """Load weights strictly; a checkpoint of another architecture is refused with the keys that differ."""
    check_weights_fit(model, state_dict, source)
    model.load_state_dict(state_dict)


def _read_checkpoint(path) -> dict:
    """Load a checkpoint written by :func:`fit`, or say clearly what the file is instead."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling, zip and EOF errors all mean the same to a learner
        raise ValueError(f"Cannot read the checkpoint {path}: the file is damaged or was not written by "
                         f"torch.save ({type(err).__name__}). Delete it to start the run again.") from None
    if isinstance(state, dict) and "model" not in state and all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} holds plain model weights (a state_dict), not a checkpoint of fit: load it "
                         "with model.load_state_dict(torch.load(path)), or give fit another checkpoint path.")
    if not isinstance(state, dict) or not {"model", "optimizer", "scheduler", "epoch"} <= set(state):
        raise ValueError(f"{path} is not a checkpoint written by tlcourse.training.fit.")
    return state


_SETTING_HINTS = {
    "starting_weights": "starting_weights differ when the model was built after another seed or initialised "
                        "differently (another run of a seeds loop?). ",
    "loader_seed": "loader_seed is the seed the training loader shuffles with (make_loader(seed=...)). ",
    "param_group": "param_group entries differ when other layers are trainable (frozen or unfrozen since) or "
                   "have other learning rates. ",
}


def _check_same_settings(path, saved: dict | None, settings: dict) -> None:
    """Resuming with other settings would silently ignore them: refuse and say what differs.

    Only what both runs recorded is compared, so a checkpoint written before a setting was recorded resumes.
    """
    if saved is None:
        return  # a checkpoint from before settings were stored
    keys = [key for key in settings if key in saved and saved[key] != settings[key]]
    if keys:
        changed = "; ".join(f"{key}={saved[key]!r} there, {key}={settings[key]!r} now" for key in keys)
        hints = "".join(hint for start, hint in _SETTING_HINTS.items() if any(k.startswith(start) for k in keys))
        raise ValueError(f"The checkpoint {path} was written by a run with other settings ({changed}). {hints}"
                         "Resume with the settings it was started with, or delete it (or pass another "
                         "checkpoint path) to start a new run.")


def _check_checkpoint_path(path: Path) -> None:
    """Find out before training, not after a whole epoch, that the checkpoint cannot be written there."""
    if path.is_dir():
        raise ValueError(f"The checkpoint {path} is a folder: give fit a file name in it, e.g. {path / 'run.pt'}.")
    probe = path.with_name(f".{path.name}.probe")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OSError(err.errno, f"Cannot write the checkpoint {path}: {err.strerror or err}. Nothing was trained; "
                                 "pass fit a checkpoint path in a folder you can write to.") from err


def _check_checkpoint_finite(path, state: dict, parameter_names) -> None:
    """NaN weights in a checkpoint would resume and then "diverge", blaming the learning rate: name the file."""
    kept = [(saved or {}).get("weights") or {} for saved in state.get("callbacks", [])]  # e.g. KeepBest's
    tensors = [weights[k] for weights in (state["model"], *kept) for k in parameter_names if k in weights]
    tensors += [v for s in state["optimizer"].get("state", {}).values() for v in s.values() if torch.is_tensor(v)]
    if not all(torch.isfinite(t).all() for t in tensors if t.is_floating_point()):
        raise ValueError(f"The checkpoint {path} is damaged: its saved weights or optimizer state hold NaN or inf "
                         "values, so a run resumed from it cannot learn. Delete it to start the run over.")


def _training_state(state: FitState, epochs_done: int, settings: dict, callbacks) -> dict:
    saved = {"model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
             "scheduler": state.scheduler.state_dict(), "epoch": epochs_done, "history": state.history.as_dict(),
             "torch_rng": torch.get_rng_state(), "settings": settings,
             "callbacks": [callback.state_dict() for callback in callbacks]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        saved["cuda_rng"] = torch.cuda.get_rng_state_all()  # dropout on a GPU draws from these generators
    if state.scaler.is_enabled():
        saved["scaler"] = state.scaler.state_dict()
    if getattr(state.train_loader, "generator", None) is not None:
        saved["loader_rng"] = state.train_loader.generator.get_state()
    return saved


def _restore_training_state(path, fit_state: FitState, settings: dict, callbacks) -> int:
    """Put model, optimiser, scheduler, scaler, callbacks and random states back; return the epochs done."""
    model, optimizer = fit_state.model, fit_state.optimizer
    scheduler, scaler, loader = fit_state.scheduler, fit_state.scaler, fit_state.train_loader
    state = _read_checkpoint(path)
    check_weights_fit(model, state["model"], source=f"checkpoint {path}")
    _check_checkpoint_finite(path, state, [name for name, _ in model.named_parameters()])
    _check_same_settings(path, state.get("settings"), settings)
    load_weights(model, state["model"], source=f"checkpoint {path}")
    saved_keys, own_keys = set(state["optimizer"]["param_groups"][0]), set(optimizer.param_groups[0])
    if saved_keys != own_keys - {"params"} | {"params"}:
        raise ValueError(f"The checkpoint {path} was written with another optimizer (its settings: "
                         f"{sorted(saved_keys - {'params'})}); this run uses {type(optimizer).__name__}.")
    try:
        optimizer.load_state_dict(state["optimizer"])
    except ValueError as err:  # a checkpoint from before group sizes were recorded, with other trainable layers
        raise ValueError(f"The checkpoint {path} was written by a run with other settings: its optimizer held "
                         f"other parameter groups ({err}); were layers frozen or unfrozen since? Resume with the "
                         "same trainable layers, or delete it to start a new run.") from None
    scheduler.load_state_dict(state["scheduler"])
    if scaler.is_enabled() and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if "loader_rng" in state and getattr(loader, "generator", None) is not None:
        loader.generator.set_state(state["loader_rng"])
    for callback, saved in zip(callbacks, state.get("callbacks", [])):
        callback.load_state_dict(saved)
    fit_state.history = type(fit_state.history)(**state["history"])
    return state["epoch"]


def _run_settings(state: FitState) -> dict:
    """What a checkpoint remembers of the run, so that a resume with other settings is noticed."""
    recipe = state.recipe
    return {"epochs": recipe.epochs, "lr": recipe.lr, "optimizer": type(state.optimizer).__name__,
            "weight_decay": recipe.weight_decay, "schedule": recipe.schedule, "warmup": recipe.warmup,
            "steps_per_epoch": state.steps_per_epoch}


def _run_identity(state: FitState, checkpoint: Path, callbacks) -> dict:
    """Everything else that makes a run this run, so that a checkpoint is never resumed, or returned finished,
    for another one (another seed of a seeds loop, other per-layer learning rates, another unfreezing schedule).
    Fingerprinting the starting weights reads all of them once: only a run with a checkpoint pays for it."""
    generator = getattr(state.train_loader, "generator", None)
    identity = {"grad_clip": state.recipe.grad_clip, "seed": state.recipe.seed,
                "starting_weights": _starting_weights(state.model, checkpoint),
                "loader_seed": None if generator is None else generator.initial_seed(),
                **_optimizer_identity(state.optimizer)}
    callables = {"loss_fn": state.loss_fn} | {f"callback {i}": callback for i, callback in enumerate(callbacks)}
    return identity | {name: _describe_callable(function) for name, function in callables.items()}


def _optimizer_identity(optimizer) -> dict:
    """Each parameter group's size and starting learning rate, and the optimiser's other hyper-parameters."""
    identity = {"param_groups": len(optimizer.param_groups)}
    for i, group in enumerate(optimizer.param_groups):
        lr = float(group.get("initial_lr", group["lr"]))  # the scheduler has already moved "lr" (warm-up)
        size = sum(p.numel() for p in group["params"])
        identity[f"param_group {i}"] = f"{len(group['params'])} tensors, {size} weights, lr={lr!r}"
        identity |= {f"param_group {i} {key}": repr(value) for key, value in group.items()
                     if key not in ("params", "lr", "initial_lr")}
    return identity


_STARTED_FROM = weakref.WeakKeyDictionary()  # model -> {checkpoint path: fingerprint of the weights it started from}


def _starting_weights(model: nn.Module, checkpoint) -> str:
    """A fingerprint of the weights the run starts from: another seed or head initialisation gives another one.

    A model that already started this checkpoint's run in this session (stopped with Ctrl-C, or finished and
    run again) has trained weights by now; it keeps the fingerprint it started with, so it still resumes.
    """
    try:
        started = _STARTED_FROM.setdefault(model, {})
    except TypeError:  # a model that cannot be weakly referenced: fingerprint it as it is
        started = {}
    path = os.path.abspath(checkpoint)
    if path not in started:
        started[path] = _weights_fingerprint(model)
    return started[path]


def _weights_fingerprint(model: nn.Module) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _describe_callable(function) -> str | None:
    """A callback or loss passed as an object, with the settings it holds (e.g.
    ``GradualUnfreezing(blocks_per_epoch=1)``). Plain functions are left out: nothing in them can be
    compared from one session to the next (their repr is a memory address)."""
    if function is None or inspect.isroutine(function):
        return None
    if isinstance(function, functools.partial):
        name, values = getattr(function.func, "__qualname__", repr(function.func)), dict(enumerate(function.args))
        values |= function.keywords
    else:
        name, values = type(function).__qualname__, getattr(function, "__dict__", {})
    simple = (bool, int, float, str, type(None))
    shown = [f"{key}={value!r}" for key, value in sorted(values.items(), key=lambda item: str(item[0]))
             if not str(key).startswith("_") and isinstance(value, simple)]
    return f"{name}({', '.join(shown)})"
