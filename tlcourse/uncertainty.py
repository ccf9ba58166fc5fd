"""How much a measured difference can be trusted: intervals for one split and for several seeds.

Two kinds of noise sit in every accuracy a lesson prints. The *split*: n test examples measure the
accuracy only to about +-1/sqrt(n) (:func:`wilson_interval`). The *run*: another seed gives another
initialisation and batch order, and often moves the accuracy more than the split does
(:func:`seed_difference`). A difference is a finding only when it is larger than both. Every
interval here is an :class:`Interval`: mean, low, high, n and the method that made it.
"""

from __future__ import annotations

import math
import statistics
import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """A measured number with its 95% interval: the one shape every interval in the course takes.

    ``method`` says what the interval covers. ``"wilson"``: one accuracy on ``n`` test examples, and the
    range it could take on another split of that size. ``"t"``: the mean of ``n`` runs (seeds, draws),
    and how well those runs pin the average down. ``"paired t"``: the mean difference between two
    methods run with the same ``n`` seeds.
    """

    mean: float  # the estimate: the accuracy itself ("wilson"), or the mean of the runs ("t", "paired t")
    low: float  # 95% interval, lower edge
    high: float  # 95% interval, upper edge
    n: int  # what it rests on: test examples ("wilson") or runs ("t", "paired t")
    method: str  # "wilson", "t" or "paired t" (see above)
    values: tuple[float, ...] = ()  # the runs behind a "t" interval, or the per-seed differences
    unit: str = "seed"  # what varied between the runs: "seed", "draw", or "split" for other validation splits

    @property
    def half(self) -> float:
        """Half the interval's width: print ``f"{i.mean:.3f} +- {i.half:.3f}"``."""
        return (self.high - self.low) / 2

    @property
    def clear(self) -> bool:
        """True when the interval excludes zero: a difference larger than the noise it was measured with."""
        return self.low > 0 or self.high < 0

    def above_noise(self, split_noise: float = 0.0) -> bool:
        """True when a difference is positive beyond both noises: its interval over runs lies above zero,
        and its mean is larger than ``split_noise``, what the test split alone can move it by."""
        return self.low > 0 and self.mean > split_noise

    @property
    def verdict(self) -> str:
        """Whether a difference is beyond the noise, in words a lesson can print."""
        if self.clear:
            return f"beyond the {self.unit} noise"
        return f"not beyond the {self.unit} noise (the interval includes zero)"

    def __str__(self) -> str:
        runs = ", ".join(f"{v:+.3f}" if self.method == "paired t" else f"{v:.3f}" for v in self.values)
        if self.method == "wilson":
            return (f"{self.mean:.3f} ({round(self.mean * self.n)} of {self.n}; 95% interval {self.low:.3f}-"
                    f"{self.high:.3f})")
        if self.method == "paired t":
            return (f"{self.mean:+.3f} on average over {self.n} {self.unit}s (95% interval {self.low:+.3f} to "
                    f"{self.high:+.3f}; per {self.unit} {runs})")
        return f"{self.mean:.3f} +- {self.half:.3f} over {self.n} {self.unit}s ({runs})"


