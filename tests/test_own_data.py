"""Loading your own data: a folder of images (any size and mode, bad files among them) and a CSV of texts."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tlcourse import data, own_data
from tlcourse.recipe import Recipe


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
    task = own_data.image_folder_task(mixed_folder, image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3,
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
    first, again = (own_data.image_folder_task(mixed_folder, 32, seed=0) for _ in range(2))
    other = own_data.image_folder_task(mixed_folder, 32, seed=1)
    assert first.test.paths == again.test.paths
    assert first.train.paths != other.train.paths


def test_image_folder_existing_split_is_respected(tmp_path):
    for split, n in [("train", 6), ("val", 2), ("test", 3)]:
        for name in ("a", "b"):
            write_images(tmp_path / split / name, n, "RGB", (20, 20))
    task = own_data.image_folder_task(tmp_path, 16)
    assert (len(task.train), len(task.val), len(task.test)) == (12, 4, 6)
    assert all("/test/" in str(p) for p in task.test.paths)


def test_empty_class_is_a_clear_error(mixed_folder):
    (mixed_folder / "birds").mkdir()
    with pytest.raises(ValueError, match="too few examples in {'birds': 0}"):
        own_data.image_folder_task(mixed_folder, 32)


def test_single_class_folder_is_a_clear_error(tmp_path):
    write_images(tmp_path / "only", 10, "RGB", (20, 20))
    with pytest.raises(ValueError, match="1 class.*at least two"):
        own_data.image_folder_task(tmp_path, 32)


def test_imbalance_is_reported(tmp_path):
    write_images(tmp_path / "many", 20, "RGB", (20, 20))
    write_images(tmp_path / "few", 5, "RGB", (20, 20))
    task = own_data.image_folder_task(tmp_path, 16)
    assert task.report.imbalance == 4.0
    assert "4.0x" in str(task.report)


def test_in_memory_gives_the_same_items(mixed_folder):
    task = own_data.image_folder_task(mixed_folder, 32)
    decoded = data.in_memory(task.train)
    assert isinstance(decoded, torch.utils.data.TensorDataset)
    assert torch.equal(decoded[3][0], task.train[3][0]) and int(decoded[3][1]) == task.train[3][1]
    assert data.in_memory(task.train, max_bytes=10) is task.train


def test_csv_with_string_labels_empty_texts_and_missing_labels(tmp_path):
    rows = [(f"a fine text number {i}", ["spam", "ham", "eggs"][i % 3]) for i in range(30)]
    rows += [("", "spam"), ("   ", "ham"), ("no label here", None), (None, "eggs")]
    path = tmp_path / "texts.csv"
    pd.DataFrame(rows, columns=["message", "kind"]).to_csv(path, index=False)
    task = own_data.csv_text_task(path, "message", "kind", val_fraction=0.2, test_fraction=0.2)
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
    task = own_data.csv_text_task(path)
    assert task.classes == ["1", "2", "10"]


def test_csv_missing_column_is_named(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"text": ["a"] * 10, "y": [0, 1] * 5}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no column \\['label'\\].*'y'"):
        own_data.csv_text_task(path)


# --- text CSVs: nothing silent, nothing lost (issue 34) -------------------------------------------------------------


def write_csv(path, rows, header="text,label", sep=",", encoding="utf-8"):
    """A CSV written by hand, byte for byte as a learner's spreadsheet might save it."""
    path.write_bytes((header + "\n" + "\n".join(sep.join(row) for row in rows) + "\n").encode(encoding))
    return path


def _all_texts(task):
    return task.train_texts + task.val_texts + task.test_texts


def test_csv_labels_differing_only_by_surrounding_spaces_are_one_class(tmp_path):
    rows = [(f"text {i}", ["pos", " pos", "pos ", "neg"][i % 4]) for i in range(24)]
    task = own_data.csv_text_task(write_csv(tmp_path / "spaces.csv", rows))
    assert task.classes == ["neg", "pos"]
    assert task.report.counts == {"neg": 6, "pos": 18}


def test_csv_labels_differing_only_by_case_are_merged_and_reported(tmp_path):
    rows = [(f"text {i}", ["pos", "Pos", "pos", "neg"][i % 4]) for i in range(24)]
    task = own_data.csv_text_task(write_csv(tmp_path / "case.csv", rows))
    assert task.classes == ["neg", "pos"]  # the most frequent spelling names the class
    assert task.report.counts == {"neg": 6, "pos": 18}
    message = str(task.report)
    assert "'Pos'" in message and "'pos'" in message and "case_sensitive_labels=True" in message


