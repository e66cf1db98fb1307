"""Capstone, part 4 (task 6.5): what the model costs and what it saves, against gzip, bz2 and xz.

A model with an arithmetic coder (coder.py) sends a text of n characters in about its ideal code
length, -sum_t log2 p(t_t | the characters before it) bits: n times its bits per character. A
general-purpose compressor (gzip, bz2, xz) needs nothing but its output. But whoever decodes the
model's stream needs the model too, so Deletang et al. (2024, "Language Modeling Is Compression")
charge its size: the adjusted rate

    adjusted rate = (8 model_bytes + code_bits) / n          bits per character.

The model beats a compressor of rate r_b (bits per character on the same kind of text) once the
bits it saves on the text, (r_b - r_m) n, pay for its own size:

    crossover length n* = 8 model_bytes / (r_b - r_m)        characters (infinite when r_m >= r_b).

A float32 model of 0.83 million parameters (3.3 MB) that codes at 2.45 bits per character against
bz2's 2.75 needs 8 x 3.3e6 / 0.3 = 88 million characters before it pays for itself; compressed 16
times, 5.5 million (Shakespeare's 37 plays are 4.8 million). That is the trade-off task 6.4's compression buys.

Sizes are bytes (8 bits each); rates are bits per character; the texts are ASCII (one byte per
character). Invalid input raises ValueError with a message saying what is wrong.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math

import torch

COMPRESSORS = ("gzip", "bz2", "xz")  # the standard-library compressors, each at its strongest setting


def baseline_bits(text: str) -> dict[str, int]:
    """Task 6.5. The size in bits of `text` (its ASCII bytes) compressed by each compressor, headers
    included: {"gzip": gzip.compress at compresslevel 9, "bz2": bz2.compress at compresslevel 9,
    "xz": lzma.compress with preset 9 | lzma.PRESET_EXTREME (xz -9e)}, each 8 x len(compressed bytes)."""
    data = text.encode("ascii")
    # HINT: lzma.compress's default preset is 6; name every level.
    raise NotImplementedError("Task 6.5: baseline_bits is not implemented yet")


def ideal_bits(log_probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Task 6.5. The ideal code length in bits of a text, -sum_t log2 p(t_t), from the model's
    natural-log probabilities log_probs (n, V) (torch's log_softmax of its logits) and the text's ids
    targets (n,): row t gives the distribution the model predicted character t from."""
    if log_probs.dim() != 2 or targets.shape != log_probs.shape[:1]:
        raise ValueError(f"need log_probs (n, V) and targets (n,), got {tuple(log_probs.shape)} and {tuple(targets.shape)}")
    # HINT: log2 p = ln p / ln 2; sum in float64.
    raise NotImplementedError("Task 6.5: ideal_bits is not implemented yet")


def rate(bits: float, n_chars: int) -> float:
    """Task 6.5. A code of `bits` bits for a text of n_chars characters, in bits per character."""
    if n_chars <= 0 or bits < 0:
        raise ValueError(f"need bits >= 0 and n_chars > 0, got {bits} and {n_chars}")
    raise NotImplementedError("Task 6.5: rate is not implemented yet")


def adjusted_rate(model_bytes: int, code_bits: float, n_chars: int) -> float:
    """Task 6.5. Deletang et al.'s adjusted rate in bits per character: the model's size (bytes)
    counted with the code (bits), (8 model_bytes + code_bits) / n_chars."""
    if n_chars <= 0 or model_bytes < 0 or code_bits < 0:
        raise ValueError(f"need model_bytes >= 0, code_bits >= 0 and n_chars > 0, got {model_bytes}, {code_bits}, {n_chars}")
    raise NotImplementedError("Task 6.5: adjusted_rate is not implemented yet")


def crossover_length(model_bytes: int, model_bpc: float, baseline_bpc: float) -> float:
    """Task 6.5. The text length (characters) from which the model, its size counted, sends a text in
    fewer bits than a compressor of rate baseline_bpc: 8 model_bytes / (baseline_bpc - model_bpc);
    math.inf when the model's rate is not below the compressor's."""
    if model_bytes < 0 or model_bpc < 0 or baseline_bpc < 0:
        raise ValueError(f"sizes and rates are >= 0, got {model_bytes}, {model_bpc}, {baseline_bpc}")
    raise NotImplementedError("Task 6.5: crossover_length is not implemented yet")


def size_curve(text: str, lengths: list[int], model_bytes: int, model_bpc: float) -> dict[str, list[float]]:
    """Task 6.5. Bits needed to send text[:n], for each n in `lengths`: {"model": 8 model_bytes +
    model_bpc n, and for each compressor ("gzip", "bz2", "xz") baseline_bits(text[:n])} (the
    figure of compressed size against text length)."""
    if any(not 0 < n <= len(text) for n in lengths):
        raise ValueError(f"every length must be in 1 .. len(text) = {len(text)}, got {lengths}")
    raise NotImplementedError("Task 6.5: size_curve is not implemented yet")


def stage_rows(stages: list[tuple[str, int, float]]) -> list[dict]:
    """Task 6.5. The table of the compression stages (the figure of bits per character against
    model size): stages = [(name, size in bytes, bits per character), ...], the float32 model first.
    Per stage {"name", "bytes", "bpc", "ratio": first bytes / bytes (how many times smaller),
    "increase": bpc / first bpc - 1 (the relative loss in rate; 0.03 is 3%)}."""
    if not stages or any(size <= 0 or bpc <= 0 for _, size, bpc in stages):
        raise ValueError("need at least one stage, each with a positive size and rate")
    raise NotImplementedError("Task 6.5: stage_rows is not implemented yet")
