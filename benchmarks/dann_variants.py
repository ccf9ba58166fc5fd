"""Why does DANN close less of the gap than Ganin et al.? Train variants of notebook 07's recipe on three seeds.

Quick profile, CPU. Each variant is a JSON dict of `train_dann` settings; every run is scored on the target
test digits, as trained and with AdaBN (BatchNorm statistics recomputed on the unlabelled target images).
These choices are judged with *target labels*, which real unsupervised adaptation does not have: this is a
developer's investigation of the recipe, not a model selection procedure to copy.

    TLCOURSE_PROFILE=quick python benchmarks/dann_variants.py 'default={}' 'joint={"joint_batches": true}'

Since 2026-12-02 ``train_dann`` trains with Ganin et al.'s SGD recipe (momentum, annealed rate); the README's table
of 2026-11-26 was made with the Adam optimiser at 1e-3 that it used before, so re-runs give other numbers.
"""

import dataclasses
import json
import sys
import time

import torch

from tlcourse import data, training, uncertainty
from tlcourse.methods import adabn, dann

spec = dann.DIGIT_CNN_INPUT
source = data.digits_task(spec, style="mnist", seed=0)
target = data.digits_task(spec, style="mnist_m", seed=0)
target_test = data.make_loader(target.test, 512)


def run(seed, adapt=True, epochs=10, **settings):
    """One variant: ``settings`` go to train_dann (reverse, domain_weight, joint_batches)."""
    torch.manual_seed(seed)
    model = dann.DANN(num_classes=10)
    src = data.make_loader(source.train, 64, shuffle=True, seed=seed)
    tgt = data.make_loader(target.train, 64, shuffle=True, seed=seed + 100)
    recipe = dataclasses.replace(dann.GANIN_RECIPE, epochs=epochs, seed=seed)
    history = dann.train_dann(model, src, tgt, recipe, adapt=adapt, progress=False, **settings)
    adapted = adabn.adapt_batchnorm(model, target.train.tensors[0])
    return (training.evaluate(model, target_test)["accuracy"], training.evaluate(adapted, target_test)["accuracy"],
            history.domain_acc[-1] if history.domain_acc else float("nan"))


for argument in sys.argv[1:]:
    name, settings = argument.split("=", 1)
    started = time.perf_counter()
    scores = [run(seed, **json.loads(settings)) for seed in (0, 1, 2)]
    plain, with_adabn, domain = zip(*scores)
    for label, values in [("as trained", plain), ("with AdaBN", with_adabn)]:
        print(f"{name} {settings} {label}: {uncertainty.mean_interval(values)}")
    print(f"  domain classifier accuracy, last epoch: {[round(d, 3) for d in domain]} "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
