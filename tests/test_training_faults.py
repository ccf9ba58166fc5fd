"""Faults of the training core that once gave silently wrong results or unhelpful crashes (issue 34):
each must now stop with a message that names the argument, file or cause and says what to do."""

import errno

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from tlcourse import data, freezing, training
from tlcourse.recipe import Recipe

from epoch_callback import EachEpoch


def blobs(n=96, classes=4, dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator) * 3
    labels = torch.arange(n) % classes
    return TensorDataset(centres[labels] + torch.randn(n, dim, generator=generator), labels)


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


class TinyResNet(nn.Module):
    """Shaped like a torchvision ResNet (conv1, bn1, layer1..4, fc), so the freezing strategies know its blocks."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1, self.bn1 = nn.Linear(8, 8), nn.Identity()
        self.layer1, self.layer2, self.layer3, self.layer4 = (nn.Linear(8, 8) for _ in range(4))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        for layer in (self.conv1, self.layer1, self.layer2, self.layer3, self.layer4):
            x = torch.relu(layer(x))
        return self.fc(x)


def loader(seed=0, shuffle=True, dataset=None):
    return data.make_loader(blobs() if dataset is None else dataset, 32, shuffle=shuffle, seed=seed)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def all_finite(model):
    return all(torch.isfinite(p).all() for p in model.parameters())


# --- 1. non-finite gradients or weights stop training, clipping or not --------------------------


@pytest.mark.parametrize("grad_clip", [None, 1.0])
def test_nan_gradients_stop_training_with_or_without_clipping(grad_clip):
    model = small_net()
    before = weights(model)
    model[0].weight.register_hook(lambda grad: grad * float("nan"))  # the loss stays finite, the gradients do not
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1: the loss, the gradients or the weights"):
        training.fit(model, loader(), Recipe(epochs=1, grad_clip=grad_clip), progress=False)
    assert all_finite(model)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_weights_that_overflow_on_the_last_step_are_not_returned():
    """Finite gradients, but a step so large that the weights become inf: no later step's loss would notice."""
    model = small_net()
    before = weights(model)
    x, y = blobs(n=32).tensors
    one_batch = data.make_loader(TensorDataset(x * 100, y), 32)  # large inputs: large, still finite gradients
    with pytest.raises(FloatingPointError, match="not finite"):
        training.fit(model, one_batch, Recipe(epochs=1, lr=3e38, optimizer="sgd", grad_clip=None), progress=False)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


# --- 2. evaluation of NaN inputs or a NaN model is refused, not scored ---------------------------


def _with_nan_inputs(all_rows=False):
    x, y = blobs().tensors
    x = x.clone()
    if all_rows:
        x[:] = float("nan")
    else:
        x[40, 3] = float("nan")
    return data.make_loader(TensorDataset(x, y), 32)


@pytest.mark.parametrize("all_rows, batch", [(False, 2), (True, 1)])
def test_evaluate_refuses_nan_inputs_and_says_so(all_rows, batch):
    with pytest.raises(ValueError, match=rf"batch {batch} .*inputs hold NaN") as info:
        training.evaluate(small_net(), _with_nan_inputs(all_rows))
    assert "model's weights" not in str(info.value)
    with pytest.raises(ValueError, match="inputs hold NaN"):
        training.predict(small_net(), _with_nan_inputs(all_rows))


def test_evaluate_refuses_a_model_with_nan_weights_and_blames_the_model():
    model = small_net()
    with torch.no_grad():
        model[2].bias[1] = float("nan")
    with pytest.raises(ValueError, match=r"model's weights hold NaN or inf"):
        training.evaluate(model, loader(shuffle=False))


def test_early_stopping_does_not_choose_epochs_on_nan_validation_scores():
    with pytest.raises(ValueError, match="inputs hold NaN"):
        training.fit(small_net(), loader(), Recipe(epochs=2, keep_best=True),
                     val_loader=_with_nan_inputs(all_rows=True), progress=False)


# --- 3. learning rates and other numbers that would train nothing, or crash deep inside --------


@pytest.mark.parametrize("options, error, words", [
    ({"lr": 0.0}, ValueError, r"lr=0.0 .*trains nothing"),
    ({"lr": -1e-3}, ValueError, r"lr=-0.001"),
    ({"lr": float("nan")}, ValueError, r"lr=nan"),
    ({"lr": "0.001"}, TypeError, r"lr must be a number .*not the str '0.001'"),
    ({"grad_clip": "1.0"}, TypeError, r"grad_clip must be a number"),
    ({"grad_clip": 0.0}, ValueError, r"grad_clip=0.0"),
    ({"weight_decay": -0.1}, ValueError, r"weight_decay=-0.1"),
    ({"warmup": "0.1"}, TypeError, r"warmup must be a number"),
])
def test_numbers_that_would_train_nothing_are_refused_in_one_sentence(options, error, words):
    epochs = []
    with pytest.raises(error, match=words) as info:
        training.fit(small_net(), loader(), Recipe(epochs=1, **options), callbacks=[EachEpoch(epochs.append)],
                     progress=False)
    assert epochs == [] and "\n" not in str(info.value)


