"""The full profile on a Colab machine (12 GB of host memory): no data set is held at model resolution.

At 224 px, 70,000 MNIST digits as float32 tensors take 42 GB. Digits stay 28 px uint8 in memory and are
upscaled one at a time, in the loader.
"""

import subprocess
import sys
import textwrap

BUILD_AND_ITERATE = textwrap.dedent("""
    import resource, torch
    from tlcourse import data, models

    def fake_mnist(profile=None, seed=0):  # 10,000 random digits in MNIST's own format: uint8 [N, 28, 28]
        g = torch.Generator().manual_seed(seed)
        images = torch.randint(0, 256, (10_000, 28, 28), dtype=torch.uint8, generator=g)
        labels = torch.arange(10_000) % 10
        return images[:8_000], labels[:8_000], images[8_000:], labels[8_000:]

    data.mnist_digits = fake_mnist
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    spec = models.IMAGE_MODELS["full"]  # ResNet-50's 224 px
    tasks = [data.digits_task(spec, style=style) for style in ("mnist", "mnist_m")]
    for task in tasks:
        loader = data.make_loader(torch.utils.data.Subset(task.train, range(1024)), 256, workers=0)
        for images, labels in loader:
            assert images.shape[1:] == (3, 224, 224) and images.dtype == torch.float32
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20 - before
    print(f"GROWTH_GB={growth:.2f}")
""")


def test_digits_at_224_px_are_not_held_in_memory():
    result = subprocess.run([sys.executable, "-c", BUILD_AND_ITERATE], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    growth = float(result.stdout.split("GROWTH_GB=")[1])
    assert growth < 2.0, f"building and iterating the 224 px digits grew host memory by {growth:.1f} GB"


def test_inference_memory_counts_the_weights_and_the_largest_layer_not_the_sum():
    import torch

    from tlcourse import training

    model = torch.nn.Sequential(torch.nn.Linear(10, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 2))
    x = torch.zeros(4, 10)
    parts = training.inference_memory(model, x)
    weights = (10 * 1000 + 1000 + 1000 * 2 + 2) * 4
    assert parts["weights"] == weights
    assert parts["activations"] == (4 * 1000 + 4 * 1000) * 4  # the ReLU's input and output, the largest layer
    assert parts["total"] == weights + parts["activations"]
    step = training.training_step_memory(model, x, torch.zeros(4, dtype=torch.long))
    assert parts["total"] < step["total"]  # no gradients, no optimiser state, nothing saved for backward


CIFAR_AT_FULL_SIZE = textwrap.dedent("""
    import resource, torch
    from tlcourse import data, models
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    task = data.cifar10_task(models.IMAGE_MODELS["full"])  # all 60,000 images, ResNet-50's 224 px
    assert (len(task.train), len(task.val), len(task.test)) == (48_000, 2_000, 10_000)
    for split in (task.train, task.val, task.test):
        for images, labels in data.make_loader(torch.utils.data.Subset(split, range(256)), 128, workers=0):
            assert images.shape[1:] == (3, 224, 224) and images.dtype == torch.float32
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20 - before
    print(f"GROWTH_GB={growth:.2f}")
""")


def test_cifar10_at_its_real_size_and_224_px_is_not_held_in_memory(tmp_path):
    """50,000 + 10,000 CIFAR-10 images are 180 MB as uint8 and 36 GB as float32 at 224 px."""
    import os

    import stand_ins

    stand_ins.write_cifar10(tmp_path, stand_ins.REAL_SIZES["cifar10_per_batch"])
    env = {**os.environ, "TLCOURSE_DATA": str(tmp_path / "data"), "TLCOURSE_SCALE": "normal"}
    env.pop("TLCOURSE_IMAGE_SIZE", None)
    # the stand-in files have the real format but other bytes: accept their checksums as the notebook test does
    result = subprocess.run([sys.executable, "-c", stand_ins.KERNEL_STARTUP + CIFAR_AT_FULL_SIZE], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    growth = float(result.stdout.split("GROWTH_GB=")[1])
    assert growth < 2.0, f"building and iterating CIFAR-10 at 224 px grew host memory by {growth:.1f} GB"
