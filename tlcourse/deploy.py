"""A fine-tuned classifier you can keep: one file, then ``load_classifier(path)`` and ``classify(...)``.

The file holds the weights and everything needed to use them again: class names, preprocessing
(image size and normalisation, or the text model and its maximum length), the model's name, the
profile, and the validation and test numbers it was chosen on. It holds only tensors, strings and
numbers, so it loads with ``torch.load(..., weights_only=True)``, which cannot run code hidden in a file.

Nothing is lost and nothing goes wrong silently: saving refuses a model that loading could not rebuild (and
NaN weights), the file carries a checksum of its weights so that a file damaged on disk is refused at load
time, and ``classify`` takes what a learner has at hand (paths, PIL images, numpy arrays, tensors, lists,
generators, pandas Series) or says which type it got and what it accepts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import checkpoint, data, models, own_data, training
from .assets import ASSETS, AssetUnavailableError
from .files import first_free_path, replace_atomically
from .profiles import get_profile

FORMAT_VERSION = 1


@dataclass
class Classifier:
    """A loaded classifier: the model and what it needs to read new inputs."""

    model: nn.Module
    info: dict
    tokenizer: object = None

    @property
    def classes(self) -> list[str]:
        return self.info["classes"]


IMAGE_MODEL_NAMES = tuple(dict.fromkeys(spec.name for spec in models.IMAGE_MODELS.values()))


def _local_copy(name: str) -> str | None:
    """Where a registered model's verified local copy is, without downloading anything (None if there is none)."""
    try:
        found = ASSETS[name].locate()
    except AssetUnavailableError:
        return None
    return None if found is None else str(found)


def _text_model_sources(model: nn.Module) -> list[str]:
    """Names that may rebuild a text model: the registered model whose local copy it was loaded from, else the
    folder or Hub name it came from (``config._name_or_path``, which Hugging Face sets when it loads a model)."""
    source = str(getattr(getattr(model, "config", None), "_name_or_path", "") or "")
    registered = [name for name in dict.fromkeys(models.TEXT_MODELS.values()) if _local_copy(name) == source]
    return registered or ([source] if source else [])


def _rebuilt(kind: str, name: str, num_classes: int, pooling: str) -> nn.Module:
    """The model :func:`load_classifier` builds for ``name``, on the meta device: its weights' names and
    shapes without their memory, so that checking a save costs a moment, even for BERT-base."""
    with torch.device("meta"):
        if kind == "text":
            return models.text_classifier(num_classes, pretrained=False, name=name, pooling=pooling)[0]
        return models.image_classifier(num_classes, pretrained=False, name=name)


def _differences(expected: dict, state: dict) -> list[str]:
    """How ``state`` differs from the weights ``expected``: missing, unexpected and reshaped tensors."""
    missing = [f"missing {k}" for k in expected if k not in state]
    unexpected = [f"unexpected {k}" for k in state if k not in expected]
    reshaped = [f"{k} is {list(state[k].shape)}, expected {list(expected[k].shape)}"
                for k in expected if k in state and state[k].shape != expected[k].shape]
    return reshaped + missing + unexpected


def model_name(model: nn.Module, kind: str, num_classes: int, pooling: str = "cls") -> str:
    """The name :func:`load_classifier` rebuilds ``model`` from, read from the model itself, never from the
    profile (an EfficientNet saved in the full profile must not come back as a ResNet-50). A model that no
    name rebuilds (a custom network, another number of outputs, a cut-down copy) is refused with a ValueError."""
    names = _text_model_sources(model) if kind == "text" else IMAGE_MODEL_NAMES
    state, closest = model.state_dict(), (None, None)
    for name in names:
        try:
            differences = _differences(_rebuilt(kind, name, num_classes, pooling).state_dict(), state)
        except (AssetUnavailableError, OSError, ValueError) as err:
            differences = [f"{name} cannot be built here: {str(err).splitlines()[0]}"]
        if not differences:
            return name
        closest = (name, differences) if closest[1] is None or len(differences) < len(closest[1]) else closest
    raise ValueError(_cannot_save(model, kind, num_classes, *closest))


