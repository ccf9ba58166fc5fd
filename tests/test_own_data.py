"""Loading your own data: a folder of images (any size and mode, bad files among them) and a CSV of texts."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tlcourse import data


def write_images(folder, n, mode, size, fmt="PNG", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    for i in range(n):
        pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8).squeeze()
        Image.fromarray(pixels, mode).save(folder / f"{mode}_{i}.{fmt.lower()}", fmt)


@pytest.fixture
def mixed_folder(tmp_path):
    root = tmp_path / "photos"
    write_images(root / "cats", 6, "RGB", (40, 30), "JPEG")
    write_images(root / "cats", 4, "L", (17, 50), "PNG", seed=1)
    write_images(root / "dogs", 5, "RGBA", (90, 90), "PNG", seed=2)
    write_images(root / "dogs", 5, "RGB", (64, 20), "PNG", seed=3)
    (root / "dogs" / "notes.txt").write_text("not an image")
    good = (root / "cats" / "RGB_0.jpeg").read_bytes()
    (root / "cats" / "broken.jpeg").write_bytes(good[:len(good) // 3])  # a truncated JPEG
    return root


def test_image_folder_mixed_sizes_and_modes_bad_files_skipped_and_listed(mixed_folder):
    task = data.image_folder_task(mixed_folder, image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3,
                                  val_fraction=0.2, test_fraction=0.2)
    assert task.classes == ["cats", "dogs"]
    assert task.report.counts == {"cats": 10, "dogs": 10}
    assert sorted(s.split(" ")[0] for s in task.report.skipped) == ["cats/broken.jpeg", "dogs/notes.txt"]
    assert "skipped 2" in str(task.report)
    assert len(task.train) + len(task.val) + len(task.test) == 20
    assert len(task.test) == 4 and sorted(task.test.targets) == [0, 0, 1, 1]  # stratified
    for dataset in (task.train, task.val, task.test):
        for i in range(len(dataset)):
            image, label = dataset[i]
            assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label in (0, 1)
    train_paths = set(map(str, task.train.paths))
    assert train_paths.isdisjoint(map(str, task.test.paths)) and train_paths.isdisjoint(map(str, task.val.paths))


def test_image_folder_split_is_reproducible_and_depends_on_seed(mixed_folder):
    first, again = (data.image_folder_task(mixed_folder, 32, seed=0) for _ in range(2))
    other = data.image_folder_task(mixed_folder, 32, seed=1)
    assert first.test.paths == again.test.paths
    assert first.train.paths != other.train.paths


def test_image_folder_existing_split_is_respected(tmp_path):
    for split, n in [("train", 6), ("val", 2), ("test", 3)]:
        for name in ("a", "b"):
            write_images(tmp_path / split / name, n, "RGB", (20, 20))
    task = data.image_folder_task(tmp_path, 16)
    assert (len(task.train), len(task.val), len(task.test)) == (12, 4, 6)
    assert all("/test/" in str(p) for p in task.test.paths)


def test_empty_class_is_a_clear_error(mixed_folder):
    (mixed_folder / "birds").mkdir()
    with pytest.raises(ValueError, match="too few examples in {'birds': 0}"):
        data.image_folder_task(mixed_folder, 32)


def test_single_class_folder_is_a_clear_error(tmp_path):
    write_images(tmp_path / "only", 10, "RGB", (20, 20))
    with pytest.raises(ValueError, match="1 class.*at least two"):
        data.image_folder_task(tmp_path, 32)


def test_imbalance_is_reported(tmp_path):
    write_images(tmp_path / "many", 20, "RGB", (20, 20))
    write_images(tmp_path / "few", 5, "RGB", (20, 20))
    task = data.image_folder_task(tmp_path, 16)
    assert task.report.imbalance == 4.0
    assert "4.0x" in str(task.report)


def test_in_memory_gives_the_same_items(mixed_folder):
    task = data.image_folder_task(mixed_folder, 32)
    decoded = data.in_memory(task.train)
    assert isinstance(decoded, torch.utils.data.TensorDataset)
    assert torch.equal(decoded[3][0], task.train[3][0]) and int(decoded[3][1]) == task.train[3][1]
    assert data.in_memory(task.train, max_bytes=10) is task.train


def test_csv_with_string_labels_empty_texts_and_missing_labels(tmp_path):
    rows = [(f"a fine text number {i}", ["spam", "ham", "eggs"][i % 3]) for i in range(30)]
    rows += [("", "spam"), ("   ", "ham"), ("no label here", None), (None, "eggs")]
    path = tmp_path / "texts.csv"
    pd.DataFrame(rows, columns=["message", "kind"]).to_csv(path, index=False)
    task = data.csv_text_task(path, "message", "kind", val_fraction=0.2, test_fraction=0.2)
    assert task.classes == ["eggs", "ham", "spam"]
    assert task.report.counts == {"eggs": 10, "ham": 10, "spam": 10}
    assert task.report.skipped == ["3 row(s) with an empty text", "1 row(s) without a label"]
    texts = task.train_texts + task.val_texts + task.test_texts
    assert len(texts) == 30 and all(t.startswith("a fine text") for t in texts)
    assert sorted(task.test_labels) == [0, 0, 1, 1, 2, 2]
    for text, label in zip(task.train_texts, task.train_labels):
        assert ["spam", "ham", "eggs"][int(text.split()[-1]) % 3] == task.classes[label]


def test_csv_with_integer_labels_sorts_them_as_numbers(tmp_path):
    path = tmp_path / "numbers.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(30)], "label": [[2, 10, 1][i % 3] for i in range(30)]}).to_csv(
        path, index=False)
    task = data.csv_text_task(path)
    assert task.classes == ["1", "2", "10"]


def test_csv_missing_column_is_named(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"text": ["a"] * 10, "y": [0, 1] * 5}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no column \\['label'\\].*'y'"):
        data.csv_text_task(path)
