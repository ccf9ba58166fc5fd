"""Starting a lesson: the profile, the device and the seed, chosen once and printed.

Every notebook begins with ``lesson = tlcourse.setup("03_freezing")``. The returned
:class:`Lesson` says which profile runs (``lesson.quick``) and where long full-profile
runs keep their checkpoints.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from .profiles import ENV_VAR, checkpoint_dir, claims_are_strict, get_device, get_profile, get_scale, scaled, uses_stand_ins
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
        if info.quick and not os.environ.get(ENV_VAR):
            print("The quick profile runs because no CUDA GPU was found (small models, offline). For the full "
                  "profile on Colab: Runtime > Change runtime type > T4 GPU, then run again. Set "
                  "TLCOURSE_PROFILE=quick to choose the quick profile yourself.")
    return info
