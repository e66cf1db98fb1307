"""hw4, part 2: quantization. Affine quantization per tensor and per channel at 2 to 8 bits, k-means
weight sharing, and fake quantization with a straight-through estimator for training at low precision.

Affine quantization with b bits maps a real x to an integer q and back (Jacob et al. 2018):

    q = clamp(round(x * (1 / scale)) + zero_point, qmin, qmax)        x_hat = (q - zero_point) * scale

- integer range: asymmetric [qmin, qmax] = [0, 2^b - 1]; symmetric [-(2^(b-1) - 1), 2^(b-1) - 1]
  (the restricted range, one level fewer than the signed type holds, so that it is symmetric about 0);
- round: to the nearest integer; where x / scale (+ zero_point) is within float32 round-off of a half,
  either neighbour is accepted. torch's kernels do this: 1 / scale first, in float32,
  x multiplied by it, and halves to even (torch.round);
- scale and zero_point, from the tensor's range (torch.ao.quantization.MinMaxObserver's rule):
  lo = min(min(x), 0), hi = max(max(x), 0) (the range always holds 0, so 0 is represented exactly);
  asymmetric: scale = (hi - lo) / (qmax - qmin), zero_point = clamp(qmin - round(lo / scale), qmin, qmax);
  symmetric:  scale = max(-lo, hi) / ((qmax - qmin) / 2) = max|x| / (2^(b-1) - 1), zero_point = 0;
  scale is then raised to at least EPS, so a tensor of zeros still gets a finite positive scale.
  Per channel (axis a), each index along dimension a gets its own range from the entries that share it.
  These are torch.ao's MinMaxObserver / PerChannelMinMaxObserver with quant_min=qmin, quant_max=qmax
  (dtype quint8 and an affine qscheme, or qint8 and a symmetric one). At 8 bits the asymmetric case is
  torch's default quint8 observer; torch's default qint8 range is [-128, 127], one level more than ours.
Everything is computed in float32 (scales) and int64 (zero points, integers).
Write the arithmetic yourself: torch.ao.quantization, torch.quantize_per_tensor / per_channel and the
fake_quantize operators may not be used here.
Invalid input raises ValueError with a message saying what is wrong.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EPS = torch.finfo(torch.float32).eps  # the smallest scale, as torch.ao's observers use


def check_tensor(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """`x` detached, as float32, or ValueError unless it is a non-empty floating-point tensor of finite values."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.numel() == 0:
        raise ValueError(f"{name} must be a non-empty floating-point tensor")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} has a non-finite entry")
    return x.detach().to(torch.float32)


def check_axis(x: torch.Tensor, axis: int) -> int:
    """`axis` as a dimension of x from 0 to x.dim() - 1 (negative counts from the end), or ValueError."""
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.dim() <= axis < x.dim():
        raise ValueError(f"axis {axis!r} is not a dimension of a tensor of shape {tuple(x.shape)}")
    return axis % x.dim()


