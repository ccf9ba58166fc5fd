"""Training speed of ``tlcourse.training.fit`` against a minimal hand-written PyTorch loop.

Same model, same synthetic data, same batch size, same optimiser (AdamW). Each
variant trains for a few epochs; the fastest epoch after the first (which pays for
warm-up and compilation) gives the throughput. ``--rounds`` repeats all variants in
turn, which evens out the noise of a busy machine.

    python benchmarks/train_speed.py --model efficientnet_lite0 --size 64 --n 320 --rounds 5 --threads 1   # CPU: overhead
    python benchmarks/train_speed.py --model resnet50 --size 224 --gpu        # GPU: speed-ups

On the CPU it prints the ratio fit / hand-written loop (must be >= 0.95), with the
progress bar on and off. With ``--gpu`` it compares the naive fp32 loop with fit's
mixed precision, with channels-last memory (CNNs) and with ``torch.compile``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from tlcourse import training
from tlcourse.recipe import Recipe
from tlcourse.data import make_loader


def build_model(name: str, num_classes: int = 10):
    if name == "efficientnet_lite0":
        from tlcourse.models import efficientnet_lite0

        return efficientnet_lite0(num_classes, pretrained=False)  # random weights: same speed
    if name == "resnet50":
        from torchvision.models import resnet50

        model = resnet50(weights=None)
        model.fc = torch.nn.Linear(model.fc.in_features, num_classes)
        return model
    if name in ("bert-base", "minilm-l6"):
        from transformers import BertConfig, BertForSequenceClassification

        config = BertConfig(num_labels=2) if name == "bert-base" else BertConfig(
            hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536, num_labels=2)
        return BertForSequenceClassification(config)
    raise ValueError(f"unknown model {name!r}")


def make_data(name: str, n: int, size: int, seq_len: int):
    generator = torch.Generator().manual_seed(0)
    if name in ("bert-base", "minilm-l6"):
        ids = torch.randint(1000, 20000, (n, seq_len), generator=generator)
        return TextBatches(ids, torch.randint(0, 2, (n,), generator=generator))
    images = torch.randn(n, 3, size, size, generator=generator)
    return TensorDataset(images, torch.randint(0, 10, (n,), generator=generator))


class TextBatches(torch.utils.data.Dataset):
    """Token ids as ``({"input_ids", "attention_mask"}, label)`` pairs, like the course's text loaders."""

    def __init__(self, ids, labels):
        self.ids, self.labels = ids, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i])}, self.labels[i]


