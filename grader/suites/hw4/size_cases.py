"""Fixed cases of task 4.7's size accounting, and what `course snapshot hw4` stores of them (under
"compress"): the optimal total Σ count·length of each count table (any optimal code has it), the
bits `huffman_bits` gives each stream, and every field of `layer_size` on each layer case, with the
three position formats' costs so that a wrong choice can be named.

The inputs are drawn here with Python's `random.Random` from fixed seeds (stable across versions);
the tests rebuild them with the same functions. The layer cases are chosen so that each position
format wins somewhere (bitmask, fixed-width gaps, Huffman-coded gaps), on a tie too, and each kind
of values (fixed width, Huffman-coded)."""

from __future__ import annotations

import random

import torch

LENGTH_BITS = 8  # the handout's LENGTH_BITS: a code table stores each symbol's length in 8 bits

# Count tables for huffman_lengths: symbol -> count (symbols are ints, as gaps and indices are).
COUNT_TABLES: dict[str, dict[int, int]] = {
    "skewed": {0: 50, 1: 20, 2: 10, 3: 5, 4: 3, 5: 1, 6: 1},
    "fibonacci": {i: f for i, f in enumerate((1, 1, 2, 3, 5, 8, 13, 21, 34, 55))},
    "eight_equal": dict.fromkeys(range(8), 10),
    "ties": {0: 1, 1: 1, 2: 2, 3: 2},
    "clrs": {10: 45, 20: 13, 30: 12, 40: 16, 50: 9, 60: 5},
    "two": {3: 1, 9: 1000},
    "gaps_example": {1: 1, 11: 1, 20: 1},
}


def _draw(seed: int, n: int, weights: list[float]) -> list[int]:
    r = random.Random(seed)
    return r.choices(range(len(weights)), weights=weights, k=n)


# Symbol streams for huffman_bits: name -> (symbols, shape, symbol_bits).
def huffman_streams() -> dict[str, tuple[torch.Tensor, int]]:
    skewed = _draw(11, 200, [40, 20, 10, 8, 6, 5, 4, 3, 2, 1, 1])
    matrix = _draw(12, 42, [5, 3, 2, 1])
    r = random.Random(13)
    geometric = [1 + int(r.expovariate(0.15)) for _ in range(500)]
    streams = {
        "values_example": ([0, 1, 1], (3,), 2),
        "gaps_example": ([1, 11, 20], (3,), 6),
        "one_symbol": ([5, 5, 5, 5], (4,), 3),
        "empty": ([], (0,), 4),
        "skewed_indices": (skewed, (200,), 4),
        "matrix": (matrix, (6, 7), 2),
        "geometric_gaps": (geometric, (500,), 10),
    }
    return {k: (torch.tensor(s, dtype=torch.int64).reshape(shape), b) for k, (s, shape, b) in streams.items()}


def _mask(shape: tuple[int, ...], kept: list[int]) -> torch.Tensor:
    mask = torch.zeros(shape, dtype=torch.bool)
    mask.view(-1)[torch.tensor(kept, dtype=torch.int64)] = True
    return mask


def _random_kept(seed: int, numel: int, kept: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(numel), kept))


def layer_cases() -> dict[str, tuple[torch.Tensor, torch.Tensor, int, int | None, str]]:
    """name -> (mask, indices, bits, codebook_entries, what the case is about)."""
    cases: dict[str, tuple[list[int] | tuple[int, ...], tuple[int, ...], list[int], int, int | None, str]] = {}
    cases["handout_example"] = ([0, 11, 31], (4, 8), [0, 1, 1], 2, None, "the handout's example")
    kept = _random_kept(21, 256, 128)
    cases["dense"] = (kept, (16, 16), _draw(22, 128, [1] * 16), 4, None, "half the weights kept: the bitmask is cheapest")
    kept = _random_kept(23, 1200, 30)
    cases["sparse"] = (kept, (30, 40), _draw(24, 30, [1] * 8), 3, None, "2.5% kept: fixed-width gaps are cheapest")
    r = random.Random(25)
    positions, p = [], -1
    while True:
        p += 1 + int(r.expovariate(0.12))
        if p >= 100 * 100:
            break
        positions.append(p)
    cases["huffman_gaps"] = (
        positions,
        (100, 100),
        _draw(26, len(positions), [30, 20, 10, 5, 3, 2, 1, 1]),
        3,
        None,
        "10% kept at random over 10,000 weights: Huffman-coded gaps are cheapest, and Huffman-coded values",
    )
    cases["one_gap_value"] = (
        list(range(4, 500, 5)),
        (1, 500),
        _draw(27, 100, [1] * 4),
        2,
        None,
        "every fifth weight kept: every gap is 5, one Huffman symbol",
    )
    cases["power_of_two_gap"] = (
        [2, 18, 23, 32, 44, 46, 53],
        (8, 8),
        [0, 1, 2, 3, 4, 5, 6],
        3,
        None,
        "the largest gap is 16, which takes 5 bits",
    )
    cases["tie"] = ([6, 15], (4, 4), [0, 1], 1, None, "a bitmask of 16 bits against 2 gaps of 4 bits + 8: a tie")
    cases["uniform_codebook"] = (
        _random_kept(28, 240, 24),
        (12, 20),
        _draw(29, 24, [1] * 256),
        8,
        2,
        "uniform quantization: codebook_entries=2 (a scale and a zero point)",
    )
    cases["conv"] = (
        _random_kept(30, 288, 40),
        (8, 4, 3, 3),
        _draw(31, 40, [8, 4, 2, 1]),
        2,
        None,
        "a convolution's (8, 4, 3, 3) weight, 14% kept",
    )
    cases["all_kept"] = (list(range(64)), (8, 8), _draw(32, 64, [1] * 16), 4, None, "every weight kept")
    cases["empty"] = ([], (5, 5), [], 4, None, "no weight kept")
    out = {}
    for name, (where, shape, indices, bits, entries, what) in cases.items():
        out[name] = (_mask(shape, list(where)), torch.tensor(indices, dtype=torch.int64), bits, entries, what)
    return out


def make(submission) -> dict:
    """The reference's outputs on the cases above (submission: the solutions, through the seam)."""
    comp = submission.module("compress")
    optimal = {}
    for name, counts in COUNT_TABLES.items():
        lengths = comp.huffman_lengths(counts)
        optimal[name] = sum(c * lengths[s] for s, c in counts.items())
    bits = {name: comp.huffman_bits(symbols, sb) for name, (symbols, sb) in huffman_streams().items()}
    layers = {}
    for name, (mask, indices, b, entries, _) in layer_cases().items():
        size = submission.driver("layer_size", mask, indices, b, entries)
        g = comp.gaps(mask)
        kept, numel = int(mask.sum()), mask.numel()
        width = int(g.max()).bit_length() if kept else 0
        layers[name] = {
            **{k: size[k] for k in ("positions", "values", "codebook", "format", "total")},
            "options": {
                "bitmask": numel,
                "gaps": kept * width + LENGTH_BITS,
                "huffman gaps": comp.huffman_bits(g, max(1, numel.bit_length())),
            },
            "width": width,
            "largest gap": int(g.max()) if kept else 0,
            "fixed values": kept * b,
            "huffman values": comp.huffman_bits(indices, b),
        }
    return {"optimal_cost": optimal, "huffman_bits": bits, "layer_size": layers}