def test_csv_case_sensitive_labels_keeps_case_variants_apart_and_says_so(tmp_path):
    rows = [(f"text {i}", ["pos", "Pos", "neg"][i % 3]) for i in range(30)]
    task = own_data.csv_text_task(write_csv(tmp_path / "case.csv", rows), case_sensitive_labels=True)
    assert task.classes == ["Pos", "neg", "pos"]
    assert "'Pos'" in str(task.report) and "apart" in str(task.report)


def test_csv_label_codes_01_and_1_stay_apart_and_are_reported(tmp_path):
    rows = [(f"text {i}", ["01", "1", "2", "10"][i % 4]) for i in range(24)]
    task = own_data.csv_text_task(write_csv(tmp_path / "codes.csv", rows))
    assert task.classes == ["01", "1", "2", "10"]  # numbers in numeric order, read as text
    assert task.report.counts == {"01": 6, "1": 6, "2": 6, "10": 6}
    assert "'01'" in str(task.report) and "'1'" in str(task.report)


def test_csv_true_false_labels_are_text_classes(tmp_path):
    rows = [(f"text {i}", ["True", "False"][i % 2]) for i in range(20)]
    task = own_data.csv_text_task(write_csv(tmp_path / "bools.csv", rows))
    assert task.classes == ["False", "True"]
    assert all(task.classes[y] == ["True", "False"][int(t.split()[1]) % 2]
               for t, y in zip(task.train_texts, task.train_labels))


def test_csv_in_latin1_names_file_and_byte_and_reads_with_encoding(tmp_path):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(20)] + [("un caf\xe9 cr\xe8me", "pos")]
    path = write_csv(tmp_path / "latin.csv", rows, encoding="latin-1")
    with pytest.raises(ValueError) as error:
        own_data.csv_text_task(path)
    message = str(error.value)
    offset = path.read_bytes().index(b"\xe9")
    assert "latin.csv" in message and f"byte {offset}" in message and 'encoding="latin-1"' in message
    assert "un café crème" in _all_texts(own_data.csv_text_task(path, encoding="latin-1"))


def test_csv_separated_by_semicolons_suggests_sep(tmp_path):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(20)]
    path = write_csv(tmp_path / "semi.csv", rows, header="text;label", sep=";")
    with pytest.raises(ValueError, match=r"semi\.csv.*'text;label'.*sep=\";\""):
        own_data.csv_text_task(path)
    assert own_data.csv_text_task(path, sep=";").classes == ["neg", "pos"]


def test_csv_duplicate_texts_are_dropped_before_the_split_and_counted(tmp_path):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(20)]
    rows += [("text 3", "pos"), ("  text 3 ", "pos"), ("text 4", "neg")]
    task = own_data.csv_text_task(write_csv(tmp_path / "dups.csv", rows))
    texts = _all_texts(task)
    assert sorted(texts) == sorted(f"text {i}" for i in range(20))  # each text once, so in one split only
    assert task.report.counts == {"neg": 10, "pos": 10}
    assert "3 duplicate" in str(task.report)


def test_csv_same_text_with_different_labels_is_reported_and_left_out(tmp_path):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(20)] + [("so so", "pos"), ("so so", "neg")]
    task = own_data.csv_text_task(write_csv(tmp_path / "conflict.csv", rows))
    assert "so so" not in _all_texts(task)
    assert any("'so so'" in s and "different labels" in s for s in task.report.skipped)


def test_csv_missing_value_spellings_are_counted_and_named(tmp_path):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(20)]
    rows += [("a", "NA"), ("b", "NA"), ("c", "None"), ("NA", "pos"), ("", "neg")]
    task = own_data.csv_text_task(write_csv(tmp_path / "na.csv", rows))
    assert task.report.counts == {"neg": 10, "pos": 10}
    assert "3 row(s) without a label (read as missing: 'NA' 2, 'None' 1)" in task.report.skipped
    assert "2 row(s) with an empty text (read as missing: 'NA' 1)" in task.report.skipped


def test_csv_column_header_with_spaces_is_found_and_case_mismatch_is_suggested(tmp_path):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(20)]
    spaced = write_csv(tmp_path / "spaced.csv", [(t, " " + y) for t, y in rows], header="review, verdict")
    assert own_data.csv_text_task(spaced, "review", "verdict").classes == ["neg", "pos"]
    capital = write_csv(tmp_path / "capital.csv", rows, header="Review,Verdict")
    with pytest.raises(ValueError, match=r"capital\.csv.*'verdict'.*did you mean 'Verdict'"):
        own_data.csv_text_task(capital, "Review", "verdict")


