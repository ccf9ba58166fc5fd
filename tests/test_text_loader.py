"""Training batches of texts are grouped by length (less padding) and still shuffled and reproducible."""

import pytest
import torch

from tlcourse import data, models


def _labels_in_order(loader) -> list[int]:
    return [int(label) for _, labels in loader for label in labels]


def test_shuffled_text_batches_are_grouped_by_length():
    task = data.text_task(profile="quick", n_train=1000, n_val=100, n_test=100)
    _, tokenizer = models.text_classifier(2, profile="quick")
    texts, labels = task.train_texts, task.train_labels
    grouped = data.text_loader(texts, labels, tokenizer, 32, 56, shuffle=True, seed=0)
    in_order = data.text_loader(texts, labels, tokenizer, 32, 56)
    real_tokens = sum(data.token_counts(texts, tokenizer, 56))
    # every text once per epoch, with its own label
    assert sorted(_labels_in_order(grouped)) == sorted(labels)
    assert sum(len(batch_labels) for _, batch_labels in grouped) == len(texts)
    # padding: grouped batches hold close to the real token count, and so do evaluation batches (sorted by length)
    assert data.padded_tokens(grouped) < 1.2 * real_tokens
    assert data.padded_tokens(in_order) < 1.1 * real_tokens
    drawn_in_order = data.make_loader(list(zip(texts, labels)), 32, collate_fn=data.TextCollator(tokenizer, 56))
    assert data.padded_tokens(drawn_in_order) > 1.5 * real_tokens  # what evaluation in the texts' order cost


def test_an_evaluation_pass_over_length_sorted_batches_returns_rows_in_the_texts_order():
    """Evaluation batches are sorted by length (about half the padding of batches in the texts' order), but every
    per-text output -- logits, labels, features -- comes back in the order of the texts given."""
    from tlcourse import features, strategy, training

    task = data.text_task(profile="quick", n_train=100, n_val=100, n_test=100)
    model, tokenizer = models.text_classifier(2, profile="quick")
    texts, labels = task.test_texts[:70], task.test_labels[:70]
    sorted_loader = data.text_loader(texts, labels, tokenizer, 16, 56)
    in_order = data.make_loader(list(zip(texts, labels)), 16, collate_fn=data.TextCollator(tokenizer, 56))
    served = [int(label) for _, batch_labels in sorted_loader for label in batch_labels]
    assert served != list(labels)  # the batches really are served in another order
    logits, predicted_labels = training.predict(model, sorted_loader)
    expected_logits, _ = training.predict(model, in_order)
    assert predicted_labels.tolist() == list(labels)
    assert torch.allclose(logits, expected_logits, atol=1e-4)
    layer_features = features.text_layer_features(model, sorted_loader)
    assert layer_features["labels"].tolist() == list(labels)
    assert torch.allclose(layer_features["layer.5"], features.text_layer_features(model, in_order)["layer.5"],
                          atol=1e-4)
    head_features, head_labels = strategy.head_inputs(model, sorted_loader)
    assert head_labels.tolist() == list(labels)
    assert torch.allclose(head_features, strategy.head_inputs(model, in_order)[0], atol=1e-4)


def test_length_grouped_order_is_random_but_reproducible():
    task = data.text_task(profile="quick", n_train=400, n_val=100, n_test=100)
    _, tokenizer = models.text_classifier(2, profile="quick")

    def order(seed):
        loader = data.text_loader(task.train_texts, task.train_labels, tokenizer, 16, 56, shuffle=True, seed=seed)
        return [tuple(encoding["input_ids"][0].tolist()) for encoding, _ in loader]

    assert order(0) == order(0)
    assert order(0) != order(1)
    loader = data.text_loader(task.train_texts, task.train_labels, tokenizer, 16, 56, shuffle=True, seed=0)
    first_epoch = [tuple(encoding["input_ids"][0].tolist()) for encoding, _ in loader]
    second_epoch = [tuple(encoding["input_ids"][0].tolist()) for encoding, _ in loader]
    assert first_epoch != second_epoch  # a new order every epoch
    # restoring the loader's random state (what a resumed fit does) repeats the epoch
    loader = data.text_loader(task.train_texts, task.train_labels, tokenizer, 16, 56, shuffle=True, seed=0)
    state = loader.generator.get_state()
    once = [tuple(encoding["input_ids"][0].tolist()) for encoding, _ in loader]
    loader.generator.set_state(state)
    assert [tuple(encoding["input_ids"][0].tolist()) for encoding, _ in loader] == once
    assert torch.is_tensor(next(iter(loader))[1])


def test_the_course_sampler_orders_batches_as_transformers_trainer_did():
    """The course replaced transformers' internal LengthGroupedSampler with its own: same order, so every stored
    text result stays reproducible (checked against transformers' helper while it still ships)."""
    helper = pytest.importorskip("transformers.trainer_pt_utils")
    if not hasattr(helper, "LengthGroupedSampler"):
        pytest.skip("this transformers no longer ships LengthGroupedSampler")
    lengths_generator = torch.Generator().manual_seed(1)
    for n, batch_size, seed in [(1000, 32, 0), (1000, 32, 7), (37, 8, 3), (5, 16, 0), (4000, 16, 2)]:
        lengths = torch.randint(1, 64, (n,), generator=lengths_generator).tolist()
        ours = list(data.LengthGroupedSampler(lengths, batch_size, torch.Generator().manual_seed(seed)))
        theirs = list(helper.LengthGroupedSampler(batch_size, lengths=lengths,
                                                  generator=torch.Generator().manual_seed(seed)))
        assert ours == theirs, (n, batch_size, seed)
