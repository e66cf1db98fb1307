"""Public tests for hw1 part 2 (huffman.py): tasks 1.5-1.8."""

import hashlib
import math

import pytest

from grader.assertions import integer, mapping, near, raises
from grader.errors import StudentError
from grader.suites.hw1.codes import (
    assert_canonical_form,
    assert_kraft_feasible,
    assert_prefix_free,
    assert_same_code,
    char_counts,
    code_table,
    elias_gamma_code,
    expected_cost,
    lengths_table,
    shown,
)
from grader.suites.hw1.snapshots import BLOCK, REPORT_CHARS, REPORT_TEXT, TABLES, compressed_sizes
from grader.suites.hw1.tolerance import approx


def lengths_of(huff, freqs, what):
    """The student's code_lengths(freqs), checked: one int length in range per symbol."""
    return lengths_table(huff.code_lengths(freqs), freqs, what)


def canonical_of(huff, lengths, what):
    """The student's canonical_code(lengths), checked: one 0/1 string of the given length per symbol, prefix-free."""
    code = code_table(huff.canonical_code(lengths), lengths, what)
    assert_prefix_free(code, what)
    return code


# ---- 1.5 optimal code lengths ----------------------------------------------------------------------


@pytest.mark.task("1.5")
@pytest.mark.parametrize("table", sorted(TABLES))
def test_code_lengths_are_optimal(huff, snapshot, table):
    """Are the lengths optimal: Kraft sum <= 1 and the least sum f*l?"""
    freqs = TABLES[table]
    lengths = lengths_of(huff, freqs, f"code_lengths({table})")
    assert_kraft_feasible(lengths, f"code_lengths({table})")
    cost, best = expected_cost(freqs, lengths), snapshot["optimal_cost"][table]
    assert cost == best, (
        f"code_lengths({table}): sum f*l = {cost}, but the optimum is {best}; "
        "at every step merge the two least frequent subtrees into one whose frequency is their sum (Huffman); "
        "rounding -log2 p up (Shannon) gives a prefix code, not an optimal one"
    )


@pytest.mark.task("1.5")
def test_code_lengths_of_the_corpus_are_optimal(huff, corpus_counts, snapshot):
    """Is the code for the corpus' 73 characters optimal?"""
    freqs = dict(corpus_counts)
    lengths = lengths_of(huff, freqs, "code_lengths(corpus counts)")
    cost, best = expected_cost(freqs, lengths), snapshot["optimal_cost"]["corpus"]
    assert_kraft_feasible(lengths, "code_lengths(corpus)")
    assert cost == best, f"code_lengths(corpus): sum f*l = {cost} bits, the optimum is {best}"


@pytest.mark.task("1.5")
def test_code_lengths_small_cases(huff):
    """Does one symbol get length 1, two get 1 and 1, and four equal ones get 2 each?"""
    got = lengths_of(huff, {"a": 7}, "code_lengths({'a': 7})")
    assert got == {"a": 1}, f"code_lengths({{'a': 7}}): got {got}, expected {{'a': 1}}: a single symbol needs exactly 1 bit"
    got = lengths_of(huff, {"a": 1, "b": 100}, "code_lengths({'a': 1, 'b': 100})")
    assert got == {"a": 1, "b": 1}, f"code_lengths({{'a': 1, 'b': 100}}): got {got}, expected 1 bit each (codewords 0 and 1)"
    got = lengths_of(huff, dict.fromkeys("abcd", 5), "code_lengths(four equal frequencies)")
    assert set(got.values()) == {2}, f"code_lengths of four equal frequencies: got {got}, expected 2 bits each"
    raises("ValueError", huff.code_lengths, {}, what="code_lengths({})")


# ---- 1.6 canonical code and Kraft sum -----------------------------------------------------------------


@pytest.mark.task("1.6")
def test_kraft_sum(huff):
    """Is the Kraft sum sum 2^-l (1 for a complete code, below 1 for an incomplete one, above 1 for none)?"""
    for lengths, expected in [
        ({"a": 1, "b": 2, "c": 3, "d": 3}, 1.0),
        ({"a": 2, "b": 2, "c": 2}, 0.75),
        ({"a": 1, "b": 1, "c": 1}, 1.5),
        ({"a": 3}, 0.125),
    ]:
        approx(
            huff.kraft_sum(lengths),
            expected,
            f"kraft_sum({lengths})",
            hints=[
                (lambda x, lengths=lengths: x == sum(2.0**n for n in lengths.values()), "that is sum 2^l; the exponent is -l")
            ],
        )


