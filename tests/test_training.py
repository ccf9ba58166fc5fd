"""The training core: it learns, resumes exactly, and explains wrong input."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from tlcourse import data, training
from tlcourse.callbacks import Callback, StopTraining
from tlcourse.recipe import Recipe

from epoch_callback import EachEpoch


def blobs(n=400, classes=4, dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator) * 3
    labels = torch.arange(n) % classes
    return TensorDataset(centres[labels] + torch.randn(n, dim, generator=generator), labels)


def small_net(dim=8, classes=4):
    return nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, classes))


def test_fit_learns_a_tiny_problem():
    train, test = blobs(seed=0), blobs(seed=0)
    torch.manual_seed(0)
    model = small_net()
    history = training.fit(model, data.make_loader(train, 32, shuffle=True), Recipe(epochs=5, lr=1e-2, seed=0),
                           val_loader=data.make_loader(test, 100))
    assert history.final_val_acc > 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    assert len(history.epoch) == len(history.seconds) == 5


def _interrupt_in_third_epoch(monkeypatch, start_run) -> None:
    """Start a run and stop it as its third epoch begins, as Ctrl-C or a lost Colab session would."""
    real_epoch, calls = training._train_one_epoch, []

    def interrupted_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(training, "_train_one_epoch", interrupted_epoch)
    with pytest.raises(KeyboardInterrupt):
        start_run()
    monkeypatch.setattr(training, "_train_one_epoch", real_epoch)


def test_checkpoint_resume_continues_where_it_stopped(tmp_path, monkeypatch):
    train = blobs(seed=1)

    def run(checkpoint):
        torch.manual_seed(0)
        model = small_net()
        loader = data.make_loader(train, 32, shuffle=True, seed=5)
        history = training.fit(model, loader, Recipe(epochs=4, lr=1e-2), checkpoint=checkpoint)
        return model, history

    reference, reference_history = run(None)
    checkpoint = tmp_path / "run.pt"
    _interrupt_in_third_epoch(monkeypatch, lambda: run(checkpoint))
    resumed, resumed_history = run(checkpoint)
    assert resumed_history.epoch == [1, 2, 3, 4]
    for name, tensor in reference.state_dict().items():
        assert torch.allclose(tensor, resumed.state_dict()[name]), name
    assert resumed_history.train_loss == pytest.approx(reference_history.train_loss)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    checkpoint = tmp_path / "other.pt"
    training.fit(small_net(), data.make_loader(blobs(), 64), Recipe(epochs=1), checkpoint=checkpoint)
    other = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    with pytest.raises(ValueError, match="different architecture"):
        training.fit(other, data.make_loader(blobs(), 64), Recipe(epochs=2), checkpoint=checkpoint)


def test_label_outside_num_classes_is_explained():
    x, y = blobs().tensors
    bad = TensorDataset(x, y + 1)  # labels 1..4 for a 4-class head
    with pytest.raises(ValueError, match="Label 4 is outside 0..3"):
        training.fit(small_net(), data.make_loader(bad, 32), Recipe(epochs=1))


def test_label_outside_num_classes_is_caught_before_any_loss_is_computed():
    """On a GPU, cross-entropy with such a label fails inside a kernel ("device-side assert triggered")
    and every later CUDA call in the session fails too, until the runtime restarts (seen on an H200:
    one wrong label made 28 later tests fail). So the check must come before the loss, not after."""
    x, y = blobs().tensors
    losses_computed = []

    def spying_loss(model, inputs, labels):
        logits = model(inputs)
        losses_computed.append(1)
        return torch.nn.functional.cross_entropy(logits, labels), logits

    with pytest.raises(ValueError, match="Label 4 is outside 0..3"):
        training.fit(small_net(), data.make_loader(TensorDataset(x, y + 1), 32), Recipe(epochs=1), loss_fn=spying_loss)
    assert losses_computed == []


def test_empty_loader_is_explained():
    empty = TensorDataset(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="no batches"):
        training.fit(small_net(), data.make_loader(empty, 32), Recipe(epochs=1))


def test_input_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"could not process a batch of shape \(32, 8\)"):
        training.fit(small_net(dim=10), data.make_loader(blobs(), 32), Recipe(epochs=1))


def test_learning_rate_schedule_warms_up_then_anneals():
    total, warmup = 100, 10
    factors = [training.lr_multiplier(s, total, warmup, "cosine") for s in range(total)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[55] == pytest.approx(0.5, abs=0.02) and factors[-1] < 0.01
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert training.lr_multiplier(55, total, warmup, "linear") == pytest.approx(0.5, abs=0.02)


def test_fit_trains_a_hugging_face_model_on_dict_batches():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    ids = torch.randint(5, 50, (64, 6))
    labels = (ids[:, 0] > 27).long()  # the label is readable from the first token

    def batches(n):
        for i in range(0, 64, n):
            yield {"input_ids": ids[i:i + n], "attention_mask": torch.ones_like(ids[i:i + n])}, labels[i:i + n]

    class Loader:
        def __len__(self):
            return 4

        def __iter__(self):
            return batches(16)

    history = training.fit(model, Loader(), Recipe(epochs=30, lr=5e-3, seed=0), val_loader=Loader())
    assert history.final_val_acc > 0.9


@pytest.mark.parametrize("capability, dtype, scaled", [((7, 5), torch.float16, True),  # T4 (Colab)
                                                       ((8, 0), torch.bfloat16, False),  # A100
                                                       ((9, 0), torch.bfloat16, False)])  # H100
def test_mixed_precision_follows_the_gpu_capability(monkeypatch, capability, dtype, scaled):
    """bf16 only with bf16 tensor cores (sm_80+); a T4 reports bf16 as supported but must use fp16 + GradScaler."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args, **kwargs: capability)
    cuda = torch.device("cuda")
    assert training.autocast_dtype(cuda) == dtype
    assert training.uses_gradient_scaling(training.autocast_dtype(cuda)) == scaled  # what fit's GradScaler gets
    assert training.autocast_dtype(torch.device("cpu")) is None
    assert training.autocast_dtype(cuda, "fp32") is None


