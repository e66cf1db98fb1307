"""Public tests for hw4 part 2 (quantize.py): tasks 4.3-4.5, against torch's own quantization.

- 4.3: `qparams` against torch.ao.quantization's MinMaxObserver and PerChannelMinMaxObserver given
  the handout's integer range (quant_min, quant_max = qrange(bits, symmetric); quint8 with an affine
  scheme, qint8 with a symmetric one). With that range they follow the handout's rule exactly, the
  symmetric scale max|x| / ((qmax - qmin) / 2) and the EPS floor included, at every bit width from 2
  to 8. `quantize` and `dequantize` against torch.quantize_per_tensor at 8 bits and against
  torch.fake_quantize_per_tensor_affine / per_channel_affine, whose quant_min and quant_max take any
  range.
- 4.4: `kmeans_share` for its linear start, a Lloyd fixed point, the handout's example, empty
  clusters, and, on the fixed cases of `quantize_cases`, the reference's outputs that `course
  snapshot hw4` stored; `centroid_gradients` against the sum per cluster (its definition).
- 4.5: `fake_quantize`'s forward and backward against torch.fake_quantize_per_tensor_affine /
  per_channel_affine (through the `fake_quantize` driver, since autograd does not cross the seam),
  and LeNet-300-100 trained at 2 bits through the given QuantLinear, judged here on the validation
  digits with torch's fake quantization of the weights it returns.

Integers are compared exactly, except where the exact x / scale + zero_point lies within float32
round-off of a half: there either neighbouring integer passes, as the handout says
(`assert_integers`). Scales, values and codebooks are compared within float32 round-off."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

from grader.assertions import mapping, raises, sequence, tensor
from grader.suites.hw4 import experiment
from grader.worker.drivers.hw4 import build

EPS = float(torch.finfo(torch.float32).eps)  # the smallest scale, as the handout and torch.ao say
RTOL = 1e-5  # float32 round-off, with room for formulas that order the operations differently
HALF = 1e-5  # within HALF * max(1, |v|) of a half, v = x / scale + zero_point may round either way
TIE = 2e-6  # relative to the weights' range: two centroids this close to equidistant are a tie


# ---- shared helpers ------------------------------------------------------------------------------


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """The handout's integer range (the given `qrange`)."""
    return (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)


