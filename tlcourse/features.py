"""Using a frozen pretrained network as a feature extractor, with features cached on disk.

Feature extraction runs the frozen network over the data *once*; every later
experiment (a linear probe, a small classifier, a t-SNE map) reads the saved
features instead of paying for the network again. :func:`cached` names each
cache file after a fingerprint of the weights and the data, so changing either
gives a new file instead of silently reusing stale features.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from .assets import data_dir
from .freezing import blocks, new_head_name
from .hooks import forward_hooks
from .models import mean_pool
from .profiles import get_device
from .checkpoint import save_atomically
from .training import concat_batches, move_to, predict


def without_head(model: nn.Module) -> nn.Module:
    """A copy of an image classifier that returns pooled features instead of class scores."""
    body = copy.deepcopy(model)
    setattr(body, new_head_name(body), nn.Identity())
    return body


def extract_features(backbone: nn.Module, loader, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``backbone`` over a loader once, in eval mode, and return ``(features, labels)`` on the CPU.

    The same loop as :func:`~tlcourse.training.predict`, in full precision, so that cached
    features do not depend on a GPU's mixed-precision type.
    """
    return predict(backbone, loader, device=device, precision="fp32")


# --- features of every block ------------------------------------------------------------------


def last_module(block: nn.Module) -> nn.Module:
    """The module whose output is the block's output (a block given as a list of modules ends with it)."""
    return block[-1] if isinstance(block, nn.ModuleList) else block


@torch.inference_mode()
def image_layer_features(model: nn.Module, loader, device=None) -> dict[str, torch.Tensor]:
    """Globally average-pooled output of every block below the head, plus ``"labels"``.

    Forward hooks catch each block's output on its way through the network; they are removed
    before returning, so the model is left exactly as it was.
    """
    device = get_device(device)
    model.to(device).eval()
    names = {last_module(block): name for name, block in blocks(model)[:-1]}
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in names.values()}

    def keep(module, args, output):
        outputs[names[module]].append(output.float().mean(dim=(2, 3)).cpu())

    labels = []
    with forward_hooks(names, keep):
        for inputs, targets in loader:
            model(move_to(inputs, device))
            labels.append(targets)
    features = {name: concat_batches(parts, loader) for name, parts in outputs.items()}
    features["labels"] = concat_batches(labels, loader)
    return features


@torch.inference_mode()
def text_layer_features(model: nn.Module, loader, device=None) -> dict[str, torch.Tensor]:
    """Mean over the real (non-padding) tokens of every layer's hidden states, plus ``"labels"``.

    ``embeddings`` is the input layer, ``layer.0`` ... the transformer layers in order.
    """
    device = get_device(device)
    model.to(device).eval()
    names = ["embeddings"] + [f"layer.{i}" for i in range(model.config.num_hidden_layers)]
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    labels = []
    for encoding, targets in loader:
        encoding = move_to(encoding, device)
        hidden_states = model.base_model(**encoding, output_hidden_states=True).hidden_states
        for name, states in zip(names, hidden_states):
            outputs[name].append(mean_pool(states, encoding["attention_mask"]).float().cpu())
        labels.append(targets)
    features = {name: concat_batches(parts, loader) for name, parts in outputs.items()}
    features["labels"] = concat_batches(labels, loader)
    return features


# --- the cache --------------------------------------------------------------------------------


def _update(digest, obj) -> None:
    """Feed ``obj`` into a hash: tensors by their bytes, models by their weights and buffers."""
    if isinstance(obj, torch.Tensor):
        digest.update(str((obj.dtype, tuple(obj.shape))).encode())
        digest.update(obj.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, nn.Module):
        _update(digest, obj.state_dict())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            _update(digest, str(key))
            _update(digest, obj[key])
    elif isinstance(obj, TensorDataset):
        _update(digest, list(obj.tensors))
    elif isinstance(obj, Subset):
        _update(digest, [obj.dataset, list(obj.indices)])
    elif hasattr(obj, "data") and hasattr(obj, "targets"):  # a torchvision data set: raw pixels + transform
        _update(digest, [type(obj).__name__, torch.as_tensor(np.asarray(obj.data)),
                         [int(t) for t in obj.targets], repr(getattr(obj, "transform", None))])
    elif hasattr(obj, "images") and hasattr(obj, "labels") and hasattr(obj, "spec"):  # data.ResizedImages
        _update(digest, [obj.images, obj.labels, repr(obj.spec)])
    elif isinstance(obj, (list, tuple)):
        digest.update(f"seq{len(obj)}".encode())
        for item in obj:
            _update(digest, item)
    elif isinstance(obj, (str, int, float, bool, type(None), np.integer, np.floating)):
        digest.update(repr(obj).encode())
    else:
        raise TypeError(f"Cannot fingerprint a {type(obj).__name__}: pass tensors, lists or strings instead.")


def fingerprint(*objects) -> str:
    """A short hash of weights, data and settings: same inputs, same fingerprint."""
    digest = hashlib.sha256()
    for obj in objects:
        _update(digest, obj)
    return digest.hexdigest()[:16]


@functools.cache
def code_fingerprint(package: Path = Path(__file__).resolve().parent) -> str:
    """A short hash of the package's own source code (every ``.py`` file, by path and content).

    The caches put it in every key: a run or features saved by older code are never reused after any change
    to the code that computed them (a fix in ``fit``, say), at the price of recomputing after harmless edits.
    """
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    return data_dir() / "cache" / "features"