@pytest.mark.task("1.6")
def test_canonical_code_small(huff):
    """Is canonical_code({b:1, a:2, c:3, d:3}) the RFC 1951 code b=0, a=10, c=110, d=111?"""
    lengths, what = {"a": 2, "b": 1, "c": 3, "d": 3}, "canonical_code({a:2, b:1, c:3, d:3})"
    code = canonical_of(huff, lengths, what)
    assert_canonical_form(code, lengths, what)
    assert_same_code(code, {"b": "0", "a": "10", "c": "110", "d": "111"}, lengths, what)


@pytest.mark.task("1.6")
def test_canonical_code_of_the_corpus(huff, snapshot):
    """For lengths with many ties (the corpus' optimal code), is the code prefix-free and canonical?"""
    lengths, what = snapshot["corpus_lengths"], "canonical_code(corpus lengths)"
    code = canonical_of(huff, lengths, what)
    assert_canonical_form(code, lengths, what)
    assert_same_code(code, snapshot["corpus_canonical_code"], lengths, what)


@pytest.mark.task("1.6")
def test_canonical_code_refuses_impossible_lengths(huff):
    """Does canonical_code raise ValueError when the Kraft sum exceeds 1?"""
    raises(
        "ValueError",
        huff.canonical_code,
        {"a": 1, "b": 1, "c": 1},
        what="canonical_code({a:1, b:1, c:1}) (Kraft sum 1.5 > 1: no prefix code has these lengths)",
    )


# ---- 1.7 encoder and decoder -------------------------------------------------------------------------

SMALL = {"a": "0", "b": "10", "c": "11"}
# the texts of the decoder tests under SMALL: their bits, packed MSB-first and zero-padded, and n_bits
PACKED = [("abc", b"\x58", 5), ("cab", b"\xd0", 5), ("b", b"\x80", 2), ("aaaaaaa", b"\x00", 7), ("bca", b"\xb0", 5)]


def kind(value) -> str:
    """A value's type, and its length where it has one, for a message."""
    return (
        f"a {type(value).__name__} of {len(value):,}"
        if type(value) in (tuple, list)
        else f"{type(value).__name__} {shown(value)}"
    )


def encoded_pair(out, what, types=None) -> tuple[bytes, int]:
    """(data, n_bits) as encode returned it, checked: bytes, an int within the data, no spare byte.
    `types`: the type names the worker saw (bytes and bytearray look alike once they cross)."""
    if type(out) not in (tuple, list) or len(out) != 2:
        raise AssertionError(f"{what}: expected (data, n_bits), got {kind(out)}")
    data, n_bits = out
    seen = types[1] if isinstance(types, list) and len(types) > 1 and type(types[1]) is str else type(data).__name__
    assert type(data) is bytes and seen == "bytes", (
        f"{what}: data must be bytes, got {seen if type(data) is bytes else type(data).__name__}"
    )
    n_bits = integer(n_bits, f"{what}: n_bits")
    assert 0 <= n_bits <= 8 * len(data), (
        f"{what}: n_bits = {shown(n_bits)}, but the {len(data):,} byte(s) of data hold {8 * len(data):,} bits"
    )
    assert len(data) == (n_bits + 7) // 8, (
        f"{what}: {len(data):,} bytes of data for n_bits = {n_bits:,}; those bits fill {(n_bits + 7) // 8:,} byte(s), only the last one padded"
    )
    return data, n_bits


def decoded_text(out, expected: str, what: str) -> str:
    """decode's output, checked: a str, of the expected length, equal to the text (the first difference named)."""
    assert type(out) is str, f"{what}: expected str, got {kind(out)}"
    if out == expected:
        return out
    at = next((i for i, (a, b) in enumerate(zip(out, expected)) if a != b), min(len(out), len(expected)))
    extra = (
        "; the padding zeros were decoded as 'a': stop after n_bits"
        if out.startswith(expected) and set(out[len(expected) :]) == {"a"}
        else ""
    )
    raise AssertionError(
        f"{what}: got {len(out):,} characters, expected {len(expected):,}; they differ from character {at:,} on: "
        f"got {shown(out[at : at + 12])}, expected {shown(expected[at : at + 12])}{extra}"
    )


