"""Grading-side helpers for prefix codes: checks of what student code returned, and test inputs.

Public (students receive this file): every helper checks a property stated in the handout or builds
an input; none computes a task's answer. The canonical construction and the bit packer that the
hidden tests compare with live in hidden/reference.py; the public tests compare with values the
solution stored in the snapshot.

Student values are checked for type, size and range before anything is computed on them, so a
length of 300,000,000 or a megabyte-long codeword costs a one-line message, not minutes.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

MAX_LENGTH = 64  # no optimal code in the tests needs more bits than this, or than n - 1 for n symbols


def shown(value, limit: int = 60) -> str:
    """A student value for a message: a huge int by its size (its repr may be refused), others cut short."""
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001  (a repr that fails is still worth a message)
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def keys_of(value: dict, expected, what: str, items: str) -> None:
    """`value` is a dict with exactly the keys `expected` (str symbols), checked size first."""
    if type(value) is not dict:
        raise AssertionError(f"{what}: expected a dict of {items}, got {type(value).__name__} {shown(value)}")
    if len(value) != len(expected):
        raise AssertionError(f"{what}: {len(value):,} entries, expected one per symbol ({len(expected)})")
    odd = next((k for k in value if type(k) is not str), None)
    if odd is not None:
        raise AssertionError(f"{what}: the key {shown(odd)} is not a str; symbols are one-character strings")
    missing, extra = sorted(set(expected) - set(value)), sorted(set(value) - set(expected))
    if missing or extra:
        raise AssertionError(f"{what}: no entry for {shown(missing)}, an entry for {shown(extra)}, which is not a symbol")


def lengths_table(value, symbols, what: str) -> dict[str, int]:
    """The student's code lengths for `symbols`: a dict of one int in [1, max(n - 1, MAX_LENGTH)] per symbol."""
    keys_of(value, symbols, what, "codeword lengths")
    top = max(len(symbols) - 1, MAX_LENGTH)
    for s, n in value.items():
        if type(n) is not int:
            raise AssertionError(f"{what}: length of {s!r} is {type(n).__name__} {shown(n)}, expected an integer")
        if n < 1:
            raise AssertionError(
                f"{what}: length of {s!r} is {n}; every codeword has at least 1 bit (a single symbol still needs 1 bit)"
            )
        if n > top:
            raise AssertionError(
                f"{what}: length of {s!r} is {shown(n)}; no optimal code on {len(symbols)} symbols needs more than {top} bits"
            )
    return dict(value)


def code_table(value, lengths: dict[str, int], what: str) -> dict[str, str]:
    """The student's code for these (grader-chosen) lengths: a dict of one 0/1 string of the given length per symbol."""
    keys_of(value, lengths, what, "codewords")
    for s, word in value.items():
        if type(word) is not str:
            raise AssertionError(f"{what}: codeword of {s!r} is {type(word).__name__} {shown(word)}, not a string of 0s and 1s")
        if len(word) != lengths[s]:
            raise AssertionError(
                f"{what}: codeword of {s!r} is {shown(word, 40)}, length {len(word):,}, expected length {lengths[s]}"
            )
        if not word or set(word) - {"0", "1"}:
            raise AssertionError(f"{what}: codeword of {s!r} is {word!r}, not a string of 0s and 1s")
    return dict(value)


def assert_kraft_feasible(lengths: dict[str, int], what: str) -> None:
    """A prefix code with these (checked, bounded) lengths exists: sum 2^-l <= 1, counted in whole numbers."""
    deepest = max(lengths.values())
    leaves = sum(1 << (deepest - n) for n in lengths.values())  # the Kraft sum times 2^deepest
    if leaves > 1 << deepest:
        raise AssertionError(f"{what}: Kraft sum {leaves / (1 << deepest):.6g} > 1, so no prefix code has these lengths")


def expected_cost(freqs: dict, lengths: dict) -> int | float:
    """sum f * l over the symbols (lengths already checked)."""
    return sum(freqs[s] * lengths[s] for s in freqs)


@lru_cache(maxsize=8)  # texts are the course's corpora, the same for every student
def char_counts(text: str) -> Counter:
    return Counter(text)


def elias_gamma_code(text: str) -> dict[str, str]:
    """A variable-length prefix code (Elias gamma of the frequency rank), independent of any task."""
    counts = char_counts(text)
    symbols = sorted(counts, key=lambda s: (-counts[s], s))
    return {s: "0" * (r.bit_length() - 1) + format(r, "b") for s, r in zip(symbols, range(1, len(symbols) + 1))}


