"""Intervals for one split (Wilson) and for a comparison over seeds (paired t)."""

import math

import pytest

from tlcourse import uncertainty


def test_wilson_interval_matches_known_values():
    interval = uncertainty.wilson_interval(0.5, 10)
    assert round(interval.low, 4) == 0.2366 and round(interval.high, 4) == 0.7634
    assert (interval.mean, interval.n, interval.method) == (0.5, 10, "wilson")
    assert str(interval) == "0.500 (5 of 10; 95% interval 0.237-0.763)"
    interval = uncertainty.wilson_interval(0.0, 10)
    assert interval.low == 0.0 and round(interval.high, 4) == 0.2775


def test_noise_report_says_when_one_split_cannot_tell_scores_apart():
    close = uncertainty.split_noise_report({"probe": 0.622, "tf-idf": 0.578}, 45)
    assert "cannot tell" in close and "28 of 45" in close
    # overlapping intervals do not mean "no difference": a paired test on the same examples can still find one
    assert "unpaired" in close and "paired test" in close
    far = uncertainty.split_noise_report({"probe": 0.95, "pixels": 0.30}, 200)
    assert "overlaps no other" in far


def test_noise_report_labels_single_runs_and_does_not_rank_them():
    # one run of each model: the report may say which intervals overlap, but not rank the methods
    for scores, n in [({"probe": 0.622, "tf-idf": 0.578}, 45), ({"probe": 0.95, "pixels": 0.30}, 200)]:
        report = uncertainty.split_noise_report(scores, n)
        assert "highest" not in report and "one run" in report and "not a ranking" in report


def test_seed_difference_is_a_paired_t_interval():
    comparison = uncertainty.seed_difference([0.949, 0.957, 0.958], [0.948, 0.953, 0.953])
    assert comparison.values == pytest.approx([0.001, 0.004, 0.005])
    assert (comparison.n, comparison.method) == (3, "paired t")
    assert comparison.mean == pytest.approx(0.003333, abs=1e-6)
    # sd of (0.001, 0.004, 0.005) is 0.002082; t(0.975, 2) = 4.303; half-width 4.303 * 0.002082 / sqrt(3) = 0.00517
    assert comparison.low == pytest.approx(0.003333 - 0.00517, abs=1e-5)
    assert not comparison.clear and "3 seeds" in str(comparison) and "per seed +0.001, +0.004, +0.005" in str(comparison)
    assert comparison.verdict == "not beyond the seed noise (the interval includes zero)"
    clear = uncertainty.seed_difference([0.90, 0.91, 0.92], [0.80, 0.80, 0.81])
    assert clear.clear and clear.verdict == "beyond the seed noise"
    assert uncertainty.seed_difference([0.90, 0.91], [0.80, 0.80], unit="split").verdict == "beyond the split noise"


def test_a_difference_is_above_both_noises_only_when_it_clears_the_seeds_and_the_split():
    clear = uncertainty.seed_difference([0.90, 0.91, 0.92], [0.80, 0.80, 0.81])  # about +0.107, interval above 0
    assert clear.above_noise() and clear.above_noise(split_noise=0.05)
    assert not clear.above_noise(split_noise=0.2)  # the test split alone could move it that far
    assert not uncertainty.seed_difference([0.80, 0.80, 0.81], [0.90, 0.91, 0.92]).above_noise()  # clear, but below
    assert not uncertainty.seed_difference([0.949, 0.957, 0.958], [0.948, 0.953, 0.953]).above_noise()  # within


def test_seed_difference_needs_matching_seeds():
    with pytest.raises(ValueError):
        uncertainty.seed_difference([0.9, 0.8], [0.9])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        uncertainty.seed_difference([0.9], [0.8])


def test_mean_interval_is_a_t_interval_of_the_mean():
    # values 0.80, 0.84, 0.88: mean 0.84, sd 0.04, t(0.975, 2) = 4.303 -> half-width 4.303 * 0.04 / sqrt(3)
    interval = uncertainty.mean_interval([0.80, 0.84, 0.88])
    assert abs(interval.mean - 0.84) < 1e-12 and abs(interval.half - 4.302653 * 0.04 / 3 ** 0.5) < 1e-5
    assert interval.low == pytest.approx(interval.mean - interval.half) and (interval.n, interval.method) == (3, "t")
    assert str(interval) == "0.840 +- 0.099 over 3 seeds (0.800, 0.840, 0.880)"
    assert "over 3 draws" in str(uncertainty.mean_interval([0.80, 0.84, 0.88], unit="draw"))
    with pytest.raises(ValueError, match="2 seeds"):
        uncertainty.mean_interval([0.9])


def test_mean_interval_of_an_undefined_value_is_undefined_not_a_crash():
    # e.g. a share of a gap that is zero for one seed (notebook 07 on stand-in data)
    interval = uncertainty.mean_interval([0.5, float("nan"), 0.4])
    assert math.isnan(interval.mean) and math.isnan(interval.half) and not interval.clear