def _cannot_save(model: nn.Module, kind: str, num_classes: int, name: str | None, differences: list | None) -> str:
    builder = (f"models.text_classifier(num_labels={num_classes}, ...)" if kind == "text" else
               f"models.image_classifier(num_classes={num_classes}, ...)")
    if differences:
        why = f"the closest is {name}, but " + "; ".join(
            differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
    else:
        why = "it was not loaded from a registered model, a folder or a Hugging Face Hub name"
    return (f"This {type(model).__name__} cannot be saved with save_classifier: it keeps only a model that "
            f"load_classifier can rebuild, one made by {builder} with one output per class of the task "
            f"({num_classes} classes) and its layers unchanged ({why}). Nothing was written. To keep another "
            "model, save its weights with torch.save(model.state_dict(), path); to use them again, build the "
            "same model in code and call model.load_state_dict(torch.load(path, weights_only=True)).")


def _weights_checksum(state: dict) -> str:
    """sha256 of every tensor's name, dtype, shape and bytes, in name order: stored in the file, so that a
    file whose bytes changed on disk (same size, still loadable) is noticed when it is loaded."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{list(state[name].shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _first_non_finite(state: dict) -> str | None:
    """The name of the first floating-point tensor holding NaN or infinity, or None."""
    return next((name for name, tensor in state.items()
                 if tensor.is_floating_point() and not torch.isfinite(tensor).all()), None)


def _task_kind(task) -> str:
    """``"text"`` or ``"image"``; anything that is not a task of :mod:`tlcourse.data` is refused by name."""
    if isinstance(task, data.TextTask):
        return "text"
    if isinstance(task, data.ImageTask):
        return "image"
    raise TypeError(f"save_classifier needs the task the model was trained on (a tlcourse.data ImageTask or "
                    f"TextTask, e.g. from own_data.image_folder_task or own_data.csv_text_task), not a "
                    f"{type(task).__name__}: the file keeps its class names and preprocessing.")


def save_classifier(path, model: nn.Module, task, metrics: dict | None = None, strategy: str = "",
                    max_length: int = 64, profile: str | None = None, overwrite: bool = False) -> Path:
    """Write ``model`` and what is needed to use it (from ``task``) to one file; returns the path written.

    A file already at ``path`` is kept unless ``overwrite``: the model then goes to the first free name
    (``name-2.pt``, ``name-3.pt``, ...), so running a notebook again never deletes a model saved before.

    Refused before anything is written: a model :func:`load_classifier` could not rebuild, and NaN weights.
    """
    kind = _task_kind(task)
    if not isinstance(model, nn.Module):
        raise TypeError(f"save_classifier saves a model (a torch.nn.Module), not a {type(model).__name__}.")
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    broken = _first_non_finite(state)
    if broken:
        raise ValueError(f"The model's weights hold NaN or infinite values ({broken}): training diverged, and a "
                         f"saved copy would classify everything with probability NaN. Nothing was written to "
                         f"{path}. Train again with a smaller learning rate, or from an earlier checkpoint.")
    pooling = "mean" if isinstance(model, models.MeanPoolingClassifier) else "cls"
    preprocessing = ({"max_length": max_length} if kind == "text" else
                     {"image_size": task.image_size, "mean": list(task.mean), "std": list(task.std)})
    name = model_name(model, kind, len(task.classes), pooling)
    info = {"format": FORMAT_VERSION, "kind": kind, "model_name": name, "classes": list(task.classes),
            "preprocessing": preprocessing, "pooling": pooling,
            "profile": get_profile(profile), "weights_sha256": _weights_checksum(state),
            "strategy": strategy, "metrics": {k: float(v) for k, v in (metrics or {}).items()}}
    path = Path(path) if overwrite else first_free_path(path)
    replace_atomically(path, lambda tmp: torch.save({"info": info, "state_dict": state}, tmp))
    return path


def _read_file(path) -> dict:
    """The saved dictionary, refused with a reason when it is not a classifier file this version can read."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} does not exist (or is a folder): give the path of a file written by "
                                "deploy.save_classifier (check the folder and the name, e.g. with os.listdir).")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a classifier saved by tlcourse.save_classifier "
                         f"(or it holds more than weights and plain values): {err}") from err
    weights = saved.get("state_dict") if isinstance(saved, dict) else None
    if not (isinstance(weights, dict) and isinstance(saved.get("info"), dict)
            and all(isinstance(tensor, torch.Tensor) for tensor in weights.values())):
        raise ValueError(f"{path} is not a classifier saved by tlcourse.save_classifier.")
    version = saved["info"].get("format")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path} has file format {version}, this tlcourse reads format {FORMAT_VERSION} "
                         "and older: upgrade tlcourse (pip install -U tlcourse) to load it.")
    return saved


