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
    # padding: grouped batches hold close to the real token count, unsorted ones far more
    assert data.padded_tokens(grouped) < 1.2 * real_tokens
    assert data.padded_tokens(in_order) > 1.5 * real_tokens


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
