"""Tasks 6.2 and 6.3 on the grading side: the coding problems the tests send (frequency tables and
messages, drawn here), the ideal code lengths, and the verdicts on what the worker returns, with
feedback that names the mistake the evidence points to. Nothing here codes or quantizes: every
check is a property (exact round trip, length within a bound of the ideal, frequencies >= 1 that sum
to 2**bits) of the student's own output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from grader.assertions import short
from grader.suites.capstone import model

M16 = 1 << 16
REL = 0.005  # both tasks: 8 len(data) <= (1 + REL) ideal + slack bits
SLACK_CODER = 16  # 6.2: the termination (1 or 2 bits), padding (<= 7 bits), a byte to spare
SLACK_TEXT = 64  # 6.3: the 32-bit header and the coder's SLACK_CODER, with room to spare
MAX_CHAR_BITS = 16.0  # 6.3: quantize gives every character at least 1 of 2**16
CODER_SECONDS = 2.0  # CPU time for one message through the coder (the reference: a few ms)
TEXT_CONFIG = dict(model.TINY, n_layer=1)  # 6.3's model: one block, context 32 (many windows)
TEXT_STATE_SEED = 6_3_0  # fixed weights: 6.3's verdicts do not depend on the draw of seeds
UNLIKELY = "k"  # 6.3: the character the graders' weights give probability 0 in float32


@dataclass
class Problem:
    """A message for the coder: symbols (n,), frequencies (n, V) int64 (row i for symbol i), what it
    is (for feedback), and what its structure lets the feedback say."""

    label: str
    symbols: list[int]
    freqs: np.ndarray
    shorter: bool = False  # also decode the stream without its last byte
    run: tuple[int, int] | None = None  # symbols start .. end - 1 keep the interval straddling 1/2 (E3)
    one_bit: bool = False  # every symbol costs exactly 1 bit
    bottom: bool = False  # ends in a run of symbol 0: the stream points at the bottom of an interval
    extra: dict = field(default_factory=dict)

    def message(self) -> dict:
        return {"symbols": self.symbols, "freqs": self.freqs, "shorter": self.shorter}

    def ideal(self) -> float:
        return ideal_bits(self.symbols, self.freqs)


def ideal_bits(symbols: list[int], freqs: np.ndarray) -> float:
    """sum_i -log2(f_i[s_i] / F_i): what an exact arithmetic coder would spend."""
    bits = 0.0
    for s, row in zip(symbols, freqs):
        bits += math.log2(int(row.sum())) - math.log2(int(row[s]))
    return bits


# -- drawing problems -----------------------------------------------------------------------------


def random_problem(rng: np.random.Generator, n: int, V: int, label: str, temperature: float = 2.0, zeros: int = 0) -> Problem:
    """Per-position frequencies from softmax(temperature N(0, 1)) scaled to a random total F in [V, 2**16]
    (f = 1 + floor(p (F - V)), so totals are not powers of two), `zeros` symbols per row set to 0
    (never the one coded), and symbols drawn from the frequencies."""
    logits = rng.standard_normal((n, V)) * temperature
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    F = rng.integers(V, M16 + 1, size=(n, 1))
    freqs = 1 + np.floor(p * (F - V)).astype(np.int64)
    symbols = draw(rng, freqs)
    for i, s in enumerate(symbols):
        if zeros:
            off = rng.choice([v for v in range(V) if v != s], size=min(zeros, V - 1), replace=False)
            freqs[i, off] = 0
    return Problem(label, symbols, freqs.reshape(n, V))


def draw(rng: np.random.Generator, freqs: np.ndarray) -> list[int]:
    """One symbol per row, with probability f / F (inverse CDF, in integers)."""
    cum = np.cumsum(freqs, axis=1)
    u = np.floor(rng.random(len(freqs)) * cum[:, -1]).astype(np.int64)
    return [int(x) for x in (cum <= u[:, None]).sum(axis=1)]


def sixteen_bit(rng: np.random.Generator, n: int, V: int, temperature: float, label: str) -> Problem:
    """Tables of total exactly 2**16 (as quantize gives): 1 + floor(p (2**16 - V)), the rest on the
    likeliest symbol; p a float32 softmax of temperature N(0, 1) logits."""
    p = torch.softmax(torch.tensor(rng.standard_normal((n, V)) * temperature, dtype=torch.float32), dim=-1).double().numpy()
    freqs = 1 + np.floor(p * (M16 - V)).astype(np.int64)
    freqs[np.arange(n), freqs.argmax(axis=1)] += M16 - freqs.sum(axis=1)
    return Problem(label, draw(rng, freqs), freqs)


def straddling(rng: np.random.Generator, run: int, then: int, label: str) -> Problem:
    """`run` symbols that keep the interval straddling 1/2 (the middle one of 1/3, 1/3, 1/3: every one
    an E3 step, a pending bit), then `then` random symbols of the same table (some resolve the pending
    bits to 0s, some to 1s)."""
    table = np.array([21845, 21846, 21845], dtype=np.int64)
    symbols = [1] * run + [int(x) for x in rng.integers(0, 3, size=then)]
    return Problem(label, symbols, np.tile(table, (len(symbols), 1)), run=(0, run))


def resolved(run: int, last: int, label: str) -> Problem:
    """Runs of E3 steps resolved by a symbol at the top (the pending bits become 0s: a carry into the
    bits already known) or at the bottom (they become 1s) of the interval, run after run."""
    table = np.array([16384, 32768, 16384], dtype=np.int64)  # 1/4, 1/2, 1/4: the middle is exactly E3
    symbols = ([1] * run + [last]) * 3 + [2 - last] + [1] * run + [last]
    return Problem(label, symbols, np.tile(table, (len(symbols), 1)), run=(0, len(symbols)))


def narrowed(runs: list[int], label: str) -> Problem:
    """Runs of the middle symbol of (1, 16383, 32768, 16384) / 2**16, exactly centred on 1/2, each
    followed by the symbol of frequency 1: after k E3 steps an interval that is not doubled has
    2**(32 - k) integers, and for k > 16 the rare symbol's share of it is empty."""
    table = np.array([1, 16383, 32768, 16384], dtype=np.int64)
    symbols = [s for k in runs for s in [2] * k + [0]]
    return Problem(label, symbols, np.tile(table, (len(symbols), 1)), run=(0, len(symbols)))


