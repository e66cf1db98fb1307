"""Hidden tests for hw4 part 2 (quantize.py): tasks 4.3-4.5 on edge cases and held-out tensors.

Degenerate tensors (zeros, all equal, one element) and convolution weights per channel against
torch.ao's observers, every bit width from 2 to 8, exact zeros after a round trip, k-means at every
bit width from 1 to 8 against the reference solution run here, constant weights, and the errors the
handout lists."""

from __future__ import annotations

import pytest
import torch

from grader.assertions import raises, tensor
from grader.suites.hw4.hidden.reference import solution
from grader.suites.hw4.public.test_quantize import (
    assert_fake_quantize,
    assert_kmeans_matches,
    assert_qparams,
    checked_kmeans,
    checked_qparams,
    observer_qparams,
    quantize_dequantize,
)

# ---- 4.3 -------------------------------------------------------------------------------------------

DEGENERATE = {
    "zeros (3, 4)": torch.zeros(3, 4),
    "all 2.5 (3, 4)": torch.full((3, 4), 2.5),
    "all -2.5 (3, 4)": torch.full((3, 4), -2.5),
    "one element [0.7]": torch.tensor([0.7]),
    "one element [-0.7]": torch.tensor([-0.7]),
}


@pytest.mark.task("4.3")
def test_qparams_of_degenerate_tensors(submission, quant):
    """For tensors of zeros, of equal values and of one element, per tensor and per channel, is the scale finite, at least EPS, and torch.ao's, at every bit width?"""
    rows = torch.stack([torch.zeros(4), torch.full((4,), 2.5), torch.full((4,), -2.5), torch.tensor([0.0, 0.0, 1e-3, 0.0])])
    single = torch.tensor([[0.7, -0.7, 0.0, 3.0, -1e-3]])  # one element per channel of axis 1
    cases = [(x, name, None) for name, x in DEGENERATE.items()]
    cases += [(rows, "rows: zeros, all 2.5, all -2.5, one non-zero", 0), (single, "one element per channel", 1)]
    calls, meta = [], []
    for x, name, axis in cases:
        for bits in range(2, 9):
            for sym in (False, True):
                calls.append(submission.pending_call(quant, "qparams", x, bits, sym, axis))
                meta.append((x, name, axis, bits, sym))
    for (x, name, axis, bits, sym), out in zip(meta, submission.batch(calls)):
        what = f"qparams({name}, bits={bits}, symmetric={sym}, per_channel_axis={axis})"
        assert_qparams(out, x, bits, sym, axis, what)


@pytest.mark.task("4.3")
def test_qparams_of_convolution_weights_per_channel(submission, quant):
    """Per output and per input channel of a convolution weight (axes 0, 1, 3 and -4), does qparams match torch.ao's PerChannelMinMaxObserver?"""
    g = torch.Generator().manual_seed(300)
    w = torch.randn(8, 3, 3, 3, generator=g) * torch.linspace(0.01, 0.5, 8).reshape(8, 1, 1, 1)
    cases = [(axis, bits, sym) for axis in (0, 1, 3, -4) for bits in (3, 5, 8) for sym in (False, True)]
    outs = submission.batch([submission.pending_call(quant, "qparams", w, b, s, a) for a, b, s in cases])
    for (axis, bits, sym), out in zip(cases, outs):
        assert_qparams(
            out, w, bits, sym, axis, f"qparams(conv weight (8, 3, 3, 3), bits={bits}, symmetric={sym}, per_channel_axis={axis})"
        )


@pytest.mark.task("4.3")
def test_quantize_convolution_weights_at_every_bit_width(submission, quant):
    """Per channel of a convolution weight, at every bit width 2-8, do quantize and dequantize give torch's fake quantization?"""
    g = torch.Generator().manual_seed(310)
    w = torch.randn(6, 4, 3, 3, generator=g) * 0.2 + 0.05
    narrower = w * 0.7  # the extremes lie beyond the range and are clamped
    cases = []
    for bits in range(2, 9):
        for axis, sym in ((0, bits % 2 == 0), (1, bits % 2 == 1)):
            scale, zp = observer_qparams(narrower, bits, sym, axis)
            cases.append((bits, sym, axis, scale, zp))
    quantize_dequantize(submission, quant, w, cases, "conv weight (6, 4, 3, 3)")