def _scripted_validation(monkeypatch, accuracies):
    """evaluate() returns these validation accuracies, one per epoch, whatever the model does."""
    scores = iter(accuracies)
    monkeypatch.setattr(training, "evaluate", lambda *args, **kwargs: {"loss": 0.0, "accuracy": next(scores)})


def _weights_after_each_epoch(model):
    kept = {}

    def keep(epoch):  # called before epoch `epoch` starts: the weights after epoch `epoch - 1`
        kept[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return kept, keep


def test_keep_best_restores_the_weights_of_the_best_validation_epoch(monkeypatch):
    _scripted_validation(monkeypatch, [0.5, 0.9, 0.7])
    torch.manual_seed(0)
    model = small_net()
    kept, keep = _weights_after_each_epoch(model)
    loader = data.make_loader(blobs(), 32, shuffle=True)
    history = training.fit(model, loader, Recipe(epochs=3, lr=1e-2, keep_best=True),
                           val_loader=loader, callbacks=[EachEpoch(keep)])
    assert history.best_epoch == 2 and history.epoch == [1, 2, 3]
    for name, weight in model.state_dict().items():
        assert torch.equal(weight, kept[2][name]), name  # the weights after epoch 2, not after epoch 3


def test_patience_stops_when_validation_stops_improving(monkeypatch):
    _scripted_validation(monkeypatch, [0.5, 0.9, 0.7, 0.6, 0.95, 0.99])
    loader = data.make_loader(blobs(), 32, shuffle=True)
    history = training.fit(small_net(), loader, Recipe(epochs=6, keep_best=True, patience=2), val_loader=loader)
    assert history.epoch == [1, 2, 3, 4] and history.best_epoch == 2


class _Events(Callback):
    """Writes down every event fit calls, with the epoch and step it was called at."""

    def __init__(self):
        self.seen = []

    def _note(self, event, state):
        self.seen.append((event, state.epoch, state.step))

    def before_fit(self, state):
        self._note("before_fit", state)

    def before_epoch(self, state):
        self._note("before_epoch", state)

    def after_step(self, state):
        self._note("after_step", state)

    def after_epoch(self, state):
        self._note("after_epoch", state)

    def after_fit(self, state):
        self._note("after_fit", state)


def test_fit_calls_each_event_in_order_with_the_epoch_and_step():
    events = _Events()
    training.fit(small_net(), data.make_loader(blobs(n=96), 48), Recipe(epochs=2), callbacks=[events], progress=False)
    assert events.seen == [("before_fit", 0, 0),
                           ("before_epoch", 0, 0), ("after_step", 0, 1), ("after_step", 0, 2), ("after_epoch", 0, 2),
                           ("before_epoch", 1, 2), ("after_step", 1, 3), ("after_step", 1, 4), ("after_epoch", 1, 4),
                           ("after_fit", 1, 4)]


def test_a_callback_ends_training_early_and_after_fit_still_runs():
    class StopAfterFirstEpoch(_Events):
        def before_epoch(self, state):
            super().before_epoch(state)
            if state.epoch == 1:
                raise StopTraining("enough")

    events = StopAfterFirstEpoch()
    history = training.fit(small_net(), data.make_loader(blobs(n=96), 48), Recipe(epochs=5), callbacks=[events],
                           progress=False)
    assert history.epoch == [1] and events.seen[-1][0] == "after_fit"


def test_settings_passed_as_anything_but_a_recipe_are_refused_with_an_example():
    with pytest.raises(TypeError, match=r"tlcourse.Recipe \(e.g. Recipe\(epochs=3"):
        training.fit(small_net(), data.make_loader(blobs(), 32), {"epochs": 3, "lr": 1e-3})


def test_keep_best_needs_a_validation_loader():
    with pytest.raises(ValueError, match="val_loader"):
        training.fit(small_net(), data.make_loader(blobs(), 32), Recipe(epochs=2, keep_best=True))


def test_keep_best_survives_an_interruption(tmp_path, monkeypatch):
    """The best weights so far are part of the checkpoint: a resumed run keeps the same epoch's weights."""
    train, val = blobs(seed=1), blobs(seed=2)

    def run(checkpoint):
        torch.manual_seed(0)
        model = small_net()
        history = training.fit(model, data.make_loader(train, 32, shuffle=True, seed=5),
                               Recipe(epochs=4, lr=0.5, keep_best=True), val_loader=data.make_loader(val, 100),
                               checkpoint=checkpoint)
        return model, history

    reference, reference_history = run(None)
    _interrupt_in_third_epoch(monkeypatch, lambda: run(tmp_path / "run.pt"))
    resumed, resumed_history = run(tmp_path / "run.pt")
    assert resumed_history.best_epoch == reference_history.best_epoch
    for name, weight in reference.state_dict().items():
        assert torch.equal(weight, resumed.state_dict()[name]), name


def test_image_models_are_built_in_channels_last_order():
    # about 1.7x faster convolutions on a CPU (benchmarks/README.md); the results do not change
    from tlcourse import models

    model = models.image_classifier(10, pretrained=False, profile="quick")
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        reference = model.to(memory_format=torch.contiguous_format)(x)
        assert torch.allclose(model.to(memory_format=torch.channels_last)(x), reference, atol=1e-5)


def test_a_run_shows_one_progress_bar_not_one_per_epoch(monkeypatch):
    """Each bar is a widget a notebook must receive; one per epoch of many small runs overran nbval's output wait."""
    from tlcourse import callbacks

    made = []
    real_tqdm = callbacks.tqdm
    monkeypatch.setattr(callbacks, "tqdm", lambda *args, **kwargs: made.append(kwargs) or real_tqdm(*args, **kwargs))
    training.fit(small_net(), data.make_loader(blobs(n=400), 20), Recipe(epochs=3), progress=True)
    assert len(made) == 1 and made[0]["total"] == 3 * 20 and not made[0]["disable"]
    training.fit(small_net(), data.make_loader(blobs(n=96), 48), Recipe(epochs=2), progress=True)
    assert made[1]["disable"]  # 4 steps: over before a bar would help
    training.fit(small_net(), data.make_loader(blobs(n=400), 20), Recipe(epochs=3), progress=False)
    assert len(made) == 2


def test_a_run_checkpointed_without_a_bar_resumes_with_one(tmp_path, monkeypatch):
    """The bar shows a run and is not part of it: turning it on does not refuse the checkpoint."""
    def run(checkpoint, progress):
        torch.manual_seed(0)
        model = small_net()
        training.fit(model, data.make_loader(blobs(), 32, shuffle=True, seed=0), Recipe(epochs=4, lr=1e-2),
                     checkpoint=checkpoint, progress=progress)
        return model

    checkpoint = tmp_path / "run.pt"
    _interrupt_in_third_epoch(monkeypatch, lambda: run(checkpoint, progress=False))
    resumed = run(checkpoint, progress=True)
    straight = run(tmp_path / "straight.pt", progress=False)
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("progress", [True, False])
def test_fit_iterates_the_training_loader_once_per_epoch(progress, monkeypatch):
    """Each iteration of a shuffled loader draws a new order (and starts its worker processes): an extra one per
    epoch (tqdm.auto wrapping the loader starts an iterator of its own) would waste a shuffle and change the run."""
    loader = data.make_loader(blobs(n=400), 20, shuffle=True, seed=0)
    started = []
    real_iter = type(loader).__iter__
    monkeypatch.setattr(type(loader), "__iter__", lambda self: started.append(1) or real_iter(self))
    training.fit(small_net(), loader, Recipe(epochs=3), progress=progress)
    assert len(started) == 3


def test_a_checkpoint_callback_resumes_before_any_other_callback_starts(tmp_path, monkeypatch):
    """Checkpoint is a callback like the others, and it runs first wherever it is listed: a callback that reads the
    run's position when it starts (DANN's reversal schedule does) sees the resumed position, not step 0."""
    from tlcourse.checkpoint import Checkpoint

    class StartingStep(Callback):
        def __init__(self):
            self.seen = []

        def before_fit(self, state):
            self.seen.append((state.epoch, state.step))

    def run(starting):
        torch.manual_seed(0)
        model = small_net()
        training.fit(model, data.make_loader(blobs(), 32, shuffle=True, seed=0), Recipe(epochs=4, lr=1e-2),
                     callbacks=[starting, Checkpoint(tmp_path / "run.pt")], progress=False)
        return model

    first, again = StartingStep(), StartingStep()
    _interrupt_in_third_epoch(monkeypatch, lambda: run(first))
    resumed = run(again)
    assert first.seen == [(0, 0)] and again.seen == [(2, 2 * 13)]  # 400 examples in batches of 32: 13 steps
    assert torch.load(tmp_path / "run.pt", weights_only=True)["epoch"] == 4
    torch.manual_seed(0)
    straight = small_net()
    training.fit(straight, data.make_loader(blobs(), 32, shuffle=True, seed=0), Recipe(epochs=4, lr=1e-2),
                 progress=False)
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        assert torch.equal(a, b)  # the resumed run took the same steps as one never interrupted
