"""Public tests for task 6.5 (tradeoff.py): the compressors' sizes, measured here on the same text at
the same settings (gzip and bz2 at level 9, xz at preset 9 | PRESET_EXTREME), the ideal code length
against a float64 sum, and the rates, the crossover, the size curve and the stage table against
their formulas. Rates and lengths are compared within 1e-9 relative (plain float arithmetic), the
code length within 1e-6 relative (a float32 sum of float32 log-probabilities is that close)."""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import math
import zlib

import pytest
import torch

from grader.assertions import close, mapping, sequence
from grader.suites.capstone import artifact

LN2 = math.log(2)
NAMES = ("gzip", "bz2", "xz")


@functools.lru_cache(maxsize=16)
def baselines(text: str) -> dict[str, int]:
    """The sizes in bits, measured here (xz at preset 9 takes 0.1 s whatever the text: computed once a text)."""
    return {name: 8 * size for name, size in artifact.compressed_bytes(text).items()}


def baseline_mistakes(text: str, name: str, expected: int) -> list[tuple[float, str]]:
    """What the common mistakes give for compressor `name`."""
    data = text.encode("ascii")
    out = [(expected / 8, "the size in bytes, not bits (8 bits a byte)")]
    if name == "gzip":
        out += [
            (
                8 * len(zlib.compress(data, 9)),
                "zlib's stream (zlib.compress), not gzip's format (gzip.compress, its header and trailer)",
            ),
            (8 * len(gzip.compress(data, compresslevel=6)), "gzip at level 6, not 9"),
        ]
    elif name == "bz2":
        out += [(8 * len(bz2.compress(data, compresslevel=1)), "bz2 at level 1, not 9")]
    else:
        out += [
            (8 * len(lzma.compress(data)), "lzma.compress's default preset (6), not preset 9 | lzma.PRESET_EXTREME"),
            (8 * len(lzma.compress(data, format=lzma.FORMAT_ALONE, preset=9 | lzma.PRESET_EXTREME)), "the .lzma format, not .xz"),
        ]
    return out


def check_baselines(got, text: str, what: str) -> None:
    got = mapping(got, what)
    if sorted(got) != sorted(NAMES):
        raise AssertionError(f"{what}: the keys are {sorted(map(str, got))}, expected {list(NAMES)}")
    for name, expected in baselines(text).items():
        hints = [(lambda v, x=x: v == x, h) for x, h in baseline_mistakes(text, name, expected) if x != expected]
        close(got[name], expected, f"{what}[{name!r}] (measured here: {expected // 8:,} bytes)", tol=0.5, rel=0, hints=hints)


@pytest.mark.task("6.5")
def test_baseline_bits_are_the_compressors_sizes(submission, tradeoff, public_text):
    """Is baseline_bits(text) 8 x the length of gzip.compress (level 9), bz2.compress (level 9) and lzma.compress (preset 9 | PRESET_EXTREME), measured here on the first 5,000 and 30,000 characters of train.txt?"""
    texts = [public_text[:5000], public_text[:30_000]]
    got = submission.batch([submission.pending_call(tradeoff, "baseline_bits", t) for t in texts])
    for text, value in zip(texts, got):
        check_baselines(value, text, f"baseline_bits({len(text):,} characters)")


def log_probs(n: int, vocab: int, seed: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, vocab, generator=g, dtype=torch.float64)
    return logits.log_softmax(-1).to(dtype), torch.randint(vocab, (n,), generator=g)


def check_ideal_bits(submission, tradeoff, cases, what) -> None:
    got = submission.batch([submission.pending_call(tradeoff, "ideal_bits", lp, t) for lp, t in cases])
    for (lp, t), value in zip(cases, got):
        expected = float(-lp.double().gather(1, t[:, None]).sum() / LN2)
        n = len(t)
        close(
            value,
            expected,
            f"ideal_bits({what(lp)})",
            tol=1e-6,
            rel=1e-6,
            hints=[
                (lambda v, e=expected: abs(v - e * LN2) <= 1e-5 * abs(e), "in nats, not bits: divide ln p by ln 2"),
                (lambda v, e=expected: abs(v + e) <= 1e-5 * abs(e), "the sign: the code length is -sum log2 p, positive"),
                (lambda v, e=expected, n=n: abs(v - e / n) <= 1e-5 * abs(e), "the mean per character, not the total"),
            ],
        )