@pytest.mark.task("4.3")
def test_zero_comes_back_exactly_zero(submission, quant):
    """With its own qparams (asymmetric, per tensor and per channel), does every pruned weight (0) come back exactly 0?"""
    g = torch.Generator().manual_seed(320)
    w = torch.randn(10, 12, generator=g) * 0.3 + 0.1
    w[torch.rand(10, 12, generator=g) < 0.5] = 0.0
    w[3] = w[3].abs()  # a channel with no negative weight
    cases = [(bits, axis) for bits in (2, 3, 4, 7, 8) for axis in (None, 0)]
    params = submission.batch([submission.pending_call(quant, "qparams", w, bits, False, axis) for bits, axis in cases])
    checked = [
        checked_qparams(out, f"qparams(w, {bits}, symmetric=False, per_channel_axis={axis})", () if axis is None else (10,), axis)
        for (bits, axis), out in zip(cases, params)
    ]
    quantized = submission.batch(
        [submission.pending_call(quant, "quantize", w, s, z, bits, False, axis) for (bits, axis), (s, z) in zip(cases, checked)]
    )
    outs = submission.batch(
        [submission.pending_call(quant, "dequantize", q, s, z, axis) for q, (_, axis), (s, z) in zip(quantized, cases, checked)]
    )
    for (bits, axis), x_hat in zip(cases, outs):
        what = f"dequantize(quantize(w)) with qparams(w, {bits}, symmetric=False, per_channel_axis={axis})"
        x_hat = tensor(x_hat, what, tuple(w.shape), "float32")
        moved = (w == 0) & (x_hat != 0)
        if bool(moved.any()):
            i = int(moved.flatten().nonzero()[0])
            raise AssertionError(
                f"{what}: a weight of 0 came back as {float(x_hat.flatten()[i]):.6g}; the range holds 0 and the zero point is an "
                "integer, so 0 quantizes to the zero point and comes back exactly 0 (a pruned weight stays pruned)"
            )


@pytest.mark.task("4.3")
def test_invalid_input_raises_value_error_hidden(submission, quant):
    """Do qparams, quantize and dequantize refuse a bool or float bit width, a non-finite entry, and scales or an axis that do not fit x?"""
    x = torch.tensor([[0.5, -1.0, 2.0], [0.25, 0.0, -0.75]])
    assert_qparams(quant.qparams(x, 3, True, 0), x, 3, True, 0, "qparams(x of shape (2, 3), 3, True, per_channel_axis=0)")
    raises("ValueError", quant.qparams, x, True, False, what="qparams(x, bits=True) (a bool is not a bit width)")
    raises("ValueError", quant.qparams, x, 4.0, False, what="qparams(x, bits=4.0) (not an integer)")
    raises("ValueError", quant.qparams, torch.tensor([1.0, float("inf")]), 8, False, what="qparams of a tensor holding inf")
    raises("ValueError", quant.qparams, torch.tensor([1.0, float("nan")]), 8, True, 0, what="qparams of a tensor holding nan")
    raises("ValueError", quant.qparams, x, 8, False, 1.0, what="qparams(x, per_channel_axis=1.0) (not an integer)")
    raises(
        "ValueError",
        quant.quantize,
        x,
        torch.tensor([0.1, 0.2]),
        torch.tensor([0, 0]),
        8,
        False,
        what="quantize(x, two scales, axis=None) (per tensor: one each)",
    )
    raises(
        "ValueError",
        quant.quantize,
        x,
        torch.ones(2),
        torch.zeros(2, dtype=torch.int64),
        8,
        False,
        2,
        what="quantize(x of 2 dims, axis=2)",
    )
    raises("ValueError", quant.quantize, x, 0.1, 0, 9, False, what="quantize(x, bits=9)")
    raises(
        "ValueError",
        quant.dequantize,
        torch.zeros(2, 3, dtype=torch.int64),
        torch.ones(2),
        torch.zeros(2, dtype=torch.int64),
        1,
        what="dequantize(q of shape (2, 3), two scales, axis=1) (axis 1 has 3 channels)",
    )


