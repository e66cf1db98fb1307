"""Hidden tests for hw5 task 5.5: the ViT of the public test scored on the 1,000 held-out test
digits (whose labels the student's copy does not hold), random_shift on float64 images and on
shifts as large as the image, the schedule's edges and the invalid inputs of the handout."""

from __future__ import annotations

import pytest
import torch

from grader.assertions import close, raises, tensor
from grader.suites.hw5 import training
from grader.suites.hw5.public.test_train import check_shifts, factor, linear_state, noise


@pytest.mark.task("5.5", weight=2)
@pytest.mark.seeded
@pytest.mark.uses(
    "ViT", "EncoderBlock", "PatchEmbedding", "MultiHeadAttention", "train_vit", "random_shift", "warmup_cosine_factor"
)
def test_vit_on_the_held_out_digits(trained_vit, mnist):
    """Does the ViT your train_vit trained (the public test's run) get at least 80% of the 1,000 held-out test digits right?"""
    x, labels, split = mnist
    test = split == 2
    if bool((labels[test] > 9).any()):
        pytest.skip("the held-out labels are not in this copy of the course")
    state, _, whose = trained_vit()
    accuracy = training.score(state, x[test], labels[test])
    if accuracy < training.TEST_BAR:
        raise AssertionError(
            f"trained by your train_vit, {whose} gets {100 * accuracy:.1f}% of the held-out test digits right; the bar is "
            f"{100 * training.TEST_BAR:g}%"
        )


@pytest.mark.task("5.5")
def test_random_shift_edges(submission):
    """Does random_shift keep float64 images float64, and move 2×3 images by up to 3 pixels, zeros filling what leaves (all zeros when the shift is as large as the image)?"""
    images = noise(400, 1, 5, 5, seed=57).double()
    out = tensor(submission.driver("shifted", images, 2, 4), "random_shift of float64 images", (400, 1, 5, 5), "float64")
    check_shifts(out, images, 2, "random_shift of float64 images")
    small = noise(600, 2, 2, 3, seed=58)
    found = check_shifts(submission.driver("shifted", small, 3, 5), small, 3, "random_shift(2×3 images, max_shift=3)")
    if int(torch.unique(found).numel()) != 16:  # |dy| <= 1 and |dx| <= 2 leave part of the image: 15 shifts, and zeros
        raise AssertionError(
            "random_shift(2×3 images, max_shift=3): over 600 images, not all of the 15 shifts that keep part of the image "
            "and the all-zero image occurred"
        )


@pytest.mark.task("5.5")
def test_warmup_cosine_factor_edges(submission, vit):
    """Is warmup_cosine_factor 0 at the start of a warmup, 1 at its end, final at p = 1, and 1 at p = 0 without warmup?"""
    cases = [
        (0.0, 0.3, 0.05),
        (0.3, 0.3, 0.05),
        (1.0, 0.3, 0.05),
        (0.0, 0.0, 0.5),
        (1.0, 0.0, 0.5),
        (2.0, 0.2, 0.0),
        (0.999, 0.99, 0.0),
    ]
    got = submission.batch([submission.pending_call(vit, "warmup_cosine_factor", p, w, f) for p, w, f in cases])
    for (p, w, f), value in zip(cases, got):
        close(value, factor(p, w, f), f"warmup_cosine_factor({p:g}, warmup={w:g}, final={f:g})", tol=1e-9, rel=1e-9)


@pytest.mark.task("5.5")
def test_train_vit_and_evaluate_refuse_bad_input(submission, vit, mnist):
    """Do train_vit and evaluate raise ValueError for no budget, a negative budget, labels that are not int64 and empty data?"""
    x, labels, split = mnist
    xs, ys = x[:64], labels[:64]
    model = "train_probed"
    submission.driver(model, linear_state(0), xs, ys, {"epochs": 1, "batch_size": 32})  # a valid call first
    submission.driver("evaluated", linear_state(0), xs, ys, None)
    for settings, why in (
        ({}, "no budget (neither epochs nor seconds)"),
        ({"epochs": -1}, "epochs = -1"),
        ({"seconds": 0}, "seconds = 0"),
        ({"epochs": 1, "warmup": 1.0}, "warmup = 1"),
    ):
        raises("ValueError", submission.driver, model, linear_state(0), xs, ys, settings, what=f"train_vit with {why}")
    raises(
        "ValueError", submission.driver, model, linear_state(0), xs, ys.float(), {"epochs": 1}, what="train_vit with float labels"
    )
    raises("ValueError", submission.driver, "evaluated", linear_state(0), xs[:0], ys[:0], None, what="evaluate on no data")
