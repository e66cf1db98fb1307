"""Public tests for tasks 6.2 and 6.3 (coder.py): the arithmetic coder, quantize, and the model as a
text compressor.

6.2: quantize is checked on worked examples (exact values from the handout's rule) and, on random
distributions, for its promises: V integers, each >= 1, summing to 2**bits, costing at most
-log2(1 - V / M) bits per symbol, the same for the same values given as a float32 tensor, a float32
array or a float64 array. The coder runs in the worker on messages and frequency tables drawn here:
random tables (totals that are not powers of two, zeros for symbols never coded), every length from
1 to 40, runs of E3 steps (fixed messages), symbols of frequency 1 in 2**16, symbols of exactly one
bit, and messages that end at the bottom of an interval. Each must decode to itself, in
8 len(data) <= 1.005 ideal + 16 bits (ideal = sum -log2(f[s] / F)), and a stream without its last
byte must decode to something else. Each message has 2 s of CPU time (the reference: a few ms).

6.3: compress_text and decompress_text run with your gpt.GPT (one block, context 32) holding weights
drawn here, on 384 characters of the public text; the weights make "k" impossible (its float32
probability is 0), so quantize must still give it a frequency. The driver also runs your model.step
over the text, and those logits (checked against the course's own model) give the ideal
sum min(-log2 p, 16); the stream must be at most 1.005 ideal + 64 bits and start with the character
count, 4 bytes big-endian.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grader.assertions import raises
from grader.errors import StudentError
from grader.suites.capstone import coder_checks as cc

PUBLIC_TEXT_START, PUBLIC_TEXT_CHARS = 20_000, 384


def quantized(submission, cases: list[tuple]) -> list:
    return submission.driver("coder_quantize", cases)


def round_trips(submission, problems: list[cc.Problem], slack: float = cc.SLACK_CODER) -> None:
    results = submission.driver("coder_round_trips", [p.message() for p in problems], cc.CODER_SECONDS)
    cc.check_round_trips(results, problems, slack)


def softmax32(rng: np.random.Generator, V: int, temperature: float) -> torch.Tensor:
    return torch.softmax(torch.tensor(rng.standard_normal(V) * temperature, dtype=torch.float32), dim=-1)


# -- 6.2: quantize ---------------------------------------------------------------------------------------


WORKED = [
    (np.array([0.5, 0.25, 0.25]), 2, [2, 1, 1]),
    (np.array([0.1, 0.2, 0.7]), 4, [2, 4, 10]),  # 1 + floor(13 p) = 2, 3, 10; the largest remainder (0.6) gets 1 more
    (np.full(3, 1 / 3), 4, [6, 5, 5]),  # equal remainders: the lower index first
    (np.array([0.5, 0.5, 0.0, 0.0]), 3, [3, 3, 1, 1]),
    (torch.tensor([0.125, 0.875]), 3, [2, 6]),
    (np.array([1.0, 0.0]), None, [65535, 1]),
    (torch.full((96,), 1 / 96), None, [683] * 64 + [682] * 32),  # 1 + floor(65440 / 96) = 682; 64 left over
    (torch.eye(96)[5].clone(), None, [1] * 5 + [65441] + [1] * 90),
]


@pytest.mark.task("6.2")
def test_quantize_worked_examples(submission):
    """Does quantize give the handout's rule on worked examples (ties to the lower index, zeros, a uniform 96)?"""
    got = quantized(submission, [(p, bits) for p, bits, _ in WORKED])
    for (p, bits, want), f in zip(WORKED, got):
        what = f"quantize({p.tolist() if len(p) < 5 else f'{type(p).__name__} of {len(p)}'}{'' if bits is None else f', {bits}'})"
        f = cc.check_frequencies(f, len(p), 16 if bits is None else bits, what)
        if f != want:
            i = next(i for i, (a, b) in enumerate(zip(f, want)) if a != b)
            raise AssertionError(
                f"{what} gives {f if len(f) < 8 else '...'}: frequency {f[i]} for symbol {i}, the handout's rule gives {want[i]} "
                "(f = 1 + floor(w (M - V) / W), then +1 for the M - sum f largest remainders, ties to the lower index)"
            )


def promise_cases(seed: int) -> tuple[list[tuple], list[tuple]]:
    """(rows (V, bits, float32 softmax), the quantize calls: each row as a tensor, a float32 and a float64 array)."""
    rng = np.random.default_rng(seed)
    rows = [(V, bits, softmax32(rng, V, t)) for V in (2, 3, 96, 256) for bits in (None, 12) for t in (0.3, 3.0, 12.0)]
    cases = [(p, bits) for _, bits, p in rows]
    return rows, cases + [(p.numpy(), bits) for _, bits, p in rows] + [(p.double().numpy(), bits) for _, bits, p in rows]


