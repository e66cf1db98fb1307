"""Hidden tests for task 6.5: the compressors on a held-out play, the ideal code length of a model's
own distributions on held-out text, the crossover as the length at which the adjusted rate meets the
compressor's, and a table of one stage."""

from __future__ import annotations

import math

import pytest

from grader.assertions import close, mapping, sequence
from grader.data import load_text
from grader.suites.capstone import model
from grader.suites.capstone.public.test_tradeoff import check_baselines, check_ideal_bits, crossover, crossover_hints


@pytest.mark.task("6.5")
def test_baseline_bits_on_a_held_out_play(submission, tradeoff):
    """Is baseline_bits right on Twelfth Night, a play of 114,838 characters in no file of the release?"""
    text = load_text("twelfth_night")
    check_baselines(tradeoff.baseline_bits(text), text, "baseline_bits(Twelfth Night)")


@pytest.mark.task("6.5")
def test_ideal_bits_of_a_model_on_held_out_text(submission, tradeoff):
    """Is ideal_bits the code length of the tiny model's own distributions (weights chosen here) on 3,000 characters of The Tempest?"""
    ids = model.ids_of(load_text("valid")[:3000])
    state = model.random_state(model.TINY, seed=64)
    inputs, targets = model.windows(ids, model.TINY["context"])
    logits = model.logits(state, model.TINY, inputs).flatten(0, 1)[targets.flatten() >= 0]
    check_ideal_bits(
        submission, tradeoff, [(logits.log_softmax(-1), ids)], lambda lp: "the tiny model's log_softmax on 3,000 characters"
    )


MEETS = [(3_300_000, 2.45, 2.75), (42_800_000, 2.12, 3.08), (207_000, 2.31, 2.51)]


@pytest.mark.task("6.5")
def test_the_adjusted_rate_meets_the_compressor_at_the_crossover(submission, tradeoff):
    """At n = crossover_length(B, r_m, r_b), is adjusted_rate(B, r_m n, n) the compressor's rate r_b, for models of 0.2 to 43 MB; and is a model that is not better, or no better, never paid back?"""
    for model_bytes, model_bpc, baseline_bpc in MEETS:
        case = (model_bytes, model_bpc, baseline_bpc)
        n = close(
            tradeoff.crossover_length(*case),
            crossover(*case),
            f"crossover_length({model_bytes:,} bytes, model {model_bpc:g}, baseline {baseline_bpc:g})",
            rel=1e-9,
            hints=crossover_hints(case, crossover(*case)),
        )
        close(
            tradeoff.adjusted_rate(model_bytes, model_bpc * n, n),
            baseline_bpc,
            f"adjusted_rate({model_bytes:,} bytes, {model_bpc:g} n bits, n = the crossover {n:,.0f})",
            rel=1e-9,
        )
    for case in ((0, 3.1, 3.08), (207_000, 2.51, 2.51)):
        close(
            tradeoff.crossover_length(*case),
            math.inf,
            f"crossover_length({case[0]:,} bytes, model {case[1]:g}, baseline {case[2]:g})",
            hints=crossover_hints(case, math.inf),
        )


@pytest.mark.task("6.5")
def test_stage_rows_of_one_stage(submission, tradeoff):
    """Is stage_rows of the float32 model alone one row with ratio 1 and increase 0?"""
    rows = sequence(tradeoff.stage_rows([("float32", 3_321_344, 2.4375)]), "stage_rows(one stage)", length=1)
    row = mapping(rows[0], "stage_rows(one stage)[0]")
    close(row.get("ratio"), 1.0, "stage_rows(one stage)[0]['ratio']", tol=0, rel=0)
    close(row.get("increase"), 0.0, "stage_rows(one stage)[0]['increase']", tol=0, rel=0)
