"""How fast this machine trains the quick profile's image model, in about fifteen seconds: train_speed.py's
hand-written loop (EfficientNet-Lite0 at 64 px, batch 32, AdamW) on one torch thread, as each CI test process runs.

CI prints it before the tests (.ci/run), so that a suite's time can be read against the machine it ran on: the
2-core machines of this project have differed by about 2x (72.7 images/s on 2026-11-23, 37-46 on 2026-12-05/06
with the same loop, benchmarks/results/cpu2core_overhead.jsonl and benchmarks/README.md).

    python benchmarks/machine_speed.py
"""

import os
import platform

import torch
from torch.utils.data import DataLoader

from train_speed import build_model, hand_written_loop, make_data, throughput


def images_per_second(examples: int = 96, epochs: int = 3) -> float:
    """Training images per second in the fastest epoch after the first (warm-up), on random images."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    loader = DataLoader(make_data("efficientnet_lite0", examples, 64, 0), batch_size=32, shuffle=True)
    seconds = hand_written_loop(build_model("efficientnet_lite0"), loader, epochs, torch.device("cpu"))
    return throughput(examples, seconds[1:])


def cpu_name() -> str:
    """The CPU's model name as Linux reports it (``platform.processor()`` elsewhere)."""
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    print(f"machine speed: {images_per_second():.1f} training images/s (EfficientNet-Lite0, 64 px, one thread) on "
          f"{os.cpu_count()} x {cpu_name()}; torch {torch.__version__}")