def along(t: torch.Tensor, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """`t` shaped to broadcast against x: a single value when axis is None (per tensor), else its values
    laid along x's dimension `axis` (per channel, one value per index of that dimension)."""
    t = torch.as_tensor(t, device=x.device)
    if axis is None:
        if t.numel() != 1:
            raise ValueError(f"per tensor, scale and zero_point hold one value each, not {t.numel()}")
        return t.reshape(())
    axis = check_axis(x, axis)
    if t.numel() != x.shape[axis]:
        raise ValueError(f"per channel along axis {axis}, scale and zero_point hold {x.shape[axis]} values each, not {t.numel()}")
    shape = [1] * x.dim()
    shape[axis] = -1
    return t.reshape(shape)


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """The integer range (qmin, qmax) of b-bit quantization.

    Asymmetric: (0, 2^b - 1). Symmetric: (-(2^(b-1) - 1), 2^(b-1) - 1). At 8 bits: (0, 255) and (-127, 127).
    Raises ValueError unless bits is an integer from 2 to 8.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(f"bits must be an integer from 2 to 8, got {bits!r}")
    if symmetric:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def qparams(
    x: torch.Tensor, bits: int, symmetric: bool, per_channel_axis: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Task 4.3. scale and zero_point for x at `bits` bits, from its range (the module docstring's rule).

    Per tensor (per_channel_axis None): a 0-dim float32 scale and a 0-dim int64 zero_point.
    Per channel: one of each per index of dimension `per_channel_axis`, shapes (x.shape[axis],).
    The scale is finite and at least EPS, also for a tensor of zeros, of equal values or of one element.
    """
    qmin, qmax = qrange(bits, symmetric)
    x = check_tensor(x)
    # HINT: per channel, move the axis to the front (movedim) and flatten the rest: then min and max over dim 1.
    raise NotImplementedError("Task 4.3: qparams is not implemented yet")


def quantize(x: torch.Tensor, scale, zero_point, bits: int, symmetric: bool, axis: int | None = None) -> torch.Tensor:
    """Task 4.3. q = clamp(round(x * (1 / scale)) + zero_point, qmin, qmax), an int64 tensor of x's shape.

    `scale` and `zero_point` are qparams' (axis None: one value each; else one per index of dimension axis).
    """
    qmin, qmax = qrange(bits, symmetric)
    x = check_tensor(x)
    scale, zero_point = along(scale, x, axis).to(torch.float32), along(zero_point, x, axis).to(torch.int64)
    raise NotImplementedError("Task 4.3: quantize is not implemented yet")


def dequantize(q: torch.Tensor, scale, zero_point, axis: int | None = None) -> torch.Tensor:
    """Task 4.3. x_hat = (q - zero_point) * scale, a float32 tensor of q's shape.

    Inside the range, (qmin - zero_point) * scale <= x <= (qmax - zero_point) * scale, the round trip
    is within half a step: |x - dequantize(quantize(x))| <= scale / 2.
    """
    q = torch.as_tensor(q)
    scale, zero_point = along(scale, q, axis).to(torch.float32), along(zero_point, q, axis).to(torch.int64)
    raise NotImplementedError("Task 4.3: dequantize is not implemented yet")


def kmeans_share(weight: torch.Tensor, bits: int, iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Task 4.4. Weight sharing (Deep Compression, section 3): a codebook of k = 2^bits shared values.

    1. the k centroids start evenly spaced from min(weight) to max(weight), both included (linear
       initialisation: torch.linspace);
    2. each weight is assigned the index of its nearest centroid (|w - c| smallest; at a tie
       either index is accepted; argmin takes the lower);
    3. then, `iters` times, or until no assignment changes: every centroid moves to the mean of the
       weights assigned to it (a centroid with no weight stays where it is), and step 2 is repeated.
    Returns (codebook, indices): a float32 tensor (k,) and an int64 tensor of weight's shape, each
    index from 0 to k - 1, each weight assigned to its nearest centroid of the returned codebook; the
    shared weights are codebook[indices]. Raises ValueError unless bits is an integer from 1 to 8.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer from 1 to 8, got {bits!r}")
    w = check_tensor(weight, "weight").flatten()
    # HINT: the nearest centroid of every weight at once: (w[:, None] - codebook[None, :]).abs().argmin(dim=1).
    raise NotImplementedError("Task 4.4: kmeans_share is not implemented yet")


def centroid_gradients(grad: torch.Tensor, indices: torch.Tensor, k: int) -> torch.Tensor:
    """Task 4.4. The gradient of each shared value: the sum of the gradients of the weights that share it.

    `grad` is the gradient of the loss with respect to the shared weights codebook[indices] (weight's
    shape), `indices` kmeans_share's. Returns a tensor (k,) of grad's dtype whose entry j is the sum of
    grad over the weights with index j (0 for an index no weight has); fine-tuning then updates
    codebook <- codebook - lr * centroid_gradients(...) (Deep Compression, section 3.1).
    Raises ValueError if the shapes differ or an index is outside 0..k-1.
    """
    if grad.shape != indices.shape:
        raise ValueError(f"grad has shape {tuple(grad.shape)} and indices {tuple(indices.shape)}: they must match")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= k):
        raise ValueError(f"indices must be from 0 to {k - 1}")
    raise NotImplementedError("Task 4.4: centroid_gradients is not implemented yet")


def fake_quantize(x: torch.Tensor, scale, zero_point, bits: int, symmetric: bool, axis: int | None = None) -> torch.Tensor:
    """Task 4.5. dequantize(quantize(x)) in the forward pass, the straight-through estimator backward.

    Forward: the values of dequantize(quantize(x, scale, zero_point, bits, symmetric, axis), ...).
    Backward: the gradient passes unchanged (as if the rounding were the identity) where x is inside
    the representable range, qmin <= round(x * (1 / scale)) + zero_point <= qmax before clamping, and
    is 0 where clamping changed it (as torch.fake_quantize_per_tensor_affine's backward). No gradient
    flows to scale or zero_point.
    """
    qmin, qmax = qrange(bits, symmetric)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("x must be a floating-point tensor")
    scale, zero_point = along(scale, x, axis).to(torch.float32), along(zero_point, x, axis).to(torch.int64)
    # HINT: y = values + (x - x.detach()) * inside has y's values and dy/dx = inside.
    raise NotImplementedError("Task 4.5: fake_quantize is not implemented yet")


class FakeQuant(nn.Module):
    """Given: a layer that fake-quantizes its input with your qparams (4.3) and fake_quantize (4.5).

    The range comes from each input (its min and max, per tensor or per channel along
    `per_channel_axis`), or, with `fixed_range=(lo, hi)`, is that range for every input (then inputs
    beyond it are clipped and get no gradient). Gradients follow fake_quantize's straight-through rule.
    """

    def __init__(
        self,
        bits: int = 8,
        symmetric: bool = False,
        per_channel_axis: int | None = None,
        fixed_range: tuple[float, float] | None = None,
    ):
        super().__init__()
        qrange(bits, symmetric)
        if fixed_range is not None:
            if per_channel_axis is not None:
                raise ValueError("a fixed range is per tensor: leave per_channel_axis None")
            lo, hi = (float(v) for v in fixed_range)
            if not lo <= hi:
                raise ValueError(f"fixed_range must be (lo, hi) with lo <= hi, got {fixed_range!r}")
            fixed_range = (lo, hi)
        self.bits, self.symmetric, self.per_channel_axis, self.fixed_range = bits, symmetric, per_channel_axis, fixed_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        source = x if self.fixed_range is None else torch.tensor(self.fixed_range, dtype=torch.float32, device=x.device)
        scale, zero_point = qparams(source, self.bits, self.symmetric, self.per_channel_axis)
        return fake_quantize(x, scale, zero_point, self.bits, self.symmetric, self.per_channel_axis)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, symmetric={self.symmetric}, per_channel_axis={self.per_channel_axis}, fixed_range={self.fixed_range}"


class QuantLinear(nn.Linear):
    """Given: a Linear layer whose forward uses its weight fake-quantized at `bits` bits (qparams, fake_quantize).

    The float weight is kept and trained (quantization-aware training): each forward quantizes it
    with its current range, per output neuron (axis 0) when per_channel, else per tensor, and the
    straight-through estimator carries the gradient back to it. The bias stays in float.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bits: int = 4,
        symmetric: bool = True,
        per_channel: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        qrange(bits, symmetric)
        self.bits, self.symmetric, self.per_channel = bits, symmetric, per_channel

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int = 4, symmetric: bool = True, per_channel: bool = True) -> QuantLinear:
        """A QuantLinear holding a copy of `linear`'s weight and bias."""
        new = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            bits=bits,
            symmetric=symmetric,
            per_channel=per_channel,
            device=linear.weight.device,
            dtype=linear.weight.dtype,
        )
        new.load_state_dict(linear.state_dict())
        return new

    def quantized_weight(self) -> torch.Tensor:
        """The weight as the forward uses it: fake-quantized, with the straight-through gradient."""
        axis = 0 if self.per_channel else None
        scale, zero_point = qparams(self.weight, self.bits, self.symmetric, axis)
        return fake_quantize(self.weight, scale, zero_point, self.bits, self.symmetric, axis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, bits={self.bits}, symmetric={self.symmetric}, per_channel={self.per_channel}"
