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

from .profiles import checkpoint_dir, get_device, get_profile
from .results import start_recording
from .training import seed_everything


@dataclass(frozen=True)
class Lesson:
    """What :func:`setup` chose for this lesson."""

    name: str
    profile: str
    device: torch.device
    seed: int

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


def setup(lesson: str, seed: int = 0, verbose: bool = True) -> Lesson:
    """Start a lesson: pick profile and device, seed everything, and say what was chosen.

    Settings that hold for the whole process are made here, once, rather than inside every
    training loop: on a GPU, cuDNN times its convolution algorithms once and keeps the fastest.
    """
    start_recording(lesson)
    seed_everything(seed)
    info = Lesson(lesson, get_profile(), get_device(), seed)
    if info.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if verbose:
        print(f"lesson {lesson} | profile {info.profile} | device {info.device} | seed {seed} | "
              f"torch {torch.__version__} | Python {platform.python_version()}")
    return info
