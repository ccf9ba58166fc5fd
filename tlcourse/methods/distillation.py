"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a small student learns from a large teacher.

The teacher's softmax at a raised temperature T spreads probability over the wrong
classes too ("a 7 that looks a bit like a 1"); those soft targets carry more
information per example than a one-hot label. The student minimises

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))  +  (1 - alpha) * CE(student, label)

The T^2 keeps the soft part's gradients on the same scale whatever T is (they shrink
as 1/T^2 otherwise), and the KL is averaged over the batch ("batchmean"): the mean
over every element, PyTorch's default "mean", would also divide by the number of classes.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .. import data
from ..training import model_logits, predict


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """The distillation loss above, for one batch of logits."""
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                    F.log_softmax(teacher_logits / temperature, dim=1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * temperature ** 2 * soft + (1.0 - alpha) * hard


class DistillationLoss:
    """A ``fit`` loss: runs the teacher (in eval mode, without gradients) on each batch and applies
    :func:`kd_loss`. The teacher is only read, never changed: its ``requires_grad`` flags stay as
    they are, so a student copied from it can still be trained.

    ``teacher_inputs`` converts the student's batch into the teacher's input when the two
    differ (e.g. another image size); by default both see the same batch.
    """

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.9, teacher_inputs=None):
        self.teacher = teacher.eval()
        self.temperature, self.alpha = temperature, alpha
        self.teacher_inputs = teacher_inputs or (lambda inputs: inputs)

    def __call__(self, model: nn.Module, inputs, labels: torch.Tensor):
        student_logits = model_logits(model, inputs)
        self.teacher.to(labels.device)
        with torch.no_grad():
            teacher_logits = model_logits(self.teacher, self.teacher_inputs(inputs))
        loss = kd_loss(student_logits, teacher_logits.float(), labels, self.temperature, self.alpha)
        return loss, student_logits


class WithTeacherLogits(torch.utils.data.Dataset):
    """Each example of ``dataset`` together with the teacher's logits for it: ``((input, logits), label)``.

    A frozen teacher says the same about the same image in every epoch (when the images are not
    augmented), so :class:`DistillationLoss` would recompute identical logits on every batch of every
    epoch of every student. Here the teacher runs once, over the data set; train with
    :class:`PrecomputedDistillationLoss` on a loader of this data set.
    """

    def __init__(self, dataset, teacher: nn.Module, batch_size: int = 256, student_view=None):
        """``student_view``: the same examples in the same order as the student sees them (a small student
        needs no 224 px upscaling, say); the teacher's logits always come from ``dataset``."""
        if student_view is not None and len(student_view) != len(dataset):
            raise ValueError(f"student_view must hold the same examples as dataset: {len(student_view)} "
                             f"examples, not {len(dataset)}")
        self.dataset = dataset if student_view is None else student_view
        self.logits = predict(teacher.eval(), data.make_loader(dataset, batch_size))[0].float()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        inputs, label = self.dataset[index]
        return (inputs, self.logits[index]), label


class TransferSet(WithTeacherLogits):
    """Images with the teacher's logits, the true labels only where given: ``((input, logits), hard label)``.

    Hinton et al. distil on a *transfer set*: inputs the teacher labels with its soft targets, labelled or not.
    Unlabelled images are usually plentiful, so a student can learn from many more examples than were ever
    labelled. The hard label of each item is its true label when its index is in ``labelled`` (the labelled
    examples the teacher was trained on, say) and the teacher's predicted class otherwise; no other true
    label of ``dataset`` is read. ``PrecomputedDistillationLoss(alpha=1.0)`` learns from the soft targets
    alone, ``alpha=0.0`` from the hard labels alone (pseudo-labelling), values between from both.
    """

    def __init__(self, dataset, teacher: nn.Module, batch_size: int = 256, student_view=None, labelled=()):
        super().__init__(dataset, teacher, batch_size, student_view)
        self.labelled = self._checked_indices(labelled)

    def _checked_indices(self, labelled) -> frozenset:
        indices = frozenset(int(i) for i in labelled)
        if indices and not all(0 <= i < len(self) for i in indices):
            raise ValueError(f"labelled must hold indices of the data set's {len(self)} examples")
        return indices

    def relabelled(self, labelled) -> "TransferSet":
        """The same images and teacher logits with the true labels of ``labelled`` instead: the teacher does not
        run again (its logits do not depend on which labels are known)."""
        other = copy.copy(self)
        other.labelled = self._checked_indices(labelled)
        return other

    def __getitem__(self, index):
        inputs, label = self.dataset[index]
        logits = self.logits[index]
        return (inputs, logits), int(label) if int(index) in self.labelled else int(logits.argmax())


class PrecomputedDistillationLoss:
    """:func:`kd_loss` as a ``fit`` loss, for batches of :class:`WithTeacherLogits` (no teacher is run)."""

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9):
        self.temperature, self.alpha = temperature, alpha

    def __call__(self, model: nn.Module, inputs, labels: torch.Tensor):
        student_inputs, teacher_logits = inputs
        student_logits = model_logits(model, student_inputs)
        return kd_loss(student_logits, teacher_logits, labels, self.temperature, self.alpha), student_logits
