"""Every course task has a validation split, and choosing on it never reads the test split."""

import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from tlcourse import data, experiments, models
from tlcourse.recipe import Recipe


def test_quick_digits_have_disjoint_train_validation_and_test_splits():
    task = data.image_task(profile="quick")
    assert (len(task.train), len(task.val), len(task.test)) == (3500, 500, 1000)
    train_x, val_x = task.train.tensors[0], task.val.tensors[0]
    # the validation digits are the pool's last 500, none of them also a training digit
    pool, _, _, _ = data.mnist_digits("quick")
    assert torch.equal(data.to_model_input(pool[-500:], task.image_size, task.mean, task.std), val_x)
    train_rows = {row.numpy().tobytes() for row in train_x.flatten(1)}
    assert not any(row.numpy().tobytes() in train_rows for row in val_x.flatten(1))
    assert set(data.dataset_labels(task.val).tolist()) == set(range(10))  # every class is validated


def test_mnist_m_style_digits_have_a_validation_split_too():
    task = data.digits_task(style="mnist_m", profile="quick")
    assert len(task.val) == 500 and task.val.tensors[0].shape[1] == 3


def test_quick_text_validation_is_held_out_of_training_and_stratified():
    task = data.text_task(profile="quick")
    assert len(task.val_texts) == 1000
    assert not set(task.val_texts) & set(task.train_texts)
    assert not set(task.val_texts) & set(task.test_texts)
    train_share = sum(task.train_labels) / len(task.train_labels)
    assert abs(sum(task.val_labels) / len(task.val_labels) - train_share) < 0.01
    smaller = data.text_task(profile="quick", n_train=200, n_val=100, n_test=100)
    assert (len(smaller.train_texts), len(smaller.val_texts), len(smaller.test_texts)) == (200, 100, 100)


def test_validation_never_takes_more_than_a_fifth_of_the_training_pool():
    assert data.held_out_count(60_000, 5000) == 5000
    assert data.held_out_count(100, 5000) == 20


class _Unreadable(Dataset):
    """A test split that fails the moment anything reads it."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        raise AssertionError("the test split was read while choosing a learning rate")


def test_choosing_the_learning_rate_reads_validation_only(monkeypatch):
    torch.manual_seed(0)
    images, labels = torch.randn(40, 3, 32, 32), torch.arange(40) % 2
    task = data.ImageTask(name="t", train=TensorDataset(images[:24], labels[:24]),
                          val=TensorDataset(images[24:], labels[24:]), test=_Unreadable(), classes=["a", "b"],
                          image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    monkeypatch.setattr(models, "image_classifier", lambda n, pretrained=True, dropout=0.2: torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, n)))
    val_loader = data.make_loader(task.val, 16)
    best, runs = experiments.choose_learning_rate(task, Recipe(epochs=2), [1e-4, 1e-1], val_loader, n_labels=24)
    assert set(runs) == {1e-4, 1e-1} and all(run.accuracy is None for run in runs.values())
    assert runs[best].val_accuracy == max(run.val_accuracy for run in runs.values())


def test_early_stopping_run_reports_the_validation_accuracy_of_the_kept_epoch(monkeypatch):
    torch.manual_seed(0)
    images, labels = torch.randn(40, 3, 32, 32), torch.arange(40) % 2
    task = data.ImageTask(name="t", train=TensorDataset(images[:24], labels[:24]),
                          val=TensorDataset(images[24:32], labels[24:32]), test=TensorDataset(images[32:], labels[32:]),
                          classes=["a", "b"], image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    monkeypatch.setattr(models, "image_classifier", lambda n, pretrained=True, dropout=0.2: torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, n)))
    run = experiments.run(task, Recipe(epochs=4, lr=0.05, keep_best=True, patience=2), n_labels=24,
                          val_loader=data.make_loader(task.val, 8))
    history = run.history
    assert run.val_accuracy == max(history.val_acc) == history.val_acc[history.best_epoch - 1]
    assert run.accuracy is not None  # tested once, after the choice


def test_a_task_is_built_by_keyword_with_its_splits_in_the_order_train_val_test():
    """Three splits of one type passed by position could be swapped without any error; by keyword they cannot."""
    import dataclasses

    for task_type, splits in [(data.ImageTask, ["train", "val", "test"]),
                              (data.TextTask, ["train_texts", "train_labels", "val_texts", "val_labels",
                                               "test_texts", "test_labels"])]:
        names = [f.name for f in dataclasses.fields(task_type)]
        assert [n for n in names if n in splits] == splits
        with pytest.raises(TypeError):
            task_type("t", [], [], [])  # positional: refused
