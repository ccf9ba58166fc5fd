"""Your own data: a folder of images or a CSV of labelled texts, as a task with train, validation and test splits.

:func:`image_folder_task` reads the ImageFolder layout (one folder per class, with or without train/val/test
folders above them) and :func:`csv_text_task` a spreadsheet of texts and labels; both report what they found and
what they skipped, and explain in a sentence what to fix when the data cannot be used. :func:`write_demo_image_folder`
and :func:`write_demo_csv` write the course's offline data in those layouts, so the capstone runs anywhere.

The profile's own data sets and the loaders are in :mod:`tlcourse.data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .data import (DIGIT_CLASSES, ImageTask, TextTask, blend_with_photos, labelled_subset, mnist_digits,
                   rotten_tomatoes, to_model_input)
from .profiles import image_model_spec

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