def one_bit(rng: np.random.Generator, n: int, label: str) -> Problem:
    """n symbols of two equally likely ones (each exactly 1 bit), the last a 1: exactly n bits."""
    symbols = [int(x) for x in rng.integers(0, 2, size=n - 1)] + [1]
    return Problem(label, symbols, np.full((n, 2), M16 // 2, dtype=np.int64), one_bit=True)


def ending_at_the_bottom(rng: np.random.Generator, n: int, zeros: int, label: str) -> Problem:
    """A random message over three symbols whose last `zeros` symbols are 0: the interval's low end
    stays put, so the stream points exactly at the bottom of the final intervals."""
    p = random_problem(rng, n, 3, label, temperature=1.0)
    p.symbols[n - zeros :] = [0] * zeros
    p.bottom = True
    return p


def rare(position: int, n: int, label: str) -> Problem:
    """Symbol `position` of three has frequency 1 of 2**16, and it is coded n times (16 bits each)."""
    table: np.ndarray = np.full(3, (M16 - 1) // 2, dtype=np.int64)
    table[position] = 1
    table[(position + 1) % 3] += M16 - table.sum()
    return Problem(label, [position] * n, np.tile(table, (n, 1)))


# -- verdicts ---------------------------------------------------------------------------------------


def stop_words(stage: str, p: Problem) -> str:
    what, _, index = stage.partition(" ")
    n = len(p.symbols)
    if what == "finish":
        where = "finish() did not return"
    elif what == "encode":
        where = f"encode did not return at symbol {index} of {n}"
    elif what == "shorter":
        where = "decode did not return on the stream without its last byte"
    else:
        where = f"decode did not return at symbol {index} of {n}"
    words = f"{p.label}: {where} within {CODER_SECONDS:g} s of CPU time (the reference takes a few ms)"
    if p.run is not None and what == "encode" and int(index) >= p.run[0]:
        return (
            f"{words}, inside a run of symbols that keep the interval straddling 1/2: underflow (E3, pending bits) is "
            "not handled: without E3 such an interval shrinks until a symbol has no share (high < low), and the "
            "renormalization loops forever"
        )
    return f"{words}: a loop that never ends (an empty interval, high < low, makes the renormalization loop forever: is underflow (E3, pending bits) handled?)"


def error_words(error, p: Problem) -> str:
    """The student's exception during a round trip, where it happened, and what it points to."""
    stage = str(error.get("stage", "")) if type(error) is dict else ""
    what, _, index = stage.partition(" ")
    raised = short(str(error.get("error", "")) if type(error) is dict else error, 200)
    n = len(p.symbols)
    if what == "finish":
        return f"{p.label}: finish() raised {raised}"
    at = f"{p.label}: {'encode' if what == 'encode' else 'decode'} raised {raised} at symbol {index} of {n}"
    if what == "encode":
        return f"{at}, on a valid table (integers >= 0, total <= 2**16, the symbol's frequency >= 1)"
    if p.run is not None and index.isdigit() and int(index) >= p.run[0]:
        return (
            f"{at}, after E3 steps (the interval straddling 1/2): E3 is not mirrored exactly: the pending bits go out after "
            "the next bit sent, each its opposite, and the decoder subtracts QUARTER from value as well as from low and high"
        )
    return (
        f"{at}: the decoder does not redo the encoder's integer arithmetic exactly (high = low + r * c_hi // F - 1, "
        "low = low + r * c_lo // F, the same renormalization, value kept in [low, high])"
    )


def mismatch_words(p: Problem, data: bytes, k: int, got, want: int) -> str:
    n = len(p.symbols)
    at = f"{p.label}: symbol {k} of {n} decodes as {short(got)}, but {want} was encoded"
    if p.one_bit and 8 * len(data) < n:
        return (
            f"{at}; the message is exactly {n} bits (each symbol 1 bit), but the stream has {len(data)} bytes, fewer than "
            f"ceil({n}/8) = {-(-n // 8)}: padding miscounted, the last partial byte is lost (pack ceil(n_bits / 8) bytes, "
            "not n_bits // 8)"
        )
    if k >= n - 3:
        return (
            f"{at} (all before it decode right): the stream ends too early: the termination is too short (after the last "
            "symbol, send the bits that single out a point of the final interval: a 1 when low > 0 or bits are pending), or "
            "the padding drops the last bits (ceil(n_bits / 8) bytes, the last filled with 0 bits)"
        )
    if p.run is not None and k >= p.run[0]:
        return (
            f"{at}, after a run of E3 steps (the interval straddling 1/2): E3 is not mirrored exactly: the pending bits go "
            "out after the next bit sent, each its opposite, and the decoder subtracts QUARTER from value as well as from "
            "low and high"
        )
    words = f"{at}: the decoder does not redo the encoder's integer arithmetic exactly (high = low + r * c_hi // F - 1, low = low + r * c_lo // F, the same renormalization)"
    if p.bottom:
        words += (
            "; here the stream points at the very bottom of an interval, where floating-point cumulative probabilities "
            "(r * cdf, a float comparison in the decoder) round to the wrong side"
        )
    return words


def check_round_trips(results, problems: list[Problem], slack: float = SLACK_CODER) -> None:
    """The verdict on coder_round_trips' reply: each message decodes to itself, in at most
    (1 + REL) ideal + slack bits, and (where asked) not without the stream's last byte."""
    if type(results) is not list or len(results) > len(problems):
        raise AssertionError(f"the round trips came back as {type(results).__name__}, not a list of results")
    for p, r in zip(problems, results):
        if type(r) is not dict:
            raise AssertionError(f"{p.label}: the round trip came back as {type(r).__name__}")
        if r.get("stopped"):
            raise AssertionError(stop_words(str(r["stopped"]), p))
        if r.get("error"):
            raise AssertionError(error_words(r["error"], p))
        data = r.get("data")
        if type(data) is not bytes:
            raise AssertionError(f"{p.label}: finish() returned {type(data).__name__} {short(data)}, not bytes")
        decoded = r.get("decoded")
        if type(decoded) is not list or len(decoded) != len(p.symbols):
            raise AssertionError(f"{p.label}: decode gave {short(decoded)}, not {len(p.symbols)} symbols")
        for k, (got, want) in enumerate(zip(decoded, p.symbols)):
            if not is_int(got) or got != want:
                raise AssertionError(mismatch_words(p, data, k, got, want))
        ideal, bits = p.ideal(), 8 * len(data)
        if bits > (1 + REL) * ideal + slack:
            raise AssertionError(
                f"{p.label}: the stream is {bits} bits, more than (1 + {REL}) x the ideal {ideal:.1f} + {slack:g} bits "
                f"(ideal = sum -log2(f[s] / F)): "
                + (
                    "the termination sends more than it needs (a 1 bit, or nothing, ends the stream; flushing all 32 bits of low costs 32)"
                    if bits - ideal < 64
                    else "the interval loses more than rounding (r * c // F with the interval's full width r = high - low + 1)"
                )
            )
        if p.shorter and data:
            if r.get("shorter") == p.symbols:
                raise AssertionError(
                    f"{p.label}: the stream without its last byte ({len(data) - 1} of {len(data)} bytes) still decodes to the same "
                    "message: the stream is a byte longer than it needs to be (end it with a 1 bit, or nothing when low = 0 and "
                    "nothing is pending; drop trailing 0 bits; pack ceil(n_bits / 8) bytes)"
                )
    if len(results) < len(problems):
        raise AssertionError(f"the worker returned {len(results)} round trips for {len(problems)} messages")


def is_int(x) -> bool:
    """An int or a numpy integer (not a bool)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def check_frequencies(freqs, V: int, bits: int, what: str) -> list[int]:
    """`freqs` as a list of ints if quantize's promises hold: V ints, each >= 1, summing to 2**bits."""
    if type(freqs) not in (list, tuple):
        raise AssertionError(f"{what}: quantize returned {type(freqs).__name__} {short(freqs)}, not a list of ints")
    if len(freqs) != V:
        raise AssertionError(f"{what}: quantize returned {len(freqs)} frequencies for {V} probabilities")
    if any(not is_int(f) for f in freqs):
        bad = next(f for f in freqs if not is_int(f))
        raise AssertionError(f"{what}: quantize returned a {type(bad).__name__} ({short(bad)}) among the frequencies, not an int")
    freqs = [int(f) for f in freqs]
    if zero := [i for i, f in enumerate(freqs) if f <= 0]:
        raise AssertionError(
            f"{what}: frequency 0 (or less) for symbols {zero[:8]}: a character the model finds unlikely (or never saw) "
            "could not be coded; every frequency must be >= 1 (f = 1 + floor(w (M - V) / W))"
        )
    if sum(freqs) != 1 << bits:
        raise AssertionError(f"{what}: the frequencies sum to {sum(freqs)}, not 2**{bits} = {1 << bits}")
    return freqs


def check_cost(freqs: list[int], p: np.ndarray, bits: int, what: str) -> None:
    """The rule's promise f_i / M >= (1 - V / M) (p_i - 2**-S) / sum(p): quantization costs at most
    -log2(1 - V / M) bits per symbol."""
    M, V, S = 1 << bits, len(p), 62 - bits
    floor = (1 - V / M) * (p - 2.0**-S) / p.sum() * (1 - 1e-12)
    got = np.asarray(freqs, dtype=np.float64) / M
    if (bad := np.flatnonzero(got < floor)).size:
        i = int(bad[0])
        raise AssertionError(
            f"{what}: symbol {i} has frequency {freqs[i]} of {M} for probability {p[i]:.6g}: below (1 - V/M) p M = "
            f"{floor[i] * M:.2f}, so coding it costs more than the -log2(1 - V/M) bits the rule allows"
        )


# -- 6.3: texts and the model ----------------------------------------------------------------------


def text_state(seed: int = TEXT_STATE_SEED) -> dict[str, torch.Tensor]:
    """The weights 6.3's tests send: model.random_state for TEXT_CONFIG, with the final LayerNorm's
    coordinate 0 held near 8 and the head's row for UNLIKELY set to -30 e_0, so that its logit is
    about -240 and its float32 softmax probability exactly 0 everywhere."""
    state = model.random_state(TEXT_CONFIG, seed)
    state["ln.weight"][0], state["ln.bias"][0] = 0.1, 8.0
    u = model.VOCAB.index(UNLIKELY)
    state["head.weight"][u] = 0.0
    state["head.weight"][u, 0] = -30.0
    return state


@dataclass
class TextRun:
    """One text through compress_text and decompress_text, judged here."""

    text: str
    data: bytes
    back: object
    logits: torch.Tensor | None  # the student's step path, (n, 96), checked
    ideal: float  # sum_i min(-log2 p_i, 16), p from `logits`

    @property
    def bits(self) -> int:
        return 8 * len(self.data)

    @property
    def bound(self) -> float:
        return (1 + REL) * self.ideal + SLACK_TEXT


def checked_logits(logits, ids: torch.Tensor, state: dict, what: str) -> torch.Tensor:
    """The step-path logits the worker returned, if finite, of shape (n, 96), and equal to the course's
    own model holding the same weights (model.logits) within float32 round-off."""
    n = len(ids)
    if type(logits) is not torch.Tensor or tuple(logits.shape) != (n, len(model.VOCAB)):
        got = tuple(logits.shape) if type(logits) is torch.Tensor else type(logits).__name__
        raise AssertionError(f"{what}: your model.step gave logits {got}, not ({n}, {len(model.VOCAB)})")
    logits = logits.double()
    if not bool(torch.isfinite(logits).all()):
        raise AssertionError(f"{what}: your model.step gave NaN or infinite logits")
    inputs, targets = model.windows(ids, TEXT_CONFIG["context"])
    want = model.logits(state, TEXT_CONFIG, inputs).double().flatten(0, 1)[targets.flatten() >= 0]
    bad = (logits - want).abs() > 1e-4 + 1e-4 * want.abs()
    if bool(bad.any()):
        i, j = (int(x) for x in bad.nonzero()[0])
        raise AssertionError(
            f"{what}: your model.step's logit of {model.VOCAB[j]!r} for character {i} is {float(logits[i, j]):.6g}; the course's "
            f"GPT holding the same weights gives {float(want[i, j]):.6g} (gpt.py changed? a cache per window of model.context?)"
        )
    return logits


def text_ideal(logits: torch.Tensor, ids: torch.Tensor) -> float:
    """sum_i min(-log2 softmax(logits_i)[t_i], 16) in float64."""
    bits = -logits.double().log_softmax(-1).gather(1, ids[:, None])[:, 0] / math.log(2)
    return float(bits.clamp(max=MAX_CHAR_BITS).sum())


def run_texts(submission, texts: list[str], state: dict, what: str) -> list[TextRun]:
    """Each text through the student's compress_text and decompress_text in the worker, the step-path
    logits checked; stops, wrong types and a round trip that fails are failures, with their cause."""
    ids = [model.ids_of(t) for t in texts]
    results = submission.driver("coder_texts", TEXT_CONFIG, state, texts, ids)
    if type(results) is not list or len(results) > len(texts):
        raise AssertionError(f"{what}: the worker's reply is {type(results).__name__}, not a list of results")
    runs = []
    for text, t_ids, r in zip(texts, ids, results):
        name = f"{what} ({len(text):,} characters)"
        if type(r) is not dict:
            raise AssertionError(f"{name}: the reply is {type(r).__name__}")
        if r.get("stopped"):
            stage = r["stopped"]
            raise AssertionError(
                f"{name}: {stage} did not return within {2 + 0.005 * len(text):g} s of CPU time (2 s + 5 ms per character; "
                "the reference takes about 0.5 ms per character): a loop that never ends (a coder without E3, underflow, "
                "loops forever once an interval straddling 1/2 has no room left for a symbol)"
            )
        data = r.get("data")
        if type(data) is not bytes:
            raise AssertionError(f"{name}: compress_text returned {type(data).__name__} {short(data)}, not bytes")
        back = r.get("text")
        logits = checked_logits(r.get("logits"), t_ids, state, name) if len(text) else torch.zeros(0, len(model.VOCAB))
        runs.append(TextRun(text, data, back, logits, text_ideal(logits, t_ids) if len(text) else 0.0))
    if len(runs) < len(texts):
        raise AssertionError(f"{what}: the worker returned {len(runs)} results for {len(texts)} texts")
    return runs


def header_words(run: TextRun) -> str | None:
    """What is wrong with the stream's first 4 bytes, or None."""
    n = len(run.text)
    want = n.to_bytes(4, "big")
    if run.data[:4] == want:
        return None
    got = run.data[:4]
    hint = ""
    if got == n.to_bytes(4, "little"):
        hint = ": that is n little-endian; the handout's header is big-endian (most significant byte first)"
    elif len(got) == 4 and int.from_bytes(got, "big") == len(run.data) - 4:
        hint = ": that is the length of the coded stream in bytes, not the number of characters"
    return f"the stream should start with the character count n = {n} in 4 bytes, big-endian ({want.hex(' ')}); it starts with {got.hex(' ') or 'nothing'}{hint}"


def round_trip_words(run: TextRun) -> str | None:
    """What is wrong with decompress_text(compress_text(text)), or None."""
    text, back = run.text, run.back
    if back == text:
        return None
    if type(back) is not str:
        return f"decompress_text returned {type(back).__name__} {short(back)}, not a str"
    head = header_words(run)
    k = next((i for i, (a, b) in enumerate(zip(back, text)) if a != b), min(len(back), len(text)))
    words = f"decompress_text(compress_text(text)) gives {len(back):,} characters for {len(text):,}"
    if k < min(len(back), len(text)):
        words += (
            f", first different at character {k}: {back[k]!r} for {text[k]!r}: the decoder did not follow the encoder there: "
        )
        if k >= len(text) - 3:
            words += (
                "all before it right, so perhaps the coder's stream ends too early (the termination is too short, or the "
                "padding drops the last bits); or "
            )
        words += (
            "it got other frequencies than the encoder used (both must run model.step one character at a time with a KV "
            "cache, a new one per window of model.context characters, then quantize(softmax) in float32: a forward over a "
            "whole window rounds differently, and one float32 ulp can change a frequency), or the coder does not redo its "
            "arithmetic exactly (task 6.2's tests)"
        )
    elif head:
        words += f": {head}"
    return words
