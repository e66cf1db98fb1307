"""Hidden tests for task 6.1: the public run's model on a held-out play, the schedule at every step
of short schedules (no warmup, one step), get_batch with the shortest text and a context of one,
bits_per_char of the `cpu` shape on held-out text (shorter than the context, whole windows, a short
last window), and param_groups on a model with biases beside gpt.GPT's shape."""

from __future__ import annotations

import pytest
import torch

from grader.data import load_text
from grader.suites.capstone import model, training
from grader.suites.capstone.public.test_train import (
    batch_of,
    check_bits_per_char,
    check_groups,
    check_lr_at,
)

STARTS_CHI2_18 = 62.0  # chi-square with 18 degrees of freedom: P(> 62) < 1e-6 for a uniform draw


@pytest.mark.task("6.1", weight=2)
@pytest.mark.seeded
def test_train_codes_a_held_out_play(submission, seed_of, public_text):
    """Does the model your train trained in the public test (150 steps of the tiny GPT) code The Tempest, a play it never saw, in at most 4.45 bits per character?"""
    run = training.trained(submission, seed_of, public_text)
    bpc = run.bpc("held out", model.ids_of(load_text("valid")))
    if bpc > training.HELD_OUT_BAR:
        raise AssertionError(
            f"after {training.WHAT}, the model codes The Tempest in {bpc:.3f} bits per character (computed here from the "
            f"returned weights); the reference gets 3.83-4.29 over 200 seeds, and the bar is {training.HELD_OUT_BAR}"
        )


@pytest.mark.task("6.1")
def test_lr_at_at_every_step_of_short_schedules(submission, train):
    """Is lr_at the handout's schedule at every step of schedules of 40, 12, 2 and 1 steps, without warmup too?"""
    cases = [
        (s, steps, lr, min_lr, warmup)
        for steps, lr, min_lr, warmup in ((40, 3e-3, 3e-4, 7), (12, 1.0, 0.25, 0), (2, 0.1, 0.01, 1), (1, 0.1, 0.01, 0))
        for s in range(steps)
    ]
    check_lr_at(submission, train, cases)


@pytest.mark.task("6.1")
def test_get_batch_on_the_shortest_text_and_a_context_of_one(submission):
    """With len(ids) = context + 1, is every row x = ids[:-1], y = ids[1:]; and with context 1, does get_batch draw each of the 19 starts of 20 ids about equally often?"""
    g = torch.Generator().manual_seed(63)
    ids = torch.randint(96, (17,), generator=g)
    x, y = batch_of(submission, ids, 5, 16, seed=5)
    if not (bool((x == ids[:-1]).all()) and bool((y == ids[1:]).all())):
        raise AssertionError(
            "get_batch(17 ids, batch=5, context=16): the only start is 0, so every row is x = ids[:16], y = ids[1:17]; "
            f"got x[0] = {x[0].tolist()}, y[0] = {y[0].tolist()}"
        )
    ids = torch.randperm(96, generator=g)[:20]  # distinct: each row's first id shows its start
    draws = 1900
    x, y = batch_of(submission, ids, draws, 1, seed=6)
    where = {int(v): i for i, v in enumerate(ids)}
    starts = torch.tensor([where.get(int(v), -1) for v in x[:, 0]])
    what = f"get_batch(20 ids, batch={draws}, context=1)"
    if bool((starts < 0).any()) or bool((starts > 18).any()):
        raise AssertionError(f"{what}: a row of x starts at {int(starts.max())}, outside 0 .. len(ids) - context - 1 = 18")
    if not bool((y[:, 0] == ids[starts + 1]).all()):
        raise AssertionError(f"{what}: a row's y is not the character after its x (y = ids[s + 1 : s + 2])")
    counts = torch.bincount(starts, minlength=19).double()
    if counts[18] == 0:
        raise AssertionError(f"{what}: the last start, 18, was never drawn (torch.randint's high end is exclusive)")
    chi2 = float(((counts - draws / 19) ** 2 / (draws / 19)).sum())
    if chi2 > STARTS_CHI2_18:
        raise AssertionError(
            f"{what}: the 19 starts are not equally likely (counts {counts.long().tolist()}, chi-square {chi2:.0f})"
        )


@pytest.mark.task("6.1")
def test_bits_per_char_of_the_cpu_shape_on_held_out_text(submission):
    """On The Tempest, with the `cpu` shape (context 128) holding weights chosen here, is bits_per_char right for 50, 256 and 1,000 characters, whatever the batch?"""
    shape = model.CPU
    state = model.random_state(shape, seed=62, scale=0.5)
    text = load_text("valid")
    for start, n, batch in ((20_000, 50, None), (30_000, 256, 1), (40_000, 1000, None), (40_000, 1000, 3)):
        ids = model.ids_of(text[start : start + n])
        where = f"the cpu-shaped model, {n} characters of The Tempest"
        check_bits_per_char(submission, shape, state, ids, batch, where)


@pytest.mark.task("6.1")
def test_param_groups_by_dimension_on_a_model_with_biases(submission):
    """On Embedding(5, 4), Linear(4, 8), LayerNorm(8), GELU, Linear(8, 3), does param_groups(model, 0.05) decay the embedding and the linear weights, and not the biases or LayerNorm's parameters?"""
    shapes = {
        "0.weight": (5, 4),
        "1.weight": (8, 4),
        "1.bias": (8,),
        "2.weight": (8,),
        "2.bias": (8,),
        "4.weight": (3, 8),
        "4.bias": (3,),
    }
    groups = submission.driver("train_groups", None, 0.05)
    check_groups(groups, shapes, 0.05, "param_groups(Embedding, Linear, LayerNorm, GELU, Linear; 0.05)")
