"""Choosing a strategy: the winner rule, the explanation, the time budget, best-epoch early stopping."""

import dataclasses

import torch
from torch.utils.data import TensorDataset

from tlcourse import data, own_data, strategy

GREY = (0.5,) * 3  # the mean and the std of a task whose pixels are already in [-1, 1]


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

    def fake_finetune(task, name, epochs, lr, seed=0, patience=None):
        calls.append(name)
        return candidate(name, 0.6, seconds=10.0)

    monkeypatch.setattr(strategy, "finetune", fake_finetune)
    task = data.ImageTask(name="t", train=None, test=None, classes=["a", "b"], image_size=8, mean=GREY, std=GREY)
    choice = strategy.choose_strategy(task, budget_seconds=5, verbose=False)
    # the probe and the head's first rate run (nothing to estimate from yet); the head's other rates and full
    # would overrun the budget: skipped, and said to be
    assert calls == ["head"] and choice.skipped == ["full"] and choice.winner.name == "head"
    grid = strategy.default_learning_rates(task)["head"]
    assert choice.tried[1].untried == [grid[0], grid[2]]  # the grid's centre ran first
    assert "not tried" in strategy.explain(choice)


def test_each_strategy_gets_its_own_learning_rate_chosen_on_validation_with_early_stopping(monkeypatch):
    calls = []
    monkeypatch.setattr(strategy, "try_probe", lambda task, seed, folder: candidate("probe", 0.5, seconds=0.0))
    best_rate = {"head": 1e-2, "full": 1e-3}

    def fake_finetune(task, name, epochs, lr, seed=0, patience=None):
        calls.append((name, lr, patience))
        return strategy.Candidate(name, 0.9 - abs(lr - best_rate[name]), 0.0, model=lr, setting=f"lr={lr:g}")

    monkeypatch.setattr(strategy, "finetune", fake_finetune)
    task = data.ImageTask(name="t", train=None, test=None, classes=["a", "b"], image_size=8, mean=GREY, std=GREY)
    choice = strategy.choose_strategy(task, budget_seconds=60, epochs=12, patience=3, verbose=False)
    grids = strategy.default_learning_rates(task)
    assert calls == ([("head", lr, 3) for lr in strategy.centre_first(grids["head"])]
                     + [("full", lr, 3) for lr in strategy.centre_first(grids["full"])])
    head, full = choice.tried[1:]
    assert (head.model, full.model) == (1e-2, 1e-3)  # the run kept is the one at the rate best on validation
    assert list(head.val_by_lr) == grids["head"] and head.setting == "lr=0.01"
    assert "lr 0.003 0.893" in choice.table().loc[1, "validation by lr"]


def test_from_scratch_tunes_its_own_rate_with_early_stopping(monkeypatch):
    calls = []

    def fake_finetune(task, strategy_name, epochs, lr, pretrained=True, seed=0, name=None, patience=None):
        calls.append((lr, pretrained, patience))
        return strategy.Candidate("from scratch", lr, 0.0, model=None, best_epoch=1)

    monkeypatch.setattr(strategy, "finetune", fake_finetune)
    task = data.ImageTask(name="t", train=None, test=None, classes=["a", "b"], image_size=8, mean=GREY, std=GREY)
    run = strategy.from_scratch(task, epochs=30, patience=4, verbose=False)
    grid = strategy.default_learning_rates(task)["scratch"]
    assert calls == [(lr, False, 4) for lr in grid] and run.val_accuracy == max(grid)