def test_numbers_from_numpy_or_torch_are_still_accepted():
    import numpy as np

    history = training.fit(small_net(), loader(), Recipe(epochs=1, lr=np.float32(1e-2), grad_clip=torch.tensor(1.0), weight_decay=np.float64(0.0)),
                           progress=False)
    assert history.epoch == [1]


def test_zero_learning_rates_of_a_ready_optimizer_or_of_a_parameter_group_are_refused():
    model = small_net()
    with pytest.raises(ValueError, match="lr=0.0"):
        training.fit(model, loader(), Recipe(epochs=1),
                     optimizer=torch.optim.SGD(model.parameters(), lr=0.0), progress=False)
    groups = [{"params": model[0].parameters(), "lr": 0.0}, {"params": model[2].parameters()}]
    with pytest.raises(ValueError, match=r"lr=0.0 in parameter group 0 trains nothing"):
        training.fit(model, loader(), Recipe(epochs=1), params=groups, progress=False)
    with pytest.raises(TypeError, match=r"parameter group 1.*not the str"):
        training.fit(model, loader(), Recipe(epochs=1), params=[{"params": model[0].parameters()},
                                                         {"params": model[2].parameters(), "lr": "1e-3"}], progress=False)


# --- 4, 5. a checkpoint is tied to everything that defines its run -------------------------------


def _fit(path, model=None, train_loader=None, **options):
    """A one-epoch run with a checkpoint at ``path``; ``options`` are recipe fields or fit's other arguments."""
    settings = [k for k in options if k in Recipe.__dataclass_fields__ and not isinstance(options[k], torch.optim.Optimizer)]
    recipe = Recipe(epochs=1, **{k: options.pop(k) for k in settings})
    return training.fit(model or small_net(), train_loader or loader(), recipe, checkpoint=path, progress=False,
                        **options)


def _finished(path, **options):
    """A finished one-epoch run with a checkpoint; ``options`` as for :func:`_fit`."""
    _fit(path, **options)


def _refused(path, words, **options):
    """Resuming ``path`` with ``options`` is refused before any training, naming ``words``; the file is kept."""
    before = path.read_bytes()
    with pytest.raises(ValueError, match="other settings") as info:
        _fit(path, **options)
    assert words in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before


def _discriminative(decay, seed=0):
    model = TinyResNet(seed)
    return {"model": model, **freezing.apply_strategy(model, "discriminative", 1e-3, decay=decay)}


def _gradual(blocks_per_epoch):
    model = TinyResNet()
    return {"model": model, **freezing.apply_strategy(model, "gradual", 1e-3, blocks_per_epoch=blocks_per_epoch)}


def test_resume_with_other_discriminative_rates_is_refused(tmp_path):
    _finished(tmp_path / "run.pt", **_discriminative(0.5))
    _refused(tmp_path / "run.pt", "param_group 1", **_discriminative(0.9))


def test_resume_with_another_unfreezing_schedule_is_refused(tmp_path):
    _finished(tmp_path / "run.pt", **_gradual(1))
    _refused(tmp_path / "run.pt", "blocks_per_epoch=2", **_gradual(2))


def test_resume_with_a_ready_optimizer_of_another_learning_rate_is_refused(tmp_path):
    first, second = small_net(), small_net()
    _finished(tmp_path / "run.pt", model=first, optimizer=torch.optim.SGD(first.parameters(), lr=0.1))
    _refused(tmp_path / "run.pt", "lr=0.2", model=second, optimizer=torch.optim.SGD(second.parameters(), lr=0.2))
    third = small_net()
    _refused(tmp_path / "run.pt", "momentum",
             model=third, optimizer=torch.optim.SGD(third.parameters(), lr=0.1, momentum=0.5))


def test_resume_with_another_grad_clip_is_refused(tmp_path):
    _finished(tmp_path / "run.pt", grad_clip=1.0)
    _refused(tmp_path / "run.pt", "grad_clip=1.0 there, grad_clip=None now", grad_clip=None)


@pytest.mark.parametrize("change, words", [
    ({"seed": 1}, "seed=0 there, seed=1 now"),
    ({"model": small_net(seed=1)}, "starting_weights"),
    ({"train_loader": loader(seed=1)}, "loader_seed"),
])
def test_a_seeds_loop_with_one_checkpoint_path_is_refused(tmp_path, change, words):
    _finished(tmp_path / "run.pt", seed=0)
    _refused(tmp_path / "run.pt", words, **{"seed": 0, **change})


