"""Pretrained models for both profiles, with a fresh head for the new task.

* Images, quick: EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``) with ImageNet weights from a pip package.
* Images, full: torchvision ResNet-50 with ``ResNet50_Weights.IMAGENET1K_V2``.
* Text, quick: MiniLM-L6 (a 6-layer BERT) from a pip package.
* Text, full: ``bert-base-uncased`` (or any Hub name) through ``AutoModelForSequenceClassification``.

``pretrained=False`` gives the same architecture with random weights: the
"from scratch" baseline that every lesson compares against.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .assets import ASSETS, AssetUnavailableError, asset_path
# Which models a profile uses is decided in profiles (data needs it too); notebooks read it as models.image_model_spec.
from .profiles import IMAGE_MODELS, TEXT_MODELS, ImageModelSpec, get_profile, image_model_spec  # noqa: F401


def efficientnet_lite0(num_classes: int = 1000, pretrained: bool = True, dropout: float = 0.2) -> nn.Module:
    """EfficientNet-Lite0 with ImageNet weights (or random ones), and a new head if ``num_classes != 1000``.

    The pip package stores the original TF-port checkpoint with its own parameter names. Its tensors
    come in the same order and shapes as timm's ``tf_efficientnet_lite0``, so we copy them across by
    position and then load strictly, which fails loudly if anything does not line up.
    """
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000, drop_rate=dropout)
    if pretrained:
        source = torch.load(asset_path("efficientnet_lite0_imagenet"), map_location="cpu", weights_only=True)
        target = model.state_dict()
        if len(source) != len(target):
            raise RuntimeError(f"Checkpoint has {len(source)} tensors, the model {len(target)}.")
        renamed = {}
        for (name, tensor), (src_name, src_tensor) in zip(target.items(), source.items()):
            if tensor.shape != src_tensor.shape:
                raise RuntimeError(f"Shape mismatch: {src_name} {tuple(src_tensor.shape)} -> {name} {tuple(tensor.shape)}")
            renamed[name] = src_tensor
        model.load_state_dict(renamed, strict=True)
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model


def resnet50(num_classes: int = 1000, pretrained: bool = True, dropout: float = 0.0) -> nn.Module:
    """torchvision ResNet-50 with ImageNet weights (IMAGENET1K_V2) or random ones, with a new head."""
    from torchvision.models import ResNet50_Weights
    from torchvision.models import resnet50 as build

    if pretrained:
        asset_path("resnet50_imagenet")  # downloads into torch's cache, or explains why it cannot
        model = build(weights=ResNet50_Weights.IMAGENET1K_V2)
    else:
        model = build(weights=None)
    if num_classes != 1000:
        model.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(model.fc.in_features, num_classes))
    return model


def _check_num_classes(num_classes) -> None:
    """A classifier needs two classes or more (``0`` would silently keep the 1,000 ImageNet outputs)."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"A classifier needs at least 2 classes, not {num_classes!r}.")


def image_classifier(num_classes: int, pretrained: bool = True, profile: str | None = None,
                     dropout: float = 0.2, name: str | None = None) -> nn.Module:
    """The profile's image model (or the one ``name`` asks for) with a new ``num_classes`` head."""
    _check_num_classes(num_classes)
    builders = {"efficientnet_lite0": efficientnet_lite0, "resnet50": resnet50}
    name = name or image_model_spec(profile).name
    if name not in builders:
        raise ValueError(f"Unknown image model {name!r}: choose one of {', '.join(builders)}.")
    model = builders[name](num_classes=num_classes, pretrained=pretrained, dropout=dropout)
    # Channels-last memory order: the same weights and results, but convolutions run about 1.7x faster on
    # a CPU (measured, benchmarks/README.md) and it is the layout a GPU's tensor cores want.
    return model.to(memory_format=torch.channels_last)


@contextlib.contextmanager
def _quiet_transformers():
    """Hide the 'some weights were newly initialised' notice: the new head is the point of the lesson."""
    from transformers.utils import logging

    level, bars_were_on = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars_were_on:  # restore the caller's setting rather than forcing bars on
            logging.enable_progress_bar()


def text_model_path(profile: str | None = None, name: str | None = None) -> str:
    """Where the text model comes from: the profile's own, or ``name``, which may be a registered
    asset (see :mod:`tlcourse.assets`), a local folder written by ``save_pretrained``, or any
    Hugging Face Hub name (downloaded on first use)."""
    name = name or TEXT_MODELS[get_profile(profile)]
    return str(asset_path(name)) if name in ASSETS else name


# Sentence encoders trained so that the mean of the token vectors represents the sentence. Their
# [CLS] vector and pooler were never trained for that; BERT-style models classify from [CLS].
MEAN_POOLED_MODELS = {"minilm_l6"}


