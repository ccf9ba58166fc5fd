"""A model you can keep: save -> load -> classify, the probe folded into a head, refusals that explain."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from tlcourse import data, deploy, models, strategy, training


def image_task(tmp_path, n=4):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (30 + i, 40, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    images = data.FolderImages(paths, [0, 1, 2, 0][:n], 32, (0.5,) * 3, (0.5,) * 3)
    task = data.FolderImageTask("mine", images, images, ["ant", "bee", "cow"], 32, (0.5,) * 3, (0.5,) * 3)
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
    task = data.CsvTextTask("reviews", ["good"], [1], ["bad"], [0], ["neg", "pos"])
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