@pytest.mark.task("1.7")
def test_encode_is_bit_exact(huff):
    """Does encode pack codewords most significant bit first, zero-padded, and report n_bits?"""
    data, n_bits = encoded_pair(huff.encode("abc", SMALL), "encode('abc')")
    padding = (
        f"; that counts the {n_bits - 5} padding bits: n_bits is the number of bits before the padding" if n_bits == 8 else ""
    )
    assert n_bits == 5, f"encode('abc'): n_bits = {n_bits}, expected 5 (0 + 10 + 11){padding}"
    expected = b"\x58"  # 01011 000
    hint = (
        "; the bits look reversed within the byte: the first bit goes to the most significant position"
        if data == bytes([0b11010])
        else ""
    )
    assert data == expected, f"encode('abc'): got {data!r}, expected {expected!r} (bits 01011 then 000 padding){hint}"
    data, n_bits = encoded_pair(huff.encode("bbbb", SMALL), "encode('bbbb')")
    assert (data, n_bits) == (b"\xaa", 8), f"encode('bbbb'): got {(data, n_bits)}, expected (b'\\xaa', 8) (no padding needed)"


@pytest.mark.task("1.7")
def test_decode_stops_at_n_bits(huff):
    """Does decode ignore the padding bits after n_bits?"""
    for text, data, n_bits in PACKED:
        decoded_text(huff.decode(data, n_bits, SMALL), text, f"decode of {text!r} ({n_bits} bits + {-n_bits % 8} padding)")


@pytest.mark.task("1.7")
def test_decode_refuses_malformed_bits(huff):
    """Does decode raise ValueError for bits that end inside a codeword, match no codeword, or run past the data?"""
    raises(
        "ValueError",
        huff.decode,
        b"\x50",
        4,
        SMALL,
        what="decode of the 4 bits 0101 with a=0, b=10, c=11 (after 'a', 'b' the last bit ends inside a codeword)",
    )
    raises(
        "ValueError",
        huff.decode,
        b"\x60",
        3,
        {"a": "0", "b": "10"},
        what="decode of the 3 bits 011 with a=0, b=10 (no codeword begins with 11)",
    )
    raises(
        "ValueError",
        huff.decode,
        b"\x58",
        12,
        SMALL,
        what="decode(1 byte of data, n_bits=12) (n_bits is more than the data holds)",
    )


def first_difference(data: bytes, expected: dict) -> str:
    """Where `data` first differs from the solution's encoding, from the digests the snapshot stores."""
    head = bytes.fromhex(expected["head"])
    at = next((i for i, (a, b) in enumerate(zip(data, head)) if a != b), None)
    if at is not None:
        return f"byte {at} is {data[at]:08b}, expected {head[at]:08b}"
    for i, digest in enumerate(expected["block_sha256"]):
        if hashlib.sha256(data[i * BLOCK : (i + 1) * BLOCK]).hexdigest() != digest:
            return f"the first difference lies in bytes {i * BLOCK:,} to {(i + 1) * BLOCK - 1:,}"
    return "the bytes differ"


@pytest.mark.task("1.7")
def test_encode_the_whole_corpus(submission, corpus, snapshot):
    """Is encode bit-exact on all 937,688 characters of the corpus, under a code the grader chooses?"""
    code, expected, what = elias_gamma_code(corpus), snapshot["corpus_gamma_code"], "encode(corpus)"
    got = mapping(submission.driver("encoded", corpus, code), what)
    data, n_bits = encoded_pair(got.get("out"), what, got.get("types"))
    assert n_bits == expected["n_bits"], f"{what}: n_bits = {n_bits:,}, expected {expected['n_bits']:,}"
    assert hashlib.sha256(data).hexdigest() == expected["sha256"], (
        f"{what}: the bytes differ from the codewords packed MSB-first: {first_difference(data, expected)}"
    )