def mean_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors ``[B, L, H]`` over the real tokens only (padding left out) -> ``[B, H]``."""
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


class MeanPoolingClassifier(nn.Module):
    """A transformer encoder with a new linear head on the mean of its token vectors.

    The attribute names follow Hugging Face's sequence classifiers (``base_model``, ``classifier``,
    ``config``, outputs with ``.logits``), so freezing, feature extraction and training treat it
    like ``AutoModelForSequenceClassification``.
    """

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1):
        super().__init__()
        encoder.pooler = None  # the [CLS] pooler is not used: no weights that never get a gradient
        self.encoder, self.config = encoder, encoder.config
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)

    @property
    def base_model(self) -> nn.Module:
        return self.encoder

    def forward(self, input_ids, attention_mask, **other_inputs):
        from transformers.modeling_outputs import SequenceClassifierOutput

        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **other_inputs).last_hidden_state
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(mean_pool(states, attention_mask))))


def text_tokenizer(profile: str | None = None, name: str | None = None):
    """The tokenizer of the profile's text model (or of ``name``), without loading the model: for the loaders a run
    needs before its model is built (a validation split)."""
    from transformers import AutoTokenizer

    with _quiet_transformers():
        return AutoTokenizer.from_pretrained(text_model_path(profile, name))


def _load_text_model(path: str, num_labels: int, pretrained: bool, pooling: str):
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path)
        if pooling == "mean":
            encoder = AutoModel.from_pretrained(path) if pretrained else AutoModel.from_config(
                AutoConfig.from_pretrained(path))
            return MeanPoolingClassifier(encoder, num_labels), tokenizer
        if pretrained:
            return AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels), tokenizer
        config = AutoConfig.from_pretrained(path, num_labels=num_labels)
        return AutoModelForSequenceClassification.from_config(config), tokenizer


def text_pooling(profile: str | None = None, name: str | None = None) -> str:
    """``"mean"`` for a registered sentence encoder trained with mean pooling, else ``"cls"``."""
    return "mean" if (name or TEXT_MODELS[get_profile(profile)]) in MEAN_POOLED_MODELS else "cls"


def text_classifier(num_labels: int = 2, pretrained: bool = True, profile: str | None = None,
                    name: str | None = None, pooling: str = "cls"):
    """Return ``(model, tokenizer)``: a transformer encoder with a fresh classification head.

    ``name`` is optional: a registered asset, a local folder or a Hub name (see :func:`text_model_path`).
    ``pretrained=False`` builds the same architecture from its config with random weights.
    ``pooling`` says what the head reads: ``"cls"`` the [CLS] token through BERT's pooler (Hugging
    Face's ``AutoModelForSequenceClassification``), ``"mean"`` the mean of the token vectors
    (:class:`MeanPoolingClassifier`), ``"auto"`` the one the model was trained with (:func:`text_pooling`).
    """
    _check_num_classes(num_labels)
    if pooling not in ("cls", "mean", "auto"):
        raise ValueError(f"pooling must be 'cls', 'mean' or 'auto', not {pooling!r}.")
    pooling = text_pooling(profile, name) if pooling == "auto" else pooling
    path = text_model_path(profile, name)
    try:
        return _load_text_model(path, num_labels, pretrained, pooling)
    except OSError as err:  # what transformers raises for a name it can neither find nor download
        raise AssetUnavailableError(
            f"Could not load the text model {path!r} from a local folder or the Hugging Face Hub: "
            f"{str(err).splitlines()[0]}\nA Hub name needs internet access (Colab has it). Offline, use a "
            f"registered model ({', '.join(TEXT_MODELS.values())}) or a folder written with save_pretrained."
        ) from err


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Parameters of ``model`` (only those training updates, with ``trainable_only``): the package's one counter."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def imagenet_categories() -> list[str]:
    """The 1,000 ImageNet class names, in index order (shipped with torchvision, no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


@torch.no_grad()
def imagenet_top_classes(model: nn.Module, photo, k: int = 3, spec: ImageModelSpec | None = None) -> list[tuple[str, float]]:
    """The ``k`` ImageNet classes a pretrained 1,000-class model sees in one photo, with probabilities.

    ``photo``: an ``[H, W, 3]`` uint8 array (e.g. ``skimage.data.chelsea()``). It is fed at 224 px, the
    size ImageNet models were trained at, normalised for ``spec`` (the profile's image model by default).
    """
    from .data import to_model_input

    spec = spec or image_model_spec()
    x = to_model_input(torch.as_tensor(photo).permute(2, 0, 1)[None], 224, spec.mean, spec.std)
    probabilities = model.eval()(x.to(next(model.parameters()).device)).softmax(dim=1)[0]
    top = probabilities.topk(k)
    names = imagenet_categories()
    return [(names[i], float(p)) for p, i in zip(top.values, top.indices.tolist())]



class SmallCNN(nn.Module):
    """A compact student network for 3-channel images: two conv blocks and a two-layer classifier.

    Most of its weights sit in the Linear layers, which is where dynamic quantisation acts.
    """

    def __init__(self, num_classes: int = 10, image_size: int = 64, width: int = 32, hidden: int = 128):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width // 2, 5, stride=2, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width // 2, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        side = image_size // 8
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * side * side, hidden), nn.ReLU(),
                                        nn.Dropout(0.2), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def student_from_teacher(teacher: nn.Module, keep_layers: list[int]) -> nn.Module:
    """A shallower copy of a BERT-style classifier that keeps only ``keep_layers`` of its layers.

    This is how DistilBERT was initialised (every other layer of BERT): the student starts
    from the teacher's own embeddings, layers and head instead of from random weights.
    """
    import copy

    student = copy.deepcopy(teacher)
    encoder = student.base_model.encoder
    encoder.layer = nn.ModuleList([encoder.layer[i] for i in keep_layers])
    student.config.num_hidden_layers = len(keep_layers)
    return student