@pytest.mark.task("6.5")
def test_ideal_bits_sums_minus_log2_p(submission, tradeoff):
    """Is ideal_bits(log_probs, targets) -sum_t log2 p(t_t), in bits, from natural-log probabilities (float32 and float64)?"""
    cases = [log_probs(500, 96, 1), log_probs(37, 5, 2, torch.float64), log_probs(1, 96, 3)]
    check_ideal_bits(submission, tradeoff, cases, lambda lp: f"log_probs {tuple(lp.shape)} {str(lp.dtype)[6:]}, targets")


RATE_CASES = [(8000, 1000), (1234.5, 100), (0, 7), (98308 * 2.4, 98308)]
ADJUSTED_CASES = [(1000, 24000.0, 10000), (3_300_000, 2.45 * 98308, 98308), (0, 5000.0, 2000), (190_000, 2.5e6, 1_000_000)]


def adjusted(model_bytes, code_bits, n):
    return (8 * model_bytes + code_bits) / n


ADJUSTED_MISTAKES = {
    "the model's size is in bytes: 8 model_bytes bits": lambda b, c, n: (b + c) / n,
    "the code is already in bits; only the model's bytes become bits": lambda b, c, n: (8 * b + 8 * c) / n,
    "the model's size is left out; the adjusted rate counts it": lambda b, c, n: c / n,
    "a total in bits, not per character: divide by n_chars": lambda b, c, n: 8 * b + c,
}


@pytest.mark.task("6.5")
def test_rate_and_adjusted_rate(submission, tradeoff):
    """Is rate(bits, n) bits / n, and adjusted_rate(model_bytes, code_bits, n) Deletang et al.'s (8 model_bytes + code_bits) / n?"""
    got = submission.batch([submission.pending_call(tradeoff, "rate", b, n) for b, n in RATE_CASES])
    for (b, n), value in zip(RATE_CASES, got):
        close(value, b / n, f"rate({b:g}, {n})", tol=1e-12, rel=1e-9)
    got = submission.batch([submission.pending_call(tradeoff, "adjusted_rate", *case) for case in ADJUSTED_CASES])
    for case, value in zip(ADJUSTED_CASES, got):
        hints = [(lambda v, f=f, c=case: abs(v - f(*c)) <= 1e-9 * abs(f(*c)), h) for h, f in ADJUSTED_MISTAKES.items()]
        close(
            value,
            adjusted(*case),
            f"adjusted_rate({case[0]:,} bytes, {case[1]:g} bits, {case[2]:,} characters)",
            rel=1e-9,
            hints=hints,
        )


CROSSOVER_CASES = [
    (1000, 2.0, 2.5),
    (3_300_000, 2.45, 2.75),
    (190_000, 2.3, 3.08),
    (0, 2.0, 3.0),
    (100, 3.0, 2.0),
    (100, 2.0, 2.0),
]


def crossover(model_bytes, model_bpc, baseline_bpc) -> float:
    saved = baseline_bpc - model_bpc
    return math.inf if saved <= 0 else 8 * model_bytes / saved


CROSSOVER_MISTAKES = {
    "the model's size is in bytes: 8 model_bytes bits to pay back": lambda b, m, r: b / (r - m),
    "the sign: the model saves baseline_bpc - model_bpc bits per character": lambda b, m, r: 8 * b / (m - r),
    "the denominator is the saving per character, baseline_bpc - model_bpc": lambda b, m, r: 8 * b / r,
}


def crossover_hints(case, expected):
    hints = [(lambda v, f=f: r_near(v, f(*case)), h) for h, f in CROSSOVER_MISTAKES.items() if case[1] != case[2]]
    if math.isinf(expected):
        hints.append((lambda v: True, "a model whose rate is not below the compressor's never pays for itself: math.inf"))
    else:
        hints.append(
            (
                lambda v: math.isinf(v),
                "math.inf, but the model's rate is below the compressor's: it saves baseline_bpc - model_bpc",
            )
        )
    return hints


