"""Choosing a strategy: the winner rule, the explanation, the time budget, best-epoch early stopping."""

import torch
from torch.utils.data import TensorDataset

from tlcourse import data, strategy


def candidate(name, accuracy, seconds=1.0):
    return strategy.Candidate(name, accuracy, seconds, model=None)


def test_best_on_validation_wins_and_a_tie_goes_to_the_cheaper():
    assert strategy.pick_winner([candidate("probe", 0.80), candidate("head", 0.70), candidate("full", 0.90)]).name == "full"
    assert strategy.pick_winner([candidate("probe", 0.895), candidate("full", 0.90)], tie=0.01).name == "probe"
    assert strategy.pick_winner([candidate("probe", 0.88), candidate("full", 0.90)], tie=0.01).name == "full"


def test_explanation_states_the_measured_gaps():
    tried = [candidate("probe", 0.80), candidate("full", 0.90)]
    choice = strategy.Choice(tried, ["head"], strategy.pick_winner(tried))
    text = strategy.explain(choice)
    assert "chosen: full (0.900" in text and "probe scored 0.100 lower" in text and "head skipped" in text


def test_candidates_that_cannot_finish_in_the_budget_are_skipped(monkeypatch):
    calls = []
    monkeypatch.setattr(strategy, "try_probe", lambda task, seed, folder: candidate("probe", 0.5, seconds=0.0))

    def fake_finetune(task, name, epochs, lr, seed=0):
        calls.append(name)
        return candidate(name, 0.6, seconds=10.0)

    monkeypatch.setattr(strategy, "finetune", fake_finetune)
    task = data.ImageTask("t", None, None, ["a", "b"], 8, (0.5,) * 3, (0.5,) * 3)
    choice = strategy.choose_strategy(task, budget_seconds=5, verbose=False)
    # the probe and the head run (nothing to estimate from yet); full would take ~3x the head: skipped
    assert calls == ["head"] and choice.skipped == ["full"] and choice.winner.name == "head"


def test_finetune_keeps_the_best_validation_epoch(monkeypatch):
    from tlcourse import models, training

    torch.manual_seed(0)
    images, labels = torch.randn(16, 3, 32, 32), torch.arange(16) % 2
    task = data.FolderImageTask("t", TensorDataset(images, labels), None, ["a", "b"], 32, (0.5,) * 3, (0.5,) * 3,
                                val=TensorDataset(images[:8], labels[:8]))
    monkeypatch.setattr(strategy, "new_model", lambda task, pretrained=True: (
        models.image_classifier(2, pretrained=False), None))
    run = strategy.finetune(task, "full", epochs=3, lr=1e-2)
    assert run.val_accuracy == max(run.history.val_acc) and run.best_epoch == 1 + run.history.val_acc.index(
        run.val_accuracy)
    val_loader = data.make_loader(task.val, 8)
    assert training.evaluate(run.model, val_loader)["accuracy"] == run.val_accuracy  # the kept weights
