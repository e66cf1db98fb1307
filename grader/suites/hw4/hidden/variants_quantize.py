"""hw4 variants of quantize.py (tasks 4.3-4.5) for `course audit hw4`: realistic mistakes, one each,
and other correct formulations.

Task 4.5's training test runs the student's qparams inside the given QuantLinear (symmetric, per
output neuron), so a mistake in that path of qparams costs 4.5 as well. Task 4.7's experiment runs
kmeans_share and centroid_gradients: the k-means mistakes here leave it within its bar, except a
nan centroid, which leaves nan weights in the compressed network."""

from grader.audit import Variant

FILE = "quantize.py"
ZERO_POINT = "    zero_point = (qmin - torch.round(lo / scale)).to(torch.int64).clamp(qmin, qmax)\n"
QUANTIZE = "    q = torch.round(x * (1.0 / scale)) + zero_point\n    return q.clamp(qmin, qmax).to(torch.int64)\n"
INIT = "    codebook = torch.linspace(float(w.min()), float(w.max()), k, dtype=torch.float32, device=w.device)\n"
UPDATE = "        codebook = torch.where(counts > 0, sums / counts.clamp(min=1), codebook)\n"
GRADIENTS = (
    "    return torch.zeros(k, dtype=grad.dtype, device=grad.device).index_add_(0, indices.flatten().long(), "
    "grad.detach().flatten())\n"
)
FAKE_ROUND = "        q = torch.round(x.to(torch.float32) * (1.0 / scale)) + zero_point\n"
STE = "    return values.to(x.dtype) + (x - x.detach()) * inside\n"

WRONG = [
    # 4.3 qparams
    Variant(
        "zero_point_truncated",
        FILE,
        ZERO_POINT,
        "    zero_point = (qmin - lo / scale).to(torch.int64).clamp(qmin, qmax)\n",
        ("4.3",),
        says="it looks truncated",
    ),
    Variant(
        "range_without_zero",
        FILE,
        "    lo, hi = lo.clamp(max=0), hi.clamp(min=0)\n",
        "",
        ("4.3",),
        says="the range must hold 0",
    ),
    Variant(
        "per_channel_uses_the_whole_tensor",
        FILE,
        "        lo, hi = rows.min(dim=1).values, rows.max(dim=1).values\n",
        "        lo, hi = rows.min().expand(rows.shape[0]), rows.max().expand(rows.shape[0])\n",
        ("4.3", "4.5"),
        says="each index along axis",
    ),
    Variant(
        "symmetric_clamp_to_the_signed_range",
        FILE,
        QUANTIZE,
        "    q = torch.round(x * (1.0 / scale)) + zero_point\n"
        "    return q.clamp(-(2 ** (bits - 1)) if symmetric else qmin, qmax).to(torch.int64)\n",
        ("4.3",),
        says="one level too many",
    ),
    # 4.4 kmeans_share, centroid_gradients
    Variant(
        "kmeans_random_init",
        FILE,
        INIT,
        "    codebook = w[torch.randint(len(w), (k,), device=w.device)].sort().values\n",
        ("4.4",),
        says="linear initialisation",
    ),
    Variant(
        "empty_cluster_to_zero",
        FILE,
        UPDATE,
        "        codebook = sums / counts.clamp(min=1)\n",
        ("4.4",),
        says="a centroid with no weight was set to 0",
    ),
    Variant(
        "centroid_gradient_mean",
        FILE,
        GRADIENTS,
        "    sums = torch.zeros(k, dtype=grad.dtype, device=grad.device).index_add_(0, indices.flatten().long(), grad.flatten())\n"
        "    return sums / torch.bincount(indices.flatten().long(), minlength=k).clamp(min=1).to(grad.dtype)\n",
        ("4.4",),
        says="that is the mean of each cluster's gradients",
    ),
    # 4.5 fake_quantize
    Variant(
        "ste_not_clipped",
        FILE,
        STE,
        "    return values.to(x.dtype) + (x - x.detach())\n",
        ("4.5",),
        says="the gradient passes everywhere",
    ),
]

CORRECT = [
    Variant(
        "round_half_away_from_zero",
        FILE,
        QUANTIZE,
        "    v = x * (1.0 / scale)\n"
        "    q = torch.sign(v) * torch.floor(v.abs() + 0.5) + zero_point\n"
        "    return q.clamp(qmin, qmax).to(torch.int64)\n",
        also=(
            (
                FILE,
                ZERO_POINT,
                "    r = lo / scale\n"
                "    zero_point = (qmin - torch.sign(r) * torch.floor(r.abs() + 0.5)).to(torch.int64).clamp(qmin, qmax)\n",
            ),
            (
                FILE,
                FAKE_ROUND,
                "        v = x.to(torch.float32) * (1.0 / scale)\n        q = torch.sign(v) * torch.floor(v.abs() + 0.5) + zero_point\n",
            ),
        ),
    ),
    Variant(
        "divide_by_the_scale",
        FILE,
        QUANTIZE,
        "    q = torch.round(x / scale) + zero_point\n    return q.clamp(qmin, qmax).to(torch.int64)\n",
        also=((FILE, FAKE_ROUND, "        q = torch.round(x.to(torch.float32) / scale) + zero_point\n"),),
    ),
    Variant(
        "ste_as_an_autograd_function",
        FILE,
        STE,
        "    class RoundClamp(torch.autograd.Function):\n"
        "        @staticmethod\n"
        "        def forward(ctx, t):\n"
        "            ctx.save_for_backward(inside)\n"
        "            return values.to(t.dtype)\n\n"
        "        @staticmethod\n"
        "        def backward(ctx, g):\n"
        "            (mask,) = ctx.saved_tensors\n"
        "            return g * mask\n\n"
        "    return RoundClamp.apply(x)\n",
    ),
]
