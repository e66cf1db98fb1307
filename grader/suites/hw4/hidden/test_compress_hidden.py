"""Hidden tests for hw4 tasks 4.6 and 4.7: the distillation loss on more shapes and temperatures,
its errors; the size accounting on random tables, streams and masks against the reference's
(`reference.solution("compress")`, on the grading side); and the experiment judged on the test
digits, whose labels never reach the student's code, with its size recounted honestly here by the
reference's `layer_size` and compared with what the student's deep_compress reported."""

from __future__ import annotations

import random

import pytest
import torch

from grader.assertions import integer, mapping, raises
from grader.suites.hw4 import experiment
from grader.suites.hw4.hidden.reference import solution
from grader.suites.hw4.public.test_compress import (
    EXPERIMENT_USES,
    assert_accuracy_kept,
    assert_bar,
    assert_gaps,
    assert_layer_size,
    assert_optimal,
    bits_hint,
    checked_lengths,
    checked_size,
)
from grader.suites.hw4.public.test_distill import Case, assert_gradients, assert_losses, logits, random_case, run
from grader.suites.hw4.size_cases import LENGTH_BITS

# -- 4.6 ---------------------------------------------------------------------------------------------


@pytest.mark.task("4.6")
def test_distillation_on_more_shapes(submission):
    """Are the loss and its gradient right for one example, two classes, 100 classes, T below 1, large logits and a teacher equal to the student?"""
    same = logits(6, 5, 610)
    cases = [
        random_case(600, 2.0, 0.5, n=1, c=10),
        random_case(601, 3.0, 0.8, n=16, c=2),
        random_case(602, 5.0, 0.9, n=64, c=100),
        random_case(603, 0.5, 0.5),
        random_case(604, 1.0, 0.6, scale=40.0),
        random_case(605, 8.0, 0.25, torch.float64, scale=40.0),
        Case(
            same,
            same.clone(),
            torch.tensor([0, 1, 2, 3, 4, 0]),
            4.0,
            0.7,
            "teacher logits equal to the student's, T=4, alpha=0.7",
        ),
    ]
    results = run(submission, cases)
    assert_losses(cases, results)
    assert_gradients(cases, results)


@pytest.mark.task("4.6")
def test_distillation_errors(distill):
    """Does distillation_loss raise ValueError for mismatched logits, labels of the wrong shape, T <= 0 or infinite, and alpha outside [0, 1]?"""
    s, t, y = logits(4, 3, 620), logits(4, 3, 621), torch.tensor([0, 1, 2, 0])
    distill.distillation_loss(s, t, y, 2.0, 0.5)  # valid input first: the stub fails here, not as a pass
    raises("ValueError", distill.distillation_loss, s, logits(4, 5, 622), y, 2.0, 0.5, what="logits (4, 3) and (4, 5)")
    raises("ValueError", distill.distillation_loss, s[0], t[0], y[:1], 2.0, 0.5, what="1-D logits")
    raises("ValueError", distill.distillation_loss, s, t, y[:3], 2.0, 0.5, what="3 labels for 4 examples")
    raises("ValueError", distill.distillation_loss, s, t, y, 0.0, 0.5, what="T = 0")
    raises("ValueError", distill.distillation_loss, s, t, y, -1.0, 0.5, what="T = -1")
    raises("ValueError", distill.distillation_loss, s, t, y, float("inf"), 0.5, what="T = inf")
    raises("ValueError", distill.distillation_loss, s, t, y, 2.0, 1.5, what="alpha = 1.5")
    raises("ValueError", distill.distillation_loss, s, t, y, 2.0, -0.1, what="alpha = -0.1")


# -- 4.7: the size accounting ---------------------------------------------------------------------------


def random_tables(seed: int = 710) -> list[dict[int, int]]:
    r = random.Random(seed)
    tables = []
    for i in range(16):
        n = r.choice((2, 3, 5, 9, 17, 40))
        symbols = r.sample(range(1000), n)
        if i % 4 == 0:
            counts = [r.choice((1, 2, 3)) for _ in symbols]  # many ties
        elif i % 4 == 1:
            counts = [int(2 ** r.uniform(0, 14)) for _ in symbols]  # very unequal
        else:
            counts = [r.randint(1, 100) for _ in symbols]
        table = dict(zip(symbols, counts))
        if i % 3 == 0:
            table[1001 + i] = 0  # a symbol that does not occur
        tables.append(table)
    return tables


