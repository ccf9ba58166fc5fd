"""A fine-tuned classifier you can keep: one file, then ``load_classifier(path)`` and ``classify(...)``.

The file holds the weights and everything needed to use them again: class names, preprocessing
(image size and normalisation, or the text model and its maximum length), the model's name, the
profile, and the validation and test numbers it was chosen on. It holds only tensors, strings and
numbers, so it loads with ``torch.load(..., weights_only=True)``, which cannot run code hidden in a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import data, models, training
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


def model_name(model: nn.Module, kind: str, profile: str | None = None) -> str:
    """The name that rebuilds ``model``: the profile's image model, or the profile's text model asset."""
    if kind == "text":
        return models.TEXT_MODELS[get_profile(profile)]
    return models.image_model_spec(profile).name


def save_classifier(path, model: nn.Module, task, metrics: dict | None = None, strategy: str = "",
                    max_length: int = 64, profile: str | None = None) -> Path:
    """Write ``model`` and what is needed to use it (from ``task``) to one file; returns the path."""
    kind = "text" if isinstance(task, data.TextTask) else "image"
    preprocessing = ({"max_length": max_length} if kind == "text" else
                     {"image_size": task.image_size, "mean": list(task.mean), "std": list(task.std)})
    info = {"format": FORMAT_VERSION, "kind": kind, "model_name": model_name(model, kind, profile),
            "classes": list(task.classes), "preprocessing": preprocessing,
            "pooling": "mean" if isinstance(model, models.MeanPoolingClassifier) else "cls",
            "profile": get_profile(profile),
            "strategy": strategy, "metrics": {k: float(v) for k, v in (metrics or {}).items()}}
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    training.save_atomically({"info": info, "state_dict": state}, path)
    return Path(path)


def _read_file(path) -> dict:
    """The saved dictionary, refused with a reason when it is not a classifier file this version can read."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a classifier saved by tlcourse.save_classifier "
                         f"(or it holds more than weights and plain values): {err}") from err
    if not isinstance(saved, dict) or "info" not in saved or "state_dict" not in saved:
        raise ValueError(f"{path} is not a classifier saved by tlcourse.save_classifier.")
    version = saved["info"].get("format")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path} has file format {version}, this tlcourse reads format {FORMAT_VERSION} "
                         "and older: upgrade tlcourse (pip install -U tlcourse) to load it.")
    return saved


def load_classifier(path) -> Classifier:
    """Rebuild the saved model and load its weights; a file of another architecture is refused clearly."""
    saved = _read_file(path)
    info = saved["info"]
    if info["kind"] == "text":
        model, tokenizer = models.text_classifier(len(info["classes"]), pretrained=False, name=info["model_name"],
                                                  pooling=info.get("pooling", "cls"))
    else:
        model = models.image_classifier(len(info["classes"]), pretrained=False, name=info["model_name"])
        tokenizer = None
    training.load_weights(model, saved["state_dict"], source=f"file {path} ({info['model_name']})")
    return Classifier(model.eval(), info, tokenizer)


def _model_inputs(classifier: Classifier, items: list):
    """Image paths / PIL images -> a normalised batch; strings -> a tokenised batch."""
    prep = classifier.info["preprocessing"]
    if classifier.info["kind"] == "text":
        if not all(isinstance(item, str) for item in items):
            raise TypeError("A text classifier classifies strings.")
        return dict(classifier.tokenizer(items, padding=True, truncation=True, max_length=prep["max_length"],
                                         return_tensors="pt"))
    return torch.stack([data.load_image_file(item, prep["image_size"], prep["mean"], prep["std"])
                        for item in items])


def classify(classifier: Classifier, items, batch_size: int = 64) -> list[tuple[str, float]]:
    """``(class name, probability)`` for each input: image paths or PIL images, or strings.

    Always in full fp32, on any device: with mixed precision the same image would get slightly
    different probabilities on a T4 (fp16), an A100 (bf16) and a CPU (fp32).
    """
    items = list(items) if isinstance(items, (list, tuple)) else [items]
    results = []
    for start in range(0, len(items), batch_size):
        batch = _model_inputs(classifier, items[start:start + batch_size])
        labels = torch.zeros(len(items[start:start + batch_size]))
        logits, _ = training.predict(classifier.model, [(batch, labels)], precision="fp32")
        probabilities, indices = logits.softmax(dim=1).max(dim=1)
        results += [(classifier.classes[i], float(p)) for p, i in zip(probabilities, indices.tolist())]
    return results