def load_saved(path: Path) -> dict | None:
    """A file saved in a fingerprinted cache, or None when there is none or it is damaged (a truncated or
    corrupted file is deleted, so that its contents are computed again)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        path.unlink()
        return None


def cached(name: str, compute: Callable[[], dict[str, torch.Tensor]], *depends_on,
           folder: str | Path | None = None) -> tuple[dict[str, torch.Tensor], Path, bool]:
    """Load features from the cache, or ``compute()`` and save them; returns ``(features, path, was_cached)``.

    ``depends_on`` lists everything the features are computed from (the model, the data, settings):
    the file name contains their fingerprint and that of the package's code. A damaged file is recomputed.
    """
    path = Path(folder or cache_dir()) / f"{name}-{fingerprint(*depends_on, code_fingerprint())}.pt"
    saved = load_saved(path)
    if saved is not None:
        return saved, path, True
    features = compute()
    save_atomically(features, path)
    return features, path, False


def make_probe(c: float = 1.0, max_iter: int = 2000):
    """A linear probe (unfitted): each feature standardised, then a logistic regression with strength ``C``.

    Standardising first matters: features of different layers differ in scale by orders of
    magnitude, and the regularisation would otherwise treat them unequally.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))


def probe_accuracy(train_x, train_y, test_x, test_y, max_iter: int = 2000, c: float = 1.0) -> float:
    """Accuracy on ``(test_x, test_y)`` of a linear probe with strength ``c`` fitted on ``(train_x, train_y)``
    (tensors or arrays). :func:`choose_probe_strength` chooses ``c`` on a validation split first."""
    probe = make_probe(c, max_iter=max_iter).fit(np.asarray(train_x), np.asarray(train_y))
    return float(probe.score(np.asarray(test_x), np.asarray(test_y)))


def choose_on_validation(make_model, settings, train, val):
    """Fit ``make_model(setting)`` on ``train`` for each setting and score it on ``val`` (both ``(x, y)``, as
    scikit-learn takes them). Returns the best setting (the first one tried, on a tie), its fitted model, and the
    validation accuracy of every setting: the test split plays no part in the choice."""
    fitted = {setting: make_model(setting).fit(*train) for setting in settings}
    scores = {setting: float(model.score(*val)) for setting, model in fitted.items()}
    best = max(scores, key=scores.get)
    return best, fitted[best], scores


def choose_probe_strength(train_x, train_y, val_x, val_y, strengths=(0.01, 0.1, 1.0)) -> tuple[float, dict]:
    """The regularisation strength ``C`` of a linear probe on one representation, chosen on a validation split,
    and the validation accuracy at each ``C`` tried. Representations differ in how many features they have and
    how noisy those are, so a fair comparison of representations gives each its own ``C``."""
    train, val = (np.asarray(train_x), np.asarray(train_y)), (np.asarray(val_x), np.asarray(val_y))
    best, _, scores = choose_on_validation(make_probe, strengths, train, val)
    return best, scores


def linear_cka(x, y) -> float:
    """How alike two representations of the same examples are: linear centred kernel alignment (Kornblith et
    al. 2019), from 0 (unrelated) to 1 (the same up to a rotation, a uniform scale and a shift).

    It compares which examples each representation places near which, so two networks whose features differ by
    a rotation still count as equal, while a change in what the features tell apart lowers it. ``x`` and ``y``:
    ``[examples, features]``, one row per example, in the same order (their widths may differ).
    """
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"linear_cka needs features of the same examples: {x.shape[0]} rows against {y.shape[0]}.")
    x, y = x - x.mean(dim=0), y - y.mean(dim=0)
    cross = (y.T @ x).norm() ** 2
    return float(cross / ((x.T @ x).norm() * (y.T @ y).norm()))


def split_features(feats: dict[str, torch.Tensor], val_fraction: float = 0.2, seed: int = 0):
    """Split cached features (every layer and ``labels``, row by row) into a fitting and a validation part.

    Stratified by label, so every class is in both. Choosing a layer (or anything else) by its
    accuracy on the validation part leaves the test set for the one final number.
    """
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(feats["labels"]))
    fit_rows, val_rows = train_test_split(rows, test_size=val_fraction, stratify=feats["labels"].numpy(),
                                          random_state=seed)
    fit_rows, val_rows = torch.as_tensor(np.sort(fit_rows)), torch.as_tensor(np.sort(val_rows))
    return ({name: t[fit_rows] for name, t in feats.items()}, {name: t[val_rows] for name, t in feats.items()})


def linear_probe(train: dict, test: dict, layer: str, max_iter: int = 2000) -> float:
    """Accuracy on ``test`` (a validation or a test part) of a linear probe fitted on one layer of ``train``."""
    return probe_accuracy(train[layer], train["labels"], test[layer], test["labels"], max_iter)


def probe_by_layer(feats: dict[str, torch.Tensor], splits, val_fraction: float = 0.2) -> dict[str, list[float]]:
    """Validation accuracy of a linear probe on every layer, once per split of ``feats`` (``splits``: the
    seeds of :func:`split_features`). The spread over splits is the noise a choice of layer has to beat."""
    layers = [name for name in feats if name != "labels"]
    scores = {layer: [] for layer in layers}
    for split in splits:
        fit, val = split_features(feats, val_fraction, seed=split)
        for layer in layers:
            scores[layer].append(linear_probe(fit, val, layer))
    return scores
