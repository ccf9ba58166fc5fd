"""Making a trained model smaller and faster: magnitude pruning and dynamic quantisation.

* Pruning sets the smallest-magnitude weights to zero (``torch.nn.utils.prune``). Stored
  densely the file does not shrink; stored compressed (or sparse) it does, and sparse
  kernels can skip the zeros.
* Dynamic quantisation stores the weights of ``nn.Linear`` layers as 8-bit integers and
  quantises activations on the fly: about 4x smaller Linear layers, often faster on a CPU.
  (PyTorch's eager ``quantize_dynamic`` is being moved to the ``torchao`` package.)

:func:`report` measures what matters for deployment: size on disk, parameters, CPU latency, accuracy.
"""

from __future__ import annotations

import copy
import gzip
import io
import time
import warnings

import torch
from torch import nn
from torch.nn.utils import prune

from ..hooks import forward_hooks
from ..profiles import get_device
from ..training import evaluate, model_logits, progress_enabled


def prune_by_magnitude(model: nn.Module, amount: float) -> nn.Module:
    """A copy of ``model`` with the ``amount`` fraction of smallest weights (over all conv and linear
    layers together) set to zero, made permanent."""
    pruned = copy.deepcopy(model).cpu()
    targets = [(m, "weight") for m in pruned.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    for module, name in targets:
        prune.remove(module, name)  # fold the mask into the weight
    return pruned


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` layers hold int8 weights (CPU inference only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices about the move to torchao
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu().eval(), {nn.Linear}, dtype=torch.qint8)


def size_on_disk(model: nn.Module, compressed: bool = False) -> int:
    """Bytes of the saved state dict (gzip-compressed if asked: shows what pruning's zeros save)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    raw = buffer.getvalue()
    return len(gzip.compress(raw, compresslevel=6)) if compressed else len(raw)


def nonzero_parameters(model: nn.Module) -> int:
    """Non-zero weights, counting quantised layers' weights too."""
    count = sum(int((p != 0).sum()) for p in model.parameters())
    for module in model.modules():
        if hasattr(module, "weight") and callable(module.weight):  # dynamic-quantised Linear
            count += int((module.weight().dequantize() != 0).sum())
    return count


@torch.inference_mode()
def cpu_latency_ms(model: nn.Module, example, repeats: int = 20) -> float:
    """Median milliseconds for one forward pass of ``example`` on the CPU."""
    model = model.cpu().eval()
    model_logits(model, example)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model_logits(model, example)
        times.append(time.perf_counter() - started)
    return 1000 * sorted(times)[len(times) // 2]


def timing_noise(model: nn.Module, example, first_ms: float, repeats: int = 3) -> float:
    """How far further timings of the same model land from the first, the largest of ``repeats``, as a fraction
    of it: the noise a speed-up has to beat before it is called one (other processes, caches and clock speed all
    move it). One repeat was not enough beside another process: a pruned CNN, with the very same dense tensors,
    once timed 10% faster than its original against a single repeat's 3%."""
    return max(abs(cpu_latency_ms(model, example) / first_ms - 1) for _ in range(repeats))


def speed_verdict(speedup: float, noise: float) -> str:
    """Judge ``speedup`` (time before / time after) against the measured timing ``noise``: a change is named
    only when it exceeds twice the noise and 10%."""
    margin = max(0.1, 2 * noise)
    if abs(speedup - 1) <= margin and margin > 0.1:
        return (f"cannot tell: timing the same model again differed by up to {noise:.0%}, and twice that is more than "
                "this difference")
    if abs(speedup - 1) <= margin:
        return f"about the same (within {margin:.0%}; timing the same model again differed by up to {noise:.0%})"
    direction = "faster" if speedup > 1 else "slower"
    return f"{direction} beyond the timing noise (timing the same model again differed by up to {noise:.0%})"


@torch.inference_mode()
def multiply_adds(model: nn.Module, example) -> dict[str, int]:
    """Multiply-adds of one forward pass of ``example`` in the model's ``Conv2d`` and ``Linear`` layers.

    Where the arithmetic is tells what a compression can speed up: dynamic quantisation only touches
    ``nn.Linear``, so a network that spends its time in convolutions gains little from it.
    """
    counts = {"Conv2d": 0, "Linear": 0}

    def count(module, args, output):
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            counts["Conv2d"] += output.numel() * module.in_channels // module.groups * kernel
        else:
            counts["Linear"] += output.numel() * module.in_features

    with forward_hooks([m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))], count):
        model_logits(model.cpu().eval(), example)
    return counts


def is_quantised(model: nn.Module) -> bool:
    """True for a model with int8 layers from :func:`quantize_dynamic`: PyTorch runs those only on the CPU."""
    return any(callable(getattr(module, "weight", None)) for module in model.modules())


class _FirstExamples:
    """The batches of ``loader`` up to about ``n`` examples, with a progress bar: an int8 model is scored on
    the CPU, where a whole full-profile test split would take most of a Colab session."""

    def __init__(self, loader, n: int):
        self.loader, self.n, self.seen = loader, n, 0

    def __iter__(self):
        from tqdm.auto import tqdm

        self.seen = 0
        with tqdm(total=self.n, desc="int8 accuracy on the CPU", unit="img", disable=not progress_enabled(None),
                  leave=False) as bar:
            for inputs, labels in self.loader:
                if self.seen >= self.n:
                    return
                self.seen += len(labels)
                bar.update(len(labels))
                yield inputs, labels


def report(name: str, model: nn.Module, test_loader, example, cpu_examples: int = 2000) -> dict:
    """One row of the compression table: accuracy, non-zero parameters, size on disk, CPU latency.

    A float model's accuracy is measured on the device the course trains on (a GPU when there is one); an
    int8 model runs only on the CPU, so it is scored there on the first ``cpu_examples`` test examples
    (``accuracy_examples`` says how many). Latency is always one forward pass of ``example`` on the CPU,
    where these compressions are meant to help.
    """
    quantised = is_quantised(model)
    device = torch.device("cpu") if quantised else get_device()
    loader = _FirstExamples(test_loader, cpu_examples) if quantised else test_loader
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictions = evaluate(model, loader, device=device)
        examples = loader.seen if quantised else len(test_loader.dataset)
        return {"model": name, "accuracy": predictions["accuracy"], "accuracy_examples": examples,
                "nonzero_params": nonzero_parameters(model),
                "disk_KB": size_on_disk(model) / 1024, "gzip_KB": size_on_disk(model, compressed=True) / 1024,
                "latency_ms": cpu_latency_ms(model, example)}
