"""Stand-ins for every full-profile download, in the real on-disk format and the real place.

CI has no internet, so the full profile (ResNet-50, BERT-base, CIFAR-10, MNIST, SST-2) cannot download
anything here. These writers leave exactly the files a real download would leave, where it would leave them,
with random weights and random pixels: the course's own code then finds them through the asset registry and
runs unchanged. Only torchvision's md5 check of CIFAR-10 is switched off (a stand-in's bytes differ), by an
IPython start-up file for the notebook kernels (see :func:`write_kernel_startup`).

Used by ``tests/test_full_profile_notebooks.py``; on a GPU machine, ``python tests/stand_ins.py DIR --real-size``
writes full-size stand-ins and prints the environment to run the notebooks with.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import torch

from tlcourse import data

BERT_REPO = "google-bert/bert-base-uncased"
SNAPSHOT = "0" * 40  # the commit folder name in the hub cache; any 40 hex digits do
REAL_SIZES = dict(cifar10_per_batch=10_000, mnist_train=60_000, mnist_test=10_000, sst2_train=67_349)
SMALL_SIZES = dict(cifar10_per_batch=1_400, mnist_train=6_000, mnist_test=1_000, sst2_train=7_000)


def environment(root: Path) -> dict[str, str]:
    """The variables that make the course, torch and Hugging Face look for their files under ``root``."""
    return {
        "TLCOURSE_PROFILE": "full",
        "TLCOURSE_STAND_INS": "1",
        "TLCOURSE_DATA": str(root / "data"),
        "TORCH_HOME": str(root / "torch"),
        "HF_HOME": str(root / "huggingface"),
        "HF_HUB_OFFLINE": "1",
        "IPYTHONDIR": str(root / "ipython"),
    }


def write_resnet50(root: Path) -> Path:
    """Random ResNet-50 weights under the file name ``ResNet50_Weights.IMAGENET1K_V2`` downloads to."""
    from torchvision.models import ResNet50_Weights, resnet50

    target = root / "torch" / "hub" / "checkpoints" / Path(ResNet50_Weights.IMAGENET1K_V2.url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(resnet50(weights=None).state_dict(), target)
    return target


def write_cifar10(root: Path, per_batch: int) -> Path:
    """CIFAR-10's python version (five training batches, one test batch, pickled) with random pixels."""
    folder = root / "data" / "torchvision" / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"batch_label": name, "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist(), "filenames": [f"{i}.png" for i in range(per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": data.CIFAR10_CLASSES, "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return folder


def _write_idx(path: Path, array: np.ndarray) -> None:
    """MNIST's IDX format: a magic number giving the type (unsigned byte) and rank, the sizes, the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, n_train: int, n_test: int) -> Path:
    """MNIST's four raw IDX files where torchvision's ``MNIST`` keeps them, with random digits."""
    folder = root / "data" / "torchvision" / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for prefix, n in [("train", n_train), ("t10k", n_test)]:
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return folder


def write_bert(root: Path, real_size: bool = False, tokenizer_from: str | None = None) -> Path:
    """A BERT with BERT-base's uncased vocabulary and 12 layers in the Hugging Face hub cache, as
    ``snapshot_download("google-bert/bert-base-uncased")`` leaves it. Small (hidden size 32) unless
    ``real_size``, when it has BERT-base's exact shape (110 M parameters, random). The tokenizer is MiniLM's
    (the quick profile's model, which uses BERT's uncased vocabulary) or one saved in ``tokenizer_from``."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from tlcourse import models

    repo = root / "huggingface" / "hub" / f"models--{BERT_REPO.replace('/', '--')}"
    snapshot = repo / "snapshots" / SNAPSHOT
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(SNAPSHOT)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from or models.text_model_path("quick"))
    shape = {} if real_size else dict(hidden_size=32, num_attention_heads=2, intermediate_size=64)
    config = BertConfig(vocab_size=tokenizer.vocab_size, num_hidden_layers=12, **shape)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    return snapshot


def write_sst2(root: Path, n_train: int) -> Path:
    """SST-2 as ``load_dataset("nyu-mll/glue", "sst2").save_to_disk`` stores it (GLUE's hidden test labels
    are -1), with sentences of random words."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    words = "a the film movie story great dull funny long boring charming mess wonderful slow clever".split()
    rng = np.random.default_rng(2)
    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"]),
                         "idx": Value("int32")})

    def split(n: int, labelled: bool = True) -> Dataset:
        sentences = [" ".join(rng.choice(words, rng.integers(3, 20))) for _ in range(n)]
        labels = rng.integers(0, 2, n).tolist() if labelled else [-1] * n
        return Dataset.from_dict({"sentence": sentences, "label": labels, "idx": list(range(n))}, features=features)

    target = root / "data" / "hf_datasets" / "sst2"
    DatasetDict({"train": split(n_train), "validation": split(872), "test": split(1821, False)}).save_to_disk(target)
    return target


KERNEL_STARTUP = '''\
# Written by tests/stand_ins.py: the CIFAR-10 stand-in has the right format but other bytes than the real files.
import torchvision.datasets.cifar

torchvision.datasets.cifar.CIFAR10._check_integrity = lambda self: True
torchvision.datasets.cifar.check_integrity = lambda path, md5=None: True  # batches.meta
'''


def write_kernel_startup(root: Path) -> Path:
    """An IPython start-up file (found through ``IPYTHONDIR``) that accepts the CIFAR-10 stand-in's checksums."""
    target = root / "ipython" / "profile_default" / "startup" / "00-stand-ins.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(KERNEL_STARTUP)
    return target


def write_all(root: Path, real_size: bool = False, tokenizer_from: str | None = None) -> dict[str, str]:
    """Write every stand-in under ``root``; return the environment that points the course at them."""
    sizes = REAL_SIZES if real_size else SMALL_SIZES
    write_resnet50(root)
    write_cifar10(root, sizes["cifar10_per_batch"])
    write_mnist(root, sizes["mnist_train"], sizes["mnist_test"])
    write_bert(root, real_size, tokenizer_from)
    write_sst2(root, sizes["sst2_train"])
    write_kernel_startup(root)
    return environment(root)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--real-size", action="store_true", help="data sets and BERT at their real sizes")
    parser.add_argument("--tokenizer", help="a folder with a saved BERT uncased tokenizer (where MiniLM is missing)")
    args = parser.parse_args()
    for name, value in write_all(args.root.resolve(), args.real_size, args.tokenizer).items():
        print(f"export {name}={value}")
