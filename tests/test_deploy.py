"""A model you can keep: save -> load -> classify, the probe folded into a head, refusals that explain."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from tlcourse import data, deploy, models, own_data, strategy, training


def image_task(tmp_path, n=4):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (30 + i, 40, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    images = own_data.FolderImages(paths, [0, 1, 2, 0][:n], 32, (0.5,) * 3, (0.5,) * 3)
    task = own_data.FolderImageTask(name="mine", train=images, test=images, classes=["ant", "bee", "cow"], image_size=32,
                                mean=(0.5,) * 3, std=(0.5,) * 3)
    return task, paths


def test_saved_image_classifier_predicts_like_the_model_in_memory(tmp_path):
    task, paths = image_task(tmp_path)
    torch.manual_seed(0)
    model = models.image_classifier(3, pretrained=False).eval()
    batch = torch.stack([task.train[i][0] for i in range(len(paths))])
    with torch.no_grad():
        expected = model(batch).softmax(dim=1)
    file = deploy.save_classifier(tmp_path / "mine.pt", model, task, {"val_accuracy": 0.9}, strategy="full")
    loaded = deploy.load_classifier(file)
    assert loaded.classes == ["ant", "bee", "cow"] and loaded.info["metrics"] == {"val_accuracy": 0.9}
    from_paths = deploy.classify(loaded, paths)
    from_pil = deploy.classify(loaded, [Image.open(p) for p in paths])
    assert [c for c, _ in from_paths] == [task.classes[i] for i in expected.argmax(dim=1)]
    assert np.allclose([p for _, p in from_paths], expected.max(dim=1).values.numpy(), atol=1e-5)
    assert from_pil == from_paths
    (single_class, single_p), = deploy.classify(loaded, paths[0])  # one path, not in a list
    assert single_class == from_paths[0][0] and single_p == pytest.approx(from_paths[0][1], abs=1e-5)


def test_saved_text_classifier_predicts_like_the_model_in_memory(tmp_path):
    torch.manual_seed(0)
    model, tokenizer = models.text_classifier(2, pretrained=False)
    task = own_data.CsvTextTask(name="reviews", train_texts=["good"], train_labels=[1], test_texts=["bad"], test_labels=[0],
                            classes=["neg", "pos"])
    texts = ["a wonderful film", "dull and far too long", "fine"]
    model.eval()
    with torch.no_grad():
        expected = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(dim=1)
    loaded = deploy.load_classifier(deploy.save_classifier(tmp_path / "text.pt", model, task))
    got = deploy.classify(loaded, texts)
    assert [c for c, _ in got] == [task.classes[i] for i in expected.argmax(dim=1)]
    assert np.allclose([p for _, p in got], expected.max(dim=1).values.numpy(), atol=1e-5)


def test_file_of_another_architecture_is_refused_clearly(tmp_path):
    task, _ = image_task(tmp_path)
    path = deploy.save_classifier(tmp_path / "x.pt", models.image_classifier(3, pretrained=False), task)
    saved = torch.load(path, weights_only=True)
    saved["state_dict"] = models.SmallCNN(3).state_dict()  # weights of another network under the same name
    torch.save(saved, path)
    with pytest.raises(ValueError, match="does not fit this model"):
        deploy.load_classifier(path)
    saved["info"]["model_name"] = "vgg16"
    torch.save(saved, path)
    with pytest.raises(ValueError, match="Unknown image model 'vgg16'"):
        deploy.load_classifier(path)


def test_newer_format_and_foreign_files_are_refused_clearly(tmp_path):
    task, _ = image_task(tmp_path)
    path = deploy.save_classifier(tmp_path / "x.pt", models.image_classifier(3, pretrained=False), task)
    saved = torch.load(path, weights_only=True)
    saved["info"]["format"] = deploy.FORMAT_VERSION + 1
    torch.save(saved, path)
    with pytest.raises(ValueError, match="file format 2.*upgrade tlcourse"):
        deploy.load_classifier(path)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a classifier saved by"):
        deploy.load_classifier(path)
    torch.save({"info": {"format": 1}, "state_dict": {}, "code": training.History()}, path)
    with pytest.raises(ValueError, match="not a classifier saved by"):  # weights_only refuses objects
        deploy.load_classifier(path)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_probe_folded_into_head_gives_the_probe_scores(num_classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    torch.manual_seed(0)
    model = models.image_classifier(num_classes, pretrained=False).eval()
    images, labels = torch.randn(24, 3, 32, 32), torch.arange(24) % num_classes
    loader = data.make_loader(TensorDataset(images, labels), 8)
    x, y = strategy.head_inputs(model, loader)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(x.numpy(), y.numpy())
    strategy.fold_probe_into_head(model, probe)
    logits, _ = training.predict(model, loader, precision="fp32")  # the folding's arithmetic, not bf16 rounding
    assert np.allclose(logits.softmax(dim=1).numpy(), probe.predict_proba(x.numpy()), atol=1e-4)


# --- issue 34: nothing silent, nothing lost -----------------------------------------------------------------


def predictions_of(model, batch, classes):
    """``(class, probability)`` the model in memory gives, to compare with a loaded file's."""
    model.eval()
    with torch.no_grad():
        probabilities, indices = model(batch).softmax(dim=1).max(dim=1)
    return [(classes[i], float(p)) for p, i in zip(probabilities, indices.tolist())]


