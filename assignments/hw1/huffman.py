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
    # HINT: keep a heap of (weight, tiebreak, symbols); merging two subtrees adds 1 to every length in both.
    raise NotImplementedError("Task 1.5: code_lengths is not implemented yet")


def kraft_sum(lengths: dict[str, int]) -> float:
    """Task 1.6. The Kraft sum sum_s 2^(-length[s]); a prefix code with these lengths exists iff it is <= 1."""
    raise NotImplementedError("Task 1.6: kraft_sum is not implemented yet")


def canonical_code(lengths: dict[str, int]) -> dict[str, str]:
    """Task 1.6. The canonical prefix code with these lengths (RFC 1951, section 3.2.2).

    Sort symbols by (length, symbol). The first gets the all-zero codeword of its length; each next
    codeword is the previous one plus 1, shifted left by the increase in length:
    code[i+1] = (code[i] + 1) << (len[i+1] - len[i]).
    Raises ValueError when a length is below 1 or the Kraft sum exceeds 1 (no prefix code exists).
    """
    raise NotImplementedError("Task 1.6: canonical_code is not implemented yet")


def encode(text: str, code: dict[str, str]) -> tuple[bytes, int]:
    """Task 1.7. Encode `text` with `code`: return (data, n_bits).

    The codewords of the characters, concatenated, are the first n_bits bits of `data`, most
    significant bit of each byte first; the rest of the last byte is zero padding.
    Raises ValueError for a character that has no codeword.
    """
    raise NotImplementedError("Task 1.7: encode is not implemented yet")


def decode(data: bytes, n_bits: int, code: dict[str, str]) -> str:
    """Task 1.7. Invert `encode`: read the first n_bits bits of `data` back into text.

    Malformed input raises ValueError, never a partial text: n_bits more than the data holds, bits
    that no codeword begins with, or bits that end inside a codeword (a truncated stream).
    """
    raise NotImplementedError("Task 1.7: decode is not implemented yet")


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
    raise NotImplementedError("Task 1.8: compression_report is not implemented yet")