def check_promises(rows: list[tuple], got) -> None:
    k = len(rows)
    if type(got) is not list or len(got) != 3 * k:
        raise AssertionError(f"quantize's frequencies came back as {type(got).__name__}, not {3 * k} lists")
    for i, (V, bits, p) in enumerate(rows):
        b = 16 if bits is None else bits
        what = f"quantize of a float32 softmax over {V} symbols" + ("" if bits is None else f", bits={bits}")
        f = cc.check_frequencies(got[i], V, b, what)
        cc.check_cost(f, p.double().numpy(), b, what)
        for kind, other in (("a float32 numpy array", got[k + i]), ("a float64 numpy array", got[2 * k + i])):
            if other != f:
                raise AssertionError(
                    f"{what}: the same values as {kind} give other frequencies than as a float32 tensor: quantize must be "
                    "an exact function of the values (convert to float64 exactly; w = floor(p * 2**(62 - bits)) as int64)"
                )


@pytest.mark.task("6.2")
@pytest.mark.seeded
def test_quantize_promises_on_random_distributions(submission, seed):
    """On float32 softmax distributions (V = 2 to 256, flat to sharply peaked), are the frequencies ints >= 1 summing to 2**bits, within the rule's cost, and the same for a tensor, a float32 array and a float64 array?"""
    rows, cases = promise_cases(seed)
    check_promises(rows, quantized(submission, cases))


@pytest.mark.task("6.2")
def test_quantize_gives_every_symbol_a_frequency(submission):
    """Does a symbol whose probability is 0 (an unseen character; float32 underflow) still get a frequency >= 1?"""
    sharp = torch.softmax(torch.linspace(-60, 60, 96), dim=-1)  # most of these underflow to 0 in float32
    almost = np.array([0.6, 0.4 - 1e-7, 1e-7])
    cases = [(sharp, None), (almost, None), (torch.tensor([0.0, 1.0, 0.0]), None), (sharp, 8)]
    got = quantized(submission, cases)
    for (p, bits), f in zip(cases, got):
        b = 16 if bits is None else bits
        cc.check_frequencies(
            f, len(p), b, f"quantize of {len(p)} probabilities, {int((torch.as_tensor(p) == 0).sum())} of them 0"
        )


# -- 6.2: the coder ---------------------------------------------------------------------------------------


def random_tables(seed: int) -> list[cc.Problem]:
    rng = np.random.default_rng(seed)
    return [
        cc.random_problem(rng, n, V, f"a random message of {n} symbols over {V}", zeros=z)
        for n, V, z in (
            (1, 2, 0),
            (7, 3, 1),
            (13, 3, 0),
            (40, 96, 0),
            (100, 2, 0),
            (200, 96, 0),
            (1000, 96, 20),
            (300, 256, 100),
            (1000, 2, 0),
            (500, 3, 0),
        )
    ]


def every_short_length(seed: int) -> list[cc.Problem]:
    rng = np.random.default_rng(seed)
    return [cc.random_problem(rng, n, 3, f"a random message of {n} symbols over 3", temperature=1.0) for n in range(1, 41)]


def straddling_runs() -> list[cc.Problem]:
    """Fixed messages (the same for every draw of seeds: what they test is their structure)."""
    rng = np.random.default_rng(62)
    runs = [60, 17, 23, 31, 38, 45, 52, 59]
    return [
        cc.narrowed(
            runs,
            "runs of 17 to 60 middle symbols of (1, 16383, 32768, 16384) / 2**16, each followed by the symbol of frequency 1",
        ),
        cc.straddling(rng, 100, 50, "100 middle symbols of (1/3, 1/3, 1/3), then 50 random ones"),
        cc.resolved(40, 2, "runs of 40 middle symbols of (1/4, 1/2, 1/4), each resolved by the top symbol"),
        cc.resolved(40, 0, "runs of 40 middle symbols of (1/4, 1/2, 1/4), each resolved by the bottom symbol"),
    ]


def one_bit_symbols(seed: int) -> list[cc.Problem]:
    rng = np.random.default_rng(seed)
    return [cc.one_bit(rng, n, f"{n} symbols of 1 bit each") for n in range(1, 18)]


def at_the_bottom(seed: int) -> list[cc.Problem]:
    rng = np.random.default_rng(seed)
    return [cc.ending_at_the_bottom(rng, 100, 40, f"100 symbols over 3, the last 40 of them 0 (message {i})") for i in range(5)]


def no_byte_to_spare(seed: int) -> list[cc.Problem]:
    rng = np.random.default_rng(seed)
    problems = [
        cc.random_problem(rng, 1 + i, V, f"a random message of {1 + i} symbols over {V}") for i in range(30) for V in (2, 96)
    ]
    for p in problems:
        p.shorter = True
    return problems