def same_predictions(got, expected):
    return [c for c, _ in got] == [c for c, _ in expected] and np.allclose(
        [p for _, p in got], [p for _, p in expected], atol=1e-5)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet50"])
@pytest.mark.parametrize("profile_at_save", ["quick", "full"])
def test_image_classifier_round_trip_keeps_its_architecture_whatever_the_profile(tmp_path, monkeypatch, name,
                                                                                 profile_at_save):
    monkeypatch.setenv("TLCOURSE_PROFILE", profile_at_save)
    task, paths = image_task(tmp_path)
    torch.manual_seed(0)
    model = models.image_classifier(3, pretrained=False, name=name)
    expected = predictions_of(model, torch.stack([task.train[i][0] for i in range(len(paths))]), task.classes)
    file = deploy.save_classifier(tmp_path / "mine.pt", model, task, profile=profile_at_save)
    loaded = deploy.load_classifier(file)
    assert loaded.info["model_name"] == name
    assert same_predictions(deploy.classify(loaded, paths), expected)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_text_classifier_round_trip_keeps_its_model_when_saved_under_the_full_profile(tmp_path, monkeypatch, pooling):
    torch.manual_seed(0)
    model, tokenizer = models.text_classifier(2, pretrained=False, pooling=pooling)  # the quick profile's MiniLM
    texts = ["a wonderful film", "dull and far too long", "fine"]
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        expected = [("neg", "pos")[i] for i in model(**inputs).logits.argmax(dim=1).tolist()]
    task = own_data.CsvTextTask(name="reviews", train_texts=["good"], train_labels=[1], test_texts=["bad"], test_labels=[0],
                            classes=["neg", "pos"])
    monkeypatch.setenv("TLCOURSE_PROFILE", "full")  # bert_base_uncased: offline here, and not this model
    loaded = deploy.load_classifier(deploy.save_classifier(tmp_path / "text.pt", model, task, profile="full"))
    assert loaded.info["model_name"] == "minilm_l6"
    assert [c for c, _ in deploy.classify(loaded, texts)] == expected


def test_saving_again_keeps_the_earlier_model_and_returns_the_new_files_name(tmp_path):
    task, paths = image_task(tmp_path)
    torch.manual_seed(0)
    first = deploy.save_classifier(tmp_path / "mine.pt", models.image_classifier(3, pretrained=False), task)
    before = first.read_bytes()
    second = deploy.save_classifier(tmp_path / "mine.pt", models.image_classifier(3, pretrained=False), task)
    third = deploy.save_classifier(tmp_path / "mine.pt", models.image_classifier(3, pretrained=False), task)
    assert (first.name, second.name, third.name) == ("mine.pt", "mine-2.pt", "mine-3.pt")
    assert first.read_bytes() == before  # a re-run of a notebook never deletes what was saved
    assert deploy.load_classifier(second).classes == ["ant", "bee", "cow"]
    replaced = deploy.save_classifier(first, models.image_classifier(3, pretrained=False), task, overwrite=True)
    assert replaced == first and first.read_bytes() != before


def test_a_model_load_classifier_cannot_rebuild_is_refused_before_anything_is_written(tmp_path):
    task, _ = image_task(tmp_path)
    custom = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))
    with pytest.raises(ValueError, match=r"(?s)Sequential.*image_classifier.*torch\.save\(model\.state_dict\(\)"):
        deploy.save_classifier(tmp_path / "custom.pt", custom, task)
    assert not (tmp_path / "custom.pt").exists()
    kept = deploy.save_classifier(tmp_path / "kept.pt", models.image_classifier(3, pretrained=False), task)
    before = kept.read_bytes()
    five_outputs = models.image_classifier(5, pretrained=False)  # the task has 3 classes
    with pytest.raises(ValueError, match="3 classes"):
        deploy.save_classifier(kept, five_outputs, task)
    assert kept.read_bytes() == before  # the earlier file is untouched


