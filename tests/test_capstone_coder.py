"""The capstone's coder.py (tasks 6.2 and 6.3), the reference: the integer arithmetic coder's
invariants after every symbol (low < 1/2 <= high, width > 2**30), its round trips on every length,
alphabet size and adversarial table (runs of E3 steps, frequency 1 in 2**16, streams at the bottom
of an interval), the exact check that the stream lies in the final interval, its length against the
documented bound ideal + 8 + n (-log2(1 - F / 2**30)), the minimal termination (no stream a byte
shorter decodes the same), an adaptive order-2 model on 20,000 characters of the course's text as a
stand-in for the transformer (incremental decoding, one step per symbol), one float32 ulp of drift
breaking decoding, quantize against its rule in Python integers and a pinned digest, and the text
compressor on a small GPT: round trip, header, length, and the same bytes at any thread count.
These are tests of the reference, not the graders."""

from __future__ import annotations

import hashlib
import math
import sys
import time

import numpy as np
import pytest
import torch

from grader.data import load_text
from grader.paths import module_from_file
from tests.conftest import ROOT

CAPSTONE = ROOT / "solutions" / "capstone"
# coder.py imports the student's `gpt` module by name, as in a submission: register the reference
# under that name while coder.py loads, then take both names out of sys.modules again.
sys.path.insert(0, str(CAPSTONE))
try:
    G = module_from_file("gpt", CAPSTONE / "gpt.py")
    C = module_from_file("coder", CAPSTONE / "coder.py")
finally:
    sys.path.remove(str(CAPSTONE))
    sys.modules.pop("gpt", None)
    sys.modules.pop("coder", None)

M16 = 1 << 16
# quantize of a fixed (50, 76) table of exact ratios, row by row: the prototype's digest of the same rule
GOLDEN_DIGEST = "27ed9cb8b2547072c55ca8a4be7151fdbd5dd6f142692026997622b504082526"


pytestmark = pytest.mark.usefixtures("one_thread")


# -- checks ----------------------------------------------------------------------------------------------


