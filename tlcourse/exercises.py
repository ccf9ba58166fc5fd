"""Exercises with automatic checks and reference solutions.

In a notebook an exercise is a function for the learner to complete, followed by::

    my_answer = exercises.check("kd_loss", kd_loss)

The check runs the learner's function and the reference solution on the same fixed
inputs and says what is right or wrong, with a hint. It returns the learner's function
when it passes, otherwise the reference, so code after it can use the name either way
and a notebook always runs to the end (this is how the committed notebooks run).

The reference solutions are the package's own functions wherever the package has one
(``kd_loss`` is :func:`tlcourse.methods.distillation.kd_loss`, the freezing exercise is
:func:`tlcourse.freezing.train_last_blocks`, ...): what the learner writes is what the
course then uses. The rest (cross-entropy, Adam, the attention mask, PCA, softmax with a
temperature) re-derive what PyTorch provides, and their references live here.
``exercises.show_solution("kd_loss")`` prints the reference code.

Each exercise is a :class:`Exercise`: a reference solution, a way to make test inputs,
a way to compare answers, and a hint.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .freezing import block_learning_rates, train_last_blocks
from .methods.dann import a_distance_from_error, reversal_strength
from .methods.distillation import kd_loss
from .methods.gradient_reversal import reverse_gradient
from .methods.regularization import feature_distance, l2sp_penalty
from .models import mean_pool
from .training import warmup_linear_decay


# --- reference solutions ----------------------------------------------------------------------


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean multi-class cross-entropy: -log softmax(logits)[true class], averaged over the batch."""
    log_probs = logits - logits.logsumexp(dim=1, keepdim=True)
    return -log_probs[torch.arange(len(labels)), labels].mean()