@pytest.mark.task("4.7")
def test_huffman_lengths_random_tables(submission, comp):
    """Are huffman_lengths optimal on 16 random count tables (ties, very unequal counts, symbols of count 0)?"""
    ref = solution("compress")
    tables = random_tables()
    outs = submission.batch([submission.pending_call(comp, "huffman_lengths", t) for t in tables])
    for i, (table, out) in enumerate(zip(tables, outs)):
        what = f"huffman_lengths(random table {i}, {sum(c > 0 for c in table.values())} symbols)"
        best = ref.huffman_lengths(table)
        assert_optimal(checked_lengths(out, table, what), table, sum(c * best[s] for s, c in table.items() if c > 0), what)


def random_streams(seed: int = 720) -> list[tuple[torch.Tensor, int]]:
    g = torch.Generator().manual_seed(seed)
    streams = []
    for i, (n, k, sb) in enumerate([(1, 1, 1), (50, 2, 1), (300, 16, 4), (1000, 256, 8), (77, 5, 12), (400, 40, 6), (64, 1, 3)]):
        p = torch.rand(k, generator=g) ** (1 + i)
        streams.append((torch.multinomial(p / p.sum(), n, replacement=True, generator=g), sb))
    return streams


@pytest.mark.task("4.7")
def test_huffman_bits_random_streams(submission, comp):
    """Is huffman_bits exact on random streams of 1 to 256 distinct symbols, symbol_bits from 1 to 12?"""
    ref = solution("compress")
    streams = random_streams()
    outs = submission.batch([submission.pending_call(comp, "huffman_bits", s, sb) for s, sb in streams])
    for (symbols, sb), out in zip(streams, outs):
        what = f"huffman_bits({symbols.numel()} symbols, {len(set(symbols.tolist()))} distinct, symbol_bits={sb})"
        got, want = integer(out, what), ref.huffman_bits(symbols, sb)
        if got != want:
            raise AssertionError(f"{what}: got {got}, expected {want}; {bits_hint(got, want, symbols, sb)}")


def random_masks(seed: int = 730) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(1,), (7,), (30, 20), (16, 8, 3, 3), (300, 40), (10, 10), (3, 1000)]
    densities = [1.0, 0.5, 0.01, 0.2, 0.07, 0.9, 0.004]
    masks = [torch.rand(s, generator=g) < d for s, d in zip(shapes, densities)]
    one = torch.zeros(9, 9, dtype=torch.bool)
    one[4, 4] = True
    return [*masks, one, torch.zeros(2, 3, dtype=torch.bool)]


@pytest.mark.task("4.7")
def test_gaps_random_masks(submission, comp):
    """Are the gaps exact on 1-D, 2-D and 4-D masks from 0.4% to 100% kept, one kept weight and none?"""
    ref = solution("compress")
    masks = random_masks()
    outs = submission.batch([submission.pending_call(comp, "gaps", m) for m in masks])
    for mask, out in zip(masks, outs):
        what = f"gaps(a {tuple(mask.shape)} mask keeping {int(mask.sum())})"
        assert_gaps(out, mask, what)
        assert torch.equal(out, ref.gaps(mask)), f"{what}: got {out.tolist()[:20]}, expected {ref.gaps(mask).tolist()[:20]}"


def reference_size(ref, mask: torch.Tensor, indices: torch.Tensor, bits: int, entries: int | None) -> dict:
    """The reference's LayerSize of these inputs, with the costs that name a mistake."""
    size = ref.layer_size(mask, indices, bits, entries)
    g, kept = ref.gaps(mask), int(mask.sum())
    width = int(g.max()).bit_length() if kept else 0
    return {
        "positions": size.positions,
        "format": size.format,
        "values": size.values,
        "codebook": size.codebook,
        "options": {
            "bitmask": mask.numel(),
            "gaps": kept * width + LENGTH_BITS,
            "huffman gaps": ref.huffman_bits(g, max(1, mask.numel().bit_length())),
        },
        "width": width,
        "largest gap": int(g.max()) if kept else 0,
        "fixed values": kept * bits,
        "huffman values": ref.huffman_bits(indices, bits),
    }