def along(t: torch.Tensor, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """`t` shaped to broadcast against x: per tensor a single value, per channel laid along `axis`."""
    if axis is None:
        return t.reshape(())
    shape = [1] * x.dim()
    shape[axis] = -1
    return t.reshape(shape)


def observer_qparams(x: torch.Tensor, bits: int, symmetric: bool, axis: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.ao's observers with the handout's range: (scale float32, zero_point int64), 0-dim per tensor."""
    qmin, qmax = qrange(bits, symmetric)
    dtype = torch.qint8 if symmetric else torch.quint8
    if axis is None:
        scheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
        observer = MinMaxObserver(dtype=dtype, qscheme=scheme, quant_min=qmin, quant_max=qmax)
    else:
        scheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
        observer = PerChannelMinMaxObserver(ch_axis=axis, dtype=dtype, qscheme=scheme, quant_min=qmin, quant_max=qmax)
    observer(x.detach().to(torch.float32))
    scale, zero_point = observer.calculate_qparams()
    if axis is None:
        scale, zero_point = scale.reshape(()), zero_point.reshape(())
    return scale.to(torch.float32), zero_point.to(torch.int64)


def torch_fake_quantize(x: torch.Tensor, scale, zero_point, bits: int, symmetric: bool, axis: int | None = None, upstream=None):
    """torch's fake quantization of x (in float32 or float64, as x) and, given `upstream`, x's
    gradient through it: (values, gradient or None)."""
    qmin, qmax = qrange(bits, symmetric)
    x = x.detach().clone().requires_grad_(upstream is not None)
    scale = torch.as_tensor(scale, dtype=torch.float32)
    zero_point = torch.as_tensor(zero_point, dtype=torch.int32)
    if axis is None:
        y = torch.fake_quantize_per_tensor_affine(x, float(scale), int(zero_point), qmin, qmax)
    else:
        y = torch.fake_quantize_per_channel_affine(x, scale.reshape(-1), zero_point.reshape(-1), axis % x.dim(), qmin, qmax)
    if upstream is None:
        return y.detach(), None
    (y * upstream.to(y.dtype)).sum().backward()  # x.grad = upstream * dy/dx (backward(upstream) would import sympy)
    return y.detach(), x.grad


def exact_v(x: torch.Tensor, scale, zero_point, axis: int | None = None) -> torch.Tensor:
    """x / scale + zero_point in float64: what round() is applied to, without float32's round-off."""
    x = x.detach().to(torch.float64)
    s = along(torch.as_tensor(scale, dtype=torch.float64), x, axis)
    z = along(torch.as_tensor(zero_point, dtype=torch.float64), x, axis)
    return x / s + z


def accepted(v: torch.Tensor, qmin: int, qmax: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For reals v (float64): (round(v), floor(v), ceil(v)) clamped to [qmin, qmax], as int64, and
    where v is within float32 round-off of a half, so that floor and ceil both pass."""
    half = (v - torch.floor(v) - 0.5).abs() <= HALF * v.abs().clamp(min=1.0)

    def clamp(t: torch.Tensor) -> torch.Tensor:
        return t.clamp(qmin, qmax).to(torch.int64)

    return clamp(torch.round(v)), clamp(torch.floor(v)), clamp(torch.ceil(v)), half


def like(got: torch.Tensor, rule, t: torch.Tensor, qmin: int, qmax: int) -> bool:
    """Whether the integers `got` are rule(t), clamped to [qmin, qmax], everywhere: a mistake's
    formula, applied to reals t (float64) on both sides of their float32 round-off."""
    delta = HALF * t.abs().clamp(min=1.0)
    below = rule(t - delta).clamp(qmin, qmax).to(torch.int64)
    above = rule(t + delta).clamp(qmin, qmax).to(torch.int64)
    return bool(((got == below) | (got == above)).all())


def integer_hint(
    got: torch.Tensor, v: torch.Tensor, zero_point_v: torch.Tensor, qmin: int, qmax: int, bits: int, symmetric: bool, first: int
) -> str:
    """The mistake a wrong tensor of integers looks like (`first`: the flat index of the first wrong
    entry), or ""."""
    g = int(got.flatten()[first])
    if g < qmin or g > qmax:
        if symmetric and g == qmin - 1:
            return (
                f"the symmetric range at {bits} bits is [{qmin}, {qmax}]: got q = {g}, one level too many "
                f"(-2^(b-1) belongs to the signed type, not to the symmetric range)"
            )
        return f"q = {g} is outside [{qmin}, {qmax}] at {bits} bits: clamp round(x * (1/scale)) + zero_point to the range"
    raw = v - zero_point_v  # x / scale
    truncated = (
        lambda t: torch.trunc(t - zero_point_v) + zero_point_v,  # .to(int64) of x / scale, then + zero_point
        lambda t: torch.floor(t - zero_point_v) + zero_point_v,
        torch.trunc,  # .to(int64) after adding the zero point
    )
    for rule in truncated:
        if like(got, rule, v, qmin, qmax):
            return "it looks truncated (or floored): round to the nearest integer with torch.round, not .to(torch.int64)"
    if like(got, torch.round, raw, qmin, qmax):
        return "the zero point was not added: q = round(x * (1/scale)) + zero_point"
    if like(got, lambda t: torch.round(t) - zero_point_v, raw, qmin, qmax):
        return "the zero point has the wrong sign: q = round(x * (1/scale)) + zero_point"
    return ""


def assert_integers(
    got,
    v: torch.Tensor,
    qmin: int,
    qmax: int,
    what: str,
    *,
    bits: int,
    symmetric: bool,
    zero_point_v: torch.Tensor | None = None,
    x: torch.Tensor | None = None,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """`got` is an int64 tensor of v's shape equal to clamp(round(v), qmin, qmax), where at a half
    (within float32 round-off) either neighbour passes. `reference` (torch's integers) replaces
    round(v) away from the halves, where the two agree; `zero_point_v` (broadcast like v) and `x`
    make the feedback name the mistake."""
    got = tensor(got, what, tuple(v.shape), "int64")
    exact, low, high, half = accepted(v, qmin, qmax)
    if reference is not None:
        exact = torch.where(half, exact, reference.to(torch.int64))
    ok = (got == exact) | (half & ((got == low) | (got == high)))
    if bool(ok.all()):
        return got
    i = int((~ok).flatten().nonzero()[0])
    where = tuple(int(k) for k in np.unravel_index(i, tuple(v.shape))) if v.dim() else ()
    at = f" (x = {float(x.flatten()[i]):.8g})" if x is not None else ""
    message = (
        f"{what}: entry {list(where)}{at} is {int(got.flatten()[i])}, expected {int(exact.flatten()[i])}: "
        f"x * (1/scale) + zero_point = {float(v.flatten()[i]):.7g}, rounded and clamped to [{qmin}, {qmax}]"
    )
    zv = zero_point_v if zero_point_v is not None else torch.zeros_like(v)
    hint = integer_hint(got, v, zv.expand_as(v), qmin, qmax, bits, symmetric, i)
    raise AssertionError(message + (f"; {hint}" if hint else ""))


def assert_values(got, expected: torch.Tensor, what: str, dtype: str = "float32", hint: str = "") -> torch.Tensor:
    """`got` is a tensor of expected's shape and `dtype`, equal to it within float32 round-off."""
    got = tensor(got, what, tuple(expected.shape), dtype)
    atol = 1e-6 * float(expected.abs().max()) if expected.numel() else 0.0
    bad = (got.to(torch.float64) - expected.to(torch.float64)).abs() > atol + RTOL * expected.to(torch.float64).abs()
    bad |= ~torch.isfinite(got)
    if not bool(bad.any()):
        return got
    i = int(bad.flatten().nonzero()[0])
    where = [int(k) for k in np.unravel_index(i, tuple(expected.shape))] if expected.dim() else []
    message = f"{what}: entry {where} is {float(got.flatten()[i]):.8g}, expected {float(expected.flatten()[i]):.8g}"
    raise AssertionError(message + (f"; {hint}" if hint else ""))


def dequantized(q: torch.Tensor, scale, zero_point, axis: int | None) -> torch.Tensor:
    """(q - zero_point) * scale in float64, for the integers a student chose at a half."""
    s = along(torch.as_tensor(scale, dtype=torch.float64), q, axis)
    z = along(torch.as_tensor(zero_point, dtype=torch.float64), q, axis)
    return (q.to(torch.float64) - z) * s


def values_at_halves(torch_values: torch.Tensor, torch_q: torch.Tensor, q: torch.Tensor, scale, zero_point, axis) -> torch.Tensor:
    """torch's values, except where the integer chosen (q, already accepted) differs from torch's at
    a half: there the value of the integer chosen."""
    return torch.where(q == torch_q, torch_values.to(torch.float64), dequantized(q, scale, zero_point, axis))


def integers_of(values: torch.Tensor, scale, zero_point, axis: int | None) -> torch.Tensor:
    """The integers behind torch's fake-quantized values: round(values / scale) + zero_point."""
    s = along(torch.as_tensor(scale, dtype=torch.float64), values, axis)
    z = along(torch.as_tensor(zero_point, dtype=torch.int64), values, axis)
    return torch.round(values.to(torch.float64) / s).to(torch.int64) + z


def scale_hint(x: torch.Tensor, got: torch.Tensor, bits: int, symmetric: bool, axis: int | None) -> str:
    """The mistake a wrong scale looks like, or ""."""
    qmin, qmax = qrange(bits, symmetric)
    rows = x.to(torch.float64).reshape(1, -1) if axis is None else x.to(torch.float64).movedim(axis, 0).flatten(1)
    low, high = rows.min(dim=1).values, rows.max(dim=1).values
    absmax = torch.maximum(-low, high).clamp(min=0)
    got = got.to(torch.float64).reshape(-1)

    def like(candidate: torch.Tensor) -> bool:
        candidate = candidate.clamp(min=EPS).expand_as(got)
        return bool(((got - candidate).abs() <= 1e-5 * candidate).all())

    if bool((got < EPS * (1 - 1e-6)).any()):
        return "the scale must be at least EPS (float32's machine epsilon), so that a tensor of zeros still gets a finite positive scale"
    if axis is not None and got.numel() > 1 and like(observer_qparams(x, bits, symmetric)[0].to(torch.float64)):
        return f"every channel has the whole tensor's scale: per channel, each index along axis {axis} gets its own range"
    if symmetric:
        if like(absmax / 2 ** (bits - 1)) or like(absmax / ((2**bits - 1) / 2)):
            return (
                f"the symmetric range is [-(2^(b-1)-1), 2^(b-1)-1] = [{qmin}, {qmax}]: "
                f"scale = max|x| / {qmax}, not / {2 ** (bits - 1)} or / {(2**bits - 1) / 2}"
            )
        if like((high.clamp(min=0) - low.clamp(max=0)) / (qmax - qmin)) or like((high - low) / (qmax - qmin)):
            return f"that is the asymmetric scale: symmetric quantization has scale = max|x| / (2^(b-1) - 1) = max|x| / {qmax}"
        return ""
    if like((high - low) / (qmax - qmin)):
        return "the range must hold 0: lo = min(min(x), 0), hi = max(max(x), 0), then scale = (hi - lo) / (qmax - qmin)"
    if like(absmax / ((qmax - qmin) / 2)) or like(absmax / (qmax - qmin)) or like(2 * absmax / (qmax - qmin)):
        return "that is an abs-max scale: asymmetric quantization spans [lo, hi], scale = (hi - lo) / (qmax - qmin)"
    return ""


def zero_point_hint(got: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, bits: int, symmetric: bool, axis: int | None) -> str:
    """The mistake a wrong zero point looks like."""
    qmin, qmax = qrange(bits, symmetric)
    if symmetric:
        return "symmetric quantization has zero point 0"
    rows = x.to(torch.float64).reshape(1, -1) if axis is None else x.to(torch.float64).movedim(axis, 0).flatten(1)
    lo = rows.min(dim=1).values.clamp(max=0).reshape(got.shape)
    t = qmin - lo / scale.to(torch.float64)  # what is rounded: qmin - lo / scale
    got = got.to(torch.int64)
    if like(got, torch.trunc, t, qmin, qmax) or like(got, torch.floor, t, qmin, qmax):
        return "the zero point must be an integer, qmin - round(lo / scale): it looks truncated (round it with torch.round)"
    if like(got, torch.round, 2 * qmin - t, qmin, qmax):
        return "zero_point = qmin - round(lo / scale), so that lo maps to qmin: the sign of lo / scale is reversed"
    return "zero_point = clamp(qmin - round(lo / scale), qmin, qmax), with lo = min(min(x), 0) and the scale after the EPS floor"


def checked_qparams(out, what: str, shape: tuple, axis: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """qparams' result as (scale, zero_point): a pair of tensors of `shape`, float32 and int64 (per
    tensor, `shape` is () and they come back 0-dim)."""
    pair = sequence(out, what, length=2)
    wanted = shape
    for part, name, dtype in ((pair[0], "the scale", "float32"), (pair[1], "the zero point", "int64")):
        try:
            tensor(part, f"{what}: {name}", shape, dtype)
        except AssertionError as exc:
            message = str(exc)
            if type(part) is torch.Tensor and tuple(part.shape) != shape:
                if axis is None:
                    message += "; per tensor, qparams returns 0-dim tensors (one value each)"
                elif part.dim() == 0:
                    message += f"; per channel there is one value per index of dimension {axis}: it looks computed per tensor"
            elif type(part) is torch.Tensor and name == "the zero point" and part.is_floating_point():
                message += "; the zero point must be an integer: qmin - round(lo / scale), as an int64 tensor"
            raise AssertionError(message) from None
    return pair[0].reshape(wanted), pair[1].reshape(wanted)


def assert_qparams(
    out, x: torch.Tensor, bits: int, symmetric: bool, axis: int | None, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The student's qparams(x, bits, symmetric, axis) against torch.ao's observer with the handout's
    range: the scale within float32 round-off, the zero point exact (either neighbour at a half of
    lo / scale)."""
    qmin, qmax = qrange(bits, symmetric)
    want_scale, want_zero = observer_qparams(x, bits, symmetric, axis)
    scale, zero_point = checked_qparams(out, what, tuple(want_scale.shape), axis)
    if not bool(torch.isfinite(scale).all()) or bool((scale < EPS * (1 - 1e-6)).any()):
        raise AssertionError(
            f"{what}: scale {scale.tolist()} is not finite and at least EPS = {EPS:.8g}; "
            f"the scale is raised to at least EPS, so that a tensor of zeros still gets a finite positive scale"
        )
    bad = (scale.to(torch.float64) - want_scale.to(torch.float64)).abs() > RTOL * want_scale.to(torch.float64)
    if bool(bad.any()):
        i = int(bad.flatten().nonzero()[0])
        where = f" (channel {i})" if axis is not None else ""
        hint = scale_hint(x, scale, bits, symmetric, axis)
        raise AssertionError(
            f"{what}: the scale{where} is {float(scale.flatten()[i]):.8g}, expected {float(want_scale.flatten()[i]):.8g} "
            f"(torch.ao's observer with quant_min={qmin}, quant_max={qmax})" + (f"; {hint}" if hint else "")
        )
    rows = x.to(torch.float64).reshape(1, -1) if axis is None else x.to(torch.float64).movedim(axis, 0).flatten(1)
    lo = rows.min(dim=1).values.clamp(max=0).reshape(want_scale.shape)
    exact, low, high, half = accepted(qmin - lo / want_scale.to(torch.float64), qmin, qmax)
    if symmetric:
        exact, half = torch.zeros_like(exact), torch.zeros_like(half)
    exact = torch.where(half, exact, want_zero)
    ok = (zero_point == exact) | (half & ((zero_point == low) | (zero_point == high)))
    if not bool(ok.all()):
        i = int((~ok).flatten().nonzero()[0])
        where = f" (channel {i})" if axis is not None else ""
        raise AssertionError(
            f"{what}: the zero point{where} is {int(zero_point.flatten()[i])}, expected {int(exact.flatten()[i])}; "
            + zero_point_hint(zero_point, x, want_scale, bits, symmetric, axis)
        )
    return scale, zero_point


def case_tensor(seed: int, shape: tuple, kind: str) -> torch.Tensor:
    """A float32 tensor drawn from a fixed generator: "mixed" (both signs, off-centre), "positive"
    (like ReLU outputs), "negative"."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 0.7 + 0.3
    if kind == "positive":
        x = x.abs() + 0.05
    elif kind == "negative":
        x = -x.abs() - 0.05
    return x.to(torch.float32)


# ---- 4.3 qparams, quantize, dequantize -----------------------------------------------------------


@pytest.mark.task("4.3")
def test_qparams_per_tensor_match_torch_observer(submission, quant):
    """Does qparams per tensor match torch.ao's MinMaxObserver with the handout's range, at every bit width 2-8?"""
    cases = [
        (case_tensor(40 + i, (6, 9), kind), bits, symmetric, kind)
        for i, kind in enumerate(("mixed", "positive", "negative"))
        for bits in range(2, 9)
        for symmetric in (False, True)
    ]
    outs = submission.batch([submission.pending_call(quant, "qparams", x, bits, sym) for x, bits, sym, _ in cases])
    for (x, bits, sym, kind), out in zip(cases, outs):
        what = f"qparams(x, bits={bits}, symmetric={sym}) of a {kind} 6x9 tensor"
        assert_qparams(out, x, bits, sym, None, what)


@pytest.mark.task("4.3")
def test_qparams_per_channel_match_torch_observer(submission, quant):
    """Does qparams per channel (axis 0, 1 and -1 of a 3-D tensor) match torch.ao's PerChannelMinMaxObserver?"""
    x = case_tensor(50, (4, 5, 6), "mixed")
    x[1] = x[1].abs() + 0.1  # a channel of axis 0 with only positive values, another with only negative
    x[2] = -x[2].abs() - 0.1
    cases = [(bits, sym, axis) for axis in (0, 1, -1) for bits in (2, 4, 8) for sym in (False, True)]
    outs = submission.batch([submission.pending_call(quant, "qparams", x, bits, sym, axis) for bits, sym, axis in cases])
    for (bits, sym, axis), out in zip(cases, outs):
        assert_qparams(
            out, x, bits, sym, axis, f"qparams(x of shape (4, 5, 6), bits={bits}, symmetric={sym}, per_channel_axis={axis})"
        )


@pytest.mark.task("4.3")
def test_handout_examples(submission, quant):
    """Do the handout's examples come out: [-1, 0.5, 2] at 8 bits asymmetric and 4 bits symmetric, and [3, 0.64285713] either way?"""
    x = torch.tensor([-1.0, 0.5, 2.0])
    scale, zero_point = assert_qparams(quant.qparams(x, 8, False), x, 8, False, None, "qparams([-1, 0.5, 2], 8, symmetric=False)")
    q = quant.quantize(x, scale, zero_point, 8, False)
    what = "quantize([-1, 0.5, 2]) at 8 bits asymmetric (scale 3/255, zero point 85)"
    q = assert_integers(
        q, exact_v(x, scale, zero_point), 0, 255, what, bits=8, symmetric=False, zero_point_v=torch.tensor(85.0), x=x
    )
    # 0.5 * (1/scale) = 42.5: 127 (halves to even) and 128 both pass; its value is then scale / 2 away from 0.5
    want = dequantized(q, scale, zero_point, None)
    assert_values(
        quant.dequantize(q, scale, zero_point),
        want,
        f"dequantize({q.tolist()}, scale 3/255, zero point 85)",
        hint="x_hat = (q - zero_point) * scale",
    )
    scale, zero_point = assert_qparams(quant.qparams(x, 4, True), x, 4, True, None, "qparams([-1, 0.5, 2], 4, symmetric=True)")
    q = quant.quantize(x, scale, zero_point, 4, True)
    assert_integers(
        q,
        exact_v(x, scale, zero_point),
        -7,
        7,
        "quantize([-1, 0.5, 2]) at 4 bits symmetric (scale 2/7)",
        bits=4,
        symmetric=True,
        x=x,
    )
    x = torch.tensor([3.0, 0.64285713])
    scale, zero_point = assert_qparams(quant.qparams(x, 4, True), x, 4, True, None, "qparams([3, 0.64285713], 4, symmetric=True)")
    q = assert_integers(
        quant.quantize(x, scale, zero_point, 4, True),
        exact_v(x, scale, zero_point),
        -7,
        7,
        "quantize([3, 0.64285713]) at 4 bits symmetric (scale 3/7)",
        bits=4,
        symmetric=True,
        x=x,
    )
    assert int(q[0]) == 7 and int(q[1]) in (1, 2), (
        f"quantize([3, 0.64285713]) at 4 bits symmetric: got {q.tolist()}, expected [7, 1] or [7, 2]"
    )


@pytest.mark.task("4.3")
def test_quantize_matches_torch_quantize_per_tensor_at_8_bits(submission, quant):
    """At 8 bits, does quantize give torch.quantize_per_tensor's integers (quint8 asymmetric, qint8 symmetric), with scales given as numbers?"""
    x = case_tensor(60, (7, 11), "mixed")
    calls, expected = [], []
    for symmetric, dtype in ((False, torch.quint8), (True, torch.qint8)):
        scale, zero_point = observer_qparams(x, 8, symmetric)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = torch.quantize_per_tensor(x, float(scale), int(zero_point), dtype).int_repr().to(torch.int64)
        calls.append(submission.pending_call(quant, "quantize", x, float(scale), int(zero_point), 8, symmetric))
        expected.append((symmetric, scale, zero_point, reference))
    for out, (symmetric, scale, zero_point, reference) in zip(submission.batch(calls), expected):
        qmin, qmax = qrange(8, symmetric)
        assert_integers(
            out,
            exact_v(x, scale, zero_point),
            qmin,
            qmax,
            f"quantize(x, {float(scale):.6g}, {int(zero_point)}, 8, symmetric={symmetric}) against torch.quantize_per_tensor",
            bits=8,
            symmetric=symmetric,
            zero_point_v=zero_point.to(torch.float64),
            x=x,
            reference=reference,
        )


def quantize_dequantize(submission, quant, x: torch.Tensor, cases: list, label: str) -> None:
    """For each (bits, symmetric, axis, scale, zero_point): quantize and dequantize of x against torch's
    fake quantization (its integers and its values), in one round trip."""
    calls = []
    for bits, sym, axis, scale, zp in cases:
        calls.append(submission.pending_call(quant, "quantize", x, scale, zp, bits, sym, axis))
    quantized = submission.batch(calls)
    checked = []
    for (bits, sym, axis, scale, zp), q in zip(cases, quantized):
        qmin, qmax = qrange(bits, sym)
        values, _ = torch_fake_quantize(x, scale, zp, bits, sym, axis)
        torch_q = integers_of(values, scale, zp, axis)
        where = f"{label}, bits={bits}, symmetric={sym}, axis={axis}"
        q = assert_integers(
            q,
            exact_v(x, scale, zp, axis),
            qmin,
            qmax,
            f"quantize({where})",
            bits=bits,
            symmetric=sym,
            zero_point_v=along(zp.to(torch.float64), x, axis),
            x=x,
            reference=torch_q,
        )
        checked.append((q, values, torch_q, where))
    outs = submission.batch(
        [
            submission.pending_call(quant, "dequantize", q, scale, zp, axis)
            for (q, *_), (_, _, axis, scale, zp) in zip(checked, cases)
        ]
    )
    for (q, values, torch_q, where), (_, _, axis, scale, zp), x_hat in zip(checked, cases, outs):
        want = values_at_halves(values, torch_q, q, scale, zp, axis)
        forgot = q.to(torch.float64) * along(scale.to(torch.float64), q, axis)
        hint = "x_hat = (q - zero_point) * scale"
        if (
            type(x_hat) is torch.Tensor
            and x_hat.shape == q.shape
            and bool(((x_hat.to(torch.float64) - forgot).abs() <= 1e-5 * forgot.abs().clamp(min=1e-6)).all())
        ):
            hint = "dequantize forgot the zero point: x_hat = (q - zero_point) * scale"
        assert_values(x_hat, want, f"dequantize(quantize({where})) against torch's fake quantization", hint=hint)


@pytest.mark.task("4.3")
def test_quantize_dequantize_match_torch_fake_quantize_per_tensor(submission, quant):
    """Per tensor, at every bit width 2-8, do quantize and dequantize give torch.fake_quantize_per_tensor_affine's integers and values, clamping what lies outside?"""
    x = case_tensor(70, (8, 10), "mixed")
    inner = x[:5]  # the range of the first rows: the others' extremes lie outside it and are clamped
    cases = []
    for bits in range(2, 9):
        for sym in (False, True):
            scale, zp = observer_qparams(inner, bits, sym)
            cases.append((bits, sym, None, scale, zp))
    quantize_dequantize(submission, quant, x, cases, "x of shape (8, 10), range of its first 5 rows")


@pytest.mark.task("4.3")
def test_quantize_dequantize_match_torch_fake_quantize_per_channel(submission, quant):
    """Per channel (axis 0, 1 and -1), do quantize and dequantize give torch.fake_quantize_per_channel_affine's integers and values?"""
    x = case_tensor(80, (3, 4, 5), "mixed")
    inner = x * 0.8  # a narrower range: the extremes of every channel are clamped
    cases = []
    for axis in (0, 1, -1):
        for bits, sym in ((2, True), (4, False), (6, True), (8, False)):
            scale, zp = observer_qparams(inner, bits, sym, axis)
            cases.append((bits, sym, axis, scale, zp))
    quantize_dequantize(submission, quant, x, cases, "x of shape (3, 4, 5)")


@pytest.mark.task("4.3")
def test_round_trip_is_within_half_a_step(submission, quant):
    """With its own qparams, is every x within scale/2 of dequantize(quantize(x)), per tensor and per channel?"""
    x = case_tensor(90, (12, 16), "mixed")
    cases = [(bits, sym, axis) for bits in (2, 3, 5, 8) for sym in (False, True) for axis in (None, 0, 1)]
    params = submission.batch([submission.pending_call(quant, "qparams", x, bits, sym, axis) for bits, sym, axis in cases])
    checked = []
    for (bits, sym, axis), out in zip(cases, params):
        shape = () if axis is None else (x.shape[axis],)
        checked.append(checked_qparams(out, f"qparams(x, {bits}, symmetric={sym}, per_channel_axis={axis})", shape, axis))
    calls = []
    for (bits, sym, axis), (scale, zp) in zip(cases, checked):
        q = submission.pending_call(quant, "quantize", x, scale, zp, bits, sym, axis)
        calls.append(q)
    quantized = submission.batch(calls)
    outs = submission.batch(
        [
            submission.pending_call(quant, "dequantize", q, scale, zp, axis)
            for q, (_, _, axis), (scale, zp) in zip(quantized, cases, checked)
        ]
    )
    for (bits, sym, axis), (scale, _), x_hat in zip(cases, checked, outs):
        what = f"dequantize(quantize(x)) with qparams(x, {bits}, symmetric={sym}, per_channel_axis={axis})"
        x_hat = tensor(x_hat, what, tuple(x.shape), "float32")
        s = along(scale.to(torch.float64), x, axis)
        error = (x.to(torch.float64) - x_hat.to(torch.float64)).abs()
        bound = s / 2 * (1 + 1e-4) + 1e-6 * x.abs().to(torch.float64)
        bad = error > bound
        if bool(bad.any()):
            i = int(bad.flatten().nonzero()[0])
            raise AssertionError(
                f"{what}: x = {float(x.flatten()[i]):.8g} came back as {float(x_hat.flatten()[i]):.8g}, "
                f"{float(error.flatten()[i]):.4g} away, more than half a step (scale / 2 = {float(s.expand_as(x).flatten()[i]) / 2:.4g}); "
                "every x inside the range must round to its nearest level"
            )


@pytest.mark.task("4.3")
def test_quantize_clamps_to_the_integer_range(submission, quant):
    """Does quantize clamp what lies beyond the range to qmin and qmax (at 4 bits symmetric, [-7, 7], not [-8, 7])?"""
    x = torch.tensor([-10.0, -2.25, -2.0, -0.3, 0.0, 0.3, 2.0, 2.25, 10.0])
    cases = [(4, True, 0.25, 0), (4, False, 0.25, 8), (2, True, 0.5, 0), (3, False, 0.5, 1)]
    outs = submission.batch([submission.pending_call(quant, "quantize", x, s, z, b, sym) for b, sym, s, z in cases])
    for (bits, sym, s, z), q in zip(cases, outs):
        qmin, qmax = qrange(bits, sym)
        assert_integers(
            q,
            exact_v(x, s, z),
            qmin,
            qmax,
            f"quantize({x.tolist()}, scale {s}, zero point {z}, {bits} bits, symmetric={sym})",
            bits=bits,
            symmetric=sym,
            zero_point_v=torch.tensor(float(z), dtype=torch.float64),
            x=x,
        )


@pytest.mark.task("4.3")
def test_invalid_input_raises_value_error(submission, quant):
    """Do qparams and quantize refuse a bit width outside 2-8, a non-float or empty tensor, an axis that is not a dimension, and a scale of the wrong length?"""
    x = case_tensor(95, (3, 4), "mixed")
    assert_qparams(quant.qparams(x, 4, False, 1), x, 4, False, 1, "qparams(x of shape (3, 4), 4, False, per_channel_axis=1)")
    raises("ValueError", quant.qparams, x, 9, False, what="qparams(x, bits=9, ...) (bits must be from 2 to 8)")
    raises("ValueError", quant.qparams, x, 1, True, what="qparams(x, bits=1, ...) (bits must be from 2 to 8)")
    raises("ValueError", quant.qparams, torch.arange(6), 8, False, what="qparams of an int64 tensor (not floating-point)")
    raises("ValueError", quant.qparams, torch.zeros(0), 8, False, what="qparams of an empty tensor")
    raises(
        "ValueError", quant.qparams, x, 8, False, 2, what="qparams(x of shape (3, 4), per_channel_axis=2) (not a dimension of x)"
    )
    raises(
        "ValueError",
        quant.qparams,
        x,
        8,
        False,
        -3,
        what="qparams(x of shape (3, 4), per_channel_axis=-3) (not a dimension of x)",
    )
    raises(
        "ValueError",
        quant.quantize,
        x,
        torch.ones(3),
        torch.zeros(3, dtype=torch.int64),
        8,
        False,
        1,
        what="quantize(x of shape (3, 4), 3 scales, axis=1) (axis 1 has 4 channels)",
    )


# ---- 4.4 k-means weight sharing --------------------------------------------------------------------


def checked_kmeans(out, what: str, shape: tuple, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """kmeans_share's result as (codebook float32 (2^bits,), indices int64 of the weight's shape, from 0 to 2^bits - 1)."""
    pair = sequence(out, what, length=2)
    k = 2**bits
    codebook = tensor(pair[0], f"{what}: the codebook", (k,), "float32")
    indices = tensor(pair[1], f"{what}: the indices", shape, "int64")
    if bool(torch.isnan(codebook).any()):
        raise AssertionError(
            f"{what}: the codebook holds nan: the mean of no weights is 0/0; a centroid with no weight stays where it is"
        )
    if not bool(torch.isfinite(codebook).all()):
        raise AssertionError(f"{what}: the codebook holds an infinite value")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= k):
        raise AssertionError(f"{what}: the indices run from {int(indices.min())} to {int(indices.max())}, not within 0..{k - 1}")
    return codebook, indices


def assert_nearest(w: torch.Tensor, codebook: torch.Tensor, indices: torch.Tensor, what: str) -> None:
    """Each weight's index names a centroid of `codebook` nearest to it (at a tie, within float32
    round-off, either passes)."""
    w64, c64 = w.flatten().to(torch.float64), codebook.to(torch.float64)
    distances = (w64[:, None] - c64[None, :]).abs()
    best = distances.min(dim=1).values
    chosen = distances.gather(1, indices.flatten()[:, None]).squeeze(1)
    tol = TIE * (float(w64.abs().max()) + float(c64.abs().max()) + 1e-30)
    bad = chosen > best + tol
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        j, nearest = int(indices.flatten()[i]), int(distances[i].argmin())
        raise AssertionError(
            f"{what}: weight {i} ({float(w64[i]):.7g}) has index {j} (centroid {float(c64[j]):.7g}), but centroid {nearest} "
            f"({float(c64[nearest]):.7g}) is nearer; every weight gets the index of its nearest centroid of the codebook "
            "returned (assign again after the last update)"
        )


def init_hint(w: torch.Tensor, codebook: torch.Tensor, bits: int) -> str:
    k = 2**bits
    flat = w.flatten().to(torch.float64)
    quantiles = torch.quantile(flat, torch.linspace(0, 1, k, dtype=torch.float64))
    if bool(((codebook.to(torch.float64).sort().values - quantiles).abs() <= 1e-5 * flat.abs().max()).all()):
        return "those are the weights' quantiles: the linear initialisation spaces the centroids evenly from min(w) to max(w) (torch.linspace)"
    return (
        f"with iters=0 the codebook is the linear initialisation, {k} values evenly spaced from min(w) to max(w), both "
        "included (torch.linspace(min, max, 2^bits)): no random or quantile start"
    )


@pytest.mark.task("4.4")
def test_kmeans_handout_example(quant):
    """Does [0, 0.1, 0.2, 0.9, 1.0] at 1 bit share the values [0.1, 0.95], with indices [0, 0, 0, 1, 1]?"""
    w = torch.tensor([0.0, 0.1, 0.2, 0.9, 1.0])
    codebook, indices = checked_kmeans(quant.kmeans_share(w, 1), "kmeans_share([0, 0.1, 0.2, 0.9, 1.0], bits=1)", (5,), 1)
    assert_values(
        codebook,
        torch.tensor([0.1, 0.95], dtype=torch.float64),
        "kmeans_share([0, 0.1, 0.2, 0.9, 1.0], bits=1): the codebook",
        hint="from [0, 1], the weights split [0, 0.1, 0.2] | [0.9, 1.0] and the centroids move to their means",
    )
    assert indices.tolist() == [0, 0, 0, 1, 1], (
        f"kmeans_share([0, 0.1, 0.2, 0.9, 1.0], bits=1): indices {indices.tolist()}, expected [0, 0, 0, 1, 1]"
    )


@pytest.mark.task("4.4")
def test_kmeans_starts_from_the_linear_initialisation(submission, quant):
    """With iters=0, is the codebook linspace(min(w), max(w), 2^bits) and every weight assigned to its nearest centroid, at 1 to 5 bits?"""
    g = torch.Generator().manual_seed(100)
    w = (torch.randn(30, 20, generator=g) * 0.1).exp() - 1.0  # skewed, so quantiles are not evenly spaced
    outs = submission.batch([submission.pending_call(quant, "kmeans_share", w, bits, 0) for bits in range(1, 6)])
    for bits, out in zip(range(1, 6), outs):
        what = f"kmeans_share(w of shape (30, 20), bits={bits}, iters=0)"
        codebook, indices = checked_kmeans(out, what, (30, 20), bits)
        start = torch.linspace(float(w.min()), float(w.max()), 2**bits, dtype=torch.float32)
        bad = (codebook.to(torch.float64) - start.to(torch.float64)).abs() > 1e-6 * float(w.abs().max())
        if bool(bad.any()):
            raise AssertionError(
                f"{what}: the codebook is {[round(v, 5) for v in codebook.tolist()[:8]]}{'...' if bits > 3 else ''}, "
                f"expected {[round(v, 5) for v in start.tolist()[:8]]}{'...' if bits > 3 else ''}; {init_hint(w, codebook, bits)}"
            )
        assert_nearest(w, codebook, indices, what)


def bimodal(seed: int, n: int) -> torch.Tensor:
    """Kept weights after magnitude pruning: two lumps, one each side of 0, of different widths."""
    g = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(n, generator=g) < 0.6, 1.0, -1.0)
    return (sign * (0.04 + torch.rand(n, generator=g) ** 2 * 0.2)).to(torch.float32)


@pytest.mark.task("4.4")
def test_kmeans_converges_to_a_lloyd_fixed_point(submission, quant):
    """Run to convergence, is every weight at its nearest centroid and every used centroid the mean of its weights?"""
    w = bimodal(110, 1200).reshape(30, 40)
    cases = [2, 3, 4]
    outs = submission.batch([submission.pending_call(quant, "kmeans_share", w, bits, 500) for bits in cases])
    flat = w.flatten().to(torch.float64)
    for bits, out in zip(cases, outs):
        what = f"kmeans_share(w of shape (30, 40), bits={bits}, iters=500)"
        codebook, indices = checked_kmeans(out, what, (30, 40), bits)
        assert_nearest(w, codebook, indices, what)
        k = 2**bits
        counts = torch.bincount(indices.flatten(), minlength=k)
        means = torch.zeros(k, dtype=torch.float64).index_add_(0, indices.flatten(), flat) / counts.clamp(min=1)
        bad = (counts > 0) & ((codebook.to(torch.float64) - means).abs() > 1e-5 * float(flat.abs().max()))
        if bool(bad.any()):
            j = int(bad.nonzero()[0])
            raise AssertionError(
                f"{what}: centroid {j} is {float(codebook[j]):.7g}, but its {int(counts[j])} weights have mean {float(means[j]):.7g}; "
                "at convergence every used centroid is the mean of the weights assigned to it (iterate until no assignment changes)"
            )


def kmeans_mismatch_hint(
    codebook: torch.Tensor, reference: torch.Tensor, ref_indices: torch.Tensor, w: torch.Tensor, bits: int
) -> str:
    """The mistake a codebook that differs from the reference's looks like."""
    k = 2**bits
    empty = torch.bincount(ref_indices, minlength=k) == 0
    scale = float(w.abs().max())
    differs = (codebook.to(torch.float64) - reference.to(torch.float64)).abs() > 1e-5 * scale
    if bool((differs & empty).any()) and bool((codebook[differs & empty] == 0).all()):
        return "a centroid with no weight was set to 0: a centroid with no weight stays where it is"
    start = torch.linspace(float(w.min()), float(w.max()), k)
    if bool(((codebook - start).abs() <= 1e-6 * scale).all()):
        return "that is the linear initialisation: the centroids never moved to the means of their weights"
    return (
        "k-means from the linear initialisation (linspace(min, max, 2^bits)) reaches this codebook; another codebook means "
        "another start (random or quantile?), another update (every centroid the mean of its weights; an empty one stays), "
        "or another number of iterations (`iters` updates at most, stopping when no assignment changes)"
    )


def assert_kmeans_matches(out, w: torch.Tensor, bits: int, reference: torch.Tensor, ref_indices: torch.Tensor, what: str) -> None:
    """kmeans_share's result against the reference's codebook (within float32 round-off) and indices
    (exact, except where a weight is equidistant from the two centroids within TIE)."""
    codebook, indices = checked_kmeans(out, what, tuple(w.shape), bits)
    reference, ref_indices = reference.to(torch.float64), ref_indices.flatten().to(torch.int64)
    spread = float(w.max() - w.min())
    bad = (codebook.to(torch.float64) - reference).abs() > 1e-5 * spread + RTOL * reference.abs()
    if bool(bad.any()):
        j = int(bad.nonzero()[0])
        raise AssertionError(
            f"{what}: centroid {j} is {float(codebook[j]):.7g}, expected {float(reference[j]):.7g}; "
            + kmeans_mismatch_hint(codebook, reference.to(torch.float32), ref_indices, w, bits)
        )
    flat = w.flatten().to(torch.float64)
    got = indices.flatten()
    tie = ((flat - reference[got]).abs() - (flat - reference[ref_indices]).abs()).abs() <= TIE * spread
    bad = (got != ref_indices) & ~tie
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise AssertionError(
            f"{what}: weight {i} ({float(flat[i]):.7g}) has index {int(got[i])}, expected {int(ref_indices[i])} "
            f"(centroid {float(reference[ref_indices[i]]):.7g}); each weight gets the index of its nearest centroid"
        )


@pytest.mark.task("4.4")
def test_kmeans_matches_the_reference_on_fixed_cases(submission, quant, snapshot):
    """On fixed layers (Gaussian, pruned, heavy-tailed, convolutional, one iteration, empty clusters), do codebook and indices match the reference's?"""
    cases = snapshot["quantize"]
    names = sorted(cases)
    weights = {n: torch.tensor(cases[n]["weight"], dtype=torch.float32).reshape(cases[n]["shape"]) for n in names}
    outs = submission.batch(
        [submission.pending_call(quant, "kmeans_share", weights[n], cases[n]["bits"], cases[n]["iters"]) for n in names]
    )
    for name, out in zip(names, outs):
        case = cases[name]
        what = f"kmeans_share(case {name}: shape {tuple(case['shape'])}, bits={case['bits']}, iters={case['iters']})"
        reference = torch.tensor(case["codebook"], dtype=torch.float64)
        assert_kmeans_matches(out, weights[name], case["bits"], reference, torch.tensor(case["indices"]), what)


@pytest.mark.task("4.4")
def test_an_empty_cluster_keeps_its_centroid(quant):
    """With a gap in the weights, do the centroids that get no weight stay at their linear start (not 0, not nan)?"""
    w = torch.tensor([0.0, 0.01, 0.02, 0.98, 0.99, 1.0])
    what = "kmeans_share([0, 0.01, 0.02, 0.98, 0.99, 1], bits=2) (starts from [0, 1/3, 2/3, 1]; 1/3 and 2/3 get no weight)"
    codebook, indices = checked_kmeans(quant.kmeans_share(w, 2), what, (6,), 2)
    expected = torch.tensor([0.01, 1 / 3, 2 / 3, 0.99], dtype=torch.float64)
    hint = "a centroid with no weight stays where it is"
    if bool((codebook[1:3] == 0).any()):
        hint = "a centroid with no weight was set to 0: " + hint
    assert_values(codebook, expected, what + ": the codebook", hint=hint)
    assert indices.tolist() == [0, 0, 0, 3, 3, 3], f"{what}: indices {indices.tolist()}, expected [0, 0, 0, 3, 3, 3]"


@pytest.mark.task("4.4")
def test_centroid_gradients_sum_each_cluster(submission, quant):
    """Is each shared value's gradient the sum of its weights' gradients (0 for an unused index), in grad's dtype?"""
    g = torch.Generator().manual_seed(120)
    grad = torch.randn(6, 7, generator=g)
    indices = torch.randint(0, 7, (6, 7), generator=g)
    indices[indices == 5] = 7  # index 5 of 8 is left unused
    cases = [(grad, indices, 8), (grad.to(torch.float64), indices, 8)]
    outs = submission.batch([submission.pending_call(quant, "centroid_gradients", gr, ix, k) for gr, ix, k in cases])
    for (gr, ix, k), out in zip(cases, outs):
        dtype = str(gr.dtype).removeprefix("torch.")
        what = f"centroid_gradients(grad {dtype} (6, 7), indices from 0 to 7 but 5, k={k})"
        expected = torch.zeros(k, dtype=torch.float64).index_add_(0, ix.flatten(), gr.flatten().to(torch.float64))
        counts = torch.bincount(ix.flatten(), minlength=k)
        hint = "∂L/∂c_j = the sum of ∂L/∂w_i over the weights with index j, 0 for an index no weight has"
        if type(out) is torch.Tensor and out.shape == (k,):
            mean = expected / counts.clamp(min=1)
            if bool(((out.to(torch.float64) - mean).abs() <= 1e-5 * mean.abs().max()).all()):
                hint = "that is the mean of each cluster's gradients: the chain rule sums them, ∂L/∂c_j = Σ ∂L/∂w_i over i with index j"
        assert_values(out, expected, what, dtype=dtype, hint=hint)


# ---- 4.5 fake quantization and the straight-through estimator ------------------------------------


def checked_fake_quantize(out, what: str, shape: tuple, dtype: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The `fake_quantize` driver's result as (y, x's gradient), both tensors of x's shape and dtype."""
    out = mapping(out, what)
    y = tensor(out.get("y"), f"{what}: the output", shape, dtype)
    grad = out.get("grad")
    if grad is None:
        raise AssertionError(
            f"{what}: no gradient reached x; the straight-through estimator passes the gradient through the rounding "
            "(y = values + (x - x.detach()) * inside, or a torch.autograd.Function)"
        )
    grad = tensor(grad, f"{what}: x's gradient", shape, dtype)
    scale_grad = out.get("scale_grad")
    if scale_grad is not None:
        scale_grad = tensor(scale_grad, f"{what}: the scale's gradient", None, None)
        if bool((scale_grad != 0).any()):
            raise AssertionError(
                f"{what}: a gradient reached the scale ({scale_grad.tolist()}); the scale is given and gets none"
            )
    return y, grad


def assert_fake_quantize(out, x, scale, zp, bits, sym, axis, upstream, what: str) -> None:
    """The driver's forward and backward against torch's fake quantization (halves either way)."""
    qmin, qmax = qrange(bits, sym)
    dtype = str(x.dtype).removeprefix("torch.")
    y, grad = checked_fake_quantize(out, what, tuple(x.shape), dtype)
    values, torch_grad = torch_fake_quantize(x, scale, zp, bits, sym, axis, upstream)
    v = exact_v(x, scale, zp, axis)
    exact, low, high, half = accepted(v, qmin, qmax)
    at_low, at_high = dequantized(low, scale, zp, axis), dequantized(high, scale, zp, axis)
    atol = 1e-6 * float(values.abs().max()) + 1e-12

    def near(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a.to(torch.float64) - b.to(torch.float64)).abs() <= atol + RTOL * b.to(torch.float64).abs()

    ok = near(y, values) | (half & (near(y, at_low) | near(y, at_high)))
    if not bool(ok.all()):
        i = int((~ok).flatten().nonzero()[0])
        torch_q = integers_of(values, scale, zp, axis)
        hint = ""
        if bool(near(y, x).all()):
            hint = "; the output equals x: the forward pass must round and clamp (the values of dequantize(quantize(x)))"
        elif int(exact.flatten()[i]) in (qmin, qmax) and v.flatten()[i] != exact.flatten()[i]:
            hint = "; x lies beyond the range there: clamp the integer to [qmin, qmax] before dequantizing"
        raise AssertionError(
            f"{what}: output entry {i} (x = {float(x.flatten()[i]):.8g}) is {float(y.flatten()[i]):.8g}, expected "
            f"{float(values.flatten()[i]):.8g} (integer {int(torch_q.flatten()[i])}), as torch.fake_quantize_per_"
            f"{'tensor' if axis is None else 'channel'}_affine{hint}"
        )
    inside = lambda q: ((q >= qmin) & (q <= qmax)).to(torch.float64)  # noqa: E731
    unclamped_low, unclamped_high = torch.floor(v), torch.ceil(v)
    up = upstream.to(torch.float64)
    ok = near(grad, torch_grad) | (half & (near(grad, up * inside(unclamped_low)) | near(grad, up * inside(unclamped_high))))
    if bool(ok.all()):
        return
    i = int((~ok).flatten().nonzero()[0])
    passes = bool(near(grad, up).all())
    if bool(near(grad, torch.zeros_like(up)).all()):
        hint = (
            "the gradient is 0 everywhere: rounding has derivative 0, so the straight-through estimator treats it as the "
            "identity and passes the gradient unchanged where x is inside the range"
        )
    elif passes:
        hint = (
            "the gradient passes everywhere, as if there were no clamp: it must be 0 where clamping changed the integer "
            "(round(x * (1/scale)) + zero_point outside [qmin, qmax])"
        )
    else:
        hint = (
            "the gradient passes where round(x * (1/scale)) + zero_point, before clamping, is in [qmin, qmax], both ends "
            "included (the rounded integer decides, not x itself), and is 0 elsewhere"
        )
    raise AssertionError(
        f"{what}: x's gradient at entry {i} (x = {float(x.flatten()[i]):.8g}, x * (1/scale) + zero_point = "
        f"{float(v.flatten()[i]):.6g}) is {float(grad.flatten()[i]):.6g}, expected {float(torch_grad.flatten()[i]):.6g} as torch's "
        f"backward gives; {hint}"
    )


@pytest.mark.task("4.5")
def test_fake_quantize_forward_and_backward_match_torch(submission):
    """Do fake_quantize's output and x's gradient match torch.fake_quantize_per_tensor/per_channel_affine, at every bit width 2-8?"""
    g = torch.Generator().manual_seed(130)
    x = torch.randn(6, 8, generator=g)
    inner = x[:3]  # a narrower range: some entries are clamped, and get no gradient
    upstream = torch.randn(6, 8, generator=g)
    cases = []
    for bits in range(2, 9):
        for sym in (False, True):
            scale, zp = observer_qparams(inner, bits, sym)
            cases.append((bits, sym, None, scale, zp))
    for axis, bits, sym in ((0, 3, True), (1, 4, False), (1, 8, True), (-1, 2, False)):
        scale, zp = observer_qparams(inner.repeat(2, 1), bits, sym, axis)
        cases.append((bits, sym, axis, scale, zp))
    outs = submission.batch(
        [
            submission.pending_driver("fake_quantize", x, scale, zp, bits, sym, axis, upstream)
            for bits, sym, axis, scale, zp in cases
        ]
    )
    for (bits, sym, axis, scale, zp), out in zip(cases, outs):
        what = f"fake_quantize(x of shape (6, 8), bits={bits}, symmetric={sym}, axis={axis})"
        assert_fake_quantize(out, x, scale, zp, bits, sym, axis, upstream, what)


@pytest.mark.task("4.5")
def test_straight_through_gradient_at_the_ends_of_the_range(submission):
    """Does the gradient pass at both ends of the range and wherever x rounds into it, and stop where x rounds beyond it?"""
    scale, zp = torch.tensor(0.125), torch.tensor(3)  # 4 bits asymmetric: integers 0..15, so x from -0.375 to 1.5
    x = torch.tensor([-0.5, -0.4375 + 1 / 64, -0.375, -0.3, 0.0, 0.7, 1.5, 1.5 + 1 / 32, 1.5 + 3 / 32, 2.0])
    upstream = torch.linspace(1.0, 2.0, len(x))
    what = f"fake_quantize({[round(v, 5) for v in x.tolist()]}, scale 0.125, zero point 3, 4 bits asymmetric)"
    out = submission.driver("fake_quantize", x, scale, zp, 4, False, None, upstream)
    assert_fake_quantize(out, x, scale, zp, 4, False, None, upstream, what)
    x = torch.tensor([-1.0, -0.75, -0.5 - 1 / 16, -0.5, 0.25, 0.5, 0.5 + 1 / 16, 0.75, 1.0])  # symmetric 2 bits: -1, 0, 1
    upstream = torch.linspace(-1.0, 1.0, len(x))
    what = f"fake_quantize({x.tolist()}, scale 0.5, zero point 0, 2 bits symmetric)"
    out = submission.driver("fake_quantize", x, torch.tensor(0.5), torch.tensor(0), 2, True, None, upstream)
    assert_fake_quantize(out, x, torch.tensor(0.5), torch.tensor(0), 2, True, None, upstream, what)


@pytest.mark.task("4.5")
def test_fake_quantize_keeps_float64_and_gives_the_scale_no_gradient(submission):
    """For a float64 x, are the output and x's gradient float64 (torch's values), with no gradient reaching the scale?"""
    g = torch.Generator().manual_seed(140)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    upstream = torch.randn(5, 4, generator=g, dtype=torch.float64)
    cases = [(None, 5, False), (0, 3, True)]
    calls, params = [], []
    for axis, bits, sym in cases:
        scale, zp = observer_qparams((x[:3] if axis is None else x * 0.9).to(torch.float32), bits, sym, axis)
        calls.append(submission.pending_driver("fake_quantize", x, scale, zp, bits, sym, axis, upstream))
        params.append((scale, zp))
    for (axis, bits, sym), (scale, zp), out in zip(cases, params, submission.batch(calls)):
        what = f"fake_quantize(float64 x of shape (5, 4), bits={bits}, symmetric={sym}, axis={axis})"
        try:
            assert_fake_quantize(out, x, scale, zp, bits, sym, axis, upstream, what)
        except AssertionError as exc:
            if "expected dtype float64" in str(exc):
                raise AssertionError(f"{exc}; the output is in x's dtype: compute in float32, then .to(x.dtype)") from None
            raise


# The float network of task 4.7's experiment: trained once per process (experiment.trained caches it),
# so this test adds only its own epoch of training when both run.
QAT_BITS, QAT_EPOCHS, QAT_LR = 2, 1, 5e-4
# Validation accuracy after one epoch at 2 bits per channel: the reference 92.0-93.6% over 30 seeds;
# with a zero gradient (plain rounding) at most 87.3%, and 57-74% before training.
QAT_BAR = 0.90


def fake_quantized_accuracy(state: dict, x: torch.Tensor, labels: torch.Tensor, bits: int) -> float:
    """Accuracy of the network whose weight matrices are fake-quantized by torch, symmetric per output
    neuron at `bits` bits (the biases stay in float)."""
    model = build(experiment.SPEC, state)
    qmin, qmax = qrange(bits, True)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, torch.nn.Linear):
                scale, zp = observer_qparams(layer.weight, bits, True, 0)
                layer.weight.copy_(torch.fake_quantize_per_channel_affine(layer.weight, scale, zp.to(torch.int32), 0, qmin, qmax))
    return experiment.accuracy(model, x, labels)


@pytest.mark.task("4.5")
@pytest.mark.uses("fake_quantize", "qparams")
@pytest.mark.seeded
def test_training_through_fake_quantization_recovers_2_bit_accuracy(submission, mnist, seed, seed_of):
    """Does one epoch of training through 2-bit QuantLinear layers (your qparams and fake_quantize) bring LeNet-300-100 to 90% on the validation digits?"""
    x, labels, split = mnist
    train, valid = split == 0, split == 1
    original = experiment.trained(seed_of(experiment.SEED_NAME), x[train], labels[train])
    out = submission.driver(
        "quant_training", experiment.SPEC, original, x[train], labels[train], QAT_BITS, True, QAT_EPOCHS, QAT_LR, seed
    )
    what = (
        f"LeNet-300-100 after {QAT_EPOCHS} epoch of Adam (lr {QAT_LR:g}) through {QAT_BITS}-bit QuantLinear layers, per channel"
    )
    state = mapping(out, f"{what}: its state")
    if set(state) != set(original):
        raise AssertionError(f"{what}: its parameters are {sorted(state)}, expected {sorted(original)}")
    for name, value in original.items():
        tensor(state[name], f"{what}: {name}", tuple(value.shape), "float32")
        if not bool(torch.isfinite(state[name]).all()):
            raise AssertionError(f"{what}: {name} has a non-finite entry after training")
    before = fake_quantized_accuracy(original, x[valid], labels[valid], QAT_BITS)
    after = fake_quantized_accuracy(state, x[valid], labels[valid], QAT_BITS)
    if after >= QAT_BAR:
        return
    frozen = all(torch.equal(state[n], original[n]) for n in original if n.endswith("weight"))
    hint = (
        "the weight matrices did not change at all: no gradient reached them through fake_quantize (the straight-through "
        "estimator passes the gradient where the rounding is, as if it were the identity)"
        if frozen
        else "training through the quantized weights did not recover: check that fake_quantize's gradient passes inside "
        "the range and that qparams gives each output neuron its own symmetric scale"
    )
    raise AssertionError(
        f"{what}: {after:.1%} on the validation digits with its weights quantized to {QAT_BITS} bits per output neuron by torch, "
        f"below the {QAT_BAR:.0%} bar (just quantized, before training: {before:.1%}); {hint}"
    )
