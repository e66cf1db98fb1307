"""Capstone, part 2: an integer arithmetic coder (task 6.2) and the model as a text compressor (task 6.3).

Arithmetic coding (Witten, Neal & Cleary 1987) writes a message as one number in [0, 1). Before each
symbol a model gives integer frequencies f[0], ..., f[V-1] with total F = f[0] + ... + f[V-1]; symbol
s owns the share [c_lo, c_hi) of the current interval, c_lo = f[0] + ... + f[s-1] and c_hi = c_lo + f[s].
The final interval has width prod_i f_i[s_i] / F_i, so naming a point in it takes about

    ideal = sum_i -log2(f_i[s_i] / F_i)  bits,

the model's cross-entropy on the message.

The integer coder. The interval is [low, high], two 32-bit integers (high inclusive: low stands for the
binary fraction 0.low000..., high for 0.high111...), at first [0, 2**32 - 1]. Coding symbol s:

    r = high - low + 1;   high = low + r * c_hi // F - 1;   low = low + r * c_lo // F

then renormalizing: while one of these holds, do it (each doubles the interval; HALF = 2**31 stands
for 1/2, QUARTER = 2**30 for 1/4):

    E1  high < HALF:   the next bit is 0: send it;   low, high = 2 low, 2 high + 1
    E2  low >= HALF:   the next bit is 1: send it;   low, high = 2 (low - HALF), 2 (high - HALF) + 1
    E3  QUARTER <= low and high < HALF + QUARTER (the interval straddles 1/2 narrowly): the next bit
        is not known yet, but the bit after it will be its opposite: count one pending bit;
        low, high = 2 (low - QUARTER), 2 (high - QUARTER) + 1

Sending a bit b sends the pending bits after it, each 1 - b, and sets pending to 0. After renormalizing,
low < HALF <= high and r > 2**30, so with F <= 2**16 every symbol of frequency >= 1 keeps at least
r f / F - 1 > 2**13 integers. Without E3 an interval that keeps straddling 1/2 shrinks until a symbol
gets none (high < low) and the renormalization never ends. Rounding down costs less than
-log2(1 - F / 2**30) bits per symbol (8.8e-5 for F = 2**16).

The decoder repeats the encoder's integer steps. It keeps `value`, the 32 stream bits at its position
(low <= value <= high); the symbol is the s with c_lo <= c < c_hi for

    c = ((value - low + 1) * F - 1) // r     (the largest c with low + r * c // F <= value);

then it updates low and high as the encoder did, and renormalizes alike, each doubling shifting the
next stream bit into value: value = 2 value + bit (after value - HALF in E2, value - QUARTER in E3).
Bits past the end of the stream read as 0.

Termination and padding. After the last symbol low < HALF <= high: the bits sent so far, then a 1 (and
0s for the pending bits and everything after) point at 1/2 of the final interval; when low = 0 and
nothing is pending, the bits so far (then 0s) already point at low, and nothing is added. The trailing
0 bits are dropped (the decoder reads 0s there anyway) and the bits packed big-endian, the first into
the highest bit of the first byte, the last byte filled up with 0 bits: ceil(n_bits / 8) bytes. Then

    8 len(data) <= ideal + 1 + 7 + n * -log2(1 - F / 2**30),

and no stream a byte shorter decodes to the same message. The stream does not hold the number of
symbols n: the decoder is told it.

Quantization. The model gives float probabilities; encoder and decoder must turn them into the same
integers, bit for bit, on every machine. With M = 2**bits, V = len(p) and S = 62 - bits:

    w_i = floor(p_i * 2**S)        (exact: p as float64, times a power of two, floored; W = sum_i w_i)
    f_i = 1 + floor(w_i (M - V) / W)          (integers: w_i (M - V) < 2**63)

then the M - sum_i f_i symbols with the largest remainders w_i (M - V) mod W get 1 more (ties: the
lower index first). Every f_i >= 1 (a character the model gives probability 0 can still be coded),
sum_i f_i = M exactly, and coding with f costs at most -log2(1 - V / M) bits per symbol more than
with p (0.0021 bits for V = 96, M = 2**16).

The text compressor (6.3) reads the text as gpt.windows does: character i (i = 0 .. n-1) is predicted
by one model.step from the character before it (START for i = 0), with a new KV cache at every
i = 0, C, 2C, ... (C = model.context); its frequencies are quantize(softmax(logits)) in float32, on the
CPU. Encoder and decoder must compute them the same way, bit for bit: the decoder can only run
model.step one character at a time, so the encoder must too (a forward over a whole window rounds
differently, and one float32 ulp of difference can change a frequency and derail decoding). The
stream is n as 4 bytes big-endian, then the coder's bytes.
"""

