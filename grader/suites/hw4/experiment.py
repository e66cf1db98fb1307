"""Task 4.7's experiment on the grading side: LeNet-300-100 trained here on the training digits,
handed to the student's deep_compress through the seam, and judged here on what comes back.

The float32 network is trained here, not by the student's `train`, so the baseline the bar is
measured from is the course's. What deep_compress returns is checked as data: a state dict of the
network's own names and shapes, finite, each weight matrix holding at most 2^bits distinct non-zero
values. Its size is recounted here from those weights (`bound_bits`: a bitmask, a fixed-width index
per kept weight and the codebook in float32, an upper bound of the honest count), and its accuracy is
scored here."""

from __future__ import annotations

import math

import torch

from grader.assertions import tensor
from grader.data import mnist_split
from grader.worker.drivers.hw4 import build

SPEC = [["Linear", 784, 300, True], ["ReLU"], ["Linear", 300, 100, True], ["ReLU"], ["Linear", 100, 10, True]]
PARAMETERS = 266_610  # LeNet-300-100's weights and biases
FLOAT_EPOCHS, FLOAT_LR = 15, 1e-3
BITS = 4  # deep_compress's default: at most 2^4 shared values per matrix
RATIO = 20.0  # the compressed network must be at least this many times smaller than float32
POINTS = 0.01  # and lose at most this much accuracy (1 point)

_TRAINED: dict[int, dict] = {}  # seed -> float32 state, per process (the same for every submission)
SEED_NAME = "task 4.7: Deep Compression of LeNet-300-100"  # seed_of(SEED_NAME): the experiment's seed


def mlp(seed: int) -> torch.nn.Sequential:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build(SPEC)


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, seed: int) -> torch.nn.Module:
    """Adam on cross-entropy, batches of 64 in an order drawn from `seed` (the handout's `train`)."""
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x = x.flatten(1)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=g).split(64):
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x.flatten(1)).argmax(1) == y).float().mean())


def trained(seed: int, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The float32 LeNet-300-100 of `seed` trained on (x, y) (FLOAT_EPOCHS of Adam at FLOAT_LR, one
    thread, so that it is the same network wherever it is trained): its state, computed once per
    process (`grader.suites.hw4.warm` trains it before grading processes are forked)."""
    if seed not in _TRAINED:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                model = train(mlp(seed), x, y, FLOAT_EPOCHS, FLOAT_LR, seed)
        finally:
            torch.set_num_threads(threads)
        _TRAINED[seed] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return _TRAINED[seed]


def training_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 3,000 training digits as tensors: images (3000, 1, 28, 28) and labels."""
    return mnist_split(0)


def checked_state(state, reference: dict) -> dict:
    """The state dict deep_compress left, checked: the original's names, shapes and dtype, finite."""
    if type(state) is not dict or set(state) != set(reference):
        got = sorted(state) if type(state) is dict else type(state).__name__
        raise AssertionError(
            f"deep_compress must compress the network in place: its parameters were {got}, expected {sorted(reference)}"
        )
    for name, ref in reference.items():
        tensor(state[name], f"parameter {name} after deep_compress", tuple(ref.shape), "float32")
        if not bool(torch.isfinite(state[name]).all()):
            raise AssertionError(f"parameter {name} after deep_compress has a non-finite entry")
    return state


def shared(weight: torch.Tensor, name: str, bits: int = BITS) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask, codebook) of a compressed weight matrix: its non-zero entries, and their distinct
    values, at most 2^bits of them."""
    mask = weight != 0
    codebook = torch.unique(weight[mask])
    if codebook.numel() > 2**bits:
        raise AssertionError(
            f"{name} holds {codebook.numel()} distinct non-zero values after deep_compress: weight sharing at {bits} bits "
            f"leaves at most {2**bits} (each kept weight is codebook[index])"
        )
    return mask, codebook


def bound_bits(state: dict) -> int:
    """An upper bound of the honest size in bits: per weight matrix, a bitmask (one bit per
    weight), ceil(log2(k)) bits per kept weight for k distinct values, k float32 codebook entries;
    everything else (biases) 32 bits per number."""
    bits = 0
    for name, value in state.items():
        if name.endswith("weight"):
            mask, codebook = shared(value, name)
            k = codebook.numel()
            bits += mask.numel() + int(mask.sum()) * max(1, math.ceil(math.log2(max(k, 1)))) + 32 * k
        else:
            bits += 32 * value.numel()
    return bits


def assert_bar(original: dict, state: dict, x: torch.Tensor, y: torch.Tensor) -> None:
    """The whole bar, which every experiment test also requires, so that no single property earns
    points on its own (the float32 network handed back unchanged keeps its accuracy; zeros are
    small): at most 2^BITS shared values per matrix, at least RATIO times smaller by `bound_bits`,
    and within POINTS of the float32 network's accuracy on (x, y), the validation digits."""
    ratio = PARAMETERS * 32 / bound_bits(state)
    before, after = accuracy(build(SPEC, original), x, y), accuracy(build(SPEC, state), x, y)
    missed = []
    if ratio < RATIO:
        missed.append(
            f"it is only {ratio:.1f}× smaller than float32 (a bitmask and fixed-width indices; at least {RATIO:g}× is required)"
        )
    if after < before - POINTS - 1e-9:
        missed.append(
            f"it scores {100 * after:.1f}% on the validation digits against the float32 network's {100 * before:.1f}% "
            f"(at most {100 * POINTS:g} point lost)"
        )
    if missed:
        raise AssertionError("the compressed network misses the experiment's bar: " + "; ".join(missed))
