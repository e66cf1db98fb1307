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
    ### BEGIN SOLUTION 4.7
    symbols = [s for s, c in counts.items() if c > 0]
    if len(symbols) == 1:
        return {symbols[0]: 1}
    depth = Counter()
    heap = [(counts[s], i, [s]) for i, s in enumerate(sorted(symbols))]
    heapq.heapify(heap)
    order = len(heap)
    while len(heap) > 1:
        c1, _, a = heapq.heappop(heap)
        c2, _, b = heapq.heappop(heap)
        for s in a + b:
            depth[s] += 1
        heapq.heappush(heap, (c1 + c2, order, a + b))
        order += 1
    return {s: depth[s] for s in symbols}
    ### END SOLUTION


def huffman_bits(symbols: torch.Tensor, symbol_bits: int) -> int:
    """Bits to store `symbols` (integers) Huffman-coded: the payload, sum over symbols of their code
    lengths, plus the code table, each distinct symbol in `symbol_bits` bits with its length in
    LENGTH_BITS bits. An empty stream costs nothing."""
    ### BEGIN SOLUTION 4.7
    if symbols.numel() == 0:
        return 0
    counts = Counter(symbols.flatten().tolist())
    lengths = huffman_lengths(counts)
    return sum(counts[s] * lengths[s] for s in counts) + len(counts) * (symbol_bits + LENGTH_BITS)
    ### END SOLUTION


def gaps(mask: torch.Tensor) -> torch.Tensor:
    """The kept positions of `mask` (flattened, row-major) as gaps: each kept position minus the
    previous one (the first minus -1), so every gap is at least 1 and their sum is the last
    position + 1."""
    ### BEGIN SOLUTION 4.7
    positions = torch.nonzero(mask.flatten()).flatten()
    return torch.diff(positions, prepend=torch.tensor([-1]))
    ### END SOLUTION


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
    ### BEGIN SOLUTION 4.7
    kept = int(mask.sum())
    if indices.numel() != kept:
        raise ValueError(f"{indices.numel()} indices for {kept} kept weights")
    g = gaps(mask)
    width = int(g.max()).bit_length() if kept else 0
    options = {"bitmask": mask.numel(), "gaps": kept * width + LENGTH_BITS,
               "huffman gaps": huffman_bits(g, max(1, mask.numel().bit_length()))}
    form = min(options, key=lambda k: options[k])
    values = min(kept * bits, huffman_bits(indices.flatten().to(torch.int64), bits))
    entries = codebook_entries if codebook_entries is not None else 2**bits
    return LayerSize(options[form], values, entries * FLOAT_BITS, form)
    ### END SOLUTION


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
    ### BEGIN SOLUTION 4.7
    from prune import apply_masks, global_masks
    from quantize import centroid_gradients, kmeans_share

    weights = {n: p for n, p in model.named_parameters() if n.endswith("weight")}
    masks = global_masks({n: p.detach() for n, p in weights.items()}, sparsity)
    apply_masks(model, masks)
    train(model, x, y, epochs[0], 5e-4, seed)

    shared = {}
    for n, p in weights.items():
        codebook, indices = kmeans_share(p.detach()[masks[n]], bits)
        shared[n] = [codebook, indices]
    x, lr = x.flatten(1), 1e-3

    def rebuild() -> None:
        with torch.no_grad():
            for n, p in weights.items():
                p.zero_()
                p[masks[n]] = shared[n][0][shared[n][1]]

    rebuild()
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(epochs[1]):
        for batch in torch.randperm(len(x), generator=g).split(64):
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            with torch.no_grad():
                for n, p in weights.items():
                    shared[n][0] -= lr * centroid_gradients(p.grad[masks[n]], shared[n][1], 2**bits)
            rebuild()

    size = ModelSize(dense=sum(p.numel() for n, p in model.named_parameters() if n not in weights))
    for n in weights:
        size.layers[n] = layer_size(masks[n], shared[n][1], bits)
    return size
    ### END SOLUTION
