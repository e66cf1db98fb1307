"""hw1, part 2: optimal prefix codes. Huffman code lengths, the canonical code, a bit-exact
encoder and decoder, the Kraft sum, and a compression report against the standard library.

Symbols are one-character strings; a code maps each symbol to its codeword, a string of '0' and '1'.
Bits are packed most significant bit first; the last byte is padded with zero bits.
"""

from __future__ import annotations

import bz2
import heapq
import lzma
import math
import zlib
from collections import Counter
from fractions import Fraction


def code_lengths(freqs: dict[str, float]) -> dict[str, int]:
    """Task 1.5. Codeword lengths of an optimal (Huffman) prefix code for these frequencies.

    Minimises sum_s freqs[s] * length[s] over all prefix codes. Any optimal answer is accepted
    (ties may be broken either way). A single symbol gets length 1.
    Raises ValueError for no symbols or a negative frequency.
    """
    ### BEGIN SOLUTION 1.5
    # HINT: keep a heap of (weight, tiebreak, symbols); merging two subtrees adds 1 to every length in both.
    if not freqs:
        raise ValueError("no symbols")
    if any(f < 0 for f in freqs.values()):
        raise ValueError("frequencies must be non-negative")
    lengths = {s: 0 for s in freqs}
    if len(freqs) == 1:
        return {s: 1 for s in freqs}
    heap = [(f, i, [s]) for i, (s, f) in enumerate(sorted(freqs.items()))]
    heapq.heapify(heap)
    tiebreak = len(heap)
    while len(heap) > 1:
        f1, _, left = heapq.heappop(heap)
        f2, _, right = heapq.heappop(heap)
        for s in left + right:
            lengths[s] += 1
        heapq.heappush(heap, (f1 + f2, tiebreak, left + right))
        tiebreak += 1
    return lengths
    ### END SOLUTION


def kraft_sum(lengths: dict[str, int]) -> float:
    """Task 1.6. The Kraft sum sum_s 2^(-length[s]); a prefix code with these lengths exists iff it is <= 1."""
    ### BEGIN SOLUTION 1.6
    return float(sum(Fraction(1, 2**n) for n in lengths.values()))
    ### END SOLUTION


def canonical_code(lengths: dict[str, int]) -> dict[str, str]:
    """Task 1.6. The canonical prefix code with these lengths (RFC 1951, section 3.2.2).

    Sort symbols by (length, symbol). The first gets the all-zero codeword of its length; each next
    codeword is the previous one plus 1, shifted left by the increase in length:
    code[i+1] = (code[i] + 1) << (len[i+1] - len[i]).
    Raises ValueError when a length is below 1 or the Kraft sum exceeds 1 (no prefix code exists).
    """
    ### BEGIN SOLUTION 1.6
    if any(n < 1 for n in lengths.values()):
        raise ValueError("every codeword length must be at least 1")
    if sum(Fraction(1, 2**n) for n in lengths.values()) > 1:
        raise ValueError("the Kraft sum exceeds 1: no prefix code has these lengths")
    code: dict[str, str] = {}
    value, previous = 0, None
    for symbol, n in sorted(lengths.items(), key=lambda item: (item[1], item[0])):
        if previous is not None:
            value = (value + 1) << (n - previous)
        code[symbol] = format(value, f"0{n}b")
        previous = n
    return code
    ### END SOLUTION


def encode(text: str, code: dict[str, str]) -> tuple[bytes, int]:
    """Task 1.7. Encode `text` with `code`: return (data, n_bits).

    The codewords of the characters, concatenated, are the first n_bits bits of `data`, most
    significant bit of each byte first; the rest of the last byte is zero padding.
    Raises ValueError for a character that has no codeword.
    """
    ### BEGIN SOLUTION 1.7
    missing = set(text) - set(code)
    if missing:
        raise ValueError(f"no codeword for {sorted(missing)!r}")
    bits = "".join(map(code.__getitem__, text))
    n_bits = len(bits)
    padded = bits + "0" * (-n_bits % 8)
    return (int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""), n_bits
    ### END SOLUTION


def decode(data: bytes, n_bits: int, code: dict[str, str]) -> str:
    """Task 1.7. Invert `encode`: read the first n_bits bits of `data` back into text.

    Malformed input raises ValueError, never a partial text: n_bits more than the data holds, bits
    that no codeword begins with, or bits that end inside a codeword (a truncated stream).
    """
    ### BEGIN SOLUTION 1.7
    if n_bits > 8 * len(data):
        raise ValueError(f"n_bits={n_bits} but the data holds only {8 * len(data)} bits")
    bits = format(int.from_bytes(data, "big"), f"0{8 * len(data)}b")[:n_bits] if data else ""
    table = {word: symbol for symbol, word in code.items()}
    longest = max(map(len, table), default=0)
    out, word = [], ""
    for bit in bits:
        word += bit
        symbol = table.get(word)
        if symbol is not None:
            out.append(symbol)
            word = ""
        elif len(word) >= longest:
            raise ValueError(f"no codeword begins with the bits {word}")
    if word:
        raise ValueError("the bits end inside a codeword")
    return "".join(out)
    ### END SOLUTION


def compression_report(text: str) -> dict:
    """Task 1.8. How well a Huffman code on single characters compresses `text`, against the rest.

    With n = len(text) characters, the original is 8-bit text: 8 n bits, whatever the characters.
    Returns a dict with:
      "entropy":      H of the character frequencies, bits per character;
      "avg_length":   sum_s p(s) * len(code[s]) of an optimal code, bits per character
                      (H <= avg_length < H + 1);
      "huffman_bits": the payload: the length of the encoded text in bits, sum_s n(s) * len(code[s]);
                      the padding of the last byte and the code table are overhead, not counted;
      "ratio":        compression ratios against 8-bit text, original bits / compressed bits:
                      {"huffman": 8 n / huffman_bits, "zlib": 8 n / (8 * compressed bytes), ...},
                      the compressed bytes from zlib.compress, bz2.compress and lzma.compress at
                      their default settings applied to text.encode("utf-8").
    """
    ### BEGIN SOLUTION 1.8
    counts = Counter(text)
    n = len(text)
    lengths = code_lengths(dict(counts))
    huffman_bits = sum(counts[s] * lengths[s] for s in counts)
    entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
    raw = text.encode("utf-8")
    return {
        "entropy": entropy,
        "avg_length": huffman_bits / n,
        "huffman_bits": huffman_bits,
        "ratio": {
            "huffman": 8 * n / huffman_bits,
            "zlib": 8 * n / (8 * len(zlib.compress(raw))),
            "bz2": 8 * n / (8 * len(bz2.compress(raw))),
            "lzma": 8 * n / (8 * len(lzma.compress(raw))),
        },
    }
    ### END SOLUTION