def r_near(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 1e-9 * abs(b) + 1e-12


@pytest.mark.task("6.5")
def test_crossover_length(submission, tradeoff):
    """Is crossover_length(model_bytes, model_bpc, baseline_bpc) 8 model_bytes / (baseline_bpc - model_bpc) characters, and math.inf when the model's rate is not below the compressor's?"""
    got = submission.batch([submission.pending_call(tradeoff, "crossover_length", *case) for case in CROSSOVER_CASES])
    for case, value in zip(CROSSOVER_CASES, got):
        expected = crossover(*case)
        close(
            value,
            expected,
            f"crossover_length({case[0]:,} bytes, model {case[1]:g}, baseline {case[2]:g} bits per character)",
            tol=1e-9,
            rel=1e-9,
            hints=crossover_hints(case, expected),
        )


@pytest.mark.task("6.5")
def test_size_curve(submission, tradeoff, public_text):
    """Is size_curve(text, [5000, 30000], 50,000 bytes, 2.4) the model's 8 model_bytes + 2.4 n bits and each compressor's baseline_bits(text[:n])?"""
    text, lengths, model_bytes, bpc = public_text[:30_000], [5000, 30_000], 50_000, 2.4
    curve = mapping(
        submission.batch([submission.pending_call(tradeoff, "size_curve", text, lengths, model_bytes, bpc)])[0], "size_curve"
    )
    what = "size_curve(30,000 characters of train.txt, [5000, 30000], 50,000 bytes, 2.4)"
    if sorted(curve) != sorted(("model",) + NAMES):
        raise AssertionError(f"{what}: the keys are {sorted(map(str, curve))}, expected ['model', 'gzip', 'bz2', 'xz']")
    model = sequence(curve["model"], f"{what}['model']", length=len(lengths))
    for n, value in zip(lengths, model):
        close(
            value,
            8 * model_bytes + bpc * n,
            f"{what}['model'] at n = {n}",
            rel=1e-9,
            hints=[(lambda v, n=n: r_near(v, model_bytes + bpc * n), "the model's size is in bytes: 8 model_bytes bits")],
        )
    for name in NAMES:
        sequence(curve[name], f"{what}[{name!r}]", length=len(lengths))
    for i, n in enumerate(lengths):
        check_baselines({k: curve[k][i] for k in NAMES}, text[:n], f"{what} at n = {n}")


STAGES = [("float32", 3_300_000, 2.45), ("pruned", 1_200_000, 2.46), ("quantized", 300_000, 2.48), ("coded", 190_000, 2.5)]


@pytest.mark.task("6.5")
def test_stage_rows(submission, tradeoff):
    """Is stage_rows(stages) each stage's name, bytes, bpc, ratio = the float32 model's bytes / its bytes and increase = bpc / the float32 model's bpc - 1?"""
    rows = sequence(
        submission.batch([submission.pending_call(tradeoff, "stage_rows", STAGES)])[0], "stage_rows(4 stages)", length=len(STAGES)
    )
    _, first_bytes, first_bpc = STAGES[0]
    for i, ((name, size, bpc), row) in enumerate(zip(STAGES, rows)):
        row = mapping(row, f"stage_rows(...)[{i}]")
        if sorted(row) != sorted(("name", "bytes", "bpc", "ratio", "increase")):
            raise AssertionError(
                f"stage_rows(...)[{i}] has the keys {sorted(map(str, row))}, expected name, bytes, bpc, ratio, increase"
            )
        if row["name"] != name:
            raise AssertionError(f"stage_rows(...)[{i}]['name'] is {row['name']!r}, expected {name!r}")
        close(row["bytes"], size, f"stage_rows(...)[{i}]['bytes']", tol=0, rel=0)
        close(row["bpc"], bpc, f"stage_rows(...)[{i}]['bpc']", tol=0, rel=0)
        close(
            row["ratio"],
            first_bytes / size,
            f"stage_rows(...)[{i}] ({name}, {size:,} bytes)['ratio']",
            rel=1e-9,
            hints=[
                (lambda v, s=size: r_near(v, s / first_bytes), "inverted: the ratio is the float32 model's bytes / this stage's")
            ],
        )
        previous = STAGES[i - 1][2] if i else first_bpc
        close(
            row["increase"],
            bpc / first_bpc - 1,
            f"stage_rows(...)[{i}] ({name}, {bpc:g} bits per character)['increase']",
            tol=1e-12,
            rel=1e-9,
            hints=[
                (lambda v, b=bpc: r_near(v, 100 * (b / first_bpc - 1)), "a percentage; the increase is a fraction (0.03 is 3%)"),
                (
                    lambda v, b=bpc: r_near(v, b - first_bpc),
                    "the difference in bits; the increase is relative: bpc / first bpc - 1",
                ),
                (
                    lambda v, b=bpc, p=previous: r_near(v, b / p - 1),
                    "relative to the previous stage; every stage is compared with the first",
                ),
            ],
        )
