"""The course's one switch: the *quick* and the *full* profile.

* ``quick``: runs on a laptop CPU, offline, in minutes. Small pretrained models
  that arrive with pip (EfficientNet-Lite0, MiniLM-L6), small data sets that
  ship inside pip packages. CI and the notebook tests use it.
* ``full``: meant for a GPU (Colab, a workstation). Downloads the standard
  models (ResNet-50, BERT-base) and data sets (CIFAR-10, SST-2, MNIST).

Set ``TLCOURSE_PROFILE=quick`` or ``TLCOURSE_PROFILE=full``. Without it the
course picks ``full`` when a CUDA GPU is present and ``quick`` otherwise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from . import config

PROFILES = ("quick", "full")
SCALES = ("normal", "smoke")


def get_profile(profile: str | None = None) -> str:
    """Return the profile to use: the argument, else the env var, else a guess from the hardware."""
    chosen = profile or config.read(config.PROFILE) or ("full" if torch.cuda.is_available() else "quick")
    chosen = chosen.strip().lower()
    if chosen not in PROFILES:
        raise ValueError(f"Unknown profile {chosen!r}: choose one of {', '.join(PROFILES)} (set {config.PROFILE}).")
    return chosen


def get_scale() -> str:
    """``normal``, or ``smoke``: every data size and epoch count shrunk, so that a teacher can check in
    minutes, on their own machine and with the real downloads, that every lesson runs end to end."""
    chosen = config.read(config.SCALE, "normal").lower()
    if chosen not in SCALES:
        raise ValueError(f"Unknown scale {chosen!r}: choose one of {', '.join(SCALES)} (set {config.SCALE}).")
    return chosen


SMOKE_DIVISOR = 100  # smoke scale keeps about 1% of every size: the whole full profile in minutes on a GPU


def scaled(n: int, smallest: int = 20, scale: str | None = None) -> int:
    """``n`` at normal scale; at smoke scale about a hundredth of it, but at least ``smallest`` (and at most ``n``)."""
    if (scale or get_scale()) == "normal":
        return n
    return min(n, max(smallest, n // SMOKE_DIVISOR))


def image_size_override() -> int | None:
    """An image size that replaces the profile's (``TLCOURSE_IMAGE_SIZE=32``), or None. The full profile's
    ResNet-50 at 224 px trains about one image per second on a 2-core CPU; at 32 px the offline test of the
    full-profile notebooks runs every code path in minutes. Not meant for learning: the models expect their size."""
    value = config.read(config.IMAGE_SIZE)
    if not value:
        return None
    if not value.isdigit() or int(value) < 16:
        raise ValueError(f"{config.IMAGE_SIZE} must be a whole number of pixels, at least 16 (got {value!r}).")
    return int(value)


# --- the profile's models -----------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageModelSpec:
    """What a profile's image model is and what input it expects."""

    name: str
    asset: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # AdamW learning rates worth trying when every weight is trained: from pretrained weights, and from random ones
    finetune_lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    scratch_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)


IMAGE_MODELS = {
    # 32 px keeps the quick profile fast on a CPU: the quick profile's digits are 28 px, so a larger input would only
    # upsample them, at 1.7x the training time of 32 px (benchmarks/README.md). The network was trained at 224 px
    # (notebook 04 measures what a resolution nearer that buys). The small network at a small size takes large steps
    # (lesson 01's sweep from 1e-3 to 1e-2). Notebooks 00 and 05 read the digits at 64 px (each says why), and 08
    # suggests 64 px for a learner's photos.
    "quick": ImageModelSpec("efficientnet_lite0", "efficientnet_lite0_imagenet", 32, (0.5,) * 3, (0.5,) * 3,
                            finetune_lrs=(1e-3, 3e-3, 1e-2),
                            # from scratch at 32 px the best rate was 1e-2 on lesson 01's digits and 3e-3 on 08's demo
                            # (2026-12-06): four values keep both inside the grid
                            scratch_lrs=(1e-3, 3e-3, 1e-2, 3e-2)),
    # ResNet-50 is usually fine-tuned with AdamW between 1e-4 and 1e-3; larger steps undo its pretraining.
    "full": ImageModelSpec("resnet50", "resnet50_imagenet", 224, IMAGENET_MEAN, IMAGENET_STD,
                           finetune_lrs=(1e-4, 3e-4, 1e-3), scratch_lrs=(3e-4, 1e-3, 3e-3)),
}
TEXT_MODELS = {"quick": "minilm_l6", "full": "bert_base_uncased"}


def image_model_spec(profile: str | None = None) -> ImageModelSpec:
    """The profile's image model: its name, input size and normalisation (the size can be overridden for
    tests, see :func:`tlcourse.profiles.image_size_override`)."""
    spec = IMAGE_MODELS[get_profile(profile)]
    size = image_size_override()
    return spec if size is None else dataclasses.replace(spec, image_size=size)


def uses_stand_ins() -> bool:
    """True when the downloads were replaced by stand-ins (right format, random weights and pixels), as the
    tests do offline: everything runs for real, but no number can support a lesson's claim."""
    return config.is_on(config.STAND_INS)


def claims_are_strict() -> bool:
    """True when a lesson's claim that does not hold must stop the run (``TLCOURSE_STRICT_CLAIMS=1``: the
    tests and nbval set it, so CI fails on it). A learner's own run only prints and records the verdict:
    numbers move by a point or two between machines, and a Run all should not die on that."""
    return config.is_on(config.STRICT_CLAIMS)


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Pick the fastest device available: CUDA, then Apple's MPS, then the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


GOOGLE_DRIVE = Path("/content/drive/MyDrive")


def checkpoint_dir() -> Path:
    """Where long runs keep their checkpoints: Google Drive when it is mounted (survives a Colab
    disconnect), else ``checkpoints/`` in the data folder. ``TLCOURSE_CHECKPOINTS`` overrides both."""
    from .assets import data_dir

    if config.folder(config.CHECKPOINTS):
        return config.folder(config.CHECKPOINTS)
    if GOOGLE_DRIVE.is_dir():
        return GOOGLE_DRIVE / "tlcourse" / "checkpoints"
    return data_dir() / "checkpoints"
