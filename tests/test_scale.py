"""The smoke scale (TLCOURSE_SCALE=smoke): tiny sizes and one epoch, so a teacher can check that a lesson
runs end to end in minutes; the lesson's claims are then recorded as not checked, never silently passed."""

import pytest
import torch

from tlcourse import config, lesson, profiles, results


def make_lesson(scale):
    return lesson.Lesson("scale_test", "quick", torch.device("cpu"), 0, scale)


def test_normal_scale_keeps_every_size_and_asserts_every_claim(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_RESULTS", str(tmp_path / "results.json"))
    normal = make_lesson("normal")
    assert normal.size(1000) == 1000 and normal.epochs(7) == 7
    normal.claim(True, "a true claim")
    with pytest.raises(AssertionError, match="pretrained beats scratch"):
        normal.claim(False, "pretrained beats scratch")
    assert "claims not checked" not in results.load_results()


def test_smoke_scale_shrinks_sizes_and_records_claims_as_not_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_RESULTS", str(tmp_path / "results.json"))
    smoke = make_lesson("smoke")
    assert smoke.size(1000) == 20 and smoke.size(5000) == 50 and smoke.size(10) == 10 and smoke.epochs(7) == 1
    assert smoke.seconds(420) == 42 and make_lesson("normal").seconds(420) == 420
    smoke.claim(False, "pretrained beats scratch")
    smoke.claim(True, "deeper layers beat the stem")
    assert results.load_results()["claims not checked"] == ["pretrained beats scratch", "deeper layers beat the stem"]


def test_scale_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv("TLCOURSE_SCALE", raising=False)
    assert profiles.get_scale() == "normal"
    monkeypatch.setenv("TLCOURSE_SCALE", "smoke")
    assert profiles.get_scale() == "smoke" and lesson.setup("scale_test", verbose=False).scale == "smoke"
    monkeypatch.setenv("TLCOURSE_SCALE", "tiny")
    with pytest.raises(ValueError, match="normal, smoke"):
        profiles.get_scale()


def test_with_stand_in_downloads_claims_are_recorded_not_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_RESULTS", str(tmp_path / "results.json"))
    monkeypatch.setenv("TLCOURSE_STAND_INS", "1")
    make_lesson("normal").claim(False, "pretrained beats scratch")  # random stand-in weights: cannot hold
    assert results.load_results()["claims not checked"] == ["pretrained beats scratch"]
    monkeypatch.setenv("TLCOURSE_STAND_INS", "0")
    with pytest.raises(AssertionError):
        make_lesson("normal").claim(False, "pretrained beats scratch")


def test_smoke_scale_cuts_every_split_of_the_data_sets(monkeypatch):
    from tlcourse import data

    monkeypatch.setenv("TLCOURSE_SCALE", "smoke")
    train_x, train_y, test_x, test_y = data.mnist_digits("quick")
    assert len(train_x) == len(train_y) == data.SMOKE_SPLIT and len(test_y) == data.SMOKE_SPLIT
    text = data.text_task("quick")
    assert [len(text.train_texts), len(text.val_texts), len(text.test_texts)] == [data.SMOKE_SPLIT] * 3
    assert len(data.text_task("quick", n_train=50).train_texts) == 50
    monkeypatch.setenv("TLCOURSE_SCALE", "normal")
    assert len(data.mnist_digits("quick")[1]) == 4000


def test_the_image_size_can_be_overridden_for_tests_and_is_checked(monkeypatch):
    from tlcourse import models

    monkeypatch.setenv("TLCOURSE_IMAGE_SIZE", "32")
    assert models.image_model_spec("full").image_size == 32 and models.image_model_spec("full").name == "resnet50"
    monkeypatch.setenv("TLCOURSE_IMAGE_SIZE", "tiny")
    with pytest.raises(ValueError, match="TLCOURSE_IMAGE_SIZE"):
        models.image_model_spec("full")
    monkeypatch.delenv("TLCOURSE_IMAGE_SIZE")
    assert models.image_model_spec("full").image_size == 224


def test_a_claim_that_does_not_hold_stops_nothing_outside_strict_checking(tmp_path, monkeypatch, capsys):
    """A learner's Run all on Colab must not die on a claim that a 1-point move of the numbers broke: outside
    strict checking (nbval and CI turn it on) the verdict is printed and recorded, not raised."""
    monkeypatch.setenv("TLCOURSE_RESULTS", str(tmp_path / "results.json"))
    monkeypatch.delenv(config.STRICT_CLAIMS, raising=False)
    normal = make_lesson("normal")
    normal.claim(True, "deeper layers beat the stem")
    normal.claim(False, "pretrained beats scratch")
    shown = capsys.readouterr().out
    assert "did not hold in this run: pretrained beats scratch" in shown and "deeper layers" not in shown
    assert results.load_results()["claims that did not hold"] == ["pretrained beats scratch"]
    monkeypatch.setenv(config.STRICT_CLAIMS, "1")
    with pytest.raises(AssertionError, match="pretrained beats scratch"):
        normal.claim(False, "pretrained beats scratch")
