"""Every exercise check accepts its reference solution and rejects wrong answers."""

import pytest
import torch
import torch.nn.functional as F

from tlcourse import exercises

WRONG_ANSWERS = {
    "cross_entropy": lambda logits, labels: F.binary_cross_entropy_with_logits(
        logits, F.one_hot(labels, logits.shape[1]).float()),  # the binary formula used for many classes
    "adam_update": lambda w, g, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8: (w - lr * g, m, v),
    "attention_mask": lambda ids, pad: (ids == pad).long(),
    "warmup_linear_decay": lambda step, total, warmup: 1.0,
    "freeze_all_but_last": lambda model, k: None,  # freezes nothing
    "block_learning_rates": lambda n, lr, decay: [lr * decay ** i for i in range(n)],  # head gets the smallest
    "mean_pool": lambda hidden, mask: hidden.mean(dim=1),  # counts the padding
    "pca_2d": lambda x: x[:, :2],
    "l2sp_penalty": lambda model, anchor, alpha: alpha * sum(p.pow(2).sum() for p in model.parameters()),
    "feature_distance": lambda a, b: (a - b).pow(2).mean(),
    "softmax_with_temperature": lambda logits, t: torch.softmax(logits * t, dim=-1),
    "kd_loss": lambda s, t, y, temperature, alpha: alpha * F.kl_div(
        F.log_softmax(s / temperature, 1), F.softmax(t / temperature, 1), reduction="mean") + (1 - alpha) * F.cross_entropy(s, y),
    "reverse_gradient": lambda x, lambd: x * 1.0,  # forgets to reverse
    "dann_lambda": lambda p: p,
    "proxy_a_distance": lambda err: 1 - 2 * err,
}


def test_every_exercise_has_a_wrong_answer_here():
    assert set(WRONG_ANSWERS) == set(exercises.EXERCISES)


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_reference_passes_and_wrong_answer_fails(name, capsys):
    passed, message = exercises.evaluate_answer(name, exercises.EXERCISES[name].reference)
    assert passed, message
    passed, message = exercises.evaluate_answer(name, WRONG_ANSWERS[name])
    assert not passed
    returned = exercises.check(name, WRONG_ANSWERS[name])
    assert returned is exercises.EXERCISES[name].reference  # the notebook carries on with the solution
    assert "hint" in capsys.readouterr().out


def test_unattempted_exercise_is_reported_as_such(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    passed, message = exercises.evaluate_answer("kd_loss", stub)
    assert not passed and message == "not attempted yet"


def test_show_solution_prints_code(capsys):
    exercises.show_solution("kd_loss")
    assert "batchmean" in capsys.readouterr().out
