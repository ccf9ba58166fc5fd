"""Robustness of the training core: a killed run resumes exactly, runs repeat exactly, bad input is explained."""

import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tlcourse import data, experiments, models, training
from tlcourse.checkpoint import save_atomically
from tlcourse.recipe import Recipe
from tlcourse.assets import AssetUnavailableError

WORKER = Path(__file__).with_name("resume_worker.py")


def _train_in_process(out, checkpoint=None):
    command = [sys.executable, str(WORKER), str(out)] + ([str(checkpoint)] if checkpoint else [])
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_training_process_resumes_to_the_same_weights(tmp_path):
    uninterrupted = _train_in_process(tmp_path / "reference.pt")
    output, errors = uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0, errors
    assert "trained 6 epochs" in output

    # Start the same run with a checkpoint file, and kill -9 it once it has saved its first epoch.
    checkpoint = tmp_path / "run.pt"
    victim = _train_in_process(tmp_path / "never.pt", checkpoint)
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    time.sleep(0.15)  # into the middle of the next epoch
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.pt").exists()
    epochs_done = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= epochs_done < 6

    resumed = _train_in_process(tmp_path / "resumed.pt", checkpoint)
    output, errors = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, errors
    assert f"trained {6 - epochs_done} epochs" in output  # it continued, it did not start over

    reference = torch.load(tmp_path / "reference.pt", weights_only=True)
    final = torch.load(tmp_path / "resumed.pt", weights_only=True)
    for name, tensor in reference.items():
        assert torch.equal(tensor, final[name]), name


@pytest.fixture(scope="module")
def small_digits():
    task = data.digits_task(dataclasses.replace(models.image_model_spec("quick"), image_size=32))
    test_loader = data.make_loader(torch.utils.data.Subset(task.test, range(300)), 300)
    return task, test_loader


def _recorded_numbers(result: experiments.RunResult) -> list[float]:
    return [result.accuracy] + result.history.train_loss + result.history.train_acc


def test_same_seed_same_numbers(small_digits):
    task, test_loader = small_digits

    def run(seed):
        return experiments.run(task, Recipe(epochs=2, warmup=0.1, seed=seed), n_labels=64, test_loader=test_loader)

    first, again, other = run(0), run(0), run(1)
    assert _recorded_numbers(first) == _recorded_numbers(again)  # exactly, not approximately
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name
    assert _recorded_numbers(first) != _recorded_numbers(other)  # the seed does matter


# --- bad input gets a clear error ---------------------------------------------------------------


def test_images_in_other_layouts_are_converted():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2, 40, 30, 3), dtype=np.uint8)  # NumPy/PIL order, not square
    expected = data.to_model_input(torch.from_numpy(rgb).permute(0, 3, 1, 2), 32, (0.5,) * 3, (0.5,) * 3)
    assert torch.equal(data.to_model_input(rgb, 32, (0.5,) * 3, (0.5,) * 3), expected)
    rgba = np.concatenate([rgb, np.full((2, 40, 30, 1), 255, np.uint8)], axis=-1)
    assert torch.equal(data.to_model_input(rgba, 32, (0.5,) * 3, (0.5,) * 3), expected)
    as_floats = data.to_model_input(rgb.astype(np.float32) / 255, 32, (0.5,) * 3, (0.5,) * 3)
    assert torch.allclose(as_floats, expected, atol=1e-5)
    grey = data.to_model_input(rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), 32, (0.5,) * 3, (0.5,) * 3)
    assert grey.shape == (2, 3, 32, 32) and torch.equal(grey[:, 0], grey[:, 2])


@pytest.mark.parametrize("images, message", [
    (torch.zeros(2, 28, 28, 2, dtype=torch.uint8), r"shape \(2, 28, 28, 2\)"),
    (torch.zeros(28, 28, dtype=torch.uint8), r"batch dimension"),
    (torch.full((2, 3, 8, 8), 2.5), r"normalised already"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.int32), r"dtype torch.int32"),
])
def test_unreadable_images_are_refused_clearly(images, message):
    with pytest.raises(ValueError, match=message):
        data.to_model_input(images, 32, (0.5,) * 3, (0.5,) * 3)


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="efficientnet_lite0, resnet50"):
        models.image_classifier(10, name="resnet5O")
    # a text model name may be any Hub name, so a typo is reported as unavailable, listing ours
    with pytest.raises(AssetUnavailableError, match="minilm_l6"):
        models.text_classifier(2, name="bert-large-uncasd")


def test_out_of_memory_suggests_a_smaller_batch():
    def exhausts_the_gpu(model, inputs, labels):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    dataset = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.zeros(8, dtype=torch.long))
    with pytest.raises(torch.cuda.OutOfMemoryError, match="smaller batch_size.*TLCOURSE_PROFILE=quick"):
        training.fit(torch.nn.Linear(4, 2), data.make_loader(dataset, 4), Recipe(epochs=1), loss_fn=exhausts_the_gpu)


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """Checkpoints are written to a temporary file and renamed: dying mid-write never leaves half a file."""
    path = tmp_path / "run.pt"
    save_atomically({"epoch": 1}, path)

    def dies_halfway(obj, file):
        Path(file).write_bytes(b"PK\x03\x04 half a zip")  # the start of a checkpoint, then the crash
        raise KeyboardInterrupt

    monkeypatch.setattr(training.torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_atomically({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path) == {"epoch": 1}