def adam_update(weight, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step; returns ``(new_weight, new_m, new_v)``. ``step`` counts from 1."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat = m / (1 - beta1 ** step)
    v_hat = v / (1 - beta2 ** step)
    return weight - lr * m_hat / (v_hat.sqrt() + eps), m, v


def attention_mask(input_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """1 for real tokens, 0 for padding: which positions attention may look at."""
    return (input_ids != pad_token_id).long()


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """Project ``[N, D]`` features on their two main directions of variance -> ``[N, 2]``."""
    centred = features - features.mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return centred @ vh[:2].T


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T): T > 1 flattens the distribution, T < 1 sharpens it."""
    return torch.softmax(logits / temperature, dim=-1)


# --- checks -----------------------------------------------------------------------------------


def _tiny_cnn() -> nn.Module:
    """A small timm EfficientNet-style model the freezing checks can run on quickly."""
    import timm

    torch.manual_seed(0)
    return timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=3)


def _call_freeze(fn):
    """Run a freezing function for several k and report which parameters it left trainable."""
    def run():
        out = []
        for k in (0, 2, 5, 12):  # 12 is more blocks than the model has: everything trains
            model = _tiny_cnn()
            fn(model, k)
            out.append(tuple(name for name, p in model.named_parameters() if p.requires_grad))
        return out
    return run


def _seeded(*shapes):
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(*shape, generator=generator) for shape in shapes]


def _adam_inputs():
    weight, grad, m, v = _seeded((3,), (3,), (3,), (3,))
    return weight, grad, m, v.abs()  # the second moment is never negative


def _make_linear_with_anchor():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    anchor = {name: p.detach() + 0.1 * torch.randn_like(p) for name, p in model.named_parameters() if name.startswith("0.")}
    return model, anchor


def _reversal_outputs(fn):
    """Forward value and input gradient of the learner's reversal for one lambda."""
    def run():
        x = torch.linspace(-1, 1, 6, requires_grad=True)
        y = fn(x, 0.7)
        (y * torch.arange(6.0)).sum().backward()
        return y.detach(), x.grad
    return run


@dataclass
class Exercise:
    """A reference solution, how to call a function on fixed inputs, and what to say when it is wrong."""

    reference: Callable
    run: Callable[[Callable], Callable[[], object]]  # given a function, returns a zero-argument call
    hint: str


def _with(*args, **kwargs):
    return lambda fn: (lambda: fn(*args, **kwargs))


EXERCISES: dict[str, Exercise] = {
    "cross_entropy": Exercise(
        cross_entropy, _with(*_seeded((5, 4)), torch.tensor([0, 3, 1, 1, 2])),
        "Take the log-softmax over classes (logits minus logsumexp), pick the true class's entry, "
        "negate and average over the batch. Binary cross-entropy is a different formula."),
    "adam_update": Exercise(
        adam_update, lambda fn: (lambda: fn(*_adam_inputs(), step=3, lr=0.01)),
        "Update m and v first, then correct both for their start at zero (divide by 1 - beta**step), "
        "then step by lr * m_hat / (sqrt(v_hat) + eps)."),
    "attention_mask": Exercise(
        attention_mask, _with(torch.tensor([[101, 7, 8, 102, 0, 0], [101, 9, 102, 0, 0, 0]]), 0),
        "Compare the ids with the padding id: real tokens get 1, padding 0 (as integers)."),
    "warmup_linear_decay": Exercise(
        warmup_linear_decay,
        lambda fn: (lambda: [round(fn(step, 100, 10), 6) for step in (0, 4, 9, 10, 50, 99)]),
        "During warm-up return (step + 1) / warmup_steps; afterwards fall linearly from 1 at the end of "
        "warm-up to 0 at total_steps."),
    "freeze_all_but_last": Exercise(
        train_last_blocks, _call_freeze,
        "Use tlcourse.freezing.blocks(model): it lists the blocks input-to-output with the head last. "
        "Set requires_grad=False everywhere, then True for the head and the k blocks just below it "
        "(all of them when k is larger than the number of blocks)."),
    "block_learning_rates": Exercise(
        block_learning_rates, _with(5, 1e-3, 0.5),
        "The last entry (the head) is lr; each block below gets decay times the rate of the block above."),
    "mean_pool": Exercise(
        mean_pool, _with(_seeded((2, 5, 3))[0], torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])),
        "Multiply by the mask (unsqueezed to [B, L, 1]) so padding adds nothing, sum over tokens, "
        "and divide by the number of real tokens, not by L."),
    "pca_2d": Exercise(
        pca_2d, lambda fn: (lambda: fn(_seeded((20, 5))[0]).abs()),  # each axis' sign is arbitrary
        "Centre the features (subtract the mean of each column), then project on the first two right "
        "singular vectors of the centred matrix (torch.linalg.svd)."),
    "l2sp_penalty": Exercise(
        l2sp_penalty, lambda fn: (lambda: fn(*_make_linear_with_anchor(), alpha=0.3)),
        "Sum (w - w0)**2 over the anchored parameters only (not the new head), then multiply by alpha / 2."),
    "feature_distance": Exercise(
        feature_distance, _with(*_seeded((4, 6), (4, 6))),
        "Square the differences, sum over the feature dimension, average over the batch."),
    "softmax_with_temperature": Exercise(
        softmax_with_temperature, _with(torch.tensor([[2.0, 1.0, 0.1], [0.5, 0.5, 3.0]]), 3.0),
        "Divide the logits by T before the softmax, and take the softmax over the last dimension."),
    "kd_loss": Exercise(
        kd_loss, _with(*_seeded((6, 5), (6, 5)), torch.tensor([0, 1, 2, 3, 4, 0]), temperature=3.0, alpha=0.7),
        "Soft part: KL(teacher || student) on softmax(logits / T), averaged over the batch ('batchmean', "
        "not 'mean' over every element), times T**2. Then mix with the hard-label cross-entropy by alpha."),
    "reverse_gradient": Exercise(
        reverse_gradient, _reversal_outputs,
        "Write a torch.autograd.Function: forward returns x unchanged, backward returns -lambd * grad_output "
        "(and None for lambd)."),
    "dann_lambda": Exercise(
        reversal_strength, lambda fn: (lambda: [round(fn(p), 6) for p in (0.0, 0.1, 0.5, 1.0)]),
        "Use 2 / (1 + exp(-10 p)) - 1: zero at p=0, close to 1 at the end."),
    "proxy_a_distance": Exercise(
        a_distance_from_error, lambda fn: (lambda: [round(fn(e), 6) for e in (0.0, 0.1, 0.5)]),
        "A classifier that cannot tell the domains apart has error 0.5 and distance 0; perfect separation "
        "(error 0) gives 2."),
}