# ---- 4.4 -------------------------------------------------------------------------------------------


def heldout_weights() -> torch.Tensor:
    """500 weights of two overlapping lumps (no weight near a tie at any step of the reference's
    run, at any bit width from 1 to 8)."""
    g = torch.Generator().manual_seed(252)
    a = torch.randn(500, generator=g) * 0.05
    b = torch.randn(500, generator=g) * 0.02 + 0.1
    return torch.where(torch.rand(500, generator=g) < 0.7, a, b).to(torch.float32).reshape(20, 25)


@pytest.mark.task("4.4")
def test_kmeans_at_every_bit_width_matches_the_reference(submission, quant):
    """On a held-out layer, at every bit width 1-8 (more centroids than clusters at the top), do codebook and indices match the reference's?"""
    w = heldout_weights()
    outs = submission.batch([submission.pending_call(quant, "kmeans_share", w, bits) for bits in range(1, 9)])
    reference = solution("quantize")
    for bits, out in zip(range(1, 9), outs):
        codebook, indices = reference.kmeans_share(w, bits)
        assert_kmeans_matches(out, w, bits, codebook, indices, f"kmeans_share(held-out w of shape (20, 25), bits={bits})")


@pytest.mark.task("4.4")
def test_kmeans_of_constant_and_single_weights(submission, quant):
    """For constant weights and a single weight, is every centroid that value (finite), so that codebook[indices] is the weight itself?"""
    cases = [
        (torch.full((4, 4), 0.3), 1, "constant 0.3 (4, 4)"),
        (torch.full((4, 4), 0.3), 2, "constant 0.3 (4, 4)"),
        (torch.full((4, 4), -0.3), 8, "constant -0.3 (4, 4)"),
        (torch.tensor([0.7]), 3, "a single weight [0.7]"),
        (torch.tensor([-1.0, 1.0, 1.0]), 1, "[-1, 1, 1]"),
    ]
    outs = submission.batch([submission.pending_call(quant, "kmeans_share", w, bits) for w, bits, _ in cases])
    for (w, bits, name), out in zip(cases, outs):
        what = f"kmeans_share({name}, bits={bits})"
        codebook, indices = checked_kmeans(out, what, tuple(w.shape), bits)
        shared = codebook[indices]
        if not bool(((shared - w).abs() <= 1e-6).all()):
            raise AssertionError(
                f"{what}: codebook[indices] is {shared.flatten().tolist()[:6]}, expected the weights {w.flatten().tolist()[:6]}; "
                "when min = max the linear start puts every centroid at that value, and a centroid with no weight stays there"
            )
    _, indices = checked_kmeans(outs[-1], "kmeans_share([-1, 1, 1], bits=1)", (3,), 1)
    assert indices.tolist() == [0, 1, 1], f"kmeans_share([-1, 1, 1], bits=1): indices {indices.tolist()}, expected [0, 1, 1]"


@pytest.mark.task("4.4")
def test_kmeans_and_centroid_gradients_errors(submission, quant):
    """Do kmeans_share and centroid_gradients refuse a bit width outside 1-8, an invalid weight, mismatched shapes and indices outside 0..k-1?"""
    w = torch.tensor([0.0, 0.5, 1.0])
    checked_kmeans(quant.kmeans_share(w, 1), "kmeans_share([0, 0.5, 1], bits=1)", (3,), 1)
    raises("ValueError", quant.kmeans_share, w, 0, what="kmeans_share(w, bits=0)")
    raises("ValueError", quant.kmeans_share, w, 9, what="kmeans_share(w, bits=9)")
    raises("ValueError", quant.kmeans_share, w, True, what="kmeans_share(w, bits=True)")
    raises("ValueError", quant.kmeans_share, torch.arange(4), 2, what="kmeans_share of an int64 tensor")
    raises("ValueError", quant.kmeans_share, torch.tensor([0.0, float("nan")]), 2, what="kmeans_share of a tensor holding nan")
    grad, indices = torch.ones(2, 3), torch.zeros(2, 3, dtype=torch.int64)
    raises(
        "ValueError", quant.centroid_gradients, grad, indices.flatten(), 4, what="centroid_gradients(grad (2, 3), indices (6,))"
    )
    raises("ValueError", quant.centroid_gradients, grad, indices + 4, 4, what="centroid_gradients with index 4 and k=4")
    raises("ValueError", quant.centroid_gradients, grad, indices - 1, 4, what="centroid_gradients with index -1")


