"""A fine-tuning run saved with cache=True is reused only by an identical run, and gives the same result."""

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from tlcourse import data, experiments, features, training
from tlcourse.recipe import Recipe


@pytest.fixture
def run_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "run_cache_dir", lambda: tmp_path)
    return tmp_path


def small_digits():
    """40 training, 20 validation and 20 test digits of the quick task (enough to run in seconds)."""
    task = data.image_task(profile="quick")
    first = lambda dataset, n: TensorDataset(*(t[:n] for t in dataset.tensors))  # noqa: E731
    return data.ImageTask(name="digits", train=first(task.train, 400), val=first(task.val, 20),
                          test=first(task.test, 20), classes=task.classes, image_size=task.image_size, mean=task.mean,
                          std=task.std)


RECIPE = Recipe(epochs=1, lr=1e-3, seed=0)


def run(task, n_labels=40, **changes):
    """A cached run; ``changes`` are recipe fields or other arguments of experiments.run."""
    fields = {k: changes.pop(k) for k in list(changes) if k in Recipe.__dataclass_fields__}
    return experiments.run(task, dataclasses.replace(RECIPE, **fields), n_labels=n_labels, cache=True, **changes)


def forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("trained again: the saved run was not reused")

    monkeypatch.setattr(training, "fit", fail)


def test_an_identical_run_is_loaded_with_the_same_weights_and_numbers(run_cache, monkeypatch):
    task = small_digits()
    val_loader = data.make_loader(task.val, 64)
    first = run(task, val_loader=val_loader, measure_memory=True)
    assert not first.from_cache and len(list(run_cache.iterdir())) == 1
    forbid_training(monkeypatch)
    again = run(task, val_loader=data.make_loader(task.val, 64))
    assert again.from_cache
    assert again.accuracy == first.accuracy and again.val_accuracy == first.val_accuracy
    assert again.history == first.history and again.seconds == first.seconds
    assert again.memory_bytes == first.memory_bytes and again.trainable_parameters == first.trainable_parameters
    for (name, a), (_, b) in zip(first.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_change_in_any_setting_or_data_trains_anew(run_cache, monkeypatch):
    task = small_digits()
    run(task)
    calls = []
    real_fit = training.fit
    monkeypatch.setattr(training, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    for changed in [dict(lr=3e-3), dict(seed=1), dict(n_labels=30), dict(strategy="head"),
                    dict(val_loader=data.make_loader(task.val, 64))]:
        assert not run(task, **changed).from_cache, changed
    assert len(calls) == 5 and len(list(run_cache.iterdir())) == 6
    assert run(task).from_cache


def test_the_code_fingerprint_changes_with_any_edit_to_the_package(tmp_path):
    package = tmp_path / "tlcourse"
    shutil.copytree(Path(features.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = features.code_fingerprint(package)
    assert features.code_fingerprint(package) == before  # the same code, the same fingerprint
    training_code = package / "training.py"
    training_code.write_text(training_code.read_text() + "\n# a fix to the training loop\n")
    features.code_fingerprint.cache_clear()
    assert features.code_fingerprint(package) != before


def test_a_run_saved_by_other_package_code_is_not_reused(run_cache, monkeypatch):
    task = small_digits()
    run(task)
    assert run(task).from_cache
    monkeypatch.setattr(features, "code_fingerprint", lambda: "0123456789abcdef")  # as after an edit to fit
    assert not run(task).from_cache
    assert len(list(run_cache.iterdir())) == 2


def test_features_saved_by_other_package_code_are_computed_again(tmp_path, monkeypatch):
    computed = []

    def compute():
        computed.append(1)
        return {"x": torch.ones(2)}

    features.cached("probe", compute, "settings", folder=tmp_path)
    assert features.cached("probe", compute, "settings", folder=tmp_path)[2]  # reused
    monkeypatch.setattr(features, "code_fingerprint", lambda: "0123456789abcdef")
    assert not features.cached("probe", compute, "settings", folder=tmp_path)[2]
    assert len(computed) == 2


def test_a_damaged_saved_run_is_trained_again(run_cache):
    task = small_digits()
    run(task)
    (path,) = run_cache.iterdir()
    path.write_bytes(b"not a torch file")
    assert not run(task).from_cache
    assert run(task).from_cache


def test_runs_a_fingerprint_cannot_describe_are_refused(run_cache):
    task = small_digits()
    with pytest.raises(ValueError, match="cannot be fingerprinted"):
        run(task, loss_fn=training.cross_entropy_loss)


def test_a_text_run_is_reused_too(run_cache, monkeypatch):
    task = data.text_task(profile="quick", n_train=48, n_val=16, n_test=16)
    recipe = Recipe(epochs=1, lr=1e-4, max_length=32, seed=0)
    first = experiments.run(task, recipe, cache=True)
    forbid_training(monkeypatch)
    again = experiments.run(task, recipe, cache=True)
    assert again.from_cache and again.accuracy == first.accuracy and again.history == first.history
    with pytest.raises(AssertionError, match="trained again"):
        experiments.run(task, dataclasses.replace(recipe, max_length=24), cache=True)


def test_a_text_run_trains_with_the_loss_it_is_given_and_such_a_run_is_not_cached(run_cache):
    task = data.text_task(profile="quick", n_train=48, n_val=16, n_test=16)
    recipe = Recipe(epochs=1, lr=1e-4, max_length=32, seed=0)
    steps = []

    def counting_loss(model, inputs, labels):
        steps.append(len(labels))
        return training.cross_entropy_loss(model, inputs, labels)

    run = experiments.run(task, recipe, loss_fn=counting_loss)
    assert sorted(steps) == [16, 32] and 0.0 <= run.accuracy <= 1.0  # 48 texts in batches of 32: two steps
    with pytest.raises(ValueError, match="cannot be fingerprinted"):
        experiments.run(task, recipe, loss_fn=counting_loss, cache=True)