def hand_written_loop(model, loader, epochs: int, device, lr: float = 1e-4) -> list[float]:
    """The plain PyTorch recipe, fp32: forward, loss, backward, step. Returns seconds per epoch."""
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        for inputs, labels in loader:
            if isinstance(inputs, dict):
                inputs = {k: v.to(device) for k, v in inputs.items()}
                logits = model(**inputs).logits
            else:
                logits = model(inputs.to(device))
            loss = F.cross_entropy(logits, labels.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return seconds


def fit_seconds(model, loader, epochs: int, device, progress: bool = False, **settings) -> list[float]:
    """Seconds per epoch of ``fit`` with a recipe of ``settings`` (precision, channels_last, compile)."""
    recipe = Recipe(epochs=epochs, lr=1e-4, device=str(device), **settings)
    history = training.fit(model, loader, recipe, progress=progress)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return history.seconds


def throughput(n: int, seconds: list[float]) -> float:
    """Examples per second in the fastest of the measured epochs (warm-up epochs already left out)."""
    return n / min(seconds)


def run(args) -> dict:
    device = torch.device("cuda" if args.gpu else "cpu")
    torch.backends.cudnn.benchmark = args.gpu  # as a lesson's setup() does, for both loops alike
    dataset = make_data(args.model, args.n, args.size, args.seq_len)
    is_cnn = args.model in ("efficientnet_lite0", "resnet50")
    results = {"model": args.model, "device": torch.cuda.get_device_name() if args.gpu else f"cpu x{torch.get_num_threads()}",
               "batch_size": args.batch_size, "examples": args.n, "torch": torch.__version__}
    if is_cnn:
        results["image_size"] = args.size
    else:
        results["sequence_length"] = args.seq_len

    def fresh():
        torch.manual_seed(0)
        return build_model(args.model)

    plain_loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    if args.gpu:
        loader = make_loader(dataset, args.batch_size, shuffle=True, workers=args.workers)  # pinned memory on a GPU
    if args.data_on_gpu:
        dataset = TensorDataset(*(t.to(device) for t in dataset.tensors))
        plain_loader = loader = DataLoader(dataset, sampler=BatchSampler(RandomSampler(dataset), args.batch_size, False),
                                           batch_size=None)
        results["data"] = "in GPU memory"
    variants = {"hand-written loop (fp32)": lambda: hand_written_loop(fresh(), plain_loader, args.epochs, device)}
    if args.gpu:
        variants["fit fp32"] = lambda: fit_seconds(fresh(), loader, args.epochs, device, precision="fp32", progress=False)
        variants["fit mixed precision"] = lambda: fit_seconds(fresh(), loader, args.epochs, device, progress=False)
        if is_cnn:
            variants["fit mixed precision + channels-last"] = lambda: fit_seconds(
                fresh(), loader, args.epochs, device, channels_last=True, progress=False)
        if args.compile:
            variants["fit mixed precision" + (" + channels-last" if is_cnn else "") + " + compile"] = lambda: fit_seconds(
                fresh(), loader, args.epochs, device, channels_last=is_cnn, compile=True, progress=False)
    else:
        variants["fit (progress bar off)"] = lambda: fit_seconds(fresh(), plain_loader, args.epochs, device, progress=False)
        variants["fit (progress bar on)"] = lambda: fit_seconds(fresh(), plain_loader, args.epochs, device, progress=True)

    # Rounds interleave the variants (A B C, A B C, ...), so a slow spell of a shared machine
    # hits all of them alike instead of whichever happened to run then.
    epoch_seconds = {name: [] for name in variants}
    for round_number in range(args.rounds):
        for name, measure in variants.items():
            epoch_seconds[name] += measure()[1:]  # the first epoch of each run is warm-up
            print(f"round {round_number + 1}/{args.rounds} {name:>50}: "
                  f"{throughput(args.n, epoch_seconds[name]):8.1f} examples/s so far", flush=True)
    base = throughput(args.n, epoch_seconds["hand-written loop (fp32)"])
    results["rounds"] = args.rounds
    for name, seconds in epoch_seconds.items():
        speed = throughput(args.n, seconds)
        results[name] = {"examples_per_s": round(speed, 1), "ratio_to_hand_written": round(speed / base, 3)}
        print(f"{name:>50}: {speed:8.1f} examples/s   x{speed / base:.2f}", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0",
                        choices=["efficientnet_lite0", "resnet50", "bert-base", "minilm-l6"])
    parser.add_argument("--size", type=int, default=64, help="image size (CNNs)")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per text (BERT)")
    parser.add_argument("--n", type=int, default=960, help="training examples per epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every variant this many times, interleaved")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: all cores)")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="loader processes for fit on the GPU")
    parser.add_argument("--data-on-gpu", action="store_true",
                        help="keep the synthetic data in GPU memory: measures the training step alone, not the input pipeline")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (GPU)")
    parser.add_argument("--json", help="append the results to this JSON-lines file")
    args = parser.parse_args()
    os.environ.setdefault("TLCOURSE_PROGRESS", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run(args)
    if not args.gpu:
        worst = min(results["fit (progress bar off)"]["ratio_to_hand_written"],
                    results["fit (progress bar on)"]["ratio_to_hand_written"])
        print(f"overhead check: fit / hand-written >= 0.95? {'yes' if worst >= 0.95 else 'NO'} ({worst:.3f})")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