def test_resume_after_freezing_a_layer_says_other_settings(tmp_path):
    _finished(tmp_path / "run.pt")
    model = small_net()
    model[0].requires_grad_(False)
    _refused(tmp_path / "run.pt", "param_group 0", model=model)


def test_resume_of_the_same_run_still_works(tmp_path, monkeypatch):
    """Fresh objects built the same way, or the very same objects after a Ctrl-C, resume."""
    _finished(tmp_path / "run.pt", **_gradual(1), seed=3)
    real_epoch = training._train_one_epoch
    monkeypatch.setattr(training, "_train_one_epoch", None)  # the finished run is returned, not trained again
    history = _fit(tmp_path / "run.pt", **_gradual(1), seed=3)
    assert history.epoch == [1]
    monkeypatch.setattr(training, "_train_one_epoch", real_epoch)

    model, train = small_net(), loader()
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the 2nd epoch: the model's weights have moved on since
        training.fit(model, train, Recipe(epochs=3),
                     checkpoint=tmp_path / "again.pt", progress=False, callbacks=[EachEpoch(_stop_at(1))])
    epochs = []
    history = training.fit(model, train, Recipe(epochs=3),
                           checkpoint=tmp_path / "again.pt", progress=False, callbacks=[EachEpoch(epochs.append)])
    assert history.epoch == [1, 2, 3] and epochs == [1, 2]


def _stop_at(stop_epoch):
    def callback(epoch):
        if epoch == stop_epoch:
            raise KeyboardInterrupt
    return callback


def test_a_checkpoint_from_before_the_new_settings_still_resumes(tmp_path):
    path = tmp_path / "old.pt"
    _finished(path)
    state = torch.load(path, weights_only=True)
    old_keys = {"epochs", "lr", "optimizer", "weight_decay", "schedule", "warmup", "steps_per_epoch"}
    state["settings"] = {k: v for k, v in state["settings"].items() if k in old_keys}
    torch.save(state, path)
    history = training.fit(small_net(seed=5), loader(seed=7), Recipe(epochs=1), checkpoint=path, progress=False)
    assert history.epoch == [1]


# --- 6, 7, 8. checkpoint files: unwritable, damaged, disk full -----------------------------------


def test_an_unwritable_checkpoint_path_is_found_before_training(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the checkpoint folder should be")
    path = blocker / "runs" / "run.pt"
    epochs = []
    with pytest.raises(OSError, match="checkpoint") as info:
        training.fit(small_net(), loader(), Recipe(epochs=1),
                     checkpoint=path, callbacks=[EachEpoch(epochs.append)], progress=False)
    assert str(path) in str(info.value) and epochs == []


def test_a_checkpoint_path_that_is_a_folder_is_explained(tmp_path):
    with pytest.raises(ValueError, match="is a folder") as info:
        training.fit(small_net(), loader(), Recipe(epochs=1), checkpoint=tmp_path, progress=False)
    assert str(tmp_path) in str(info.value)


def test_the_writability_probe_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "new" / "folder"
    training.fit(small_net(), loader(), Recipe(epochs=1), checkpoint=folder / "run.pt", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["run.pt"]


@pytest.mark.parametrize("where", ["model", "optimizer"])
def test_a_checkpoint_with_nan_weights_is_called_damaged(tmp_path, where):
    path = tmp_path / "run.pt"
    _finished(path)
    state = torch.load(path, weights_only=True)
    if where == "model":
        state["model"]["0.weight"][0, 0] = float("nan")
    else:
        next(iter(state["optimizer"]["state"].values()))["exp_avg"].fill_(float("inf"))
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"damaged.*NaN or inf.*[Dd]elete it") as info:
        training.fit(small_net(), loader(), Recipe(epochs=1), checkpoint=path, progress=False)
    assert str(path) in str(info.value) and "learning rate" not in str(info.value)


@pytest.mark.parametrize("failure", [
    RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing file "
                 "data/3: file write failed"),
    RuntimeError("[enforce fail at inline_container.cc:624] . unexpected pos 1600 vs 1498"),
    OSError(errno.ENOSPC, "No space left on device"),
])
def test_a_full_disk_while_saving_a_checkpoint_is_explained_and_harmless(tmp_path, monkeypatch, failure):
    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):  # one epoch saved of two
        training.fit(small_net(), loader(), Recipe(epochs=2),
                     checkpoint=path, callbacks=[EachEpoch(_stop_at(1))], progress=False)
    before = path.read_bytes()
    real_save = torch.save

    def fills_the_disk(obj, file):
        real_save(obj, file)
        with open(file, "r+b") as f:
            f.truncate(100)  # part of the file got written, then the disk was full
        raise failure

    monkeypatch.setattr(torch, "save", fills_the_disk)
    with pytest.raises(OSError, match=r"disk (is|may be) full") as info:
        training.fit(small_net(), loader(), Recipe(epochs=2), checkpoint=path, progress=False)
    monkeypatch.undo()
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
