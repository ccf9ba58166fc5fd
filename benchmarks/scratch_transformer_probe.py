"""Notebook 02's random-init transformer with a longer schedule: does it learn anything that early stopping on
validation accuracy (at most 4 epochs, patience 2, in the quick profile) could have missed?

One run per peak learning rate, 12 epochs, no patience (the best epoch's weights kept), otherwise notebook 02's
quick-profile recipe and split. Prints each epoch's validation accuracy and loss: the loss sees learning that has not
yet changed an answer. Compare the loss with the loss of one constant answer, the class shares (0.681 for 58% / 42%).

    TLCOURSE_PROFILE=quick python benchmarks/scratch_transformer_probe.py --lrs 1e-3 3e-4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

import tlcourse
from tlcourse import data, experiments, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-4])
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    lesson = tlcourse.setup("02_finetune_bert", seed=0)
    task = data.text_task(n_train=lesson.size(1000), n_val=lesson.size(500), n_test=lesson.size(1000), seed=0)
    _, tokenizer = models.text_classifier(num_labels=task.num_classes, pretrained=True)
    lengths = [len(tokenizer(text)["input_ids"]) for text in task.train_texts]
    max_length = int(np.percentile(lengths, 99))  # as notebook 02
    recipe = tlcourse.Recipe(epochs=args.epochs, schedule="linear", warmup=0.1, weight_decay=0.01, batch_size=32,
                             max_length=max_length, seed=0, pretrained=False, keep_best=True)
    val_loader = data.text_loader(task.val_texts, task.val_labels, tokenizer, 128, max_length)
    for lr in args.lrs:
        started = time.perf_counter()
        history = experiments.run(task, dataclasses.replace(recipe, lr=lr), val_loader=val_loader, test=False).history
        print(json.dumps({"lr": lr, "val_acc": [round(a, 3) for a in history.val_acc],
                          "val_loss": [round(loss, 4) for loss in history.val_loss],
                          "train_acc": [round(a, 3) for a in history.train_acc],
                          "s": round(time.perf_counter() - started)}), flush=True)


if __name__ == "__main__":
    main()
