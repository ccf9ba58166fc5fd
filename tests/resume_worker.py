"""A training run in its own process, for the kill-and-resume test (tests/test_robustness.py).

    python resume_worker.py OUT_WEIGHTS [CHECKPOINT]

Trains a small network with dropout on shuffled data (so the random state matters), slowly enough
that the test can kill it between two checkpoints, then saves the final weights. The run is driven by
callbacks with state of their own: early stopping's memory of the best epoch (``keep_best``) must survive
the kill for the resumed run to end with the same weights. It prints how
many epochs this process itself trained, so the test can tell a resumed run from a fresh one.
"""

import sys
import time

import torch
from torch import nn
from torch.utils.data import TensorDataset

from tlcourse import data, training
from tlcourse.recipe import Recipe

from epoch_callback import EachEpoch

EPOCHS = 6


def blobs(n=384, classes=4, dim=8, noise_seed=0):
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(0)) * 2
    labels = torch.arange(n) % classes
    noise = torch.randn(n, dim, generator=torch.Generator().manual_seed(noise_seed)) * 2
    return TensorDataset(centres[labels] + noise, labels)


def slow_cross_entropy(model, inputs, labels):
    time.sleep(0.03)  # about 0.4 s per epoch: time for the test to kill the process mid-run
    return training.cross_entropy_loss(model, inputs, labels)


def main(out: str, checkpoint: str | None) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 4))
    loader = data.make_loader(blobs(), 32, shuffle=True, seed=1)
    epochs_here = []
    recipe = Recipe(epochs=EPOCHS, lr=1e-2, seed=0, keep_best=True)
    history = training.fit(model, loader, recipe, val_loader=data.make_loader(blobs(96, noise_seed=1), 96),
                           loss_fn=slow_cross_entropy, checkpoint=checkpoint, callbacks=[EachEpoch(epochs_here.append)],
                           progress=False)
    torch.save(model.state_dict(), out)
    print(f"trained {len(epochs_here)} epochs in this process; best epoch {history.best_epoch}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