def test_a_budget_that_ends_early_has_run_the_rate_at_the_centre_of_the_grid(monkeypatch):
    """Each grid is centred on the usual rate for its strategy (for full fine-tuning in the quick profile, the one
    lesson 01 chose on validation): on a slow machine whose budget ends after one run, that is the one that ran."""
    calls = []
    monkeypatch.setattr(strategy, "try_probe", lambda task, seed, folder: candidate("probe", 0.5, seconds=0.0))

    def fake_finetune(task, name, epochs, lr, seed=0, patience=None):
        calls.append(lr)
        return strategy.Candidate(name, 0.6, 10.0, model=lr)

    monkeypatch.setattr(strategy, "finetune", fake_finetune)
    task = data.ImageTask(name="t", train=None, test=None, classes=["a", "b"], image_size=8, mean=GREY, std=GREY)
    choice = strategy.choose_strategy(task, budget_seconds=5, candidates=["probe", "full"], verbose=False)
    grid = strategy.default_learning_rates(task)["full"]
    assert calls == [grid[1]] and choice.tried[1].untried == [grid[0], grid[2]]
    assert strategy.centre_first([1, 2]) == [2, 1] and strategy.centre_first([1, 2, 3, 4]) == [3, 1, 2, 4]


def test_equal_validation_scores_go_to_the_first_rate_of_the_grid_whatever_the_order_run(monkeypatch):
    monkeypatch.setattr(strategy, "finetune",
                        lambda task, name, epochs, lr, seed=0, patience=None: strategy.Candidate(name, 0.7, 0.0, model=lr))
    task = data.ImageTask(name="t", train=None, test=None, classes=["a", "b"], image_size=8, mean=GREY, std=GREY)
    best = strategy._tune_learning_rate(task, "head", [1e-3, 3e-3, 1e-2], 3, None, 0, deadline=float("inf"))
    assert best.model == 1e-3 and list(best.val_by_lr) == [1e-3, 3e-3, 1e-2]


def test_image_learning_rate_grids_follow_the_profiles_network(monkeypatch):
    task = data.ImageTask(name="t", train=None, test=None, classes=["a", "b"], image_size=8, mean=GREY, std=GREY)
    monkeypatch.setenv("TLCOURSE_PROFILE", "full")
    resnet = strategy.default_learning_rates(task)
    monkeypatch.setenv("TLCOURSE_PROFILE", "quick")
    lite = strategy.default_learning_rates(task)
    # AdamW fine-tuning of a pretrained ResNet-50 usually works between 1e-4 and 1e-3; the small EfficientNet-Lite0
    # at 32 or 64 px takes larger steps (lesson 01 sweeps it from 1e-3 to 1e-2)
    assert min(resnet["full"]) == 1e-4 and max(resnet["full"]) == 1e-3
    assert min(lite["full"]) == 1e-3 and max(lite["full"]) == 1e-2
    assert max(resnet["scratch"]) < max(lite["scratch"])


def test_a_best_rate_at_the_edge_of_its_grid_is_pointed_out(monkeypatch):
    def fake_finetune(task, strategy_name, epochs, lr, pretrained=True, seed=0, name=None, patience=None):
        return strategy.Candidate(name or strategy_name, lr, 0.0, model=None, setting=f"lr={lr:g}")  # larger is better

    monkeypatch.setattr(strategy, "finetune", fake_finetune)
    task = data.ImageTask(name="t", train=None, test=None, classes=["a", "b"], image_size=8, mean=GREY, std=GREY)
    run = strategy.from_scratch(task, learning_rates=[1e-3, 3e-3], verbose=False)
    assert run.val_by_lr == {1e-3: 1e-3, 3e-3: 3e-3}
    assert "largest learning rate of its grid (0.003): a larger one might do better" in strategy.edge_note(run)
    interior = dataclasses.replace(run, val_by_lr={1e-3: 0.5, 3e-3: 0.7, 1e-2: 0.6})
    assert strategy.edge_note(interior) == ""
    choice = strategy.Choice([run], [], run)
    assert "largest learning rate" in strategy.explain(choice)


def test_finetune_keeps_the_best_validation_epoch(monkeypatch):
    from tlcourse import models, training

    torch.manual_seed(0)
    images, labels = torch.randn(16, 3, 32, 32), torch.arange(16) % 2
    task = own_data.FolderImageTask(name="t", train=TensorDataset(images, labels), val=TensorDataset(images[:8], labels[:8]),
                                test=None, classes=["a", "b"], image_size=32, mean=GREY, std=GREY)
    monkeypatch.setattr(strategy, "new_model", lambda task, pretrained=True: (
        models.image_classifier(2, pretrained=False), None))
    run = strategy.finetune(task, "full", epochs=3, lr=1e-2)
    assert run.val_accuracy == max(run.history.val_acc) and run.best_epoch == 1 + run.history.val_acc.index(
        run.val_accuracy)
    val_loader = data.make_loader(task.val, 8)
    assert training.evaluate(run.model, val_loader)["accuracy"] == run.val_accuracy  # the kept weights


