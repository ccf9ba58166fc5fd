"""Sentence encoders classify from the mean of their token vectors, the representation they were trained for."""

import torch

from tlcourse import deploy, exercises, freezing, models, own_data


def test_auto_pooling_uses_the_mean_for_minilm_and_ignores_padding():
    torch.manual_seed(0)
    model, tokenizer = models.text_classifier(2, pretrained=False, profile="quick", pooling="auto")
    assert isinstance(model, models.MeanPoolingClassifier)
    model.eval()
    alone = tokenizer(["a fine film"], return_tensors="pt")
    padded = tokenizer(["a fine film", "a much longer review that needs many more tokens than the first"],
                       padding=True, return_tensors="pt")
    with torch.no_grad():
        logits_alone = model(**alone).logits[0]
        logits_padded = model(**padded).logits[0]
        states = model.base_model(**alone).last_hidden_state
        by_hand = model.classifier(models.mean_pool(states, alone["attention_mask"]))[0]
    torch.testing.assert_close(logits_alone, logits_padded, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_alone, by_hand)


def test_cls_pooling_stays_the_default():
    model, _ = models.text_classifier(2, pretrained=False, profile="quick")
    assert not isinstance(model, models.MeanPoolingClassifier)


def test_head_only_training_trains_only_the_new_layer_of_a_mean_pooling_model():
    model, _ = models.text_classifier(3, pretrained=False, profile="quick", pooling="mean")
    freezing.train_last_blocks(model, 0)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    assert freezing.new_head_name(model) == "classifier"


def test_a_saved_mean_pooling_classifier_loads_as_one(tmp_path):
    torch.manual_seed(0)
    model, tokenizer = models.text_classifier(2, pretrained=False, profile="quick", pooling="mean")
    task = own_data.CsvTextTask(name="t", train_texts=["a"], train_labels=[0], test_texts=["b"], test_labels=[1],
                            classes=["neg", "pos"])
    texts = ["a wonderful film", "dull and far too long"]
    model.eval()
    with torch.no_grad():
        expected = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(dim=1)
    loaded = deploy.load_classifier(deploy.save_classifier(tmp_path / "text.pt", model, task))
    assert isinstance(loaded.model, models.MeanPoolingClassifier)
    got = deploy.classify(loaded, texts)
    assert [c for c, _ in got] == [task.classes[i] for i in expected.argmax(dim=1)]
    torch.testing.assert_close(torch.tensor([p for _, p in got]), expected.max(dim=1).values, atol=1e-5, rtol=0)


def test_the_mean_pool_exercise_is_checked_against_the_package_function():
    assert exercises.get_exercise("mean_pool").reference is models.mean_pool