def test_csv_same_column_for_text_and_label_is_refused(tmp_path):
    path = write_csv(tmp_path / "same.csv", [(f"text {i}", "pos") for i in range(20)])
    with pytest.raises(ValueError, match="same column"):
        own_data.csv_text_task(path, "text", "text")


def test_csv_label_column_holding_free_text_is_named(tmp_path):
    path = write_csv(tmp_path / "swapped.csv", [(f"text {i}", "pos" if i % 2 else "neg") for i in range(40)])
    with pytest.raises(ValueError, match=r"swapped\.csv.*40 distinct labels.*label_column"):
        own_data.csv_text_task(path, "label", "text")


def test_csv_row_with_unquoted_separator_names_the_line(tmp_path):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(20)]
    for at in (0, 5):  # the first data row (pandas would silently take it as an index) and a later one
        bad = rows[:at] + [("great", " fun", "pos")] + rows[at:]
        path = write_csv(tmp_path / f"ragged{at}.csv", bad)
        with pytest.raises(ValueError, match=rf"ragged{at}\.csv.*line {at + 2}.*3 fields.*quote"):
            own_data.csv_text_task(path)


def test_csv_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv.*empty"):
        own_data.csv_text_task(path)



def test_csv_with_a_header_and_no_rows_is_named(tmp_path):
    path = write_csv(tmp_path / "header_only.csv", [])
    with pytest.raises(ValueError, match=r"header_only\.csv.*no rows"):
        own_data.csv_text_task(path)


def test_csv_too_few_classes_after_drops_says_what_was_dropped(tmp_path):
    rows = [(f"text {i}", "pos" if i % 2 else "NA") for i in range(20)]
    with pytest.raises(ValueError, match=r"1 class.*10 row\(s\) without a label \(read as missing: 'NA' 10\)"):
        own_data.csv_text_task(write_csv(tmp_path / "na_class.csv", rows))


# --- own image folders and recipes: nothing silent, nothing lost (issue 34) -----------------------------------------


