"""Task 6.4's reference on the grading side (instructor's copy only): the handout's pruning,
k-means, events and file, written with the course's coder, for the hidden tests, the snapshot's
checks of the reference (tests/test_capstone_squeeze.py) and nothing public. The public suite
reads the same values from `course snapshot capstone` instead (squeeze_checks.Stored)."""

from __future__ import annotations

import struct

import torch

from grader.suites.capstone import model as M
from grader.suites.capstone.squeeze_checks import (
    CONFIG_KEYS,
    MAGIC,
    RUN,
    TABLE_BITS,
    KMeans,
    Shared,
    codes_of,
    matrix_names,
    pruned_count,
)
from grader.worker.drivers.capstone.squeeze import squeeze_Encoder as Encoder
from grader.worker.drivers.capstone.squeeze import squeeze_quantize as quantize


def reference_masks(weights: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    flat = torch.cat([w.abs().flatten() for w in weights.values()])
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    keep[torch.argsort(flat, stable=True)[: pruned_count(sparsity, flat.numel())]] = False
    return {n: p.view(w.shape) for (n, w), p in zip(weights.items(), keep.split([w.numel() for w in weights.values()]))}


def reference_kmeans(values: torch.Tensor, k: int, iters: int = 30) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The handout's k-means (linear initialisation, nearest level with ties to the lower index,
    means, `iters` rounds or until no index changes), float32: (levels, indices, whether it stopped
    because no index changed)."""
    w = values.float()
    levels = torch.linspace(float(w.min()), float(w.max()), k, dtype=torch.float32)
    indices = (w[:, None] - levels[None, :]).abs().argmin(dim=1)
    for _ in range(iters):
        counts = torch.bincount(indices, minlength=k)
        sums = torch.zeros(k, dtype=torch.float32).index_add_(0, indices, w)
        levels = torch.where(counts > 0, sums / counts.clamp(min=1), levels)
        new = (w[:, None] - levels[None, :]).abs().argmin(dim=1)
        if torch.equal(new, indices):
            return levels, indices, True
        indices = new
    return levels, indices, False


def reference_compress(config: dict, state: dict, sparsity: float, bits: int) -> dict:
    """The handout's compress, done here: global magnitude masks, k-means levels of each matrix's kept weights."""
    names = matrix_names(config)
    masks = reference_masks({n: state[n] for n in names}, sparsity)
    out = dict(state)
    for n in names:
        w = torch.zeros_like(state[n])
        if masks[n].any():
            levels, indices, _ = reference_kmeans(state[n][masks[n]], 2**bits)
            w[masks[n]] = levels[indices]
        out[n] = w
    return out


def reference_events(codes: list[int], k: int) -> list[int]:
    events, run = [], 0
    for c in codes:
        if c < 0:
            run += 1
            if run == RUN:
                events.append(RUN * k)
                run = 0
        else:
            events.append(run * k + c)
            run = 0
    return events


def table_of(events: list[int], k: int) -> list[int]:
    size = RUN * k + 1
    counts = torch.bincount(torch.tensor(events, dtype=torch.int64), minlength=size).double()
    probs = counts / counts.sum() if events else torch.full((size,), 1 / size, dtype=torch.float64)
    return quantize(probs, TABLE_BITS)


def encoded(events: list[int], freqs: list[int]) -> bytes:
    encoder = Encoder()
    for e in events:
        encoder.encode(e, freqs)
    return encoder.finish()


def build(config: dict, state: dict[str, torch.Tensor]) -> bytes:
    """The course's file of a compressed state (the handout's layout, the course's coder)."""
    out = [MAGIC, struct.pack("<5H", *(config[k] for k in CONFIG_KEYS))]
    for name, shape in M.shapes(config).items():
        t = state[name].float()
        if len(shape) != 2:
            out.append(struct.pack(f"<{t.numel()}f", *t.flatten().tolist()))
            continue
        levels, codes = codes_of(t)
        k = len(levels)
        events = reference_events(codes, k)
        freqs = table_of(events, k)
        stream = encoded(events, freqs)
        out += [struct.pack(f"<B{k}f", k, *levels.tolist()), struct.pack(f"<{RUN * k}H", *freqs[:-1])]
        out += [struct.pack("<II", len(events), len(stream)), stream]
    return b"".join(out)


def kmeans_expected(values: torch.Tensor, k: int, iters: int = 30) -> KMeans:
    """The reference's k-means run on `values`, for squeeze_checks.check_kmeans."""
    levels, _, converged = reference_kmeans(values, k, iters)
    return KMeans(levels, converged)


def compress_expected(config: dict, state: dict, sparsity: float, bits: int) -> dict[str, Shared]:
    """The reference's compress of `state`, per matrix, for squeeze_checks.check_compressed."""
    masks = reference_masks({n: state[n] for n in matrix_names(config)}, sparsity)
    out = {}
    for n, mask in masks.items():
        levels, indices, converged = reference_kmeans(state[n][mask], 2**bits) if mask.any() else (torch.zeros(0), None, True)
        used = levels[torch.bincount(indices, minlength=len(levels)) > 0] if indices is not None else levels
        out[n] = Shared(KMeans(used, converged), reference_kmeans(state[n].flatten(), 2**bits)[0])
    return out