from __future__ import annotations

import copy
import operator
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import accumulate

import gpt
import numpy as np
import torch

PRECISION = 32  # bits of low and high
WHOLE = 1 << PRECISION
HALF = WHOLE >> 1
QUARTER = WHOLE >> 2
MASK = WHOLE - 1
MAX_TOTAL = 1 << 16  # the largest total of frequencies the coder takes
HEADER_BYTES = 4  # the character count at the start of compress_text's stream, big-endian


_accepted: tuple[object, list[int]] = (None, [])  # the list check_frequencies last accepted, and a copy of it


def check_frequencies(freqs: Sequence[int]) -> list[int]:
    """`freqs` as a list of Python ints, if the coder can use them: integers >= 0 with a total between 1
    and MAX_TOTAL = 2**16 (a list, a tuple or an integer array); ValueError saying what is wrong otherwise.
    The same list passed again, unchanged, is not checked again (a matrix's table, once per event)."""
    global _accepted
    if freqs is _accepted[0] and freqs == _accepted[1]:
        return list(_accepted[1])
    try:
        out = [operator.index(f) for f in freqs]
    except TypeError:
        raise ValueError("frequencies must be a sequence of integers (quantize's list, say)") from None
    if not out or min(out) < 0 or not 1 <= sum(out) <= MAX_TOTAL:
        raise ValueError(f"frequencies must be {len(out) or 'one or more'} integers >= 0 with a total from 1 to 2**16")
    if type(freqs) is list:
        _accepted = (freqs, list(out))
    return out


def check_probabilities(probs, bits: int) -> np.ndarray:
    """`probs` (a 1-D float tensor or array) as float64 numpy, exactly, if quantize can use it: finite,
    in [0, 1], summing to 1 within 1%, at most 2**bits of them; ValueError otherwise."""
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().to("cpu", torch.float64).numpy()  # exact from any float dtype
    p = np.asarray(probs)
    if p.dtype.kind != "f" or p.ndim != 1 or len(p) == 0:
        raise ValueError(f"quantize takes a 1-D float tensor or array of probabilities, got {p.dtype} of shape {p.shape}")
    if type(bits) is not int or not 1 <= bits <= 30 or len(p) > 1 << bits:
        raise ValueError(f"quantize: bits must be an int from 1 to 30 with 2**bits >= {len(p)}, got {bits!r}")
    p = p.astype(np.float64)
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1.01).any() or abs(p.sum() - 1) > 0.01:
        raise ValueError("quantize: probabilities must lie in [0, 1] and sum to 1 (logits passed by mistake?)")
    return p


def quantize(probs, bits: int = 16) -> list[int]:
    """Task 6.2. Integer frequencies for the probabilities `probs` (V,), by the module docstring's rule:
    a list of V ints, each >= 1, summing to exactly 2**bits, an exact function of the float values."""
    p = check_probabilities(probs, bits)
    # HINT: w = np.floor(p * float(2 ** (62 - bits))).astype(np.int64) is exact; the rest is integer arithmetic.
    # HINT: np.divmod(w * (M - V), W) gives floor and remainder; np.argsort(-rem, kind="stable") orders ties by index.
    raise NotImplementedError("Task 6.2: quantize is not implemented yet")


