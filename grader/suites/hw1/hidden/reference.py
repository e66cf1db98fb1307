"""Grading-side reference computations for the hidden hw1 suite (never shipped to students)."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from functools import lru_cache

import numpy as np


def entropy_bits(p) -> float:
    p = np.asarray(p, float)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


@lru_cache(maxsize=64)  # a grading process grades many students on the same texts
def conditional_entropy_bits(text: str, k: int) -> float:
    pairs = Counter(text[i - k : i + 1] for i in range(k, len(text)))
    contexts: Counter = Counter()
    for gram, n in pairs.items():
        contexts[gram[:-1]] += n
    total = len(text) - k
    return -sum(n / total * math.log2(n / contexts[g[:-1]]) for g, n in pairs.items())


def huffman_lengths(freqs: dict) -> dict:
    """Optimal codeword lengths (Huffman), computed on the grading side."""
    if len(freqs) == 1:
        return dict.fromkeys(freqs, 1)
    heap = [(f, i, [s]) for i, (s, f) in enumerate(sorted(freqs.items()))]
    heapq.heapify(heap)
    lengths = dict.fromkeys(freqs, 0)
    tiebreak = len(heap)
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        for s in a[2] + b[2]:
            lengths[s] += 1
        heapq.heappush(heap, (a[0] + b[0], tiebreak, a[2] + b[2]))
        tiebreak += 1
    return lengths


def optimal_cost(freqs: dict) -> float:
    """Minimum of sum f*l over prefix codes."""
    lengths = huffman_lengths(freqs)
    return sum(freqs[s] * lengths[s] for s in freqs)


def canonical(lengths: dict) -> dict:
    """The RFC 1951 canonical code for these lengths."""
    value, previous, code = 0, None, {}
    for s in sorted(lengths, key=lambda s: (lengths[s], s)):
        if previous is not None:
            value = (value + 1) << (lengths[s] - previous)
        code[s], previous = format(value, f"0{lengths[s]}b"), lengths[s]
    return code


def pack_bits(bits: str) -> bytes:
    """'01011' -> b'\\x58': most significant bit first, zero padding."""
    padded = bits + "0" * (-len(bits) % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""


def encode_bits(text: str, code: dict[str, str]) -> tuple[bytes, int]:
    """`text` under `code`, packed MSB-first: (data, n_bits)."""
    bits = "".join(map(code.__getitem__, text))
    return pack_bits(bits), len(bits)
