"""Public tests for hw1 part 2 (huffman.py): tasks 1.5-1.8."""

import hashlib
import math

import pytest

from grader.checks import integer, mapping, near, raises, short
from grader.remote import StudentError
from grader.suites.hw1.snapshots import REPORT_CHARS, REPORT_TEXT, TABLES, compressed_sizes
from grader.suites.hw1.tolerance import approx
from grader.suites.hw1.codes import (
    assert_canonical, assert_prefix_free, char_counts, elias_gamma_code, expected_cost, kraft, pack_bits,
)


def lengths_of(huff, freqs, what):
    lengths = mapping(huff.code_lengths(freqs), what)
    assert set(lengths) == set(freqs), f"{what}: lengths for {sorted(lengths)}, expected one per symbol {sorted(freqs)}"
    return {s: integer(n, f"{what}: length of {s!r}") for s, n in lengths.items()}


# ---- 1.5 optimal code lengths ----------------------------------------------------------------------

@pytest.mark.task("1.5")
@pytest.mark.parametrize("table", sorted(TABLES))
def test_code_lengths_are_optimal(huff, snapshot, table):
    """Are the lengths optimal: Kraft sum <= 1 and the least sum f*l?"""
    freqs = TABLES[table]
    lengths = lengths_of(huff, freqs, f"code_lengths({table})")
    assert kraft(lengths) <= 1, f"code_lengths({table}): Kraft sum {kraft(lengths)} > 1, so no prefix code has these lengths"
    cost, best = expected_cost(freqs, lengths), snapshot["optimal_cost"][table]
    assert cost == best, (
        f"code_lengths({table}): sum f*l = {cost}, but the optimum is {best}; "
        "at every step merge the two least frequent subtrees into one whose frequency is their sum (Huffman); "
        "rounding -log2 p up (Shannon) gives a prefix code, not an optimal one"
    )


@pytest.mark.task("1.5")
def test_code_lengths_of_the_corpus_are_optimal(huff, corpus_counts, snapshot):
    """Is the code for the corpus' 76 characters optimal?"""
    freqs = dict(corpus_counts)
    lengths = lengths_of(huff, freqs, "code_lengths(corpus counts)")
    cost, best = expected_cost(freqs, lengths), snapshot["optimal_cost"]["corpus"]
    assert kraft(lengths) <= 1, f"code_lengths(corpus): Kraft sum {float(kraft(lengths))} > 1, so no prefix code has these lengths"
    assert cost == best, f"code_lengths(corpus): sum f*l = {cost} bits, the optimum is {best}"


@pytest.mark.task("1.5")
def test_code_lengths_small_cases(huff):
    """Does one symbol get length 1, two get 1 and 1, and four equal ones get 2 each?"""
    assert lengths_of(huff, {"a": 7}, "code_lengths({'a': 7})") == {"a": 1}, "a single symbol still needs 1 bit"
    got = lengths_of(huff, {"a": 1, "b": 100}, "code_lengths({'a': 1, 'b': 100})")
    assert got == {"a": 1, "b": 1}, f"code_lengths({{'a': 1, 'b': 100}}): got {got}, expected 1 bit each (codewords 0 and 1)"
    got = lengths_of(huff, dict.fromkeys("abcd", 5), "code_lengths(four equal frequencies)")
    assert set(got.values()) == {2}, f"code_lengths of four equal frequencies: got {got}, expected 2 bits each"
    raises("ValueError", huff.code_lengths, {}, what="code_lengths({})")


# ---- 1.6 canonical code and Kraft sum -----------------------------------------------------------------

@pytest.mark.task("1.6")
def test_kraft_sum(huff):
    """Is the Kraft sum sum 2^-l (1 for a complete code, below 1 for an incomplete one, above 1 for none)?"""
    for lengths, expected in [({"a": 1, "b": 2, "c": 3, "d": 3}, 1.0), ({"a": 2, "b": 2, "c": 2}, 0.75),
                              ({"a": 1, "b": 1, "c": 1}, 1.5), ({"a": 3}, 0.125)]:
        approx(huff.kraft_sum(lengths), expected, f"kraft_sum({lengths})",
               hints=[(lambda x, lengths=lengths: x == sum(2.0**n for n in lengths.values()), "that is sum 2^l; the exponent is -l")])


@pytest.mark.task("1.6")
def test_canonical_code_small(huff):
    """Is canonical_code({b:1, a:2, c:3, d:3}) the RFC 1951 code b=0, a=10, c=110, d=111?"""
    lengths = {"a": 2, "b": 1, "c": 3, "d": 3}
    code = mapping(huff.canonical_code(lengths), "canonical_code")
    assert_prefix_free(code, lengths, "canonical_code({a:2, b:1, c:3, d:3})")
    assert_canonical(code, lengths, "canonical_code({a:2, b:1, c:3, d:3})")


