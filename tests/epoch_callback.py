"""A test's way to run a plain function before each epoch of ``fit`` (to record or interrupt epochs)."""

from tlcourse.callbacks import Callback


class EachEpoch(Callback):
    """Calls ``function(epoch)`` (0-based) at the start of every epoch, like a learner's own small callback."""

    def __init__(self, function):
        self.function = function

    def before_epoch(self, state):
        self.function(state.epoch)