def test_the_probe_has_no_epochs_in_the_table():
    tried = [candidate("probe", 0.5), strategy.Candidate("head", 0.4, 1.0, model=None, best_epoch=3)]
    table = strategy.Choice(tried, [], tried[0]).table()
    assert table["best_epoch"].tolist() == ["-", 3]


def test_explanation_counts_the_gaps_in_validation_examples_and_calls_it_one_run():
    tried = [candidate("probe", 0.600), candidate("head", 0.578)]
    choice = strategy.Choice(tried, [], strategy.pick_winner(tried), n_val=45)
    text = strategy.explain(choice)
    assert "1 of 45 validation examples" in text and "one run" in text


def _text_task(train, val, test):
    (tr, tr_y), (va, va_y), (te, te_y) = train, val, test
    return own_data.CsvTextTask(name="t", train_texts=tr, train_labels=tr_y, val_texts=va, val_labels=va_y, test_texts=te,
                            test_labels=te_y, classes=["neg", "pos"])


def test_majority_class_comes_from_the_training_labels():
    # training is mostly 'pos', test mostly 'neg': the honest baseline answers 'pos' and scores 1/4 on test
    task = _text_task((["a"] * 4, [1, 1, 1, 0]), (["a"], [1]), (["a"] * 4, [0, 0, 0, 1]))
    name, accuracy = strategy.majority_class(task)
    assert name == "pos" and accuracy == 0.25


def test_simple_text_baseline_is_tfidf_with_c_chosen_on_validation():
    good, bad = ["good film", "great fun", "good fun", "great film"], ["bad film", "awful plot", "bad plot", "awful film"]
    task = _text_task((good + bad, [1] * 4 + [0] * 4), (["great plot", "awful fun"], [1, 0]),
                      (["good plot", "bad fun"], [1, 0]))
    baseline = strategy.simple_baseline(task)
    assert baseline.name == "TF-IDF + logistic regression" and baseline.val_accuracy == 1.0
    assert baseline.setting.startswith("C=") and baseline.test_accuracy(task) == 1.0


def test_simple_image_baseline_is_logistic_regression_on_pixels():
    torch.manual_seed(0)
    labels = torch.arange(40) % 2
    images = torch.randn(40, 3, 16, 16) * 0.1 + labels[:, None, None, None] * 1.0  # class 1 is brighter
    task = own_data.FolderImageTask(name="t", train=TensorDataset(images[:24], labels[:24]),
                                val=TensorDataset(images[24:32], labels[24:32]),
                                test=TensorDataset(images[32:], labels[32:]), classes=["dark", "bright"],
                                image_size=16, mean=GREY, std=GREY)
    baseline = strategy.simple_baseline(task)
    assert baseline.name == "logistic regression on pixels" and baseline.val_accuracy == 1.0
    assert baseline.test_accuracy(task) == 1.0


def test_by_default_one_validation_example_is_a_tie():
    assert strategy.default_tie(45) == 1 / 45 and strategy.default_tie(1000) == 0.01 and strategy.default_tie(None) == 0.01
    tried = [candidate("probe", 26 / 45), candidate("head", 27 / 45)]  # head ahead by one of 45 texts
    assert strategy.pick_winner(tried, strategy.default_tie(45)).name == "probe"


def test_explanation_flags_a_run_that_peaked_at_its_last_epoch():
    history = type("H", (), {"val_acc": [0.3, 0.4, 0.5]})()
    tried = [candidate("probe", 0.40), strategy.Candidate("head", 0.50, 1.0, None, best_epoch=3, history=history)]
    text = strategy.explain(strategy.Choice(tried, [], strategy.pick_winner(tried), n_val=30))
    assert "best at its last epoch (3)" in text