@pytest.mark.task("1.6")
def test_canonical_code_of_the_corpus(huff, corpus, snapshot):
    """For lengths with many ties (the corpus' optimal code), is the code prefix-free and canonical?"""
    lengths = snapshot["corpus_lengths"]
    code = mapping(huff.canonical_code(lengths), "canonical_code(corpus lengths)")
    assert_prefix_free(code, lengths, "canonical_code(corpus lengths)")
    assert_canonical(code, lengths, "canonical_code(corpus lengths)")


@pytest.mark.task("1.6")
def test_canonical_code_refuses_impossible_lengths(huff):
    """Does canonical_code raise ValueError when the Kraft sum exceeds 1?"""
    raises("ValueError", huff.canonical_code, {"a": 1, "b": 1, "c": 1},
           what="canonical_code({a:1, b:1, c:1}) (Kraft sum 1.5 > 1: no prefix code has these lengths)")


# ---- 1.7 encoder and decoder -------------------------------------------------------------------------

SMALL = {"a": "0", "b": "10", "c": "11"}


def encoded(huff, text, code, what):
    out = huff.encode(text, code)
    assert isinstance(out, (tuple, list)) and len(out) == 2, f"{what}: expected (data, n_bits), got {short(out)}"
    data, n_bits = out
    assert isinstance(data, bytes), f"{what}: data must be bytes, got {type(data).__name__}"
    return data, integer(n_bits, f"{what}: n_bits")


@pytest.mark.task("1.7")
def test_encode_is_bit_exact(huff):
    """Does encode pack codewords most significant bit first, zero-padded, and report n_bits?"""
    data, n_bits = encoded(huff, "abc", SMALL, "encode('abc')")
    padding = f"; that counts the {n_bits - 5} padding bits: n_bits is the number of bits before the padding" if n_bits == 8 else ""
    assert n_bits == 5, f"encode('abc'): n_bits = {n_bits}, expected 5 (0 + 10 + 11){padding}"
    expected = pack_bits("01011")
    hint = "; the bits look reversed within the byte: the first bit goes to the most significant position" if data == bytes([0b11010]) else ""
    assert data == expected, f"encode('abc'): got {data!r}, expected {expected!r} (bits 01011 then 000 padding){hint}"
    data, n_bits = encoded(huff, "bbbb", SMALL, "encode('bbbb')")
    assert (data, n_bits) == (pack_bits("10101010"), 8), f"encode('bbbb'): got {(data, n_bits)}, expected (b'\\xaa', 8) (no padding needed)"


@pytest.mark.task("1.7")
def test_decode_stops_at_n_bits(huff):
    """Does decode ignore the padding bits after n_bits?"""
    for text in ("abc", "cab", "b", "aaaaaaa", "bca"):
        bits = "".join(SMALL[c] for c in text)
        got = huff.decode(pack_bits(bits), len(bits), SMALL)
        assert isinstance(got, str), f"decode: expected str, got {type(got).__name__}"
        extra = "; the padding zeros were decoded as 'a': stop after n_bits" if got.startswith(text) and len(got) > len(text) else ""
        assert got == text, f"decode of {text!r} ({len(bits)} bits + {-len(bits) % 8} padding): got {got!r}{extra}"


@pytest.mark.task("1.7")
def test_decode_refuses_malformed_bits(huff):
    """Does decode raise ValueError for bits that end inside a codeword, match no codeword, or run past the data?"""
    raises("ValueError", huff.decode, pack_bits("0101"), 4, SMALL,
           what="decode of the 4 bits 0101 with a=0, b=10, c=11 (after 'a', 'b' the last bit ends inside a codeword)")
    raises("ValueError", huff.decode, pack_bits("011"), 3, {"a": "0", "b": "10"},
           what="decode of the 3 bits 011 with a=0, b=10 (no codeword begins with 11)")
    raises("ValueError", huff.decode, pack_bits("01011"), 12, SMALL,
           what="decode(1 byte of data, n_bits=12) (n_bits is more than the data holds)")


@pytest.mark.task("1.7")
def test_encode_the_whole_corpus(submission, corpus, snapshot):
    """Is encode bit-exact on all 937,688 characters of the corpus, under a code the grader chooses?"""
    code, expected = elias_gamma_code(corpus), snapshot["corpus_gamma_code"]
    got = submission.driver("hw1", "encoded", corpus, code)
    assert "returned" not in got, f"encode(corpus): expected (data, n_bits), got a {got.get('returned')}"
    assert got["data_type"] == "bytes", f"encode(corpus): data must be bytes, got {got['data_type']}"
    assert got["n_bits"] == expected["n_bits"], f"encode(corpus): n_bits = {got['n_bits']}, expected {expected['n_bits']}"
    assert got["sha256"] == expected["sha256"], "encode(corpus): the bytes differ from the codewords packed MSB-first"