@pytest.mark.task("4.4")
def test_centroid_gradients_of_a_convolution_with_most_indices_unused(submission, quant):
    """For a float64 convolution gradient and k = 256 with few indices used, is each entry the sum over its weights, and 0 elsewhere?"""
    g = torch.Generator().manual_seed(330)
    grad = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    indices = torch.randint(0, 16, (4, 3, 3, 3), generator=g) * 16 + 3
    out = quant.centroid_gradients(grad, indices, 256)
    out = tensor(out, "centroid_gradients(float64 grad (4, 3, 3, 3), k=256)", (256,), "float64")
    expected = torch.zeros(256, dtype=torch.float64).index_add_(0, indices.flatten(), grad.flatten())
    bad = (out - expected).abs() > 1e-9 + 1e-9 * expected.abs()
    if bool(bad.any()):
        j = int(bad.nonzero()[0])
        raise AssertionError(
            f"centroid_gradients(float64 grad (4, 3, 3, 3), k=256): entry {j} is {float(out[j]):.10g}, expected "
            f"{float(expected[j]):.10g} (the sum of the gradients of the {int((indices == j).sum())} weights with index {j})"
        )


# ---- 4.5 -------------------------------------------------------------------------------------------


@pytest.mark.task("4.5")
def test_fake_quantize_convolution_weights_at_every_bit_width(submission):
    """Per channel of a convolution weight (axes 0 and 1), at every bit width 2-8, do fake_quantize's output and gradient match torch's?"""
    g = torch.Generator().manual_seed(340)
    w = torch.randn(6, 3, 3, 3, generator=g) * 0.2
    upstream = torch.randn(6, 3, 3, 3, generator=g)
    cases = []
    for bits in range(2, 9):
        axis, sym = (0, False) if bits % 2 else (1, True)
        scale, zp = observer_qparams(w * 0.8, bits, sym, axis)
        cases.append((bits, sym, axis, scale, zp))
    outs = submission.batch(
        [submission.pending_driver("fake_quantize", w, s, z, bits, sym, axis, upstream) for bits, sym, axis, s, z in cases]
    )
    for (bits, sym, axis, scale, zp), out in zip(cases, outs):
        what = f"fake_quantize(conv weight (6, 3, 3, 3), bits={bits}, symmetric={sym}, axis={axis})"
        assert_fake_quantize(out, w, scale, zp, bits, sym, axis, upstream, what)


@pytest.mark.task("4.5")
def test_fake_quantize_errors(submission, quant):
    """Does fake_quantize refuse a bit width outside 2-8, an integer x, and a scale of the wrong length for the axis?"""
    x = torch.tensor([[0.5, -1.0], [0.25, 2.0]])
    y = tensor(
        quant.fake_quantize(x, 0.25, 0, 4, True),
        "fake_quantize(x, scale 0.25, zero point 0, 4 bits symmetric)",
        (2, 2),
        "float32",
    )
    assert y.tolist() == [[0.5, -1.0], [0.25, 1.75]], (
        f"fake_quantize(x, scale 0.25, 4 bits symmetric): got {y.tolist()}, expected [[0.5, -1.0], [0.25, 1.75]]"
    )
    raises("ValueError", quant.fake_quantize, x, 0.25, 0, 9, True, what="fake_quantize(x, bits=9)")
    raises("ValueError", quant.fake_quantize, x, 0.25, 0, 1, False, what="fake_quantize(x, bits=1)")
    raises(
        "ValueError",
        quant.fake_quantize,
        torch.ones(2, 2, dtype=torch.int64),
        0.25,
        0,
        4,
        True,
        what="fake_quantize of an int64 x",
    )
    raises(
        "ValueError",
        quant.fake_quantize,
        x,
        torch.ones(3),
        torch.zeros(3, dtype=torch.int64),
        4,
        True,
        0,
        what="fake_quantize(x of shape (2, 2), three scales, axis=0)",
    )
