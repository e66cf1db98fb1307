"""hw4, task 4.7: the honest size of a compressed model, and Deep Compression on the digits.

A compressed layer is stored as three parts (Han, Mao & Dally, Deep Compression, 2016,
sections 2-4), and `layer_size` counts each:

    positions   where the kept weights are: a bitmask (one bit per weight), or the gaps between
                kept positions at a fixed width, or the gaps Huffman-coded with their code table,
                whichever is smallest;
    values      each kept weight's codebook index, in `bits` bits, or Huffman-coded (hw1) with its
                code table counted, whichever is smaller;
    codebook    2^bits centroids as float32 (k-means sharing), or a scale and a zero-point as
                float32 (uniform quantization).

Biases and any layer left as it is count 32 bits per number. Nothing is left out: the size is
every bit a decoder needs to rebuild the weights. The float32 original is 32 bits per parameter.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

import torch

FLOAT_BITS = 32
LENGTH_BITS = 8  # a code table stores each symbol with its code length in this many bits


def huffman_lengths(counts: dict[int, int]) -> dict[int, int]:
    """Optimal (Huffman) code lengths for symbols with these counts (hw1, task 1.5); a single
    symbol gets length 1, so that every stored symbol costs at least one bit."""
    raise NotImplementedError("Task 4.7: huffman_lengths is not implemented yet")


def huffman_bits(symbols: torch.Tensor, symbol_bits: int) -> int:
    """Bits to store `symbols` (integers) Huffman-coded: the payload, sum over symbols of their code
    lengths, plus the code table, each distinct symbol in `symbol_bits` bits with its length in
    LENGTH_BITS bits. An empty stream costs nothing."""
    raise NotImplementedError("Task 4.7: huffman_bits is not implemented yet")


def gaps(mask: torch.Tensor) -> torch.Tensor:
    """The kept positions of `mask` (flattened, row-major) as gaps: each kept position minus the
    previous one (the first minus -1), so every gap is at least 1 and their sum is the last
    position + 1."""
    raise NotImplementedError("Task 4.7: gaps is not implemented yet")


@dataclass
class LayerSize:
    """The bits of one compressed weight tensor, by part, and how its positions are stored."""

    positions: int
    values: int
    codebook: int
    format: str  # "bitmask", "gaps" (fixed width) or "huffman gaps"

    @property
    def total(self) -> int:
        return self.positions + self.values + self.codebook


def layer_size(mask: torch.Tensor, indices: torch.Tensor, bits: int, codebook_entries: int | None = None) -> LayerSize:
    """The honest size of a pruned, shared weight tensor: `mask` (bool, the tensor's shape; True =
    kept), `indices` (int, one codebook index per kept weight, in row-major order), `bits` per index.

    positions: the smallest of a bitmask (numel bits), the gaps at a fixed width (kept x
               ceil(log2(largest gap + 1)) bits, plus 8 bits to say the width) and the gaps
               Huffman-coded with their table (symbols in ceil(log2(numel + 1)) bits);
    values:    the smaller of kept x `bits` and the indices Huffman-coded with their table;
    codebook:  32 bits per entry, 2^bits entries unless given (a scale and zero-point: 2)."""
    raise NotImplementedError("Task 4.7: layer_size is not implemented yet")


@dataclass
class ModelSize:
    """A compressed model's size: its layers' parts and the float32 parameters left as they are."""

    layers: dict[str, LayerSize] = field(default_factory=dict)
    dense: int = 0  # parameters stored as float32 (biases, layers left uncompressed)

    @property
    def bits(self) -> int:
        return sum(layer.total for layer in self.layers.values()) + self.dense * FLOAT_BITS

    def ratio(self, parameters: int) -> float:
        """How many times smaller than `parameters` float32 numbers."""
        return parameters * FLOAT_BITS / self.bits


# -- the experiment: Deep Compression of an MLP on the 28x28 digits -------------------------------


def mlp(seed: int = 0) -> torch.nn.Sequential:
    """LeNet-300-100 (784-300-100-10, ReLU): the network Deep Compression reports 40x on."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10)
        )


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, seed: int = 0,
          after_backward=None, after_step=None) -> torch.nn.Module:
    """Adam on cross-entropy, batches of 64 in an order drawn from `seed`; `after_backward()` and
    `after_step()`, if given, run around each optimizer step (to mask gradients, re-apply masks)."""
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x = x.flatten(1)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=g).split(64):
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            if after_backward is not None:
                after_backward()
            optimizer.step()
            if after_step is not None:
                after_step()
    return model


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x.flatten(1)).argmax(1) == y).float().mean())


def deep_compress(model: torch.nn.Sequential, x: torch.Tensor, y: torch.Tensor, sparsity: float = 0.92,
                  bits: int = 4, epochs: tuple[int, int] = (20, 5), seed: int = 0) -> ModelSize:
    """Compress `model` in place, trained on (x, y): global magnitude pruning of its weight
    matrices to `sparsity` and fine-tuning with the mask kept (epochs[0]), k-means sharing of each
    matrix's kept weights in 2^bits centroids and fine-tuning of the centroids by their summed
    gradients (epochs[1]); the honest size (`layer_size` per matrix, biases as float32)."""
    raise NotImplementedError("Task 4.7: deep_compress is not implemented yet")
