"""Hidden tests for tasks 6.2 and 6.3 (coder.py).

6.2: quantize against the handout's rule computed here in Python integers, on random float32 and
float64 distributions (V = 2 to 256, bits = 9 to 16); the coder on longer E3 runs (1,000 pending
bits), longer messages with 16-bit tables, and every length from 1 to 40 over 96 symbols; judged as
the public tests judge (grader/suites/capstone/coder_checks.py).

6.3: compress_text and decompress_text on 1,024 characters of Richard II, a play in no file of the
release, and on short texts (empty, one character, a character the model gives probability 0, a run
of newlines at the end), with the public tests' weights and checks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grader.data import load_text
from grader.errors import StudentError
from grader.suites.capstone import coder_checks as cc
from grader.suites.capstone.public.test_coder import quantized, round_trips

HIDDEN_PLAY, HIDDEN_START, HIDDEN_CHARS = "richard_ii", 30_000, 1_024
SHORT_TEXTS = ["", "k", "\n", "O", "Ay, k", "To be, or not to be", "kkkkk", "What, ho!\n\n\n\n\n\n\n\n\n\n"]


def rule(p: list[float], bits: int) -> list[int]:
    """The handout's quantization, in Python integers (p: exact float values)."""
    M, V, S = 1 << bits, len(p), 62 - bits
    w = [math.floor(x * 2**S) for x in p]  # exact: a float times a power of two
    W = sum(w)
    f = [1 + wi * (M - V) // W for wi in w]
    by_remainder = sorted(range(V), key=lambda i: (-(w[i] * (M - V) % W), i))
    for i in by_remainder[: M - sum(f)]:
        f[i] += 1
    return f


def rule_words(got: list[int], want: list[int], p: list[float], bits: int) -> str:
    """What the frequencies' difference from the rule points to."""
    M, V = 1 << bits, len(p)
    i = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
    words = f"frequency {got[i]} for symbol {i} (probability {p[i]:.9g}); the handout's rule gives {want[i]}"
    floats = [1 + math.floor(x * (M - V)) for x in p]
    if all(abs(a - b) <= 1 for a, b in zip(got, want)) and sum(1 for a, b in zip(got, want) if a != b) <= 2 * V:
        if all(abs(a - b) <= 1 for a, b in zip(floats, got)):
            return words + (
                ": close, but not exact: compute w = floor(p * 2**(62 - bits)) and integer divisions (w (M - V) // W), not "
                "p * (M - V) in floating point; the M - sum f largest remainders get 1 more, ties to the lower index"
            )
        return (
            words
            + ": the leftover M - sum f goes 1 each to the symbols with the largest remainders w (M - V) mod W, ties to the lower index"
        )
    return words + ": f = 1 + floor(w (M - V) / W) with w = floor(p * 2**(62 - bits)), W = sum w"


def rule_cases(seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases: list[tuple] = []
    for V in (2, 3, 50, 96, 256):
        for bits in (None, 14, 9):
            for t in (0.5, 4.0, 20.0):
                cases.append((torch.softmax(torch.tensor(rng.standard_normal(V) * t, dtype=torch.float32), dim=-1), bits))
            cases.append((rng.dirichlet(np.full(V, 0.3)), bits))
    return cases


def check_rule(cases: list[tuple], got) -> None:
    if type(got) is not list or len(got) != len(cases):
        raise AssertionError(f"quantize's frequencies came back as {type(got).__name__}, not {len(cases)} lists")
    for (p, bits), f in zip(cases, got):
        b = 16 if bits is None else bits
        kind = "float32 tensor" if isinstance(p, torch.Tensor) else "float64 array"
        what = f"quantize of a {kind} of {len(p)} probabilities" + ("" if bits is None else f", bits={bits}")
        f = cc.check_frequencies(f, len(p), b, what)
        values = [float(x) for x in p.tolist()]
        if f != (want := rule(values, b)):
            raise AssertionError(f"{what}: {rule_words(f, want, values, b)}")


@pytest.mark.task("6.2")
@pytest.mark.seeded
def test_quantize_is_the_rule_exactly(submission, seed):
    """On random float32 and float64 distributions (V = 2 to 256, bits = 9 to 16), is quantize the handout's rule exactly?"""
    cases = rule_cases(seed)
    check_rule(cases, quantized(submission, cases))


def long_runs() -> list[cc.Problem]:
    """Fixed messages (the same for every draw of seeds: what they test is their structure)."""
    rng = np.random.default_rng(63)
    runs = [1020, 200, 60, 17, 90, 123, 156, 189]  # 1020 and 60: 28 past a multiple of 32
    return [
        cc.narrowed(
            runs,
            "runs of 17 to 1,020 middle symbols of (1, 16383, 32768, 16384) / 2**16, each followed by the symbol of frequency 1",
        ),
        cc.straddling(rng, 1000, 200, "1,000 middle symbols of (1/3, 1/3, 1/3), then 200 random ones"),
        cc.resolved(300, 2, "runs of 300 middle symbols of (1/4, 1/2, 1/4), each resolved by the top symbol"),
        cc.resolved(300, 0, "runs of 300 middle symbols of (1/4, 1/2, 1/4), each resolved by the bottom symbol"),
    ]


def longer_messages(seed: int) -> list[cc.Problem]:
    rng = np.random.default_rng(seed)
    return [
        cc.sixteen_bit(rng, 500, 96, t, f"500 symbols over 96, 16-bit tables from softmax(logits x {t})")
        for t in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)
    ]


def short_lengths_over_96(seed: int) -> list[cc.Problem]:
    rng = np.random.default_rng(seed)
    problems = [cc.random_problem(rng, n, 96, f"a random message of {n} symbols over 96") for n in range(1, 41)]
    for p in problems:
        p.shorter = True
    return problems


SEEDED = {"longer_messages": longer_messages, "short_lengths_over_96": short_lengths_over_96}


@pytest.mark.task("6.2")
def test_long_runs_that_straddle_one_half(submission):
    """Do runs of 1,000 E3 steps (1,000 pending bits), resolved upwards and downwards or followed by a symbol of frequency 1, decode to themselves?"""
    round_trips(submission, long_runs())


@pytest.mark.task("6.2")
@pytest.mark.seeded
def test_longer_messages_with_16_bit_tables(submission, seed):
    """Do messages of 500 symbols over 96, with tables of total 2**16 (what quantize gives), decode to themselves, within 1.005 x the ideal + 16 bits?"""
    round_trips(submission, longer_messages(seed))


@pytest.mark.task("6.2")
@pytest.mark.seeded
def test_every_short_length_over_96_symbols(submission, seed):
    """Does a random message over 96 symbols of every length from 1 to 40 decode to itself, with no byte to spare?"""
    round_trips(submission, short_lengths_over_96(seed))


# -- 6.3 ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hidden_runs(submission):
    """The held-out excerpt and the short texts through compress_text and decompress_text, once per submission."""
    done: dict = {}

    def run(name: str) -> list[cc.TextRun]:
        if name not in done:
            if name == "play":
                texts, what = [load_text(HIDDEN_PLAY)[HIDDEN_START : HIDDEN_START + HIDDEN_CHARS]], "a held-out play"
            else:
                texts, what = SHORT_TEXTS, "a short text"
            try:
                done[name] = cc.run_texts(submission, texts, cc.text_state(), what)
            except (AssertionError, StudentError) as e:  # every caller's failure
                done[name] = e
        if isinstance(done[name], Exception):
            raise done[name]
        return done[name]

    return run


@pytest.mark.task("6.3")
def test_held_out_play_round_trip(hidden_runs):
    """Does decompress_text(compress_text(text)) give back 1,024 characters of a held-out play exactly?"""
    run = hidden_runs("play")[0]
    if words := cc.round_trip_words(run):
        raise AssertionError(f"on the held-out play: {words}")
    if words := cc.header_words(run):
        raise AssertionError(f"on the held-out play: {words}")


@pytest.mark.task("6.3")
def test_held_out_play_length_near_the_ideal(hidden_runs):
    """On a held-out play, is the compressed text at most 1.005 x the ideal sum min(-log2 p, 16) + 64 bits?"""
    run = hidden_runs("play")[0]
    if run.bits > run.bound:
        raise AssertionError(
            f"on the held-out play ({len(run.text)} characters) the compressed text is {run.bits} bits, more than 1.005 x the "
            f"ideal {run.ideal:.1f} + 64 = {run.bound:.1f} bits: code each character once, with quantize(softmax(logits)) of "
            "the step that predicts it"
        )


@pytest.mark.task("6.3")
def test_short_texts(hidden_runs):
    """Do the empty text, one character, a character of probability 0 and a text ending in newlines come back exactly, each with its 4-byte header?"""
    for run in hidden_runs("short"):
        where = f"on the text {run.text!r}"
        if words := cc.round_trip_words(run):
            raise AssertionError(f"{where}: {words}")
        if words := cc.header_words(run):
            raise AssertionError(f"{where}: {words}")
        if run.bits > run.bound:
            raise AssertionError(
                f"{where}: the compressed text is {run.bits} bits, more than 1.005 x the ideal {run.ideal:.1f} + 64"
            )