def test_a_text_model_cut_down_from_the_registered_one_is_refused(tmp_path):
    model, _ = models.text_classifier(2, pretrained=False)
    student = models.student_from_teacher(model, [0, 2, 4])  # 3 of MiniLM's 6 layers: not what loading builds
    task = own_data.CsvTextTask(name="reviews", train_texts=["good"], train_labels=[1], test_texts=["bad"], test_labels=[0],
                            classes=["neg", "pos"])
    with pytest.raises(ValueError, match=r"(?s)text_classifier.*torch\.save"):
        deploy.save_classifier(tmp_path / "student.pt", student, task)
    assert not (tmp_path / "student.pt").exists()


def test_save_classifier_refuses_what_is_not_a_model_or_a_task(tmp_path):
    task, _ = image_task(tmp_path)
    with pytest.raises(TypeError, match="task"):
        deploy.save_classifier(tmp_path / "x.pt", models.image_classifier(3, pretrained=False), ["ant", "bee", "cow"])
    with pytest.raises(TypeError, match="model"):
        deploy.save_classifier(tmp_path / "x.pt", {"weights": 1}, task)


def test_a_model_with_nan_weights_is_refused_at_save_time(tmp_path):
    task, _ = image_task(tmp_path)
    model = models.image_classifier(3, pretrained=False)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        deploy.save_classifier(tmp_path / "nan.pt", model, task)
    assert not (tmp_path / "nan.pt").exists()


