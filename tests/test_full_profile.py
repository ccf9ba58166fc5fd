"""The full profile's code paths, exercised on tiny local stand-ins for its downloads.

The real downloads (ResNet-50 weights, CIFAR-10, BERT-base, SST-2) need internet, which CI does not have.
Each stand-in is placed exactly where the real download would land, so the code under test is the
same code that runs on Colab.
"""

import dataclasses

import pytest
import torch

import stand_ins
from tlcourse import assets, data, experiments, models, profiles, training
from tlcourse.recipe import Recipe


@pytest.fixture
def full_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_PROFILE", "full")
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def test_full_image_path_resnet50_on_cifar10(full_profile, monkeypatch):
    import torchvision.datasets.cifar as cifar

    conv1 = torch.load(stand_ins.write_resnet50(full_profile), weights_only=True)["conv1.weight"]
    stand_ins.write_cifar10(full_profile, per_batch=20)
    # The stand-in files have other md5 sums than the real ones: accept them.
    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)

    assert assets.get_asset("resnet50_imagenet").status() == "present"
    model = models.image_classifier(10, pretrained=True)
    assert type(model).__name__ == "ResNet" and model.fc[-1].out_features == 10
    assert torch.equal(model.conv1.weight, conv1)  # the weights came from the (stand-in) download

    spec = models.image_model_spec()
    assert spec.image_size == 224 and spec.mean == profiles.IMAGENET_MEAN
    task = data.image_task(dataclasses.replace(spec, image_size=32))  # 32 px keeps the test fast
    assert (len(task.train), len(task.val), len(task.test)) == (80, 20, 20) and task.classes[0] == "airplane"
    assert task.val.dataset.transform is not task.train.dataset.transform  # validation is not augmented
    assert not set(task.val.indices) & set(task.train.indices)
    assert (task.image_size, task.mean) == (32, profiles.IMAGENET_MEAN)
    result = experiments.run(task, Recipe(epochs=1, batch_size=10), n_labels=20,
                             test_loader=data.make_loader(task.test, 10))
    assert 0.0 <= result.accuracy <= 1.0 and len(result.history.epoch) == 1


def test_full_text_path_bert_on_sst2(full_profile, monkeypatch):
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    # A tiny BERT with a real uncased WordPiece vocabulary, standing in for google-bert/bert-base-uncased.
    bert_dir = full_profile / "bert-stand-in"
    tokenizer = AutoTokenizer.from_pretrained(models.text_model_path("quick"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64)
    BertForSequenceClassification(config).save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    bert = assets.ASSETS["bert_base_uncased"]
    monkeypatch.setitem(assets.ASSETS, "bert_base_uncased", dataclasses.replace(bert, locate=lambda: bert_dir))

    sentences = ["a great film", "a dull mess", "wonderful", "boring and long"] * 10
    splits = DatasetDict({
        "train": Dataset.from_dict({"sentence": sentences, "label": [1, 0, 1, 0] * 10}),
        "validation": Dataset.from_dict({"sentence": sentences[:8], "label": [1, 0, 1, 0] * 2}),
    })
    splits.save_to_disk(str(full_profile / "data" / "hf_datasets" / "sst2"))

    task = data.text_task()
    assert task.name == "sst2" and len(task.test_texts) == 8  # GLUE's dev set is the test split
    assert (len(task.train_texts), len(task.val_texts)) == (32, 8)  # validation held out of SST-2's train
    model, tok = models.text_classifier(num_labels=2)
    assert model.config.hidden_size == 32  # the stand-in, found through the asset registry
    loader = data.text_loader(task.train_texts, task.train_labels, tok, 8, 16, shuffle=True)
    history = training.fit(model, loader, Recipe(epochs=1, lr=1e-3),
                           val_loader=data.text_loader(task.val_texts, task.val_labels, tok, 8, 16))
    assert len(history.val_acc) == 1
