"""How fast this machine trains the quick profile's image model, in ten seconds: EfficientNet-Lite0 at 64 px,
batch 32, AdamW, one torch thread (as each CI test process runs).

CI prints it before the tests (.ci/run), so that a suite's time can be read against the machine it ran on: the
2-core machines of this project have differed by about 2x (72.7 images/s on 2026-11-23, 37-46 on 2026-12-05/06
with the same benchmark, benchmarks/results/cpu2core_overhead.jsonl and benchmarks/README.md).

    python benchmarks/machine_speed.py
"""

import os
import platform
import time

import torch

from tlcourse import models


def images_per_second(steps: int = 6, size: int = 64, batch: int = 32) -> float:
    """Training images per second after two warm-up steps (random data; the speed does not depend on it)."""
    torch.set_num_threads(1)
    model = models.image_classifier(10, pretrained=False)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    images = torch.randn(batch, 3, size, size).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,))
    for step in range(steps + 2):
        if step == 2:
            started = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return batch * steps / (time.perf_counter() - started)


if __name__ == "__main__":
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine speed: {images_per_second():.1f} training images/s (EfficientNet-Lite0, 64 px, one thread) on "
          f"{os.cpu_count()} x {cpu}; torch {torch.__version__}")