def _refuse_damaged(path, saved: dict) -> None:
    """A file changed on disk after it was saved (an interrupted copy or download, a failing disk) can still
    load, then classify with probability NaN or wrong numbers: NaN weights or a checksum mismatch refuse it."""
    state, expected = saved["state_dict"], saved["info"].get("weights_sha256")
    broken = _first_non_finite(state)
    if broken:
        what = f"its weights hold NaN or infinite values (in {broken})"
    elif expected is not None and expected != _weights_checksum(state):
        what = "its weights no longer match the checksum stored when it was saved"
    else:
        return
    raise ValueError(f"{path} is damaged: {what}. The file was changed after save_classifier wrote it, and "
                     "classifying with it would give wrong probabilities. Copy it again from where it was "
                     "saved, or save the classifier again from the notebook that trained it.")


def load_classifier(path) -> Classifier:
    """Rebuild the saved model and load its weights; a damaged file or one of another architecture is
    refused clearly."""
    saved = _read_file(path)
    info = saved["info"]
    if info["kind"] == "text":
        model, tokenizer = models.text_classifier(len(info["classes"]), pretrained=False, name=info["model_name"],
                                                  pooling=info.get("pooling", "cls"))
    else:
        model = models.image_classifier(len(info["classes"]), pretrained=False, name=info["model_name"])
        tokenizer = None
    checkpoint.check_weights_fit(model, saved["state_dict"], source=f"file {path} ({info['model_name']})")
    _refuse_damaged(path, saved)
    model.load_state_dict(saved["state_dict"])
    return Classifier(model.eval(), info, tokenizer)


IMAGES_ACCEPTED = ("an image classifier accepts one image (a file path, a PIL image, or a numpy array or tensor "
                   "shaped [H, W], [H, W, C] or [C, H, W]) or many: a batch array or tensor [N, H, W, C] or "
                   "[N, C, H, W], or a list, tuple, generator or pandas Series of single images")
TEXTS_ACCEPTED = ("a text classifier accepts one string, or many: a list, tuple, generator, numpy array or "
                  "pandas Series of strings")


def _is_pil_image(item) -> bool:
    from PIL import Image

    return isinstance(item, Image.Image)


def _looks_like_one_image(shape) -> bool:
    """``[H, W, C]`` or ``[C, H, W]`` with 1, 3 or 4 channels (the rule of :func:`tlcourse.data.to_model_input`)."""
    return ((shape[-1] in (1, 3, 4) and min(shape[:2]) > 4) or (shape[0] in (1, 3, 4) and min(shape[1:]) > 4))


def _split_images(images) -> list:
    """A numpy array or tensor -> single images: ``[H, W]`` and one-image ``[H, W, C]``/``[C, H, W]`` stay
    whole, a batch ``[N, H, W]``, ``[N, H, W, C]`` or ``[N, C, H, W]`` is split along its first axis."""
    if images.ndim == 2 or (images.ndim == 3 and _looks_like_one_image(images.shape)):
        return [images]
    if images.ndim in (3, 4):
        return list(images)
    raise ValueError(f"classify cannot read a {type(images).__name__} of shape {tuple(images.shape)} as images: "
                     f"{IMAGES_ACCEPTED}.")