def _same(a, b, tolerance: float = 1e-5) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=tolerance, rtol=1e-4)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), abs_tol=tolerance)
    return a == b


def _kind_mismatch(got, expected) -> str | None:
    """Say so when the answer returns the wrong kind of thing (a forgotten ``return`` gives None)."""
    if got is None and expected is not None:
        return "your function returned None: did you forget the `return`?"
    if isinstance(expected, torch.Tensor) and not isinstance(got, torch.Tensor):
        return f"your function returned a {type(got).__name__}; a torch.Tensor was expected"
    if isinstance(expected, (list, tuple)) and not isinstance(got, (list, tuple)):
        return f"your function returned a {type(got).__name__}; a {type(expected).__name__} was expected"
    return None


TIME_LIMIT_SECONDS = 10


class _TooSlow(Exception):
    pass


def _time_limited(call: Callable[[], object], seconds: float):
    """Run ``call`` but give up after ``seconds`` (an answer that loops forever must not hang the notebook).

    Uses a SIGALRM timer, which Python delivers to the main thread: that is where notebook cells run.
    Elsewhere (another thread, Windows) the call runs without a limit.
    """
    import signal
    import threading

    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return call()

    def give_up(signum, frame):
        raise _TooSlow

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def get_exercise(name: str) -> Exercise:
    """Look an exercise up by name; an unknown name lists the valid ones."""
    if name not in EXERCISES:
        raise KeyError(f"Unknown exercise {name!r}. Valid names: {', '.join(sorted(EXERCISES))}")
    return EXERCISES[name]


def evaluate_answer(name: str, answer: Callable) -> tuple[bool, str]:
    """Run ``answer`` and the reference on the exercise's inputs; return ``(passed, message)``.

    Never raises because of the answer: a crash, a wrong type or an endless loop becomes the message.
    """
    exercise = get_exercise(name)
    expected = exercise.run(exercise.reference)()
    if not callable(answer):
        return False, f"expected a function, got a {type(answer).__name__}"
    try:
        got = _time_limited(exercise.run(answer), TIME_LIMIT_SECONDS)
    except NotImplementedError:
        return False, "not attempted yet"
    except _TooSlow:
        return False, f"your function did not finish within {TIME_LIMIT_SECONDS} s (an endless loop?)"
    except Exception as err:  # the learner's code crashed: say how
        return False, f"your function raised {type(err).__name__}: {err}"
    mismatch = _kind_mismatch(got, expected)
    if mismatch:
        return False, mismatch
    try:
        same = _same(got, expected)
    except Exception as err:  # e.g. a list of strings where numbers were expected
        return False, f"your result cannot be compared with the expected one ({type(err).__name__}: {err})"
    if same:
        return True, "correct"
    return False, f"wrong result.\n  expected: {_short(expected)}\n  got:      {_short(got)}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + " ..."


def check(name: str, answer: Callable) -> Callable:
    """Check the learner's ``answer`` to exercise ``name``; return the function to use from now on.

    Prints what is right or wrong and a hint. If the answer is missing or wrong, the reference
    solution is returned so the rest of the notebook still runs.
    """
    passed, message = evaluate_answer(name, answer)
    if passed:
        print(f"[{name}] correct, well done.")
        return answer
    print(f"[{name}] {message}\n  hint: {EXERCISES[name].hint}\n"
          f"  (the reference solution is used below; see exercises.show_solution({name!r}))")
    return EXERCISES[name].reference


def show_solution(name: str) -> None:
    """Print the reference solution's source code."""
    reference = get_exercise(name).reference
    print(inspect.getsource(reference))
    if name == "reverse_gradient":  # the function applies an autograd.Function: show that too
        from .methods.gradient_reversal import _ReverseGradient

        print(inspect.getsource(_ReverseGradient))