def test_explanation_flags_a_run_the_epoch_limit_ended_before_early_stopping_could():
    def run(best_epoch, epochs_run):
        history = type("H", (), {"val_acc": [0.5] * epochs_run})()
        return strategy.Candidate("full", 0.9, 1.0, None, best_epoch=best_epoch, history=history, epoch_limit=10,
                                  patience=2)

    def text(c):
        return strategy.explain(strategy.Choice([c], [], c, n_val=30))

    # best at epoch 9 of a 10-epoch limit: patience 2 could not fire, so it may still have been improving
    assert "ran to its limit of 10 epochs" in text(run(9, 10)) and "best epoch 9" in text(run(9, 10))
    assert "ran to its limit" not in text(run(6, 8))  # stopped early at epoch 8: it had stopped improving
    assert "ran to its limit" not in text(run(8, 10))  # best at 8, two epochs without improvement: it fired at 10


def test_a_best_regularisation_strength_at_the_edge_of_its_grid_is_pointed_out():
    probe = strategy.Candidate("probe", 0.8, 1.0, None, setting="C=10", val_by_c={0.1: 0.5, 1.0: 0.7, 10.0: 0.8})
    assert "largest C of its grid (10)" in strategy.edge_note(probe)
    baseline = strategy.SimpleBaseline("TF-IDF", "C=0.1", 0.7, None, val_by_c={0.1: 0.7, 1.0: 0.6, 10.0: 0.5})
    assert "smallest C of its grid (0.1)" in strategy.edge_note(baseline)
    assert strategy.edge_note(dataclasses.replace(probe, val_by_c={0.1: 0.5, 1.0: 0.9, 10.0: 0.8})) == ""


class _Untouchable(torch.utils.data.Dataset):
    """A test split that fails the moment anything reads it."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        raise AssertionError("the test split was read while choosing")


def test_choosing_a_strategy_never_reads_the_test_split(monkeypatch, tmp_path):
    from tlcourse import models

    torch.manual_seed(0)
    images, labels = torch.randn(24, 3, 32, 32), torch.arange(24) % 2
    task = own_data.FolderImageTask(name="t", train=TensorDataset(images[:16], labels[:16]),
                                val=TensorDataset(images[16:], labels[16:]), test=_Untouchable(), classes=["a", "b"],
                                image_size=32, mean=GREY, std=GREY)
    monkeypatch.setattr(strategy, "new_model", lambda task, pretrained=True: (
        models.image_classifier(2, pretrained=False), None))
    choice = strategy.choose_strategy(task, budget_seconds=600, epochs=1, cache_folder=tmp_path, verbose=False)
    assert {c.name for c in choice.tried} >= {"probe", "head"}
    scratch = strategy.from_scratch(task, epochs=1)
    assert scratch.val_accuracy >= 0  # and neither read a test image


class _LiveImages(torch.utils.data.Dataset):
    """Images made on demand (as a folder or CIFAR-10 at 224 px would be), counting how many are alive at once."""

    def __init__(self, n: int, size: int = 64):
        self.n, self.size, self.alive, self.most_alive = n, size, 0, 0
        self.labels = torch.arange(n) % 10

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import weakref

        image = torch.zeros(3, self.size, self.size)
        self.alive += 1
        self.most_alive = max(self.most_alive, self.alive)
        weakref.finalize(image, self._died)
        return image, int(self.labels[i])

    def _died(self):
        self.alive -= 1


def test_pixel_inputs_never_hold_a_whole_split_at_full_size():
    """The pixel baseline shrinks images in batches: holding all 10,000 CIFAR-10 test images at 224 px before
    shrinking them would take 6 GB twice over, more than a Colab runtime's memory."""
    images = _LiveImages(1000)
    task = data.ImageTask(name="live", train=images, val=images, test=images, classes=[str(k) for k in range(10)],
                          image_size=64, mean=GREY, std=GREY)
    inputs, labels = strategy.simple_inputs(task, "test")
    assert inputs.shape == (1000, 3 * strategy.PIXEL_SIZE**2) and list(labels) == images.labels.tolist()
    assert images.most_alive <= 256