def wilson_interval(accuracy: float, n: int, z: float = 1.96) -> Interval:
    """95% Wilson score interval of an accuracy measured on ``n`` examples.

    It is the range the accuracy could plausibly take on another split of the same size: on 30
    test images one image is 0.033, and the interval is wide. (Wilson's interval stays inside [0, 1]
    and behaves at 0 or n correct, where the simpler normal approximation does not; it is not centred
    on the accuracy, so ``half`` is only its average reach.)
    """
    p = round(accuracy * n) / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(accuracy, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")


def split_noise(n: int, difference: bool = False, accuracy: float = 0.5) -> float:
    """Half-width of the 95% interval of an accuracy measured on ``n`` examples (normal approximation).

    At the default ``accuracy=0.5`` it is the widest such interval; near a given accuracy it is
    narrower. With ``difference=True``: of the difference of two accuracies measured on ``n``
    examples each, treated as independent (for two models scored on the same examples this is on the
    safe side). A gap smaller than this can come from which examples happened to be in the split.
    """
    return 1.96 * math.sqrt((2 if difference else 1) * accuracy * (1 - accuracy) / n)


def split_noise_report(scores: dict[str, float], n: int) -> str:
    """Each accuracy with its count and 95% interval, and whether the best one's interval overlaps the others'.

    Overlapping intervals are a rough, conservative check: compared as two separate accuracies, this
    split cannot tell the two apart; a paired test (:func:`mcnemar`) on the same examples can still do so.
    Separate intervals are still one run with one seed.
    """
    intervals = {name: wilson_interval(score, n) for name, score in scores.items()}
    lines = [f"{name}: {score:.3f} ({round(score * n)} of {n}; 95% interval {intervals[name].low:.2f}-"
             f"{intervals[name].high:.2f})" for name, score in scores.items()]
    best = max(scores, key=scores.get)
    tied = [name for name in scores if round(scores[name] * n) == round(scores[best] * n)]
    if len(tied) > 1:
        lines.append(f"{' and '.join(tied)} scored the same ({round(scores[best] * n)} of {n}): this split does "
                     "not rank them")
        return "\n".join(lines)
    overlapping = [name for name in scores if name != best and intervals[name].high >= intervals[best].low]
    if overlapping:
        lines.append(f"one run each, not a ranking: the top score's interval ({best}) overlaps that of "
                     f"{', '.join(overlapping)}: unpaired, {n} examples cannot tell them apart (a paired test on the "
                     "same examples can be sharper)")
    else:
        lines.append(f"the top score's interval ({best}) overlaps no other: a difference on these {n} examples, but "
                     "one run each with one seed, so not a ranking of the methods")
    return "\n".join(lines)


def mean_interval(values: list[float], unit: str = "seed") -> Interval:
    """Mean of runs that differ only in their seed, with its 95% t interval.

    Print it as it is, or as ``f"{i.mean:.3f} +- {i.half:.3f}"``. With 3 seeds the interval is wide
    (t = 4.3, not 1.96, because the spread itself is estimated from only 3 numbers): it says how well 3
    runs pin down the recipe's average, not how any single run will do. An undefined value (NaN) makes
    the mean and interval undefined.
    """
    from scipy.stats import t

    values = tuple(float(v) for v in values)
    if len(values) < 2:
        raise ValueError("A spread needs at least 2 seeds; the course uses 3 for every stated finding.")
    if any(math.isnan(v) for v in values):
        return Interval(math.nan, math.nan, math.nan, len(values), "t", values, unit)
    mean = statistics.fmean(values)
    half = t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half, len(values), "t", values, unit)


def seed_difference(treated: list[float], baseline: list[float], unit: str = "seed") -> Interval:
    """Paired comparison of two methods run with the same seeds (seed i of one against seed i of the other).

    The interval is :func:`mean_interval` of the per-seed differences; ``clear`` says whether it excludes
    zero, and ``verdict`` says so in words.
    """
    differences = mean_interval([a - b for a, b in zip(treated, baseline, strict=True)], unit)
    return dataclasses.replace(differences, method="paired t")


@dataclass(frozen=True)
class PairedTest:
    """McNemar's exact test of two models scored on the same examples."""

    only_a: int  # examples model A got right and model B wrong
    only_b: int  # ... and the other way round
    n: int  # examples in the split
    p_value: float

    def __str__(self) -> str:
        return (f"right only for the first on {self.only_a} of {self.n}, only for the second on {self.only_b}; "
                f"McNemar's exact {'p < 0.001' if self.p_value < 0.0005 else f'p = {self.p_value:.3f}'}")

    @property
    def clear(self) -> bool:
        """True when p < 0.05: the split alone is unlikely to have produced this imbalance."""
        return self.p_value < 0.05

    @property
    def favours_first(self) -> bool:
        """True when the first model is the better one on this split: a clear difference, in its favour."""
        return self.clear and self.only_a > self.only_b

    def above_noise(self, split_noise: float = 0.0) -> bool:
        """True when a difference is positive beyond both noises: its interval over runs lies above zero,
        and its mean is larger than ``split_noise``, what the test split alone can move it by."""
        return self.low > 0 and self.mean > split_noise

    @property
    def verdict(self) -> str:
        """The result in words, from the first model's side: better, worse, or not established here."""
        if not self.clear:
            return "this split does not establish a difference"
        return f"{'better' if self.favours_first else 'worse'} on this split (p < 0.05)"


def mcnemar(correct_a, correct_b) -> PairedTest:
    """Do two models differ on this split? McNemar's exact test, paired by example.

    Examples both models get right (or both wrong) say nothing about which is better; only those where
    they disagree count. If the models were equally good, each disagreement would go either way with
    probability 1/2, so the count for A is Binomial(disagreements, 1/2) and the p-value is that of a
    two-sided binomial test. Pairing makes it far more sensitive than comparing two accuracies' intervals.
    It speaks for this split and these trained models, not for other seeds.
    """
    from scipy.stats import binomtest

    a, b = [bool(x) for x in correct_a], [bool(x) for x in correct_b]
    if len(a) != len(b):
        raise ValueError(f"McNemar's test pairs the same examples: got {len(a)} and {len(b)} results.")
    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    p_value = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return PairedTest(only_a, only_b, len(a), float(p_value))
