"""Nothing in the course assumes a CPU: with a (mocked) Colab T4 present, the GPU path is chosen.

The real GPU checks run on a GPU machine when one is lent; this test runs everywhere and fails if
code starts taking the CPU for granted (a hard-coded device, profile or precision).
"""

import os

import pytest
import torch

import tlcourse
from tlcourse import cli, data, models, training


def _pretend_a_t4(monkeypatch):
    monkeypatch.delenv("TLCOURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: (7, 5))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)


def test_setup_picks_the_gpu_the_full_profile_and_cudnn_benchmark(monkeypatch, capsys):
    _pretend_a_t4(monkeypatch)
    lesson = tlcourse.setup("gpu_check")
    assert lesson.profile == "full" and not lesson.quick and lesson.device.type == "cuda"
    assert torch.backends.cudnn.benchmark
    assert "profile full | device cuda" in capsys.readouterr().out


def test_on_a_t4_training_uses_fp16_with_a_scaler_not_bf16(monkeypatch):
    _pretend_a_t4(monkeypatch)
    assert training.get_device().type == "cuda"
    assert training.autocast_dtype(torch.device("cuda")) == torch.float16


@pytest.mark.parametrize("capability, dtype", [((7, 5), torch.float16), ((8, 0), torch.bfloat16),
                                               ((9, 0), torch.bfloat16), ((6, 1), torch.float16)])
def test_mixed_precision_follows_the_compute_capability(monkeypatch, capability, dtype):
    _pretend_a_t4(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # True on a T4 too
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: capability)
    assert training.autocast_dtype(torch.device("cuda")) == dtype
    assert training.autocast_dtype(torch.device("cpu")) is None  # fp32 on the CPU


def test_the_full_profile_models_and_data_are_chosen(monkeypatch):
    _pretend_a_t4(monkeypatch)
    assert models.image_model_spec().name == "resnet50" and models.TEXT_MODELS[tlcourse.get_profile()] == "bert_base_uncased"
    assert models.text_pooling() == "cls"  # BERT-base classifies from [CLS]


def test_doctor_reports_the_gpu(monkeypatch, capsys):
    _pretend_a_t4(monkeypatch)
    cli.doctor()
    out = capsys.readouterr().out
    assert "device  : cuda (Tesla T4)" in out and "profile : full" in out


def test_image_task_follows_the_profile_in_quick(monkeypatch):
    monkeypatch.setenv("TLCOURSE_PROFILE", "quick")
    task = data.image_task()
    assert task.name == "mnist" and task.image_size == models.image_model_spec().image_size


class _DecodedPerItem(torch.utils.data.Dataset):
    """A data set that does work per item (like decoding a file): the kind that loader workers are for."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.zeros(3, 4, 4), index % 2


def test_loader_worker_processes_only_feed_a_gpu(monkeypatch):
    # Without a GPU the workers would compete for the cores that run the model (measured: 1,000 images at 128 px
    # through EfficientNet-Lite0 took 13 s with 0 workers and 13 s with 2), and forking a Jupyter kernel's threads
    # can deadlock: a smoke run of 04 hung for 15 minutes in CI with 2 workers.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert data.make_loader(_DecodedPerItem(), 4).num_workers == 0
    _pretend_a_t4(monkeypatch)
    assert data.make_loader(_DecodedPerItem(), 4).num_workers == min(8, os.cpu_count() or 1)
    assert data.make_loader(_DecodedPerItem(), 4, workers=0).num_workers == 0  # an explicit choice still wins