def _one_by_one(classifier: Classifier, items) -> Iterable:
    """Whatever ``classify`` was given -> its inputs one at a time, or a TypeError that names the type.

    A dict (its keys?), a set (no order to match the results to) and a table (its column names) would be
    iterated into something other than what was meant, so they are refused rather than guessed at."""
    text = classifier.info["kind"] == "text"
    accepted = TEXTS_ACCEPTED if text else IMAGES_ACCEPTED
    if isinstance(items, (str, os.PathLike)) or _is_pil_image(items):
        return iter([items])
    numeric = isinstance(items, torch.Tensor) or (isinstance(items, np.ndarray) and items.dtype.kind not in "UO")
    if numeric and not text:
        return iter(_split_images(items))
    if hasattr(items, "columns"):
        raise TypeError(f"classify cannot read a {type(items).__name__} (a table): pass one column of it, "
                        f"e.g. df['text'] or df['path']; {accepted}.")
    if numeric or isinstance(items, (bytes, Mapping, set, frozenset)) or not isinstance(items, Iterable):
        raise TypeError(f"classify cannot read a value of type {type(items).__name__}: {accepted}.")
    return iter(items)


def _checked(classifier: Classifier, items: Iterable) -> Iterable:
    """The inputs, each refused by position and type when the classifier cannot read it."""
    text = classifier.info["kind"] == "text"
    for index, item in enumerate(items):
        if text and not isinstance(item, str):
            raise TypeError(f"item {index} is of type {type(item).__name__} ({item!r:.40}), not a string: "
                            f"{TEXTS_ACCEPTED}. A missing text in a table? Drop those rows first (series.dropna()).")
        image = isinstance(item, (str, os.PathLike)) or _is_pil_image(item) or (
            isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim in (2, 3))
        if not text and not image:
            raise TypeError(f"item {index} is of type {type(item).__name__} ({item!r:.40}), not one image: "
                            f"{IMAGES_ACCEPTED}.")
        yield item


def _image_input(item, prep: dict) -> torch.Tensor:
    """One image (path, PIL image, or numpy array / tensor of one image) -> ``[3, S, S]`` model input."""
    if isinstance(item, (np.ndarray, torch.Tensor)):
        batch = item[None, None] if item.ndim == 2 else item[None]
        return data.to_model_input(batch, prep["image_size"], prep["mean"], prep["std"])[0]
    return own_data.load_image_file(item, prep["image_size"], prep["mean"], prep["std"])


def _model_inputs(classifier: Classifier, items: list):
    """Single images -> a normalised batch; strings -> a tokenised batch."""
    prep = classifier.info["preprocessing"]
    if classifier.info["kind"] == "text":
        return dict(classifier.tokenizer([str(item) for item in items], padding=True, truncation=True,
                                         max_length=prep["max_length"], return_tensors="pt"))
    return torch.stack([_image_input(item, prep) for item in items])


def classify(classifier: Classifier, items, batch_size: int = 64) -> list[tuple[str, float]]:
    """``(class name, probability)`` for each input, in order.

    Images: one path, PIL image, numpy array or tensor (``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``), a batch
    array or tensor (``[N, H, W, C]``, ``[N, C, H, W]``), or any list, tuple, generator or pandas Series of
    single images. (Three grey images stacked ``[3, H, W]`` read as one colour image: pass ``[3, 1, H, W]``.)
    Texts: one string, or any list, tuple, generator, numpy array or pandas Series of strings. Anything
    else is refused with its type and what is accepted. Read ``batch_size`` inputs at a time, so a long
    generator never has to fit in memory.

    Always in full fp32, on any device: with mixed precision the same image would get slightly
    different probabilities on a T4 (fp16), an A100 (bf16) and a CPU (fp32).
    """
    if not isinstance(classifier, Classifier):
        raise TypeError(f"classify needs a classifier from deploy.load_classifier(path), not a "
                        f"{type(classifier).__name__}: classifier = deploy.load_classifier(path) first.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, not {batch_size!r}.")
    inputs, results = _checked(classifier, _one_by_one(classifier, items)), []
    while batch := list(islice(inputs, batch_size)):
        labels = torch.zeros(len(batch))
        logits, _ = training.predict(classifier.model, [(_model_inputs(classifier, batch), labels)],
                                     precision="fp32")
        probabilities, indices = logits.softmax(dim=1).max(dim=1)
        results += [(classifier.classes[i], float(p)) for p, i in zip(probabilities, indices.tolist())]
    return results
