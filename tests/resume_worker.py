"""A training run in its own process, for the kill-and-resume test (tests/test_robustness.py).

    python resume_worker.py OUT_WEIGHTS [CHECKPOINT]

Trains a small network with dropout on shuffled data (so the random state matters), slowly enough
that the test can kill it between two checkpoints, then saves the final weights. It prints how
many epochs this process itself trained, so the test can tell a resumed run from a fresh one.
"""

import sys
import time

import torch
from torch import nn
from torch.utils.data import TensorDataset

from tlcourse import data, training

EPOCHS = 6


def blobs(n=384, classes=4, dim=8):
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(classes, dim, generator=generator) * 2
    labels = torch.arange(n) % classes
    return TensorDataset(centres[labels] + torch.randn(n, dim, generator=generator), labels)


def slow_cross_entropy(model, inputs, labels):
    time.sleep(0.03)  # about 0.4 s per epoch: time for the test to kill the process mid-run
    return training.cross_entropy_loss(model, inputs, labels)


def main(out: str, checkpoint: str | None) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 4))
    loader = data.make_loader(blobs(), 32, shuffle=True, seed=1)
    epochs_here = []
    training.fit(model, loader, epochs=EPOCHS, lr=1e-2, loss_fn=slow_cross_entropy, checkpoint=checkpoint,
                 on_epoch_start=epochs_here.append, progress=False, seed=0)
    torch.save(model.state_dict(), out)
    print(f"trained {len(epochs_here)} epochs in this process")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