def write_grey(path, pixels):
    """One grey image of any depth (uint16 -> 16-bit PNG, int32 -> 32-bit TIFF, float32 -> float TIFF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def split_layout(root, counts):
    """``{split: {class: n}}`` -> ``root/<split>/<class>/<n images>``."""
    for split, per_class in counts.items():
        for name, n in per_class.items():
            write_images(root / split / name, n, "RGB", (12, 12), seed=hash((split, name)) % 1000)
    return root


def test_16_bit_png_is_scaled_to_the_8_bit_range_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    path = write_grey(tmp_path / "ramp16.png", ramp)
    assert Image.open(path).mode == "I;16"
    image = own_data.load_image_file(path, 32, (0.0,) * 3, (1.0,) * 3)
    assert float((image >= 0.999).float().mean()) < 0.01  # was 0.996: all but the darkest pixels white
    assert torch.allclose(image[0], torch.from_numpy(ramp / 65535).float(), atol=1 / 255)


def test_32_bit_integer_and_float_images_are_scaled_or_skipped_with_the_reason(tmp_path):
    ramp = np.linspace(0, 1, 16 * 16).reshape(16, 16)
    write_grey(tmp_path / "int32.tif", (ramp * 65535).astype(np.int32))  # how Pillow opens many 16-bit files
    write_grey(tmp_path / "float.tif", ramp.astype(np.float32))
    for name in ("int32.tif", "float.tif"):
        image = own_data.load_image_file(tmp_path / name, 16, (0.0,) * 3, (1.0,) * 3)
        assert torch.allclose(image[0], torch.from_numpy(ramp).float(), atol=1 / 255), name
    root = tmp_path / "folder"
    for name in ("a", "b"):
        write_images(root / name, 8, "RGB", (12, 12))
    write_grey(root / "a" / "metres.tif", (ramp * 300).astype(np.float32))  # not pixels: a depth map in metres
    task = own_data.image_folder_task(root, 16)
    assert task.report.counts == {"a": 8, "b": 8}
    assert len(task.report.skipped) == 1 and task.report.skipped[0].startswith("a/metres.tif (")
    assert "0.00..300.00" in task.report.skipped[0]


def test_train_test_layout_carves_validation_out_of_train_and_says_so(tmp_path):
    root = split_layout(tmp_path, {"train": {"cats": 10, "dogs": 10}, "test": {"cats": 3, "dogs": 3}})
    task = own_data.image_folder_task(root, 16, val_fraction=0.2)
    assert task.classes == ["cats", "dogs"]  # not ['test', 'train']
    assert len(task.test) == 6 and all("/test/" in str(p) for p in task.test.paths)
    assert sorted(task.val.targets) == [0, 0, 1, 1] and all("/train/" in str(p) for p in task.val.paths)
    assert len(task.train) == 16 and set(map(str, task.train.paths)).isdisjoint(map(str, task.val.paths))
    assert "train/ and test/" in str(task.report) and "validation carved out of train/" in str(task.report)


def test_train_valid_test_layout_is_used_as_given_and_train_val_gets_a_test_split(tmp_path):
    given = split_layout(tmp_path / "given", {"train": {"a": 6, "b": 6}, "valid": {"a": 2, "b": 2},
                                              "test": {"a": 3, "b": 3}})
    task = own_data.image_folder_task(given, 16)
    assert task.classes == ["a", "b"] and (len(task.train), len(task.val), len(task.test)) == (12, 4, 6)
    assert all("/valid/" in str(p) for p in task.val.paths) and "train/, valid/ and test/" in str(task.report)
    no_test = split_layout(tmp_path / "no_test", {"Train": {"a": 10, "b": 10}, "validation": {"a": 2, "b": 2}})
    task = own_data.image_folder_task(no_test, 16, test_fraction=0.2)
    assert task.classes == ["a", "b"] and sorted(task.test.targets) == [0, 0, 1, 1]
    assert all("/Train/" in str(p) for p in task.test.paths) and "test carved out of Train/" in str(task.report)


def test_a_lone_train_folder_is_split_and_a_class_named_train_stays_a_class(tmp_path):
    lone = split_layout(tmp_path / "lone", {"train": {"a": 10, "b": 10}})
    task = own_data.image_folder_task(lone, 16, val_fraction=0.2, test_fraction=0.2)
    assert task.classes == ["a", "b"] and sorted(task.test.targets) == [0, 0, 1, 1]
    assert "validation and test carved out of train/" in str(task.report)
    vehicles = tmp_path / "vehicles"
    for name in ("bus", "car", "train"):
        write_images(vehicles / name, 8, "RGB", (12, 12))
    task = own_data.image_folder_task(vehicles, 16)
    assert task.classes == ["bus", "car", "train"] and "one folder per class" in str(task.report)


def test_class_folders_differing_only_in_letter_case_are_noted(tmp_path):
    for name in ("Cats", "cats", "dogs"):
        write_images(tmp_path / name, 8, "RGB", (12, 12))
    task = own_data.image_folder_task(tmp_path, 16)
    assert task.classes == ["Cats", "cats", "dogs"]
    assert "note: the class folders 'Cats', 'cats' differ only in letter case" in str(task.report)


def test_held_out_fractions_are_checked_first(mixed_folder):
    with pytest.raises(ValueError, match=r"val_fraction=0: .*between 0 and 1"):
        own_data.image_folder_task(mixed_folder, 16, val_fraction=0)
    with pytest.raises(ValueError, match=r"val_fraction=0.5 and test_fraction=0.5 leave no images to train on"):
        own_data.image_folder_task(mixed_folder, 16, val_fraction=0.5, test_fraction=0.5)


def test_a_split_layout_without_train_or_with_two_validation_folders_is_refused(tmp_path):
    split_layout(tmp_path / "no_train", {"val": {"a": 6, "b": 6}, "test": {"a": 6, "b": 6}})
    with pytest.raises(ValueError, match="no train.*folder"):
        own_data.image_folder_task(tmp_path / "no_train", 16)
    split_layout(tmp_path / "two", {"train": {"a": 6, "b": 6}, "val": {"a": 2, "b": 2}, "valid": {"a": 2, "b": 2}})
    with pytest.raises(ValueError, match="'val'.*'valid'"):
        own_data.image_folder_task(tmp_path / "two", 16)


def test_a_folder_beside_the_split_folders_is_listed_not_silently_ignored(tmp_path):
    root = split_layout(tmp_path, {"train": {"a": 6, "b": 6}, "val": {"a": 2, "b": 2}, "test": {"a": 3, "b": 3},
                                   "unsorted": {"misc": 4}})
    task = own_data.image_folder_task(root, 16)
    assert task.classes == ["a", "b"]
    assert any(s.startswith("unsorted/ (") for s in task.report.skipped)


def test_a_class_with_no_training_images_is_refused_naming_it_and_its_folders(tmp_path):
    root = split_layout(tmp_path, {"train": {"a": 6, "b": 6}, "val": {"a": 2, "b": 2, "c": 2},
                                   "test": {"a": 3, "b": 3, "c": 3}})
    with pytest.raises(ValueError, match=r"'c'.*val/.*test/.*no images in train/"):
        own_data.image_folder_task(root, 16)


def test_a_class_missing_from_an_own_test_folder_is_noted_in_the_report(tmp_path):
    root = split_layout(tmp_path, {"train": {"a": 6, "b": 6}, "val": {"a": 2, "b": 2}, "test": {"a": 3}})
    task = own_data.image_folder_task(root, 16)
    assert task.classes == ["a", "b"]
    assert "'b' has no images in test/" in str(task.report)


def test_too_few_images_per_class_for_three_splits_says_how_many_are_needed(tmp_path):
    for k in range(8):  # 8 classes x 5 images: passed the minimum, then failed inside scikit-learn
        write_images(tmp_path / f"class{k}", 5, "RGB", (12, 12), seed=k)
    with pytest.raises(ValueError, match=r"at least 7 images per class.*class0.*class7"):
        own_data.image_folder_task(tmp_path, 16)
    task = own_data.image_folder_task(tmp_path, 16, val_fraction=0.2, test_fraction=0.2)  # 1 of 5 each: enough
    assert sorted(task.test.targets) == list(range(8)) and sorted(task.val.targets) == list(range(8))


def test_too_few_training_images_to_carve_a_validation_split_says_so(tmp_path):
    root = split_layout(tmp_path, {"train": {f"c{k}": 3 for k in range(8)}, "test": {f"c{k}": 2 for k in range(8)}})
    with pytest.raises(ValueError, match=r"train/.*at least 7 images per class"):
        own_data.image_folder_task(root, 16)


def test_images_outside_any_class_folder_are_listed(tmp_path):
    for name in ("a", "b"):
        write_images(tmp_path / name, 8, "RGB", (12, 12))
    write_images(tmp_path, 2, "RGB", (12, 12), seed=5)  # two images beside the class folders
    (tmp_path / ".DS_Store").write_bytes(b"\0")  # hidden system files stay unlisted
    task = own_data.image_folder_task(tmp_path, 16)
    assert sorted(task.report.skipped) == ["RGB_0.png (not in a class folder)", "RGB_1.png (not in a class folder)"]


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    pixels = np.zeros((40, 40, 3), dtype=np.uint8)
    pixels[:, 20:] = 255  # stored: left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: shown turned 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif.tobytes())
    image = own_data.load_image_file(tmp_path / "phone.jpg", 40, (0.0,) * 3, (1.0,) * 3)
    assert image[:, :20].mean() < 0.1 and image[:, 20:].mean() > 0.9  # shown: top half black, bottom white


# recipes: a setting that cannot work is refused at the boundary, before any model is built


def tiny_image_task(n=40, classes=("a", "b")):
    images, labels = torch.randn(n, 3, 8, 8), torch.arange(n) % len(classes)
    split = torch.utils.data.TensorDataset(images, labels)
    return data.ImageTask(name="tiny", train=split, val=split, test=split, classes=list(classes), image_size=8,
                          mean=(0.5,) * 3, std=(0.5,) * 3)


@pytest.fixture
def nothing_trains(monkeypatch):
    from tlcourse import experiments, models, strategy

    def fail(*args, **kwargs):
        raise AssertionError("a model was built: the setting was not checked first")

    for module, name in [(strategy, "new_model"), (models, "image_classifier"), (models, "text_classifier")]:
        monkeypatch.setattr(module, name, fail)
    return strategy, experiments


@pytest.mark.parametrize("candidates, message", [
    ((), r"candidates=\(\).*probe, head, full"),
    (("probe", "ful"), r"candidates.*'ful'.*probe.*head.*full"),
    ("probe", r"candidates='probe'.*list"),
    (("probe", "last_k"), r"learning_rates=\{'last_k': ...\}"),
])
def test_choose_strategy_refuses_unusable_candidates(nothing_trains, candidates, message):
    strategy, _ = nothing_trains
    with pytest.raises(ValueError, match=message):
        strategy.choose_strategy(tiny_image_task(), candidates=candidates, verbose=False)


@pytest.mark.parametrize("rates, message", [
    ({"ful": 1e-3}, r"learning_rates.*'ful'.*head, full"),
    ({"full": 0}, r"learning rate.*'full'.*0.*positive"),
    ({"head": -1e-3}, r"learning rate.*-0.001"),
])
def test_choose_strategy_refuses_unusable_learning_rates(nothing_trains, rates, message):
    strategy, _ = nothing_trains
    with pytest.raises(ValueError, match=message):
        strategy.choose_strategy(tiny_image_task(), learning_rates=rates, verbose=False)


def test_empty_or_non_positive_learning_rate_lists_are_refused(nothing_trains):
    strategy, experiments = nothing_trains
    task = tiny_image_task()
    with pytest.raises(ValueError, match=r"learning_rates=\[\].*at least one"):
        strategy.from_scratch(task, learning_rates=[], verbose=False)
    with pytest.raises(ValueError, match=r"learning_rates=\[\].*at least one"):
        experiments.choose_learning_rate(task, Recipe(), [], val_loader=None, n_labels=10)
    with pytest.raises(ValueError, match=r"learning_rates=\[0.001, 0\].*positive"):
        experiments.choose_learning_rate(task, Recipe(), [0.001, 0], val_loader=None, n_labels=10)


@pytest.mark.parametrize("strengths, message", [([], r"strengths=\[\].*at least one"),
                                                ([1.0, 0.0], r"strengths=\[1.0, 0.0\].*positive")])
def test_the_c_grid_of_the_baselines_and_the_probe_is_checked(nothing_trains, strengths, message):
    strategy, _ = nothing_trains
    task = tiny_image_task()
    with pytest.raises(ValueError, match=message):
        strategy.simple_baseline(task, strengths=strengths)
    with pytest.raises(ValueError, match=message):
        strategy.simple_baseline_over_seeds(task, 10, [0], strengths=strengths)
    with pytest.raises(ValueError, match=message):
        strategy.try_probe(task, strengths=strengths)


@pytest.mark.parametrize("n_labels, message", [(0, r"n_labels=0.*at least 2"), (1, r"n_labels=1.*2 classes"),
                                               (41, r"n_labels=41.*40"), (2.5, r"n_labels=2.5.*whole number")])
def test_n_labels_that_cannot_train_every_class_are_refused(nothing_trains, n_labels, message):
    strategy, experiments = nothing_trains
    task = tiny_image_task()
    with pytest.raises(ValueError, match=message):
        experiments.run(task, Recipe(), n_labels=n_labels)
    with pytest.raises(ValueError, match=message):
        strategy.simple_baseline_over_seeds(task, n_labels, [0])


def test_unknown_strategy_epochs_and_empty_seeds_are_refused_before_a_model_is_built(nothing_trains):
    strategy, experiments = nothing_trains
    task = tiny_image_task()
    with pytest.raises(ValueError, match=r"strategy='ful'.*head, last_k, full"):
        experiments.run(task, Recipe(strategy="ful"), n_labels=10)
    with pytest.raises(ValueError, match=r"epochs=0.*whole number >= 1"):
        experiments.run(task, Recipe(epochs=0), n_labels=10)
    with pytest.raises(ValueError, match=r"strategy='ful'"):
        experiments.run(data.TextTask(name="t", train_texts=["x"] * 4, train_labels=[0, 1] * 2, test_texts=["x"],
                                      test_labels=[0]), Recipe(strategy="ful"))
    with pytest.raises(ValueError, match=r"seeds=\[\].*at least one"):
        experiments.accuracy_over_seeds(task, Recipe(), [], test_loader=None, n_labels=10)
    with pytest.raises(ValueError, match=r"seeds=\[\].*at least one"):
        strategy.simple_baseline_over_seeds(task, 10, [])
    with pytest.raises(ValueError, match=r"epochs=0"):
        strategy.choose_strategy(task, epochs=0, verbose=False)


def test_one_run_for_images_and_text_says_what_a_text_run_needs(nothing_trains):
    _, experiments = nothing_trains
    text = data.TextTask(name="t", train_texts=["x"] * 4, train_labels=[0, 1] * 2, test_texts=["x"], test_labels=[0])
    with pytest.raises(ValueError, match="all of the task's training texts"):
        experiments.run(text, Recipe(), n_labels=2)
    with pytest.raises(ValueError, match=r"model=\(model, tokenizer\)"):
        experiments.run(text, Recipe(), model=torch.nn.Linear(2, 2))