class Encoder:
    """Task 6.2. Call encode(symbol, freqs) for each symbol, with the frequencies (check_frequencies)
    the decoder will be given at that position, then finish() once for the stream."""

    def __init__(self) -> None:
        self.low, self.high = 0, MASK  # the interval [low, high], 32-bit integers
        self.pending = 0  # E3 steps whose bit is not known yet
        self.bits: list[int] = []  # the bits sent so far

    def encode(self, symbol: int, freqs: Sequence[int]) -> None:
        """Narrow the interval to `symbol`'s share and renormalize (E1, E2, E3). ValueError for a
        symbol outside 0 .. len(freqs) - 1 or of frequency 0 (it has no share: it cannot be coded)."""
        f = check_frequencies(freqs)
        # HINT: check the symbol first; c_lo = sum(f[:symbol]); update high before low (both use the old low).
        # HINT: in the loop, E1 and E2 send a bit and then the pending bits (each 1 - bit); E3 only counts one.
        raise NotImplementedError("Task 6.2: encode is not implemented yet")

    def send(self, bit: int) -> None:
        """Append `bit`, then the pending bits (each 1 - bit); nothing is pending afterwards."""
        raise NotImplementedError("Task 6.2: send is not implemented yet")

    def finish(self) -> bytes:
        """The stream: the termination (a 1 bit, or nothing when low = 0 and nothing is pending), trailing
        0 bits dropped, packed big-endian into ceil(n_bits / 8) bytes, the last one filled with 0 bits."""
        # HINT: int("".join(map(str, eight_bits)), 2) is one byte's value; bytes(list of values) the stream.
        raise NotImplementedError("Task 6.2: finish is not implemented yet")


class Decoder:
    """Task 6.2. Decoder(data) reads Encoder's stream; call decode(freqs) once per symbol, with the
    frequencies the encoder used at that position."""

    def __init__(self, data: bytes) -> None:
        self.bits = [(byte >> (7 - k)) & 1 for byte in bytes(data) for k in range(8)]
        self.position = 0  # the next bit of the stream to read
        self.low, self.high = 0, MASK
        self.value = 0  # the PRECISION stream bits at the current position
        for _ in range(PRECISION):
            self.value = 2 * self.value + self.next_bit()

    def next_bit(self) -> int:
        """The next bit of the stream; 0 past its end."""
        self.position += 1
        return self.bits[self.position - 1] if self.position <= len(self.bits) else 0

    def decode(self, freqs: Sequence[int]) -> int:
        """The next symbol: the one whose share of [low, high] holds value; then the encoder's steps."""
        f = check_frequencies(freqs)
        # HINT: cum = list(itertools.accumulate(f)); bisect.bisect_right(cum, c) is the s with c_lo <= c < c_hi.
        # HINT: renormalize as the encoder does, with value = 2 * value + self.next_bit() at each doubling.
        raise NotImplementedError("Task 6.2: decode is not implemented yet")


@contextmanager
def coding(model) -> Iterator:
    """`with coding(model) as model:` the model as coding needs it: float32 on the CPU (a copy if it is
    elsewhere), no autograd, one intra-op thread (restored afterwards), so that its probabilities are
    the same every time this machine computes them, wherever the model was trained."""
    p = next(model.parameters(), None)
    if p is not None and (p.device.type != "cpu" or p.dtype != torch.float32):
        model = copy.deepcopy(model).to("cpu", torch.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            yield model
    finally:
        torch.set_num_threads(threads)


def next_frequencies(logits: torch.Tensor) -> list[int]:
    """The frequencies for the next character: quantize(softmax(logits)), in float32 on the CPU."""
    return quantize(torch.softmax(logits.detach().to("cpu", torch.float32), dim=-1))


def compress_text(model, text: str) -> bytes:
    """Task 6.3. The text as bytes: its length n (4 bytes, big-endian), then the coder's stream of its
    characters, each coded with next_frequencies of the model.step that predicts it: inputs in
    gpt.windows' order (START, then the character before), a new KV cache at every multiple of
    model.context. ValueError for a character outside gpt.VOCAB."""
    ids = gpt.encode(text).tolist()
    # HINT: logits, cache = model.step(torch.tensor([x]), cache); cache = None starts a window.
    # HINT: the decoder can only step one character at a time: encode with exactly the same steps, inside
    # HINT: `with coding(model) as model:` (float32 on the CPU, no autograd, one thread).
    raise NotImplementedError("Task 6.3: compress_text is not implemented yet")


def decompress_text(model, data: bytes) -> str:
    """Task 6.3. The text compress_text(model, text) was made from, with the same model."""
    if len(data) < HEADER_BYTES:
        raise ValueError(f"a compressed text starts with its length in {HEADER_BYTES} bytes; got {len(data)} bytes")
    # HINT: n = int.from_bytes(data[:4], "big"); the coder's stream is data[4:].
    raise NotImplementedError("Task 6.3: decompress_text is not implemented yet")
