"""Fixed k-means cases for task 4.4, whose reference outputs `course snapshot hw4` stores under
"quantize": Lloyd's algorithm from the linear initialisation has many fixed points, and which one
it reaches is decided by the start, so no property alone pins the codebook down.

Each case is a weight tensor drawn here from a fixed generator (the same tensor on every machine:
torch's CPU generator is deterministic), a bit width and a number of iterations. The cases were
chosen so that no weight is near a tie between two centroids at any step of the reference's run
(a float32 round-off cannot change which fixed point is reached), and they cover: a Gaussian layer,
a pruned layer's two lumps of kept weights, a heavy-tailed layer stopped after a few iterations, a
convolution weight, one iteration only, and more centroids than the data fill (empty clusters)."""

from __future__ import annotations

import torch

# name -> (shape, bits, iters, kind, generator seed)
CASES: dict[str, tuple[tuple[int, ...], int, int, str, int]] = {
    "gaussian_4bit": ((40, 25), 4, 20, "gaussian", 19),
    "pruned_lumps_3bit": ((600,), 3, 20, "lumps", 53),
    "heavy_tail_2bit_5_iters": ((20, 30), 2, 5, "laplace", 51),
    "conv_1bit": ((4, 3, 3, 3), 1, 20, "gaussian", 14),
    "one_iteration_3bit": ((300,), 3, 1, "gaussian", 57),
    "sparse_values_6bit": ((200,), 6, 20, "clusters", 13),
}


def weights(name: str) -> torch.Tensor:
    """The weight tensor of case `name`, float32."""
    shape, _, _, kind, seed = CASES[name]
    g = torch.Generator().manual_seed(seed)
    n = 1
    for d in shape:
        n *= d
    if kind == "gaussian":
        w = torch.randn(n, generator=g) * 0.1
    elif kind == "lumps":  # what a layer keeps after magnitude pruning: two lumps away from 0
        w = (0.05 + 0.1 * torch.rand(n, generator=g)) * torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    elif kind == "laplace":
        u = torch.rand(n, generator=g) - 0.5
        w = -0.05 * torch.sign(u) * torch.log1p(-2 * u.abs())
    elif kind == "clusters":  # a few tight groups: most of the 64 linear centroids get no weight
        centres = torch.tensor([-0.8, -0.3, 0.1, 0.15, 0.7])
        w = centres[torch.randint(len(centres), (n,), generator=g)] + 0.004 * torch.randn(n, generator=g)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return w.reshape(shape).to(torch.float32)


def make(submission) -> dict:
    """{case: {"weight": [...], "shape": [...], "bits": b, "iters": n, "codebook": [...], "indices": [...]}}:
    the case's weights (flattened, stored so that the tests do not depend on torch's generator staying
    the same across versions) and the reference's kmeans_share of them (indices flattened)."""
    quant = submission.module("quantize")
    out = {}
    for name, (shape, bits, iters, _, _) in CASES.items():
        w = weights(name)
        codebook, indices = quant.kmeans_share(w, bits, iters)
        out[name] = {
            "weight": w.flatten().tolist(),
            "shape": list(shape),
            "bits": bits,
            "iters": iters,
            "codebook": codebook.tolist(),
            "indices": indices.flatten().tolist(),
        }
    return out