def test_split_noise_report_calls_a_tie_a_tie():
    report = uncertainty.split_noise_report({"labels only": 0.764, "distilled": 0.764}, 500)
    assert "scored highest" not in report
    assert "labels only and distilled scored the same (382 of 500)" in report


def test_split_noise_matches_the_widest_binomial_interval_and_grows_for_a_difference():
    one = uncertainty.split_noise(500)
    assert abs(one - 1.96 * 0.5 / 500 ** 0.5) < 1e-12
    # a difference of two independent accuracies has sqrt(2) times the spread of one
    assert abs(uncertainty.split_noise(500, difference=True) / one - 2 ** 0.5) < 1e-12
    # it is the half-width of the Wilson interval at 50%, up to Wilson's small-sample correction
    assert abs(uncertainty.wilson_interval(0.5, 10_000).half - uncertainty.split_noise(10_000)) < 1e-4
    # near a given accuracy the normal-approximation interval is narrower: 1.96 sqrt(p (1 - p) / n)
    assert uncertainty.split_noise(400, accuracy=0.9) == pytest.approx(1.96 * (0.9 * 0.1 / 400) ** 0.5)
    assert uncertainty.split_noise(400, difference=True, accuracy=0.9) == pytest.approx(
        1.96 * (2 * 0.9 * 0.1 / 400) ** 0.5)


def test_every_interval_in_uncertainty_has_one_type():
    """Wilson, a mean over seeds and a paired difference come back as the same Interval (mean, low, high, n,
    method), so a lesson reads every interval the same way; no function hands back a bare tuple."""
    import dataclasses
    import inspect

    made = [uncertainty.wilson_interval(0.8, 50), uncertainty.mean_interval([0.8, 0.9, 0.85]),
            uncertainty.seed_difference([0.8, 0.9, 0.85], [0.7, 0.8, 0.8])]
    assert {type(interval) for interval in made} == {uncertainty.Interval}
    assert {interval.method for interval in made} == {"wilson", "t", "paired t"}
    for name, function in inspect.getmembers(uncertainty, inspect.isfunction):
        if function.__module__ == uncertainty.__name__:
            assert "tuple" not in str(inspect.signature(function).return_annotation), name
    with_edges = [name for name, kind in inspect.getmembers(uncertainty, inspect.isclass)
                  if dataclasses.is_dataclass(kind) and {"low", "high"} <= {f.name for f in dataclasses.fields(kind)}]
    assert with_edges == ["Interval"]


def test_mcnemar_counts_the_examples_only_one_model_gets_right_and_gives_the_exact_binomial_p():
    # 10 examples both get right, A alone right on 9, B alone on 1: exact two-sided p = 2 * P(X <= 1 | n=10, 1/2)
    a = [True] * 10 + [True] * 9 + [False] * 1 + [False] * 5
    b = [True] * 10 + [False] * 9 + [True] * 1 + [False] * 5
    test = uncertainty.mcnemar(a, b)
    assert (test.only_a, test.only_b, test.n) == (9, 1, 25)
    assert math.isclose(test.p_value, 2 * 11 / 1024) and test.clear
    assert "9 of 25" in str(test) and "p = 0.021" in str(test)
    balanced = uncertainty.mcnemar([True, False] * 5, [False, True] * 5)
    assert balanced.p_value == 1.0 and not balanced.clear  # as many wins as losses: no evidence either way
    assert not uncertainty.mcnemar([True] * 4, [True] * 4).clear  # no disagreement at all: nothing to test
    tiny = uncertainty.mcnemar([True] * 30, [False] * 30)
    assert "p < 0.001" in str(tiny) and "p = 0.000" not in str(tiny)  # a p-value is never zero
    with pytest.raises(ValueError, match="same examples"):
        uncertainty.mcnemar([True, False], [True])


def test_a_paired_test_favours_the_first_model_only_when_it_is_clear_and_the_first_wins_more():
    first_better = uncertainty.mcnemar([True] * 9 + [False], [False] * 9 + [True])
    assert first_better.clear and first_better.favours_first
    second_better = uncertainty.mcnemar([False] * 9 + [True], [True] * 9 + [False])
    assert second_better.clear and not second_better.favours_first  # clear, but the other way round
    close = uncertainty.mcnemar([True] * 3 + [False], [False] * 3 + [True])
    assert close.only_a > close.only_b and not close.favours_first  # ahead, but within the noise (p = 0.625)


def test_a_paired_test_words_its_verdict_from_the_first_models_side():
    """One wording for 'better / worse / not established' wherever a notebook prints a McNemar verdict."""
    first_better = uncertainty.mcnemar([True] * 9 + [False], [False] * 9 + [True])
    second_better = uncertainty.mcnemar([False] * 9 + [True], [True] * 9 + [False])
    close = uncertainty.mcnemar([True] * 3 + [False], [False] * 3 + [True])
    assert first_better.verdict == "better on this split (p < 0.05)"
    assert second_better.verdict == "worse on this split (p < 0.05)"
    assert close.verdict == "this split does not establish a difference"