@pytest.mark.task("1.7")
def test_decode_the_whole_corpus(submission, corpus, backwards, backwards_coded):
    """Does decode give back all 937,688 characters of the corpus (read backwards), under a code the grader chooses?"""
    code, data, n_bits = backwards_coded
    got = mapping(submission.driver("decoded", data, n_bits, code), "decode")
    decoded_text(
        got.get("out"), backwards, f"decode of the corpus read backwards ({n_bits:,} bits, codewords of 4, 8 and 12 bits)"
    )


# ---- 1.8 compression report -----------------------------------------------------------------------------


def own_cost(huff, counts) -> tuple[int | None, float | None]:
    """(sum n(s) l(s), the plain mean of l) under the student's own code_lengths, or (None, None):
    a report built on wrong lengths is graded in 1.5, not again here."""
    try:
        lengths = lengths_table(huff.code_lengths(dict(counts)), counts, "code_lengths")
    except (StudentError, AssertionError):
        return None, None
    return sum(counts[s] * lengths[s] for s in counts), sum(lengths.values()) / len(lengths)


def payload_message(what, bits, accepted):
    for base in accepted:
        pad = -base % 8
        if pad and bits == base + pad:
            padding = "the zero bit that pads the last byte is" if pad == 1 else f"the {pad} zero bits that pad the last byte are"
            return (
                f"{what}['huffman_bits'] = {bits:,}, but the codewords take {base:,} bits: {padding} overhead, "
                "not Huffman payload (count sum n(s) l(s), the n_bits of encode)"
            )
    return (
        f"{what}['huffman_bits'] = {bits:,}, but an optimal code takes {accepted[0]:,} bits for this text: "
        "count only the codewords, sum n(s) l(s) (no padding, no code table)"
    )


def check_report(huff, report, text, what, optimum, sizes=None):
    """Check a compression report against the text it describes; `optimum` is the least sum n(s) l(s)."""
    report = mapping(report, what)
    n = len(text)
    counts = char_counts(text)
    h = -sum(c / n * math.log2(c / n) for c in counts.values())
    approx(
        report.get("entropy"),
        h,
        f"{what}['entropy'] (bits/character)",
        hints=[(lambda x: near(x, h * math.log(2)), "the value looks like nats")],
    )
    bits = integer(report.get("huffman_bits"), f"{what}['huffman_bits']")
    most = n * max(len(counts) - 1, 64)  # no optimal code on these characters takes more
    assert 0 < bits <= most, f"{what}['huffman_bits'] = {shown(bits)}, but an optimal code takes between 1 and {most:,} bits here"
    cost, plain_mean = own_cost(huff, counts)
    accepted = [optimum] + ([cost] if cost is not None and cost != optimum else [])
    assert bits in accepted, payload_message(what, bits, accepted)
    padded = bits + -bits % 8
    approx(
        report.get("avg_length"),
        bits / n,
        f"{what}['avg_length'], the p-weighted mean codeword length sum p(s) l(s) = huffman_bits / n",
        hints=[
            (lambda x: near(x, padded / n), "that counts the padding bits, which are overhead, not Huffman payload"),
            (
                lambda x: plain_mean is not None and near(x, plain_mean),
                "that is the plain mean of the codeword lengths: weight each by p(s)",
            ),
        ],
    )
    ratio = mapping(report.get("ratio"), f"{what}['ratio']")
    sizes = sizes or compressed_sizes(text)
    approx(
        ratio.get("huffman"),
        8 * n / bits,
        f"{what}['ratio']['huffman'] = 8n / huffman_bits",
        hints=[
            (
                lambda x: near(x, 8 * n / padded),
                "that is 8n / (8 * whole bytes): the padding bits are overhead, not Huffman payload",
            )
        ],
    )
    for name, size in sizes.items():
        approx(
            ratio.get(name),
            n / size,
            f"{what}['ratio']['{name}'] = 8n / (8 * compressed bytes), default settings",
            hints=[
                (lambda x, size=size: math.isclose(x, size / n), "that is compressed/original: the ratio is original/compressed")
            ],
        )


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
    check_report(
        huff,
        report,
        text,
        "compression_report(corpus[:200000])",
        snapshot["optimal_cost"]["report_corpus"],
        snapshot["report_compressed_bytes"],
    )
