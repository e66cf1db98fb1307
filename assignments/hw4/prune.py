"""hw4, part 1: pruning. Magnitude masks (per tensor and global), masks that stay applied through
training, and structured pruning that returns a genuinely smaller network.

A mask is a bool tensor of its weight's shape: True = kept, False = pruned (the weight is zero).
A sparsity is the fraction of entries pruned, from 0 to 1; the number pruned is exactly
round(sparsity * n) for n entries, with Python's round (halves to even, as torch.nn.utils.prune).
Write the selection yourself: torch.nn.utils.prune may not be used here.
Invalid input raises ValueError with a message saying what is wrong.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

# Layers with no parameters that map a zero neuron (channel) to zero and act on each one alone:
# structured pruning may cut through them.
PASS_THROUGH = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Identity, nn.Dropout, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)


def check_sparsity(sparsity: float, name: str = "sparsity") -> float:
    """`sparsity` as a float, or ValueError unless it is a number from 0 to 1."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity <= 1:
        raise ValueError(f"{name} must be a number from 0 to 1, got {sparsity!r}")
    return float(sparsity)


def check_weight(weight: torch.Tensor, name: str = "weight") -> torch.Tensor:
    """`weight` detached, or ValueError unless it is a non-empty floating-point tensor of finite values."""
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point() or weight.numel() == 0:
        raise ValueError(f"{name} must be a non-empty floating-point tensor")
    if not bool(torch.isfinite(weight).all()):
        raise ValueError(f"{name} has a non-finite entry")
    return weight.detach()


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Task 4.1. The mask that prunes the round(sparsity * n) entries of `weight` smallest in |w|.

    Returns a bool tensor of weight's shape (True = kept) with exactly round(sparsity * n) False
    entries, n = weight.numel(). Ties among equal |w| may be broken any way (a stable sort prunes
    the lower flat index, in row-major order as weight.flatten(), first).
    """
    sparsity = check_sparsity(sparsity)
    weight = check_weight(weight)
    # HINT: a stable sort of |w| puts equal magnitudes in index order; prune the first k of that order.
    raise NotImplementedError("Task 4.1: magnitude_mask is not implemented yet")


def global_masks(weights: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """Task 4.1. Global magnitude pruning: one threshold across all the tensors of `weights`.

    The round(sparsity * N) entries smallest in |w| among all N entries of all tensors are pruned,
    wherever they are; each layer ends with its own sparsity. Returns {name: bool mask of that
    tensor's shape}, with the same keys in the same order. Ties may be broken any way (a stable sort of
    the concatenated flattened tensors, in the dict's order, prunes the earlier first).
    """
    sparsity = check_sparsity(sparsity)
    if not weights:
        raise ValueError("no weights to prune")
    weights = {name: check_weight(w, name) for name, w in weights.items()}
    # HINT: concatenate the flattened |w| (torch.cat), choose there, then split the mask back (torch.split).
    raise NotImplementedError("Task 4.1: global_masks is not implemented yet")


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Task 4.1. Zero the pruned weights of `model` in place and keep them zero through training.

    `masks` maps a parameter's name in model.named_parameters() (e.g. "0.weight") to its bool mask.
    The pruned entries are set to 0 now, and a gradient hook on each masked parameter
    (Tensor.register_hook) zeroes their gradient in every backward pass from now on. With zero
    gradients the optimizers (SGD with momentum, Adam, AdamW, with or without weight decay) leave a
    zero weight exactly zero, as long as the optimizer holds no momentum for it from before pruning:
    create the optimizer after apply_masks. Returns the model.
    Raises ValueError for a name that is not a parameter of the model or a mask of the wrong shape.
    """
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"{name!r} is not a parameter of the model")
        if not isinstance(mask, torch.Tensor) or mask.shape != params[name].shape:
            raise ValueError(f"the mask for {name!r} must be a tensor of shape {tuple(params[name].shape)}")
    # HINT: p.register_hook(fn) calls fn(grad) in every backward pass; whatever fn returns is the gradient.
    raise NotImplementedError("Task 4.1: apply_masks is not implemented yet")


def resized(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """A new layer of `layer`'s kind and settings (Linear, or Conv2d) holding copies of `weight` and
    `bias`; its sizes (in/out features or channels) are those of `weight`."""
    weight = weight.detach().clone()
    if isinstance(layer, nn.Linear):
        new: nn.Module = nn.Linear(
            weight.shape[1], weight.shape[0], bias=bias is not None, device=weight.device, dtype=weight.dtype
        )
    elif isinstance(layer, nn.Conv2d):
        new = nn.Conv2d(
            weight.shape[1],
            weight.shape[0],
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            bias=bias is not None,
            padding_mode=layer.padding_mode,
            device=weight.device,
            dtype=weight.dtype,
        )
    else:
        raise ValueError(f"cannot resize a {type(layer).__name__}")
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias.detach())
    return new


def kept_neurons(weight: torch.Tensor, keep: float, norm: int = 1) -> torch.Tensor:
    """Task 4.2. Which output neurons (channels) of a layer structured pruning keeps.

    `weight` is a Linear weight (out, in) or a Conv2d weight (out, in, kh, kw); neuron i's score is the
    L1 (norm=1) or L2 (norm=2) norm of its incoming weights, weight[i] flattened (the bias is not
    counted). Keeps max(1, round(keep * out)) neurons, those with the largest scores; among equal
    scores any may be removed (a stable sort removes the lower index first). Returns their indices in increasing order
    (an int64 tensor). Raises ValueError unless 0 < keep <= 1 and norm is 1 or 2.
    """
    weight = check_weight(weight)
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise ValueError(f"keep must be a number above 0 and at most 1, got {keep!r}")
    if norm not in (1, 2):
        raise ValueError(f"norm must be 1 or 2, got {norm!r}")
    raise NotImplementedError("Task 4.2: kept_neurons is not implemented yet")


def prune_neurons(model: nn.Sequential, keep: float, norm: int = 1) -> nn.Sequential:
    """Task 4.2. Structured pruning: a smaller copy of `model` without the weakest hidden neurons.

    Every Linear or Conv2d layer followed later by another one is hidden: it keeps the neurons
    (output channels) that kept_neurons(layer.weight, keep, norm) chooses, all scored on the
    original weights, and the next Linear or Conv2d keeps only the matching inputs (after a Flatten,
    the block of inputs that came from each kept channel). The last such layer keeps all its
    outputs. The result has smaller shapes and fewer parameters, and its outputs equal those of the
    original with the removed neurons' weights and biases set to zero. `model` is not changed.
    Layers allowed: Linear, Conv2d (groups=1), Flatten, and those in PASS_THROUGH.
    Raises ValueError for any other layer, or for a Linear followed by a Conv2d.
    """
    layers = list(model)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Conv2d) and layer.groups != 1:
            raise ValueError(f"layer {i} is a grouped Conv2d: only groups=1 is supported")
        if not isinstance(layer, (nn.Linear, nn.Conv2d, nn.Flatten, *PASS_THROUGH)):
            raise ValueError(
                f"layer {i} is a {type(layer).__name__}: only Linear, Conv2d, Flatten and {', '.join(t.__name__ for t in PASS_THROUGH)} are supported"
            )
    # HINT: choose every hidden layer's neurons on the original weights first, then cut rows, bias and the next layer's columns.
    raise NotImplementedError("Task 4.2: prune_neurons is not implemented yet")