def overwrite_weight_bytes(path, byte: int) -> None:
    """Same-size damage: bytes in the middle of the largest tensor overwritten, so the file still loads."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entry = max((e for e in archive.infolist() if "/data/" in e.filename), key=lambda e: e.file_size)
    with open(path, "r+b") as f:
        f.seek(entry.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", f.read(4))
        f.seek(entry.header_offset + 30 + name_length + extra_length + entry.file_size // 8 * 4)
        f.write(bytes([byte]) * 64)


@pytest.mark.parametrize("byte", [0xFF, 0x00])  # 0xFF...: NaN weights; 0x00...: zeros, finite but wrong
def test_a_file_damaged_on_disk_is_refused_at_load_time_naming_it(tmp_path, byte):
    task, paths = image_task(tmp_path)
    file = deploy.save_classifier(tmp_path / "mine.pt", models.image_classifier(3, pretrained=False), task)
    overwrite_weight_bytes(file, byte)
    with pytest.raises(ValueError, match=f"{file}.*damaged"):
        deploy.load_classifier(file)


def test_an_older_file_without_a_checksum_is_still_checked_for_nan(tmp_path):
    task, _ = image_task(tmp_path)
    file = deploy.save_classifier(tmp_path / "old.pt", models.image_classifier(3, pretrained=False), task)
    saved = torch.load(file, weights_only=True)
    saved["info"].pop("weights_sha256", None)  # as written before the checksum existed
    torch.save(saved, file)
    deploy.load_classifier(file)  # an intact older file still loads
    name = next(k for k, v in saved["state_dict"].items() if v.is_floating_point())
    tensor = saved["state_dict"][name]
    tensor[(0,) * tensor.dim()] = float("nan")
    torch.save(saved, file)
    with pytest.raises(ValueError, match=f"(?s){file}.*damaged.*{name}"):
        deploy.load_classifier(file)


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    import errno

    task, paths = image_task(tmp_path)
    file = deploy.save_classifier(tmp_path / "mine.pt", models.image_classifier(3, pretrained=False), task)
    before = deploy.classify(deploy.load_classifier(file), paths)

    def disk_fills_up(obj, target):
        Path(target).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_fills_up)
    with pytest.raises(OSError, match=f"{file}.*disk is full"):
        deploy.save_classifier(file, models.image_classifier(3, pretrained=False), task, overwrite=True)
    monkeypatch.undo()
    assert deploy.classify(deploy.load_classifier(file), paths) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


@pytest.fixture(scope="module")
def image_classifier_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classify")
    task, paths = image_task(folder)
    torch.manual_seed(0)
    file = deploy.save_classifier(folder / "mine.pt", models.image_classifier(3, pretrained=False), task)
    return deploy.load_classifier(file), paths


def test_classify_accepts_numpy_and_tensor_images_and_batches(image_classifier_file):
    loaded, paths = image_classifier_file
    arrays = [np.array(Image.open(p)) for p in paths]  # H x W x 3 uint8, each its own size
    from_paths = deploy.classify(loaded, paths)
    assert same_predictions(deploy.classify(loaded, arrays[0]), from_paths[:1])  # one numpy image
    assert same_predictions(deploy.classify(loaded, arrays), from_paths)  # a list of them
    assert same_predictions(deploy.classify(loaded, torch.from_numpy(arrays[1]).permute(2, 0, 1)), from_paths[1:2])
    same_size = np.stack([a[:30] for a in arrays])  # a numpy batch N x H x W x 3
    expected = deploy.classify(loaded, list(same_size))
    assert len(expected) == len(paths)
    assert same_predictions(deploy.classify(loaded, same_size), expected)
    assert same_predictions(deploy.classify(loaded, torch.from_numpy(same_size).permute(0, 3, 1, 2)), expected)
    assert same_predictions(deploy.classify(loaded, torch.from_numpy(same_size).float() / 255), expected)
    grey = np.array(Image.open(paths[0]).convert("L"))  # H x W
    assert len(deploy.classify(loaded, grey)) == 1 and len(deploy.classify(loaded, np.stack([grey[:30]] * 5))) == 5


def test_classify_accepts_any_iterable_of_paths_or_texts(image_classifier_file, tmp_path):
    import pandas as pd

    loaded, paths = image_classifier_file
    from_paths = deploy.classify(loaded, paths)
    assert deploy.classify(loaded, (p for p in paths)) == from_paths  # a generator
    assert deploy.classify(loaded, pd.Series([str(p) for p in paths])) == from_paths
    assert deploy.classify(loaded, iter(paths), batch_size=3) == from_paths
    assert same_predictions(deploy.classify(loaded, Image.open(paths[0])), from_paths[:1])  # one PIL image
    assert deploy.classify(loaded, []) == []
    model, _ = models.text_classifier(2, pretrained=False)
    task = own_data.CsvTextTask(name="reviews", train_texts=["good"], train_labels=[1], test_texts=["bad"], test_labels=[0],
                            classes=["neg", "pos"])
    text = deploy.load_classifier(deploy.save_classifier(tmp_path / "text.pt", model, task))
    texts = ["a wonderful film", "dull and far too long", "fine"]
    expected = deploy.classify(text, texts)
    assert deploy.classify(text, pd.Series(texts)) == expected
    assert deploy.classify(text, (t for t in texts)) == expected
    assert deploy.classify(text, np.array(texts)) == expected
    assert deploy.classify(text, texts[0]) == expected[:1]  # one bare string
    with pytest.raises(TypeError, match=r"(?s)item 1 .*float.*text"):
        deploy.classify(text, pd.Series(["good", float("nan")]))  # a missing text in a CSV column
    with pytest.raises(TypeError, match="(?s)ndarray.*strings"):
        deploy.classify(text, np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match="(?s)DataFrame.*column"):
        deploy.classify(text, pd.DataFrame({"review": texts}))


@pytest.mark.parametrize("bad, kind", [(42, TypeError), ({"a": "x.png"}, TypeError), ({"x.png"}, TypeError),
                                       (b"\x89PNG", TypeError), (np.zeros((2, 3, 4, 5, 6)), ValueError),
                                       ([1.5], TypeError)])
def test_classify_refuses_what_it_cannot_read_naming_the_type(image_classifier_file, bad, kind):
    loaded, _ = image_classifier_file
    with pytest.raises(kind, match=f"(?s){type(bad if not isinstance(bad, list) else bad[0]).__name__}.*(accept|image)"):
        deploy.classify(loaded, bad)
    with pytest.raises(TypeError, match="load_classifier"):
        deploy.classify("mine.pt", ["x.png"])


def test_a_missing_file_is_reported_as_missing_not_as_a_foreign_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nope.pt'}.*save_classifier"):
        deploy.load_classifier(tmp_path / "nope.pt")


def test_pytorchs_own_write_failure_is_explained_when_saving_a_classifier(tmp_path, monkeypatch):
    """torch.save's C++ writer reports a full disk in its own words: every save explains it the same way."""
    task, _ = image_task(tmp_path)

    def writer_stops(obj, target):
        Path(target).write_bytes(b"half a file")
        raise RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing file "
                           "data/3: file write failed")

    monkeypatch.setattr(torch, "save", writer_stops)
    file = tmp_path / "mine.pt"
    with pytest.raises(OSError, match=f"{file}.*disk may be full"):
        deploy.save_classifier(file, models.image_classifier(3, pretrained=False), task)
    assert not file.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