def test_pixel_baseline_over_seeds_converts_each_split_once_and_matches_one_baseline_per_seed(monkeypatch):
    torch.manual_seed(0)
    labels = torch.arange(120) % 2
    images = torch.randn(120, 3, 16, 16) * 0.5 + labels[:, None, None, None] * 0.3
    task = data.ImageTask(name="t", train=TensorDataset(images[:80], labels[:80]),
                          val=TensorDataset(images[80:100], labels[80:100]),
                          test=TensorDataset(images[100:], labels[100:]), classes=["dark", "bright"], image_size=16,
                          mean=GREY, std=GREY)
    one_by_one = []
    for seed in [0, 1, 2]:
        labelled = dataclasses.replace(task, train=data.labelled_subset(task.train, 20, seed=seed))
        one_by_one.append(strategy.simple_baseline(labelled, seed=seed).test_accuracy(task))
    converted = []
    real_inputs = strategy.simple_inputs
    monkeypatch.setattr(strategy, "simple_inputs", lambda t, split: converted.append(split) or real_inputs(t, split))
    assert strategy.simple_baseline_over_seeds(task, 20, [0, 1, 2]) == one_by_one
    assert converted.count("val") == 1 and converted.count("test") == 1 and converted.count("train") == 3


def test_the_simple_baseline_is_recommended_when_it_scores_at_least_as_well_on_validation():
    """The external-text benchmark (issue 31): TF-IDF beat every transfer candidate on validation, yet the procedure
    offered the transfer winner; the last step must say when transfer does not pay."""
    baseline = strategy.SimpleBaseline("TF-IDF + logistic regression", "C=10", 0.75, pipeline=None)

    def choice(winner_accuracy, n_val=200):
        tried = [candidate("probe", winner_accuracy)]
        return strategy.Choice(tried, [], tried[0], n_val=n_val)

    below = strategy.recommend(choice(0.69), baseline)
    assert not below.beats_baseline and below.use == baseline.name and "-0.060 (-12 of 200 examples)" in below.reason
    tied = strategy.recommend(choice(0.755), baseline)  # one of 200 examples ahead: a tie, the cheaper model wins
    assert not tied.beats_baseline and tied.use == baseline.name
    above = strategy.recommend(choice(0.80), baseline)
    assert above.beats_baseline and above.use == "probe" and "+0.050 (+10 of 200 examples)" in above.reason


def test_tied_with_best_lists_every_setting_validation_cannot_tell_from_the_best():
    """One rule for ties, shared by 05's learning rate and strengths and by pick_winner (it was written out three
    times in 05)."""
    scores = {0.01: 0.854, 0.03: 0.852, 0.1: 0.354}
    assert strategy.tied_with_best(scores, 0.044) == [0.01, 0.03]
    assert strategy.tied_with_best(scores, 0.0) == [0.01]
    assert strategy.tied_with_best({"a": 0.5, "b": 0.9, "c": 0.86}, 0.05) == ["b", "c"]  # in the dict's order
    assert strategy.tied_with_best({1: 0.7, 2: 0.7 - 0.05}, 0.05) == [1, 2]  # float rounding at the margin


def test_grid_position_says_where_a_choice_lies_in_its_grid():
    assert strategy.grid_position([0.01, 0.03, 0.1], 0.03) == "inside"
    assert strategy.grid_position([0.1, 0.01, 0.03], 0.1) == "largest"
    assert strategy.grid_position([0.01, 0.03, 0.1], 0.01) == "smallest"
    assert strategy.grid_note([0.01, 0.03, 0.1], 0.03) == "inside its grid"
    assert strategy.grid_note([0.01, 0.03, 0.1], 0.1) == "the largest of its grid: a larger value was not tried"
    assert strategy.grid_note([0.01, 0.03, 0.1], 0.01) == "the smallest of its grid: a smaller value was not tried"