@pytest.mark.task("4.7")
def test_layer_size_random_layers(submission):
    """Is layer_size exact on random masks (0.4% to 100% kept, 1-D to 4-D) and indices at every width from 1 to 8 bits, uniform or skewed?"""
    ref = solution("compress")
    g = torch.Generator().manual_seed(740)
    cases = []
    for i, mask in enumerate(random_masks()):
        bits = 1 + i % 8
        kept = int(mask.sum())
        p = torch.rand(2**bits, generator=g) ** (4 if i % 2 else 0)
        indices = (
            torch.multinomial(p / p.sum(), kept, replacement=True, generator=g) if kept else torch.zeros(0, dtype=torch.int64)
        )
        cases.append((mask, indices, bits, 2 if i == 3 else None))
    outs = submission.batch([submission.pending_driver("layer_size", *c) for c in cases])
    for (mask, indices, bits, entries), out in zip(cases, outs):
        what = "layer_size(random layer)"
        assert_layer_size(checked_size(out, what), reference_size(ref, mask, indices, bits, entries), mask, bits, entries, what)


@pytest.mark.task("4.7")
def test_layer_size_errors(submission):
    """Does layer_size raise ValueError when the number of indices is not the number of kept weights?"""
    mask = torch.zeros(4, 8, dtype=torch.bool)
    mask.view(-1)[[0, 11, 31]] = True
    for n in (2, 4):
        raises(
            "ValueError",
            submission.driver,
            "layer_size",
            mask,
            torch.zeros(n, dtype=torch.int64),
            2,
            None,
            what=f"layer_size with {n} indices for 3 kept weights",
        )


# -- 4.7: the experiment on the test digits -------------------------------------------------------------


def honest_bits(state: dict) -> int:
    """The honest size of the compressed network, recounted here by the reference's layer_size: per
    weight matrix, its mask (the non-zero entries) and each kept weight's index among the matrix's
    distinct values, at experiment.BITS bits; the biases in float32."""
    ref = solution("compress")
    bits = 0
    for name, value in state.items():
        if name.endswith("weight"):
            mask, codebook = experiment.shared(value, name)
            indices = torch.searchsorted(codebook, value[mask])
            bits += ref.layer_size(mask, indices, experiment.BITS).total
        else:
            bits += 32 * value.numel()
    return bits


@pytest.mark.task("4.7", weight=2)
@pytest.mark.seeded
@pytest.mark.uses(*EXPERIMENT_USES)
def test_deep_compress_keeps_test_accuracy(compressed, mnist):
    """Does the compressed network score within 1 point of its float32 original on the 1,000 test digits?"""
    original, state, _ = compressed()
    x, labels, split = mnist
    assert_accuracy_kept(original, state, x[split == 2], labels[split == 2], "test")
    assert_bar(original, state, mnist)


@pytest.mark.task("4.7", weight=2)
@pytest.mark.seeded
@pytest.mark.uses(*EXPERIMENT_USES)
def test_deep_compress_honest_size(compressed, mnist):
    """By the honest count (the cheapest positions, Huffman-coded values, the codebooks, the biases), is the compressed network at least 20× smaller?"""
    original, state, _ = compressed()
    bits = honest_bits(state)
    ratio = experiment.PARAMETERS * 32 / bits
    if ratio < experiment.RATIO:
        raise AssertionError(
            f"by the honest count the compressed network takes {bits:,} bits: {ratio:.1f}× smaller than the float32 network's "
            f"{experiment.PARAMETERS * 32:,} bits, at least {experiment.RATIO:g}× is required"
        )
    assert_bar(original, state, mnist)


UNDER_REPORT = 0.02  # the reported size may be below the recount by at most this fraction


@pytest.mark.task("4.7")
@pytest.mark.seeded
@pytest.mark.uses(*EXPERIMENT_USES)
def test_deep_compress_reports_an_honest_size(compressed, mnist):
    """Is the ModelSize that deep_compress returns no smaller than the honest count of the network it left?"""
    original, state, size = compressed()
    size = mapping(size, "the ModelSize deep_compress returned")
    reported = integer(size.get("bits"), "ModelSize.bits of deep_compress")
    bits = honest_bits(state)
    if reported < (1 - UNDER_REPORT) * bits:
        dense = sum(v.numel() for k, v in state.items() if not k.endswith("weight"))
        layers = size.get("layers")
        parts = ""
        if isinstance(layers, dict) and layers:
            first = next(iter(layers.values()))
            if isinstance(first, dict):
                parts = f" (its first layer: {', '.join(f'{k} {v}' for k, v in first.items() if k != 'total')})"
        hint = (
            f"the {dense} biases are missing: ModelSize.dense counts them, 32 bits each"
            if reported == bits - 32 * dense
            else "every bit a decoder needs counts: where the kept weights are, their indices, the codebooks and the biases"
        )
        raise AssertionError(
            f"deep_compress reported {reported:,} bits, but the network it left takes {bits:,} by the honest count: it "
            f"under-reports its size{parts}; {hint}"
        )
    assert_bar(original, state, mnist)