def hex_code(text: str) -> dict[str, str]:
    """A prefix code whose codewords are whole hex digits (a test input for a decoder that needs no
    bit packing to build): by frequency, 14 characters get one digit 0-d, the next 16 e and a digit,
    the rest (up to 256 more) f and two digits. Returns each character's codeword as hex digits."""
    counts = char_counts(text)
    ranked = sorted(counts, key=lambda s: (-counts[s], s))
    if len(ranked) > 14 + 16 + 256:
        raise ValueError("hex_code: too many distinct characters")
    return {s: format(r, "x") if r < 14 else f"e{r - 14:x}" if r < 30 else f"f{r - 30:02x}" for r, s in enumerate(ranked)}


@lru_cache(maxsize=2)
def hex_coded(text: str) -> tuple[dict[str, str], bytes, int]:
    """`text` under `hex_code(text)`: (code as 0/1 strings, data, n_bits), a decoder's input; an odd
    number of hex digits leaves 4 zero bits of padding."""
    digits = hex_code(text)
    code = {s: "".join(format(int(h, 16), "04b") for h in d) for s, d in digits.items()}
    stream = "".join(map(digits.__getitem__, text))
    return code, bytes.fromhex(stream + "0" * (len(stream) % 2)), 4 * len(stream)


def canonical_order(lengths: dict[str, int]) -> list[str]:
    """The symbols sorted by (length, symbol), the order of a canonical code (RFC 1951, 3.2.2)."""
    return sorted(lengths, key=lambda s: (lengths[s], s))


def assert_prefix_free(code: dict[str, str], what: str) -> None:
    """No codeword is a prefix of another (codewords already checked: 0/1 strings of bounded length)."""
    words = sorted(code.values())
    for a, b in zip(words, words[1:]):  # in sorted order a prefix sits right before its extensions
        if b.startswith(a):
            raise AssertionError(f"{what}: {a!r} is a prefix of {b!r}, so the code is not prefix-free")


def assert_canonical_form(code: dict[str, str], lengths: dict[str, int], what: str) -> None:
    """The properties of a canonical code, on the code or on its bitwise complement (first all ones,
    counting down; also accepted): in (length, symbol) order the first codeword is all zeros,
    codewords of one length are consecutive binary numbers in symbol order, and each codeword comes
    after the previous one in binary order (shorter before longer). Checked pair by pair; the exact
    code is compared with the solution's elsewhere."""
    order = canonical_order(lengths)
    first = code[order[0]]
    flip = str.maketrans("01", "10")
    words = code if set(first) != {"1"} else {s: w.translate(flip) for s, w in code.items()}
    if set(words[order[0]]) != {"0"}:
        raise AssertionError(
            f"{what}: not canonical; sorted by (length, symbol), the first symbol {order[0]!r} gets "
            f"the all-zero codeword {'0' * lengths[order[0]]!r}, got {first!r}"
        )
    for a, b in zip(order, order[1:]):
        wa, wb = words[a], words[b]
        if len(wa) == len(wb) and int(wb, 2) != int(wa, 2) + 1:
            raise AssertionError(
                f"{what}: not canonical; sorted by (length, symbol), so equal lengths in symbol order, "
                f"{b!r} comes right after {a!r} ({code[a]!r}) and its codeword is the next {len(wb)}-bit "
                f"number, got {code[b]!r}"
            )
        if len(wa) < len(wb) and int(wb[: len(wa)], 2) <= int(wa, 2):
            raise AssertionError(
                f"{what}: not canonical; sorted by (length, symbol), shorter codewords come first: "
                f"{b!r} ({code[b]!r}) should follow {a!r} ({code[a]!r}) in binary order"
            )


def assert_same_code(code: dict[str, str], expected: dict[str, str], lengths: dict[str, int], what: str) -> None:
    """`code` is `expected` (a canonical code the solution made) or its bitwise complement."""
    flip = str.maketrans("01", "10")
    if code == expected or {s: w.translate(flip) for s, w in code.items()} == expected:
        return
    first = next(s for s in canonical_order(lengths) if code[s] != expected[s])
    raise AssertionError(
        f"{what}: not canonical; sorted by (length, symbol), {first!r} should get {expected[first]!r}, got {code[first]!r} "
        "(the first codeword is all zeros, each next one is (previous + 1) << (growth in length))"
    )
