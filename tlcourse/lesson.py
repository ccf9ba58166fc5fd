"""Starting a lesson: the profile, the device and the seed, chosen once and printed.

Every notebook begins with ``lesson = tlcourse.setup("03_freezing")``. The returned
:class:`Lesson` says which profile runs (``lesson.quick``) and where long full-profile
runs keep their checkpoints.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from . import config
from .assets import data_dir
from .profiles import (checkpoint_dir, claims_are_strict, get_device, get_profile, get_scale, scaled,
                       uses_stand_ins)
from .results import load_results, record, start_recording
from .training import seed_everything


@dataclass(frozen=True)
class Lesson:
    """What :func:`setup` chose for this lesson."""

    name: str
    profile: str
    device: torch.device
    seed: int
    scale: str = "normal"  # or "smoke": see tlcourse.profiles.get_scale

    @property
    def quick(self) -> bool:
        return self.profile == "quick"

    def checkpoint(self, run: str) -> Path | None:
        """Checkpoint file for a full-profile training run, so a disconnect loses at most one epoch.

        Pass it to ``fit(checkpoint=...)``; a re-run resumes where it stopped. Quick-profile runs
        take seconds and always start fresh (``None``).
        """
        if self.quick:
            return None
        return checkpoint_dir() / self.name / f"{run}.pt"

    def size(self, n: int, smallest: int = 20) -> int:
        """A number of examples: ``n``, or at smoke scale a hundredth of it (at least ``smallest``, at most ``n``)."""
        return scaled(n, smallest, self.scale)

    def seconds(self, n: float) -> float:
        """A time budget: ``n`` seconds, or at smoke scale a tenth of it."""
        return n if self.scale == "normal" else n / 10

    def epochs(self, n: int) -> int:
        """A number of epochs: ``n``, or one at smoke scale."""
        return n if self.scale == "normal" else 1

    def claim(self, holds: bool, statement: str) -> None:
        """A finding the lesson draws from its own numbers, checked so that a lesson never states what it
        did not measure.

        Under strict checking (the tests, nbval and CI: :func:`tlcourse.profiles.claims_are_strict`) a claim
        that does not hold raises. In a learner's own run it prints a visible verdict and is recorded under
        "claims that did not hold" (``tlcourse run`` lists those and exits non-zero): numbers move by a
        point or two between machines, and that should not stop a Run all. At smoke scale (tiny data, one
        epoch), or with stand-ins for the downloads (random weights), the numbers cannot carry a finding:
        the statement is recorded under "claims not checked", not passed."""
        if self.scale != "normal" or uses_stand_ins():
            _append_record("claims not checked", statement)
        elif not holds:
            if claims_are_strict():
                raise AssertionError(f"The numbers above do not support the lesson's claim: {statement}")
            print(f"CLAIM did not hold in this run: {statement}. The numbers above are what this run measured; "
                  "the sentences that follow assume the claim, so read them with that in mind.")
            _append_record("claims that did not hold", statement)


def _append_record(key: str, statement: str) -> None:
    record(key, load_results().get(key, []) + [statement])


def setup(lesson: str, seed: int = 0, verbose: bool = True) -> Lesson:
    """Start a lesson: pick profile and device, seed everything, and say what was chosen.

    Settings that hold for the whole process are made here, once, rather than inside every
    training loop: on a GPU, cuDNN times its convolution algorithms once and keeps the fastest.
    """
    start_recording(lesson)
    seed_everything(seed)
    info = Lesson(lesson, get_profile(), get_device(), seed, get_scale())
    if info.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if verbose:
        scale = "" if info.scale == "normal" else f" | scale {info.scale} (sizes shrunk, claims not checked)"
        print(f"lesson {lesson} | profile {info.profile}{scale} | device {info.device} | seed {seed} | "
              f"torch {torch.__version__} | Python {platform.python_version()}")
        if info.quick and not config.read(config.PROFILE):
            print("The quick profile runs because no CUDA GPU was found (small models, offline). For the full "
                  "profile on Colab: Runtime > Change runtime type > T4 GPU, then run again. Set "
                  "TLCOURSE_PROFILE=quick to choose the quick profile yourself.")
    return info


CHOSEN_LEARNING_RATES = "learning rates chosen on validation"  # the key notebook 01 records its choices under
QUICK_IMAGE_LR = 3e-3  # notebook 01's choice on validation for EfficientNet-Lite0 in the quick profile
DEFAULT_IMAGE_LR = 1e-3  # ResNet-50 fine-tuned with AdamW: 1e-4 to 1e-3 is the usual range


def record_chosen_learning_rates(lesson: Lesson, model: str, image_size: int, chosen: dict) -> None:
    """Record notebook 01's learning rates chosen on validation (``{"ImageNet init": 3e-3, ...}``), with the
    model, image size and scale they were chosen for, so that later lessons reuse them only where they apply."""
    record(CHOSEN_LEARNING_RATES, {"model": model, "image size": image_size, "scale": lesson.scale, **chosen})


def image_learning_rate(lesson: Lesson, model: str, image_size: int) -> tuple[float, str]:
    """The AdamW learning rate for fine-tuning the profile's pretrained image model, and where it comes from.

    Lessons 02, 04 and 06 reuse lesson 01's recipe without a sweep of their own. The quick profile uses 01's choice
    for EfficientNet-Lite0 (3e-3). The full profile uses 01's choice when 01 recorded one for this model, size and
    scale (in this run's results folder or in the data folder), else a literature default, said to be one: a
    quick-profile number never stands in for ResNet-50's, and a default is never called a choice on validation.
    """
    if lesson.quick:
        return QUICK_IMAGE_LR, "notebook 01's choice on validation"
    chosen, problem = _recorded_choice("01_finetune_cnn", {"model": model, "image size": image_size,
                                                            "scale": lesson.scale})
    if chosen is not None:
        return chosen, "notebook 01's choice on validation for ImageNet init"
    return DEFAULT_IMAGE_LR, (f"a common default for fine-tuning {model} with AdamW (1e-4 to 1e-3 is the usual "
                              f"range), not chosen on validation: {problem}")


def _recorded_choice(lesson_name: str, setting: dict) -> tuple[float | None, str]:
    """The ImageNet-init learning rate ``lesson_name`` recorded for ``setting``, or None and why there is none."""
    places = [data_dir() / "results" / f"{lesson_name}.json"]
    if config.folder(config.RESULTS):  # python -m tlcourse run: every lesson's results in one folder
        places.insert(0, config.folder(config.RESULTS).with_name(f"{lesson_name}.results.json"))
    for path in places:
        try:
            chosen = load_results(path).get(CHOSEN_LEARNING_RATES, {})
        except ValueError as err:  # a damaged file: named, and the default is used
            return None, str(err)
        if all(chosen.get(key) == value for key, value in setting.items()) and chosen.get("ImageNet init"):
            return float(chosen["ImageNet init"]), ""
    return None, (f"notebook {lesson_name[:2]} has recorded no choice for this model, image size and scale "
                  "(run it first, with the same data folder: on Colab, where each notebook has its own VM, set "
                  "KEEP_ON_DRIVE = True in both)")
