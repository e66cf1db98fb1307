"""Grading-side helpers for prefix codes: Kraft sums, costs, bit packing, and property checks.

These check properties stated in the handout; none of them computes a task's answer."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from functools import lru_cache


def kraft(lengths: dict) -> Fraction:
    return sum((Fraction(1, 2**n) for n in lengths.values()), Fraction(0))


def expected_cost(freqs: dict, lengths: dict) -> float:
    return sum(freqs[s] * lengths[s] for s in freqs)


def pack_bits(bits: str) -> bytes:
    """'01011' -> b'\\x58': most significant bit first, zero padding."""
    padded = bits + "0" * (-len(bits) % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""


@lru_cache(maxsize=8)  # texts are the course's corpora, the same for every student
def char_counts(text: str) -> Counter:
    return Counter(text)


def elias_gamma_code(text: str) -> dict[str, str]:
    """A variable-length prefix code (Elias gamma of the frequency rank), independent of any task."""
    counts = char_counts(text)
    symbols = sorted(counts, key=lambda s: (-counts[s], s))
    return {s: "0" * (r.bit_length() - 1) + format(r, "b") for s, r in zip(symbols, range(1, len(symbols) + 1))}


def encode_bits(text: str, code: dict[str, str]) -> tuple[bytes, int]:
    """`text` under `code`, packed MSB-first: (data, n_bits), computed here, not by a solution."""
    bits = "".join(map(code.__getitem__, text))
    return pack_bits(bits), len(bits)


@lru_cache(maxsize=2)
def gamma_packed(text: str) -> tuple[bytes, int]:
    """`text` under `elias_gamma_code(text)`, packed: (data, n_bits), for testing a decoder."""
    return encode_bits(text, elias_gamma_code(text))


def assert_prefix_free(code: dict, lengths: dict, what: str) -> None:
    assert set(code) == set(lengths), f"{what}: codewords for {sorted(code)}, expected {sorted(lengths)}"
    for s, word in code.items():
        assert isinstance(word, str) and word and set(word) <= {"0", "1"}, f"{what}: codeword of {s!r} is {word!r}, not a string of 0s and 1s"
        assert len(word) == lengths[s], f"{what}: codeword of {s!r} is {word!r}, length {len(word)}, expected length {lengths[s]}"
    words = sorted(code.values())
    for a, b in zip(words, words[1:]):  # in sorted order a prefix sits right before its extensions
        assert not b.startswith(a), f"{what}: {a!r} is a prefix of {b!r}, so the code is not prefix-free"


def assert_canonical(code: dict, lengths: dict, what: str) -> None:
    """RFC 1951 order: by (length, symbol), first all zeros, next = (previous + 1) << growth.
    The bitwise complement of that code (first all ones, counting down) is accepted too."""
    order = sorted(lengths, key=lambda s: (lengths[s], s))
    value, previous, expected = 0, None, {}
    for s in order:
        if previous is not None:
            value = (value + 1) << (lengths[s] - previous)
        expected[s], previous = format(value, f"0{lengths[s]}b"), lengths[s]
    flip = str.maketrans("01", "10")
    if code == expected or {s: w.translate(flip) for s, w in code.items()} == expected:
        return
    first = next(s for s in order if code[s] != expected[s])
    raise AssertionError(
        f"{what}: not canonical; sorted by (length, symbol), so equal lengths in symbol order, {first!r} should get "
        f"{expected[first]!r}, got {code[first]!r} (the first codeword is all zeros, each next one is "
        "(previous + 1) << (growth in length))"
    )