@pytest.mark.task("1.7")
def test_decode_the_whole_corpus(submission, corpus, corpus_packed):
    """Does decode give back all 937,688 characters of the corpus, encoded by the grader?"""
    code = elias_gamma_code(corpus)
    data, n_bits = corpus_packed
    got = submission.driver("hw1", "decoded", data, n_bits, code)
    assert got["decoded_type"] == "str", f"decode: expected str, got {got['decoded_type']}"
    assert got["decoded_sha256"] == hashlib.sha256(corpus.encode()).hexdigest(), (
        f"decode of the encoded corpus differs from the corpus ({got['decoded_length']:,} characters, expected {len(corpus):,})"
    )


# ---- 1.8 compression report -----------------------------------------------------------------------------

def own_cost(huff, counts) -> tuple[int | None, float | None]:
    """(sum n(s) l(s), the plain mean of l) under the student's own code_lengths, or (None, None):
    a report built on wrong lengths is graded in 1.5, not again here."""
    try:
        lengths = huff.code_lengths(dict(counts))
    except StudentError:
        return None, None
    if not isinstance(lengths, dict) or set(lengths) != set(counts) or not all(type(n) is int for n in lengths.values()):
        return None, None
    return sum(counts[s] * lengths[s] for s in counts), sum(lengths.values()) / len(lengths)


def payload_message(what, bits, accepted):
    for base in accepted:
        pad = -base % 8
        if pad and bits == base + pad:
            padding = "the zero bit that pads the last byte is" if pad == 1 else f"the {pad} zero bits that pad the last byte are"
            return (f"{what}['huffman_bits'] = {bits:,}, but the codewords take {base:,} bits: {padding} overhead, "
                    "not Huffman payload (count sum n(s) l(s), the n_bits of encode)")
    return (f"{what}['huffman_bits'] = {bits:,}, but an optimal code takes {accepted[0]:,} bits for this text: "
            "count only the codewords, sum n(s) l(s) (no padding, no code table)")


def check_report(huff, report, text, what, optimum, sizes=None):
    """Check a compression report against the text it describes; `optimum` is the least sum n(s) l(s)."""
    report = mapping(report, what)
    n = len(text)
    counts = char_counts(text)
    h = -sum(c / n * math.log2(c / n) for c in counts.values())
    approx(report.get("entropy"), h, f"{what}['entropy'] (bits/character)",
           hints=[(lambda x: near(x, h * math.log(2)), "the value looks like nats")])
    bits = integer(report.get("huffman_bits"), f"{what}['huffman_bits']")
    cost, plain_mean = own_cost(huff, counts)
    accepted = [optimum] + ([cost] if cost is not None and cost != optimum else [])
    assert bits in accepted, payload_message(what, bits, accepted)
    padded = bits + -bits % 8
    approx(report.get("avg_length"), bits / n, f"{what}['avg_length'], the p-weighted mean codeword length sum p(s) l(s) = huffman_bits / n",
           hints=[(lambda x: near(x, padded / n), "that counts the padding bits, which are overhead, not Huffman payload"),
                  (lambda x: plain_mean is not None and near(x, plain_mean), "that is the plain mean of the codeword lengths: weight each by p(s)")])
    ratio = mapping(report.get("ratio"), f"{what}['ratio']")
    sizes = sizes or compressed_sizes(text)
    approx(ratio.get("huffman"), 8 * n / bits, f"{what}['ratio']['huffman'] = 8n / huffman_bits",
           hints=[(lambda x: near(x, 8 * n / padded), "that is 8n / (8 * whole bytes): the padding bits are overhead, not Huffman payload")])
    for name, size in sizes.items():
        approx(ratio.get(name), n / size, f"{what}['ratio']['{name}'] = 8n / (8 * compressed bytes), default settings",
               hints=[(lambda x, size=size: math.isclose(x, size / n), "that is compressed/original: the ratio is original/compressed")])


@pytest.mark.task("1.8")
def test_compression_report_small(huff, snapshot):
    """On a short text, are H, L, the bit count and the four ratios right?"""
    report = huff.compression_report(REPORT_TEXT)
    check_report(huff, report, REPORT_TEXT, "compression_report(short text)", snapshot["optimal_cost"]["report_short"])


@pytest.mark.task("1.8")
def test_compression_report_of_hamlet(huff, corpus, snapshot):
    """On the first 200,000 characters of the corpus, are the bit count and the ratios against zlib, bz2 and lzma right?"""
    text = corpus[:REPORT_CHARS]
    report = huff.compression_report(text)
    check_report(huff, report, text, "compression_report(corpus[:200000])", snapshot["optimal_cost"]["report_corpus"],
                 snapshot["report_compressed_bytes"])