def round_trip(symbols, table) -> bytes:
    """Encode and decode step by step, checking the coder's invariants and that the stream, read on
    with 0 bits, lies in the final interval; returns the stream."""
    enc = C.Encoder()
    for i, (s, f) in enumerate(zip(symbols, table)):
        enc.encode(int(s), list(f))
        width = enc.high - enc.low + 1
        assert enc.low < C.HALF <= enc.high and width > C.QUARTER, f"after symbol {i}: [{enc.low}, {enc.high}]"
    bits, pending, low, high = list(enc.bits), enc.pending, enc.low, enc.high
    data = enc.finish()
    assert len(data) == -(-len(enc.bits) // 8) and (not data or data[-1] != 0)
    # The stream as a number D / 2**(8 len) must lie in [low, high + 1) of the final interval, in units
    # of 2**-(E + P + 32): B * 2**(P + 32) + 2**P * HALF + (x - HALF), B the E bits sent before finish()
    # and P the pending bits (each E3 step doubled x - HALF).
    E, P, B = len(bits), pending, int("".join(map(str, bits)) or "0", 2)
    origin = (B << (P + 32)) + (C.HALF << P)
    D, scale = int.from_bytes(data, "big"), 8 * len(data)
    assert (origin + low - C.HALF) << scale <= D << (E + P + 32) < (origin + high + 1 - C.HALF) << scale
    dec = C.Decoder(data)
    assert [dec.decode(list(f)) for f in table[: len(symbols)]] == list(symbols)
    return data


def ideal_bits(symbols, table) -> float:
    return sum(math.log2(int(sum(f))) - math.log2(int(f[s])) for s, f in zip(symbols, table))


def bound(ideal: float, n: int, total: int = M16) -> float:
    """The module docstring's: 1 bit of termination, 7 of padding, floor's loss per symbol."""
    return ideal + 8 + n * -math.log2(1 - total / C.QUARTER)


def random_problem(V: int, n: int, seed: int, temperature: float = 2.0):
    """Float32 softmax distributions, their frequencies by quantize, and symbols drawn from them."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, V, generator=g) * temperature, dim=-1)
    symbols = torch.multinomial(probs, 1, generator=g).squeeze(1).tolist() if n and V > 1 else [0] * n
    return probs, [C.quantize(p) for p in probs], symbols


def encode(symbols, table) -> bytes:
    enc = C.Encoder()
    for s, f in zip(symbols, table):
        enc.encode(s, f)
    return enc.finish()


def decode(data: bytes, table, n: int) -> list[int]:
    dec = C.Decoder(data)
    return [dec.decode(f) for f in table[:n]]


# -- the coder ---------------------------------------------------------------------------------------------


def test_nothing_coded_is_an_empty_stream():
    assert C.Encoder().finish() == b""
    assert encode([0] * 1000, [[M16]] * 1000) == b""  # a certain symbol costs nothing


@pytest.mark.parametrize("V", [1, 2, 3, 96, 256])
def test_every_single_symbol(V):
    _, freqs, _ = random_problem(V, 1, seed=V)
    for s in range(V):
        data = round_trip([s], freqs)
        assert 8 * len(data) <= bound(ideal_bits([s], freqs), 1)


@pytest.mark.parametrize("rare", [0, 1, 2])
def test_frequency_one_in_65536_repeated(rare):
    freq = [(M16 - 1) // 2] * 3
    freq[rare] = 1
    freq[(rare + 1) % 3] += M16 - sum(freq)
    data = round_trip([rare] * 300, [freq] * 300)
    assert 8 * len(data) <= bound(16 * 300, 300)  # symbol 0: all 0 bits, dropped: an empty stream


def test_runs_of_e3_steps():
    third = [21845, 21846, 21845]
    round_trip([1] * 2000 + [0, 2] * 10, [third] * 2020)
    quarters = [16384, 32768, 16384]  # the middle symbol is exactly one E3 step
    for last in (0, 2):
        symbols = ([1] * 500 + [last]) * 3
        data = round_trip(symbols, [quarters] * len(symbols))
        assert 8 * len(data) <= bound(ideal_bits(symbols, [quarters] * len(symbols)), len(symbols))
    narrow = [1, 16383, 32768, 16384]  # a coder without E3 loops forever on the rare symbol here
    symbols = [s for k in (17, 30, 60, 1020) for s in [2] * k + [0]]
    round_trip(symbols, [narrow] * len(symbols))


@pytest.mark.parametrize("V", [2, 96, 256])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_distributions(V, seed):
    _, freqs, symbols = random_problem(V, 1500, seed)
    data = round_trip(symbols, freqs)
    assert 8 * len(data) <= bound(ideal_bits(symbols, freqs), len(symbols))


def test_totals_that_are_not_powers_of_two_and_zeros():
    rng = np.random.default_rng(5)
    table = [[int(x) for x in rng.integers(0, 700, size=96)] for _ in range(500)]
    symbols = [int(rng.choice(96, p=np.array(f) / sum(f))) for f in table]
    data = round_trip(symbols, table)
    assert 8 * len(data) <= bound(ideal_bits(symbols, table), len(symbols), max(sum(f) for f in table))


@pytest.mark.parametrize("n", range(0, 41))
def test_every_short_length(n):
    _, freqs, symbols = random_problem(3, n, seed=100 + n, temperature=1.0)
    round_trip(symbols, freqs)


@pytest.mark.parametrize("seed", range(5))
def test_a_stream_at_the_bottom_of_an_interval(seed):
    """After a run of symbol 0 the final low is 0 and the code value the exact bottom of earlier
    intervals: an off-by-one at an interval boundary shows up here."""
    _, freqs, symbols = random_problem(3, 100, seed=seed, temperature=1.0)
    symbols[60:] = [0] * 40
    round_trip(symbols, freqs)


@pytest.mark.parametrize("V", [2, 96])
def test_no_shorter_stream_decodes_the_same(V):
    """The termination is minimal: dropping the last byte (which holds the last 1 bit) decodes
    something else, because the final interval holds exactly the streams that decode to the message."""
    for seed in range(30):
        _, freqs, symbols = random_problem(V, 1 + seed, seed=seed)
        data = encode(symbols, freqs)
        if data:
            assert decode(data[:-1], freqs, len(symbols)) != symbols


def test_decoding_a_prefix():
    _, freqs, symbols = random_problem(96, 300, seed=7)
    assert decode(encode(symbols, freqs), freqs, 120) == symbols[:120]


class Order2Counts:
    """An adaptive stand-in for the transformer: frequencies 1 + 16 count(symbol after the previous
    two), updated after each symbol; like a model with a KV cache, one step per symbol."""

    def __init__(self, V: int):
        self.V, self.rows = V, {}

    def freqs(self, history: list[int]) -> list[int]:
        return self.rows.setdefault(tuple(history[-2:]), [1] * self.V)

    def update(self, history: list[int], s: int) -> None:
        self.freqs(history)[s] += 16


def test_an_adaptive_model_on_the_text(capsys):
    text = load_text("train")[:20_000]
    alphabet = sorted(set(text))
    symbols = [alphabet.index(c) for c in text]
    model, enc, history, ideal = Order2Counts(len(alphabet)), C.Encoder(), [], 0.0
    started = time.perf_counter()
    for s in symbols:
        f = model.freqs(history)
        ideal += math.log2(sum(f)) - math.log2(f[s])
        enc.encode(s, f)
        model.update(history, s)
        history.append(s)
    data = enc.finish()
    t_enc = time.perf_counter() - started
    model, dec, decoded = Order2Counts(len(alphabet)), C.Decoder(data), []
    started = time.perf_counter()
    for _ in symbols:
        s = dec.decode(model.freqs(decoded))
        model.update(decoded, s)
        decoded.append(s)
    t_dec = time.perf_counter() - started
    assert decoded == symbols
    n, bits = len(symbols), 8 * len(data)
    assert bits <= bound(ideal, n, len(alphabet) + 16 * n)
    with capsys.disabled():
        print(
            f"\n20k chars, order-2 counts: {bits} bits, ideal {ideal:.1f} (+{bits - ideal:.1f}), {bits / n:.4f} bits/char; "
            f"encode {n / t_enc:,.0f} chars/s, decode {n / t_dec:,.0f} chars/s (with the model's own time)"
        )


def test_one_ulp_of_probability_drift_breaks_decoding():
    """Why encoder and decoder need bit-identical float32 probabilities."""
    probs, freqs, symbols = random_problem(76, 2000, seed=3)
    drifted = [C.quantize(p) for p in torch.from_numpy(np.nextafter(probs.numpy(), np.float32(1)))]
    assert 0 < sum(a != b for a, b in zip(freqs, drifted)) < 200  # a few rows change
    assert decode(encode(symbols, freqs), drifted, len(symbols)) != symbols


def test_invalid_frequencies_and_symbols_raise():
    with pytest.raises(ValueError, match="frequency 0"):
        C.Encoder().encode(2, [3, 5, 0])
    with pytest.raises(ValueError, match="outside"):
        C.Encoder().encode(3, [1, 1, 1])
    with pytest.raises(ValueError, match="total from 1 to 2\\*\\*16"):
        C.Encoder().encode(0, [M16, 1])
    with pytest.raises(ValueError, match="integers"):
        C.Decoder(b"").decode([0.5, 0.5])


# -- quantize ----------------------------------------------------------------------------------------------


def rule(p: list[float], bits: int) -> list[int]:
    M, V, S = 1 << bits, len(p), 62 - bits
    w = [math.floor(x * 2**S) for x in p]
    W = sum(w)
    f = [1 + wi * (M - V) // W for wi in w]
    for i in sorted(range(V), key=lambda i: (-(w[i] * (M - V) % W), i))[: M - sum(f)]:
        f[i] += 1
    return f


@pytest.mark.parametrize("V", [1, 2, 76, 256])
def test_quantize_promises(V):
    probs, freqs, _ = random_problem(V, 200, seed=V, temperature=4.0)  # temperature 4: many tiny p
    for p, f in zip(probs.double().numpy(), freqs):
        assert type(f) is list and all(type(x) is int and x >= 1 for x in f) and sum(f) == M16
        cost = np.log2(np.maximum(p, 1e-300)) - np.log2(np.array(f) / M16)
        assert cost.max() <= -math.log2(1 - V / M16) + 1e-6
        assert f == rule(p.tolist(), 16) == C.quantize(p) == C.quantize(p.astype(np.float32))
    ordered = np.sort(probs.double().numpy(), axis=-1)  # a larger p never gets a smaller f
    assert all((np.diff(C.quantize(row)) >= 0).all() for row in ordered)


@pytest.mark.parametrize("bits", [8, 12, 16, 24, 30])
def test_quantize_matches_its_rule_in_python_ints(bits):
    probs, _, _ = random_problem(200, 40, seed=bits, temperature=6.0)
    for row in probs:
        assert C.quantize(row, bits) == rule(row.double().tolist(), bits)


def test_quantize_is_a_fixed_function_of_the_float_bits():
    """A pinned digest: the same float64 inputs (exact here: integer ratios, correctly rounded) must
    give these very frequencies on every machine and numpy version."""
    k = np.arange(50 * 76).reshape(50, 76) ** 2 % 1009
    p = k / k.sum(axis=1, keepdims=True)
    table = np.array([C.quantize(row) for row in p], dtype="<i8")
    assert hashlib.sha256(table.tobytes()).hexdigest() == GOLDEN_DIGEST


def test_quantize_worked_examples():
    assert C.quantize(np.array([0.5, 0.25, 0.25]), 2) == [2, 1, 1]
    assert C.quantize(np.array([0.1, 0.2, 0.7]), 4) == [2, 4, 10]
    assert C.quantize(np.full(3, 1 / 3), 4) == [6, 5, 5]
    assert C.quantize(np.array([1.0, 0.0])) == [M16 - 1, 1]
    assert C.quantize(torch.tensor([0.125, 0.875], dtype=torch.bfloat16), 3) == [2, 6]
    assert C.quantize(torch.full((96,), 1 / 96)) == [683] * 64 + [682] * 32


@pytest.mark.parametrize(
    "probs, bits, match",
    [
        (np.array([0.5, np.nan, 0.5]), 8, "sum to 1"),
        (np.array([1.5, -0.5]), 8, "lie in \\[0, 1\\]"),
        (np.array([0.5, 0.4]), 8, "sum to 1"),
        (np.zeros((2, 3)), 8, "1-D"),
        (np.zeros(0), 8, "1-D"),
        (np.array([1, 0]), 8, "float"),
        (np.full(300, 1 / 300), 8, "2\\*\\*bits >= 300"),
        (np.array([0.5, 0.5]), 31, "from 1 to 30"),
    ],
)
def test_quantize_rejects_bad_input(probs, bits, match):
    with pytest.raises(ValueError, match=match):
        C.quantize(probs, bits)


# -- the text compressor ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_gpt():
    torch.manual_seed(0)
    model = G.GPT(d_model=32, n_layer=1, n_head=2, context=16).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(20)  # sharper distributions than the initialization's near-uniform ones
    return model


def test_text_round_trip_header_and_length(small_gpt):
    text = load_text("train")[5000:5300] + "~|{"  # three characters the text never has
    data = C.compress_text(small_gpt, text)
    assert data[:4] == len(text).to_bytes(4, "big")
    assert C.decompress_text(small_gpt, data) == text
    ids = G.encode(text)
    with torch.no_grad():
        logits = torch.cat([small_gpt(x[None])[0] for x, _ in G.windows(ids, small_gpt.context)])
    bits = -logits.double().log_softmax(-1)[torch.arange(len(ids)), ids] / math.log(2)
    ideal = float(bits.clamp(max=16).sum())
    assert 8 * len(data) <= 1.005 * ideal + 64
    assert 8 * (len(data) - 4) <= bound(ideal, len(ids)) + len(ids) * -math.log2(1 - 96 / M16)


def test_text_edges(small_gpt):
    assert C.compress_text(small_gpt, "") == bytes(4)
    assert C.decompress_text(small_gpt, bytes(4)) == ""
    for text in ["a", "\n", "To be, or not to be", "x" * 40]:
        assert C.decompress_text(small_gpt, C.compress_text(small_gpt, text)) == text
    with pytest.raises(ValueError, match="alphabet"):
        C.compress_text(small_gpt, "caf\u00e9")
    with pytest.raises(ValueError, match="4 bytes"):
        C.decompress_text(small_gpt, b"\x00")


def test_text_bytes_do_not_depend_on_the_thread_count(small_gpt):
    text = load_text("train")[9000:9150]
    torch.set_num_threads(2)
    try:
        data = C.compress_text(small_gpt, text)
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(1)
    assert C.compress_text(small_gpt, text) == data
    assert C.decompress_text(small_gpt, data) == text


def test_coding_runs_on_a_float32_cpu_copy(small_gpt):
    """A model held in float64 (or on a GPU) codes as its float32 CPU copy does, and is left as it was."""
    import copy

    text = load_text("train")[7000:7100]
    other = copy.deepcopy(small_gpt).double()
    data = C.compress_text(other, text)
    assert data == C.compress_text(small_gpt, text)
    assert next(other.parameters()).dtype == torch.float64
    if torch.cuda.is_available():
        assert C.compress_text(copy.deepcopy(small_gpt).cuda(), text) == data
