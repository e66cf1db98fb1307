"""Hidden tests for hw1 part 2: random alphabets, skewed frequencies, held-out text, edge cases."""

import random
from collections import Counter

import pytest

from grader.assertions import raises
from grader.data import load_text
from grader.suites.hw1.codes import assert_canonical_form, assert_kraft_feasible, assert_same_code, expected_cost
from grader.suites.hw1.hidden.reference import canonical, encode_bits, huffman_lengths, optimal_cost
from grader.suites.hw1.public.test_huffman import canonical_of, check_report, decoded_text, encoded_pair, lengths_of
from grader.suites.hw1.snapshots import compressed_sizes
from grader.suites.hw1.tolerance import approx


def random_freqs(seed: int, n: int) -> dict:
    rng = random.Random(seed)
    symbols = rng.sample([chr(c) for c in range(33, 1000)], n)
    return {s: rng.choice([1, 1, 2, 3, rng.randint(1, 1000)]) for s in symbols}


@pytest.mark.task("1.5")
@pytest.mark.parametrize("seed,n", [(1, 3), (2, 17), (3, 64), (4, 200)])
def test_code_lengths_optimal_on_random_tables(huff, seed, n):
    """Are the lengths optimal on random frequency tables with many ties?"""
    freqs = random_freqs(seed, n)
    lengths = lengths_of(huff, freqs, f"code_lengths(random table of {n})")
    assert_kraft_feasible(lengths, f"code_lengths(random table of {n})")
    cost, best = expected_cost(freqs, lengths), optimal_cost(freqs)
    assert cost == best, f"code_lengths(random table of {n}): sum f*l = {cost}, the optimum is {best}"


@pytest.mark.task("1.5")
def test_code_lengths_skewed_and_zero_frequencies(huff):
    """With powers of two (a chain of depth n-1) and a zero frequency, are the lengths still optimal?"""
    freqs = {chr(97 + i): 2**i for i in range(20)}
    lengths = lengths_of(huff, freqs, "code_lengths(powers of two)")
    assert expected_cost(freqs, lengths) == optimal_cost(freqs), "code_lengths(powers of two) is not optimal"
    assert max(lengths.values()) == 19, f"the rarest of 20 doubling frequencies needs 19 bits, got {max(lengths.values())}"
    freqs = {"a": 5, "b": 0, "c": 3}
    lengths = lengths_of(huff, freqs, "code_lengths with a zero frequency")
    assert_kraft_feasible(lengths, "code_lengths with a zero frequency")
    assert expected_cost(freqs, lengths) == optimal_cost(freqs), (
        "a symbol of frequency 0 still gets a codeword, and the code stays optimal"
    )
    raises("ValueError", huff.code_lengths, {"a": -1, "b": 2}, what="code_lengths with a negative frequency")


@pytest.mark.task("1.6")
@pytest.mark.parametrize("seed,n", [(5, 30), (6, 150)])
def test_canonical_code_random_lengths(huff, seed, n):
    """Is the canonical code prefix-free and canonical for random optimal lengths?"""
    freqs = random_freqs(seed, n)
    lengths = huffman_lengths(freqs)  # computed here, so 1.6 is graded apart from 1.5
    what = f"canonical_code(random lengths, {n} symbols)"
    code = canonical_of(huff, lengths, what)
    assert_canonical_form(code, lengths, what)
    assert_same_code(code, canonical(lengths), lengths, what)


@pytest.mark.task("1.6")
def test_kraft_sum_exact_and_incomplete_codes(huff):
    """Is the Kraft sum right for long codewords, and does an incomplete code keep its gaps?"""
    lengths = {chr(97 + i): i + 1 for i in range(25)} | {"Z": 25}
    approx(huff.kraft_sum(lengths), 1.0, "kraft_sum of a complete code with lengths 1..25, 25")
    lengths, what = {"a": 1, "b": 3}, "canonical_code({a:1, b:3}) (incomplete)"
    code = canonical_of(huff, lengths, what)
    assert_canonical_form(code, lengths, what)
    assert_same_code(code, canonical(lengths), lengths, what)


@pytest.mark.task("1.7")
def test_round_trip_random_texts_and_codes(huff):
    """Does encode/decode round-trip random texts under random optimal codes, bit-exactly?"""
    rng = random.Random(7)
    for n_symbols, n_chars in ((2, 1), (5, 8), (40, 999), (120, 5000)):
        freqs = random_freqs(rng.randint(0, 10**6), n_symbols)
        lengths = huffman_lengths(freqs)
        code = canonical(lengths)
        text = "".join(rng.choices(list(freqs), k=n_chars))
        data, n_bits = encoded_pair(huff.encode(text, code), f"encode({n_chars} characters)")
        assert (data, n_bits) == encode_bits(text, code), f"encode of {n_chars} random characters is not bit-exact"
        decoded_text(huff.decode(data, n_bits, code), text, f"decode(encode(text)) for {n_chars} random characters")


@pytest.mark.task("1.7")
def test_empty_text_and_errors(huff):
    """Is the empty text (b'', 0), and does encode refuse a character without a codeword?"""
    code = {"a": "0", "b": "1"}
    data, n_bits = encoded_pair(huff.encode("", code), "encode('')")
    assert (data, n_bits) == (b"", 0), f"encode(''): expected (b'', 0), got {(data, n_bits)}"
    decoded_text(huff.decode(b"", 0, code), "", "decode(b'', 0)")
    raises("ValueError", huff.encode, "abc", code, what="encode('abc') without a codeword for 'c'")


@pytest.mark.task("1.8")
def test_compression_report_of_held_out_text(huff):
    """On The Tempest, is the compression report right?"""
    text = load_text("valid")
    report = huff.compression_report(text)
    check_report(huff, report, text, "compression_report(held-out text)", optimal_cost(Counter(text)), compressed_sizes(text))


@pytest.mark.task("1.8")
def test_compression_report_of_a_two_letter_text(huff):
    """For a two-letter text, are H, L and the ratios consistent?"""
    text = "ab" * 40 + "a" * 20
    report = huff.compression_report(text)
    check_report(huff, report, text, "compression_report('abab...aaa')", optimal_cost(Counter(text)))
