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


def test_references_are_plain_functions_not_wrappers():
    for name, exercise in exercises.EXERCISES.items():
        assert exercise.reference.__name__ != "<lambda>", name


def test_freezing_reference_is_the_course_function_and_handles_k_beyond_the_blocks():
    from tlcourse.freezing import train_last_blocks

    assert exercises.EXERCISES["freeze_all_but_last"].reference is train_last_blocks

    def without_clamp(model, k):  # k=12 on a model with fewer blocks wraps round to the last few only
        from tlcourse.freezing import blocks

        ordered = blocks(model)
        for p in model.parameters():
            p.requires_grad = False
        for _, block in ordered[len(ordered) - 1 - k:]:
            for p in block.parameters():
                p.requires_grad = True

    passed, _ = exercises.evaluate_answer("freeze_all_but_last", without_clamp)
    assert not passed


def test_a_correct_pca_with_other_signs_passes():
    def pca_by_eigh(x):
        centred = x - x.mean(dim=0)
        _, vectors = torch.linalg.eigh(centred.T @ centred)
        return -(centred @ vectors[:, [-1, -2]])  # same axes, other signs

    passed, message = exercises.evaluate_answer("pca_2d", pca_by_eigh)
    assert passed, message


BAD_ANSWERS = {
    "returns None": lambda *args, **kwargs: None,
    "returns a string": lambda *args, **kwargs: "forty-two",
    "raises": lambda *args, **kwargs: 1 / 0,
    "not a function": "def f(x): return x",
}


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
@pytest.mark.parametrize("kind", sorted(BAD_ANSWERS))
def test_any_bad_answer_gives_a_message_and_the_fallback(name, kind, capsys):
    returned = exercises.check(name, BAD_ANSWERS[kind])
    assert returned is exercises.EXERCISES[name].reference
    assert "hint" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["softmax_with_temperature", "dann_lambda"])
def test_an_endless_answer_is_stopped(name, monkeypatch, capsys):
    monkeypatch.setattr(exercises, "TIME_LIMIT_SECONDS", 1)

    def endless(*args, **kwargs):
        while True:
            pass

    assert exercises.check(name, endless) is exercises.EXERCISES[name].reference
    assert "did not finish" in capsys.readouterr().out


def test_an_unknown_exercise_lists_the_valid_names():
    with pytest.raises(KeyError, match="kd_loss"):
        exercises.check("kd_los", lambda: None)


def test_references_are_the_functions_the_package_itself_uses():
    from tlcourse import freezing, models, training
    from tlcourse.methods import dann, distillation, gradient_reversal, regularization

    package_functions = {
        "kd_loss": distillation.kd_loss, "reverse_gradient": gradient_reversal.reverse_gradient,
        "dann_lambda": dann.reversal_strength, "proxy_a_distance": dann.a_distance_from_error,
        "warmup_linear_decay": training.warmup_linear_decay, "freeze_all_but_last": freezing.train_last_blocks,
        "block_learning_rates": freezing.block_learning_rates, "mean_pool": models.mean_pool,
        "l2sp_penalty": regularization.l2sp_penalty, "feature_distance": regularization.feature_distance,
    }
    for name, function in package_functions.items():
        assert exercises.get_exercise(name).reference is function, name