# the seeded problem sets by test (a sweep over seeds runs them on the reference and the variants)
SEEDED = {
    "random_tables": random_tables,
    "every_short_length": every_short_length,
    "one_bit_symbols": one_bit_symbols,
    "at_the_bottom": at_the_bottom,
    "no_byte_to_spare": no_byte_to_spare,
}


@pytest.mark.task("6.2")
@pytest.mark.seeded
def test_random_tables_round_trip(submission, seed):
    """Do random messages (V = 2 to 256, 1 to 1,000 symbols, totals up to 2**16, zeros for symbols never coded) decode to themselves, within 1.005 x the ideal + 16 bits?"""
    round_trips(submission, random_tables(seed))


@pytest.mark.task("6.2")
@pytest.mark.seeded
def test_every_short_length_round_trips(submission, seed):
    """Does a random message of every length from 1 to 40 decode to itself (the termination and the padding at every bit count)?"""
    round_trips(submission, every_short_length(seed))


@pytest.mark.task("6.2")
def test_runs_that_straddle_one_half(submission):
    """Do runs of up to 100 symbols that keep the interval straddling 1/2 (E3, pending bits), resolved upwards and downwards or followed by a symbol of frequency 1, decode to themselves?"""
    round_trips(submission, straddling_runs())


@pytest.mark.task("6.2")
def test_symbols_of_frequency_one(submission):
    """Does a symbol of frequency 1 in 2**16, coded 200 times in a row (16 bits each), decode to itself, at either end or in the middle of the table?"""
    round_trips(submission, [cc.rare(k, 200, f"200 times the symbol {k} of frequency 1 in 2**16") for k in range(3)])


@pytest.mark.task("6.2")
@pytest.mark.seeded
def test_one_bit_symbols_fill_the_last_byte(submission, seed):
    """With two equally likely symbols (exactly 1 bit each), do messages of 1 to 17 symbols decode to themselves (the last partial byte kept)?"""
    round_trips(submission, one_bit_symbols(seed))


@pytest.mark.task("6.2")
@pytest.mark.seeded
def test_streams_at_the_bottom_of_an_interval(submission, seed):
    """Do messages that end in a run of symbol 0 (the stream then points at the very bottom of an interval) decode to themselves?"""
    round_trips(submission, at_the_bottom(seed))


@pytest.mark.task("6.2", weight=0.5)
@pytest.mark.seeded
def test_no_byte_to_spare(submission, seed):
    """Does every stream without its last byte decode to something else (no byte more than the message needs)?"""
    round_trips(submission, no_byte_to_spare(seed))


@pytest.mark.task("6.2", weight=0.5)
def test_frequency_zero_cannot_be_coded(submission, coder):
    """Does encoding a symbol of frequency 0 raise ValueError?"""
    raises("ValueError", coder.Encoder().encode, 2, [3, 5, 0], what="Encoder().encode(2, [3, 5, 0])")
    raises("ValueError", coder.Encoder().encode, 0, [0, 7], what="Encoder().encode(0, [0, 7])")


# -- 6.3: the text compressor -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def public_runs(submission, public_text):
    """The public text through compress_text and decompress_text, once per submission."""
    done: dict = {}

    def run() -> cc.TextRun:
        if "run" not in done:
            text = public_text[PUBLIC_TEXT_START : PUBLIC_TEXT_START + PUBLIC_TEXT_CHARS]
            try:
                done["run"] = cc.run_texts(submission, [text], cc.text_state(), "the public text")[0]
            except (AssertionError, StudentError) as e:  # every caller's failure
                done["run"] = e
        if isinstance(done["run"], Exception):
            raise done["run"]
        return done["run"]

    return run


@pytest.mark.task("6.3")
def test_text_round_trip(public_runs):
    """Does decompress_text(compress_text(text)) give back 384 characters of the public text exactly (one of them a character the model gives probability 0)?"""
    run = public_runs()
    if words := cc.round_trip_words(run):
        raise AssertionError(f"on the public text: {words}")


@pytest.mark.task("6.3", weight=0.5)
def test_text_header(public_runs):
    """Does the compressed text start with its character count, 4 bytes big-endian?"""
    run = public_runs()
    if words := cc.header_words(run):
        raise AssertionError(f"on the public text: {words}")


@pytest.mark.task("6.3")
def test_text_length_near_the_ideal(public_runs):
    """Is the compressed text at most 1.005 x the ideal sum min(-log2 p, 16) + 64 bits, p from your model's own steps?"""
    run = public_runs()
    if run.bits > run.bound:
        raise AssertionError(
            f"on the public text ({len(run.text)} characters) the compressed text is {run.bits} bits, more than 1.005 x the "
            f"ideal {run.ideal:.1f} + 64 = {run.bound:.1f} bits (ideal = sum min(-log2 p, 16) over the characters, p your "
            "model's softmax at each step): code each character once, with quantize(softmax(logits)) of the step that predicts it"
        )
