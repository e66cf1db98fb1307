"""Public tests for hw5 tasks 5.3, 5.4 and 5.6 (vit.py): patches and positions, the encoder block
and the ViT, attention maps and rollout.

Expected values come from the grading side's own implementation of the handout's equations
(grader/suites/hw5/model.py: patches by reshape and permute, torch's scaled_dot_product_attention,
F.layer_norm, F.gelu, Vaswani et al.'s table written entry by entry, rollout layer by layer), in
float64. The student's modules run in the worker through the drivers, holding weights chosen here
(`patch_embedding`, `encoder_block`, `vit_forward`, `maps`), or are called directly (`patchify`,
`sinusoidal_positions`, `attention_rollout`).

Tolerances come from the noise. Against the float64 equations, correct float32 formulations (the
reference, a Conv2d patch embedding, model.py run in float32, einsum for matmul) differ by at most
1.3e-6 in an embedding, a block's output or a logit (values of size 1 to 5) and 3.5e-7 in an
attention weight: RTOL = ATOL = 1e-5. A sinusoidal table computed in float32 (angles pos * freq,
frequencies by exp(-log(10000) 2i/d) or by a power) is off by at most 5.4e-8 times the number of
positions n (float32 round-off of angles up to n): ATOL = 1e-6 + 5e-7 n. Rollouts in float32 (loop
either way, functools.reduce, einsum) differ by at most 8e-8: RTOL 1e-5, ATOL 1e-6; in float64,
1e-10. Patches are copies of pixels: equal exactly.

When a value is wrong, the known mistakes are recomputed on the same inputs and the one the
student's values follow is named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch.nn import functional as F

from grader.assertions import first_mismatch, mapping, short
from grader.errors import StudentError
from grader.suites.hw5 import model

RTOL, ATOL = 1e-5, 1e-5  # embeddings, block outputs, logits and attention weights, float32
ROLL_RTOL, ROLL_ATOL = 1e-5, 1e-6  # rollout in float32
ROLL64 = 1e-10  # rollout in float64


def table_atol(n: int) -> float:
    """The sinusoidal table's tolerance at n positions: float32 round-off of angles up to n."""
    return 1e-6 + 5e-7 * n


# -- checking what came back ----------------------------------------------------------------------


def dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def checked(value, what: str, shape: tuple[int, ...], dtype: torch.dtype | None = None, shapes: dict | None = None):
    """`value` if it is a floating-point tensor of `shape` (and `dtype`); `shapes` maps a wrong shape
    to what it says about the mistake."""
    if type(value) is not torch.Tensor:
        raise AssertionError(f"{what}: expected a tensor of shape {shape}, got {type(value).__name__} {short(value)}")
    if tuple(value.shape) != tuple(shape):
        hint = (shapes or {}).get(tuple(value.shape))
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(value.shape)}" + (f"; {hint}" if hint else ""))
    if not value.is_floating_point():
        raise AssertionError(f"{what}: expected a floating-point tensor, got {dtype_name(value)}")
    if dtype is not None and value.dtype != dtype:
        raise AssertionError(f"{what}: expected dtype {str(dtype).removeprefix('torch.')}, got {dtype_name(value)}")
    return value


def follows(got: torch.Tensor, candidates: dict[str, torch.Tensor], rtol: float, atol: float) -> list[str]:
    """The names of the candidates (known mistakes' values) that `got` agrees with."""
    return [
        name
        for name, want in candidates.items()
        if tuple(want.shape) == tuple(got.shape) and first_mismatch(got, want, rtol, atol) is None
    ]


def explain(matching: list[str], mistakes: dict[str, tuple[str, str]], subject: str = "it") -> str:
    """The hint for the mistakes the student's values follow (the first one's fix)."""
    if not matching:
        return ""
    what = " (or ".join(mistakes[m][0] for m in matching[:2]) + (")" if len(matching) > 1 else "")
    return f"{subject} matches {what}: {mistakes[matching[0]][1]}"


def where(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def assert_close(
    got: torch.Tensor,
    want: torch.Tensor,
    what: str,
    rtol: float,
    atol: float,
    mistakes: dict[str, tuple[str, str]] | None = None,
    wrong: Callable[[], dict[str, torch.Tensor]] | None = None,
    expected: str = "expected",
) -> None:
    """Fail at the first entry outside the tolerance, naming the known mistake (`wrong()`: their
    values on the same inputs) that the student's values follow."""
    bad = first_mismatch(got, want, rtol, atol)
    if bad is None:
        return
    index, g, w = bad
    hint = explain(follows(got, wrong(), rtol, atol), mistakes) if wrong is not None and mistakes else ""
    raise AssertionError(f"{what}: entry {where(index)} is {g:.7g}, {expected} {w:.7g}" + (f"; {hint}" if hint else ""))


def reply(value, what: str, keys: tuple[str, ...]) -> dict:
    """A driver's reply: a dict with `keys`."""
    value = mapping(value, f"{what}: the driver's reply")
    missing = [k for k in keys if k not in value]
    if missing:
        raise AssertionError(f"{what}: the driver's reply lacks {missing}")
    return value


def images(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def double(state: dict) -> dict:
    return {k: torch.as_tensor(v).double() for k, v in state.items()}


# -- 5.3: patches --------------------------------------------------------------------------------------

PATCH_MISTAKES = {
    "columns": (
        "the patches numbered column by column",
        "number them row by row, left to right then top to bottom: patch (r, s) of the grid is number r · (W / p) + s",
    ),
    "no_permute": (
        "a reshape of the images straight to (B, N, p·p·C), without moving the axes",
        "a patch's pixels are not next to each other in memory: view the images as (B, C, H / p, p, W / p, p), "
        "permute to (B, H / p, W / p, C, p, p), then flatten",
    ),
    "channels_last": (
        "each patch flattened row, column, then channel (channels last)",
        "flatten a patch channel first, then row, then column: entry c·p·p + i·p + j is pixel (c, i, j) of the patch",
    ),
    "transposed": (
        "each patch flattened column by column (entry c·p·p + j·p + i)",
        "within a channel, row i comes first, then column j: entry c·p·p + i·p + j is pixel (c, i, j) of the patch",
    ),
    "no_bias": ("the embedding without its bias", "E is a linear layer with a bias: patches @ W^T + b"),
}


def patches_as(x: torch.Tensor, p: int, mistake: str) -> torch.Tensor:
    """The patches as a known mistake cuts them (a key of PATCH_MISTAKES)."""
    B, C, H, W = x.shape
    if mistake == "no_permute":
        return x.reshape(B, (H // p) * (W // p), C * p * p)
    order = {"columns": (0, 4, 2, 1, 3, 5), "channels_last": (0, 2, 4, 3, 5, 1), "transposed": (0, 2, 4, 1, 5, 3)}
    return x.reshape(B, C, H // p, p, W // p, p).permute(order.get(mistake, (0, 2, 4, 1, 3, 5))).reshape(B, -1, C * p * p)


def patch_shapes(B: int, C: int, H: int, W: int, p: int) -> dict:
    n = (H // p) * (W // p)
    return {
        (B, C * p * p, n): "that is F.unfold's layout (B, p·p·C, N): transpose the last two axes",
        (B, C, n, p * p): "flatten each patch's channels too: one vector of p·p·C numbers per patch",
    }


def assert_patches(got, x: torch.Tensor, p: int, what: str) -> None:
    B, C, H, W = x.shape
    got = checked(got, what, (B, (H // p) * (W // p), C * p * p), x.dtype, patch_shapes(B, C, H, W, p))
    assert_close(
        got,
        model.patches(x, p),
        what,
        0.0,
        0.0,
        PATCH_MISTAKES,
        lambda: {m: patches_as(x, p, m) for m in ("columns", "no_permute", "channels_last", "transposed")},
    )


PATCH_CASES = [  # (B, C, H, W, p)
    (2, 1, 28, 28, 7),
    (2, 3, 8, 12, 4),
    (1, 3, 6, 6, 2),
    (3, 2, 9, 6, 3),
    (2, 1, 28, 28, 4),
]


def run_patchify(submission, vit, cases: list[tuple[int, ...]], seed: int, dtype: torch.dtype = torch.float32) -> None:
    xs = [images(c[:4], seed + i, dtype) for i, c in enumerate(cases)]
    outs = submission.batch([submission.pending_call(vit, "patchify", x, c[4]) for x, c in zip(xs, cases)])
    for x, c, out in zip(xs, cases, outs):
        assert_patches(out, x, c[4], f"patchify(images {tuple(x.shape)} {dtype_name(x)}, patch={c[4]})")


@pytest.mark.task("5.3")
def test_patchify_order(submission, vit):
    """Does patchify cut (B, C, H, W) images into (B, N, p·p·C) patches, row by row, each flattened channel, row, column (C = 1 to 3, H ≠ W included)?"""
    run_patchify(submission, vit, PATCH_CASES, 530)


@dataclass
class EmbedCase:
    B: int
    C: int
    H: int
    W: int
    p: int
    D: int
    seed: int
    x: torch.Tensor = field(init=False)
    state: dict = field(init=False)

    def __post_init__(self):
        self.x = images((self.B, self.C, self.H, self.W), self.seed)
        self.state = model.random_state({"proj.weight": (self.D, self.p * self.p * self.C), "proj.bias": (self.D,)}, self.seed)

    def __str__(self) -> str:
        return f"PatchEmbedding(patch={self.p}, in_channels={self.C}, dim={self.D}) on images {(self.B, self.C, self.H, self.W)}"

    def expected(self, mistake: str | None = None) -> torch.Tensor:
        s, x = double(self.state), self.x.double()
        if mistake == "no_bias":
            return F.linear(model.patches(x, self.p), s["proj.weight"])
        return model.linear(s, "proj", model.patches(x, self.p) if mistake is None else patches_as(x, self.p, mistake))

    def wrong(self) -> dict[str, torch.Tensor]:
        return {m: self.expected(m) for m in PATCH_MISTAKES}


def run_embedding(submission, cases: list[EmbedCase]) -> None:
    outs = submission.batch([submission.pending_driver("patch_embedding", c.p, c.C, c.D, c.state, c.x) for c in cases])
    for case, out in zip(cases, outs):
        out = reply(out, str(case), ("out", "proj"))
        n = (case.H // case.p) * (case.W // case.p)
        got = checked(
            out["out"],
            str(case),
            (case.B, n, case.D),
            shapes={
                (case.B, case.D, case.H // case.p, case.W // case.p): (
                    "that is a Conv2d's output (B, D, H / p, W / p): flatten the grid and put the tokens before the features"
                )
            },
        )
        assert_close(got, case.expected(), str(case), RTOL, ATOL, PATCH_MISTAKES, case.wrong)


EMBED_CASES = [EmbedCase(2, 1, 28, 28, 7, 16, 531), EmbedCase(2, 3, 8, 12, 4, 10, 532), EmbedCase(1, 2, 6, 9, 3, 5, 533)]


@pytest.mark.task("5.3")
def test_patch_embedding(submission):
    """Given proj's weight W (D, p·p·C) and bias b, does PatchEmbedding return patchify(images) @ W^T + b (C = 1 to 3, H ≠ W included)?"""
    run_embedding(submission, EMBED_CASES)


# -- 5.3: positions ------------------------------------------------------------------------------------

TABLE_MISTAKES = {
    "swapped": (
        "sin and cos swapped",
        "even columns 2i hold sin(pos / 10000^(2i/d)), odd columns 2i + 1 hold cos(pos / 10000^(2i/d))",
    ),
    "half_exponent": (
        "the exponent i/d instead of 2i/d",
        "columns 2i and 2i + 1 share the angle pos / 10000^(2i/d), i = 0 .. d/2 − 1 (2i is the even column's index)",
    ),
    "column_exponent": (
        "pos / 10000^(j/d) in every column j",
        "columns 2i and 2i + 1 share one angle, pos / 10000^(2i/d): the odd column uses its even neighbour's exponent",
    ),
    "from_one": ("positions counted from 1", "the first row is position 0: sin 0 = 0 in the even columns, cos 0 = 1 in the odd"),
    "halves": (
        "the sines in the first d/2 columns and the cosines in the last d/2",
        "interleave them: column 2i is the sine and column 2i + 1 the cosine of the same angle",
    ),
    "times": ("pos · 10000^(2i/d) instead of pos / 10000^(2i/d)", "the frequencies fall from 1 to about 1/10000: divide"),
}


def table_as(n: int, d: int, mistake: str) -> torch.Tensor:
    """The table as a known mistake (a key of TABLE_MISTAKES) computes it, float64 then float32."""
    pos = torch.arange(n, dtype=torch.float64)[:, None] + (1 if mistake == "from_one" else 0)
    col = torch.arange(d, dtype=torch.float64)
    exponent = {"half_exponent": (col // 2) / d, "column_exponent": col / d}.get(mistake, 2 * (col // 2) / d)
    angle = pos * 10000.0**exponent if mistake == "times" else pos / 10000.0**exponent
    even = (col % 2 == 0)[None]
    table = torch.where(even, angle.sin(), angle.cos()) if mistake != "swapped" else torch.where(even, angle.cos(), angle.sin())
    if mistake == "halves":
        half = pos / 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
        table = torch.cat([half.sin(), half.cos()], dim=1)
    return table.float()


def assert_table(got, n: int, d: int) -> None:
    what = f"sinusoidal_positions({n}, {d})"
    got = checked(got, what, (n, d), torch.float32, {(d, n): "rows are positions, columns the features: (n, d)"})
    assert_close(
        got,
        model.sinusoids(n, d),
        what,
        0.0,
        table_atol(n),
        TABLE_MISTAKES,
        lambda: {m: table_as(n, d, m) for m in TABLE_MISTAKES},
        expected="expected (Vaswani et al.'s formula)",
    )


def run_tables(submission, vit, sizes: list[tuple[int, int]]) -> None:
    outs = submission.batch([submission.pending_call(vit, "sinusoidal_positions", n, d) for n, d in sizes])
    for (n, d), out in zip(sizes, outs):
        assert_table(out, n, d)


@pytest.mark.task("5.3")
def test_sinusoidal_table(submission, vit):
    """Is sinusoidal_positions(n, d) the float32 table sin(pos / 10000^(2i/d)) in column 2i, cos in column 2i + 1, pos = 0 .. n − 1?"""
    run_tables(submission, vit, [(17, 64), (50, 96), (10, 6), (65, 32), (2, 2)])


# -- 5.4: the encoder block ----------------------------------------------------------------------------

BLOCK_MISTAKES = {
    "post_norm": (
        "a post-norm block, x ← LN(x + sublayer(x)), as in the original Transformer",
        "the handout's block is pre-norm: x ← x + MHA(LN₁(x)), then x ← x + MLP(LN₂(x)); the residual stream itself is "
        "never normalised",
    ),
    "normed_stream": (
        "a block that adds the attention to LN₁(x) instead of to x",
        "x ← x + MHA(LN₁(x)): the residual connection carries the block's input x itself, not its normalised copy",
    ),
    "relu": ("ReLU in the MLP", "the MLP is Linear, GELU, Linear (nn.GELU(), x Φ(x))"),
    "gelu_tanh": ("GELU's tanh approximation", "use the exact GELU, x Φ(x) (nn.GELU() or F.gelu without approximate)"),
    "no_mlp_residual": (
        "the MLP without its residual connection, x ← MLP(LN₂(x))",
        "add the MLP's output back to its input: x ← x + MLP(LN₂(x))",
    ),
    "no_attn_residual": (
        "the attention without its residual connection, x ← MHA(LN₁(x))",
        "add the attention's output back to its input: x ← x + MHA(LN₁(x))",
    ),
    "shared_norm": ("one LayerNorm, norm1, before both sublayers", "norm2 normalises the MLP's input: x ← x + MLP(LN₂(x))"),
    "unmasked": ("the attention without the mask and causal flag", "pass mask and causal on to the attention"),
    "no_causal": ("the attention without the causal flag", "pass causal on to the attention"),
}


def block_as(state: dict, prefix: str, heads: int, x, mask=None, causal=False, mistake: str | None = None):
    """The encoder block as a known mistake (a key of BLOCK_MISTAKES) computes it: (output, weights)."""
    if mistake in (None, "post_norm"):
        return model.block(state, prefix, heads, x, mask, causal, pre_norm=mistake is None)
    if mistake == "unmasked":
        return model.block(state, prefix, heads, x)
    h = model.layer_norm(state, f"{prefix}norm1", x)
    attended, weights = model.mha(state, f"{prefix}attn.", heads, h, mask=mask, causal=causal)
    x = {"normed_stream": h, "no_attn_residual": 0.0}.get(mistake, x) + attended
    h = model.layer_norm(state, f"{prefix}norm1" if mistake == "shared_norm" else f"{prefix}norm2", x)
    act = {"relu": F.relu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh")}.get(mistake, F.gelu)
    out = model.linear(state, f"{prefix}mlp.2", act(model.linear(state, f"{prefix}mlp.0", h)))
    return (out if mistake == "no_mlp_residual" else x + out), weights


@dataclass
class BlockCase:
    B: int
    T: int
    dim: int
    heads: int
    mlp_ratio: float
    seed: int
    causal: bool = False
    mask: torch.Tensor | None = None
    x: torch.Tensor = field(init=False)
    state: dict = field(init=False)

    def __post_init__(self):
        self.x = images((self.B, self.T, self.dim), self.seed)
        self.state = model.random_state(model.block_shapes(self.dim, self.mlp_ratio), self.seed)

    def __str__(self) -> str:
        mask = "" if self.mask is None else f", a {dtype_name(self.mask)} mask {tuple(self.mask.shape)}"
        return (
            f"EncoderBlock(dim={self.dim}, heads={self.heads}, mlp_ratio={self.mlp_ratio:g}) on x {(self.B, self.T, self.dim)}"
            f"{mask}{', causal' if self.causal else ''}"
        )

    def expected(self, mistake: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mask, causal = self.mask, self.causal
        if mistake == "no_causal":
            mistake, causal = None, False
        if mask is not None and causal:  # torch's attention takes one or the other: the causal mask folded in
            allowed = torch.ones(self.T, self.T, dtype=torch.bool).tril()
            mask = mask & allowed if mask.dtype == torch.bool else mask.masked_fill(~allowed, float("-inf"))
            causal = False
        if mask is not None and mask.is_floating_point():
            mask = mask.double()
        return block_as(double(self.state), "", self.heads, self.x.double(), mask, causal, mistake)

    def wrong(self) -> dict[str, torch.Tensor]:
        return {m: self.expected(m)[0] for m in BLOCK_MISTAKES}


def run_blocks(submission, cases: list[BlockCase]) -> None:
    outs = submission.batch(
        [submission.pending_driver("encoder_block", c.dim, c.heads, c.mlp_ratio, c.state, c.x, c.mask, c.causal) for c in cases]
    )
    for case, out in zip(cases, outs):
        out = reply(out, str(case), ("out", "weights", "tuple"))
        if out["tuple"] is not True:
            raise AssertionError(
                f"{case}: forward(x, need_weights=True) returned {type(out['out']).__name__} {short(out['out'])}, "
                "expected a pair (x, weights)"
            )
        want, want_w = case.expected()
        got = checked(out["out"], f"{case}: the output", tuple(want.shape))
        assert_close(got, want, f"{case}: the output", RTOL, ATOL, BLOCK_MISTAKES, case.wrong)
        weights = checked(
            out["weights"],
            f"{case}: the attention weights",
            tuple(want_w.shape),
            shapes={(case.B, case.T, case.T): "return every head's weights (B, heads, T, T), not their mean"},
        )
        assert_close(weights, want_w, f"{case}: the attention weights", RTOL, ATOL)


def bool_mask(L: int, S: int, seed: int) -> torch.Tensor:
    """A random bool mask (True = attend) in which every query keeps key 0 and about 2/3 of the rest."""
    mask = torch.rand(L, S, generator=torch.Generator().manual_seed(seed)) > 0.3
    mask[:, 0] = True
    return mask


BLOCK_CASES = [
    BlockCase(2, 5, 16, 4, 2.0, 540),
    BlockCase(2, 7, 12, 2, 4.0, 541, causal=True),
    BlockCase(3, 6, 16, 2, 2.0, 542, mask=bool_mask(6, 6, 542)),
]


@pytest.mark.task("5.4")
def test_encoder_block(submission):
    """Does EncoderBlock compute x + MHA(LN₁(x)), then + MLP(LN₂(x)) with GELU, and return (x, weights) with need_weights, with and without a mask or causal?"""
    run_blocks(submission, BLOCK_CASES)


# -- 5.4: the ViT ---------------------------------------------------------------------------------------

VIT_MISTAKES = {
    "no_cls": (
        "the class token put after the patches instead of before them",
        "z_0 = [x_class; x_1 E; ...; x_N E] + E_pos: the class token is token 0 (torch.cat([cls, patches], dim=1))",
    ),
    "pos_after": (
        "the position embeddings added after the blocks",
        "E_pos is added to the tokens before the first block: z_0 = [x_class; x_1 E; ...] + E_pos",
    ),
    "no_pos": ("no position embeddings", "z_0 = [x_class; x_1 E; ...; x_N E] + E_pos, with self.pos_embed"),
    "post_norm": BLOCK_MISTAKES["post_norm"],
    "normed_stream": BLOCK_MISTAKES["normed_stream"],
    "relu": BLOCK_MISTAKES["relu"],
    "gelu_tanh": BLOCK_MISTAKES["gelu_tanh"],
    "no_mlp_residual": BLOCK_MISTAKES["no_mlp_residual"],
    "no_attn_residual": BLOCK_MISTAKES["no_attn_residual"],
    "mean_head": (
        "the head on the mean of the tokens",
        "y = head(LN(z_L^0)): the head reads the class token's final state, token 0, alone",
    ),
    "last_token": ("the head on the last token", "y = head(LN(z_L^0)): the head reads token 0, the class token"),
    "no_final_norm": ("the head on the class token without the final LayerNorm", "y = head(LN(z_L^0)), LN being self.norm"),
}
MODEL_MISTAKES = ("no_cls", "pos_after", "post_norm", "mean_head")  # model.vit names these itself


def vit_as(state: dict, heads: int, x: torch.Tensor, patch: int, mistake: str | None = None, tokens=None):
    """The ViT's (logits, weights) as a known mistake (a key of VIT_MISTAKES) computes them; `tokens`:
    the patches' embeddings to start from (the student's own), else the handout's."""
    if tokens is None and (mistake is None or mistake in MODEL_MISTAKES):
        return model.vit(state, heads, x, patch, mistake=mistake)
    z = model.linear(state, "patch_embed.proj", model.patches(x, patch)) if tokens is None else tokens
    cls = state["cls_token"].expand(len(z), -1, -1)
    z = torch.cat([z, cls] if mistake == "no_cls" else [cls, z], dim=1)
    if mistake not in ("no_pos", "pos_after"):
        z = z + state["pos_embed"]
    weights = []
    for layer in range(model.depth_of(state)):
        z, w = block_as(state, f"blocks.{layer}.", heads, z, mistake=mistake if mistake in BLOCK_MISTAKES else None)
        weights.append(w)
    if mistake == "pos_after":
        z = z + state["pos_embed"]
    final = z if mistake == "no_final_norm" else model.layer_norm(state, "norm", z)
    token = final.mean(1) if mistake == "mean_head" else final[:, -1] if mistake == "last_token" else final[:, 0]
    return model.linear(state, "head", token), torch.stack(weights, dim=1)


@dataclass
class VitCase:
    config: dict
    B: int
    seed: int
    given: torch.Tensor | None = None  # the images, else random ones
    x: torch.Tensor = field(init=False)
    state: dict = field(init=False)
    own: torch.Tensor | None = None  # the student's PatchEmbedding's output, where it is not the handout's

    def __post_init__(self):
        c = self.config
        shape = (self.B, c.get("in_channels", 1), c["image_size"], c["image_size"])
        self.x = images(shape, self.seed) if self.given is None else self.given
        self.state = model.vit_state(c, self.seed)

    @property
    def tokens(self) -> int:
        return (self.config["image_size"] // self.config["patch"]) ** 2 + 1

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"ViT({args}) on {len(self.x)} images"

    def expected(self, mistake: str | None = None, own: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The handout's ViT (or a known mistake's) on the case; `own`: started from the student's
        own patch embeddings."""
        tokens = self.own if own else None
        return vit_as(double(self.state), self.config["heads"], self.x.double(), self.config["patch"], mistake, tokens)

    def wrong(self) -> dict[str, torch.Tensor]:
        return {m: self.expected(m, self.own is not None)[0] for m in VIT_MISTAKES}

    def embedding_state(self) -> dict:
        return {"proj.weight": self.state["patch_embed.proj.weight"], "proj.bias": self.state["patch_embed.proj.bias"]}


def vit_config(
    image_size=28, patch=7, in_channels=1, num_classes=10, dim=32, depth=2, heads=4, mlp_ratio=2.0, positions="learned"
) -> dict:
    return dict(
        image_size=image_size,
        patch=patch,
        in_channels=in_channels,
        num_classes=num_classes,
        dim=dim,
        depth=depth,
        heads=heads,
        mlp_ratio=mlp_ratio,
        positions=positions,
    )


def own_embeddings(submission, cases: list[VitCase]) -> None:
    """Where the student's PatchEmbedding (task 5.3) gives other embeddings than the handout's on a
    case's images and weights, keep them in `case.own`: the ViT is then also judged from them, so
    that a 5.3 mistake does not cost 5.4."""
    pending = []
    for c in cases:
        p, channels, dim = c.config["patch"], c.config["in_channels"], c.config["dim"]
        pending.append(submission.pending_driver("patch_embedding", p, channels, dim, c.embedding_state(), c.x))
    try:
        outs = submission.batch(pending)
    except StudentError:
        return
    for c, out in zip(cases, outs):
        e: Any = out.get("out") if isinstance(out, dict) else None
        shape = (len(c.x), c.tokens - 1, c.config["dim"])
        if type(e) is not torch.Tensor or tuple(e.shape) != shape or not e.is_floating_point():
            continue
        e = e.double()
        handout = model.linear(double(c.embedding_state()), "proj", model.patches(c.x.double(), c.config["patch"]))
        if bool(torch.isfinite(e).all()) and first_mismatch(e, handout, RTOL, ATOL) is not None:
            c.own = e


def assert_vit(case: VitCase, out) -> None:
    """The logits (with and without need_weights) and the weights against the handout's ViT, or,
    where the student's logits are not the handout's and their PatchEmbedding is not either, against
    the handout's ViT started from the student's patch embeddings."""
    out = reply(out, str(case), ("logits", "logits_w", "weights"))
    B, classes = len(case.x), case.config["num_classes"]
    got = checked(out["logits"], f"{case}: the logits", (B, classes))
    want, want_w = case.expected()
    expected = "expected"
    if case.own is not None and first_mismatch(got, want, RTOL, ATOL) is not None:
        want, want_w = case.expected(own=True)
        expected = "expected (from your PatchEmbedding's output, which task 5.3 judges)"
    else:
        case.own = None
    assert_close(got, want, f"{case}: the logits", RTOL, ATOL, VIT_MISTAKES, case.wrong, expected)
    if type(out["weights"]) is not torch.Tensor:
        raise AssertionError(
            f"{case}: forward(images, need_weights=True) returned {short(out['logits_w'])}, expected a pair (logits, weights)"
        )
    what = f"{case}: the logits of forward(images, need_weights=True)"
    logits_w = checked(out["logits_w"], what, (B, classes))
    assert_close(logits_w, want, what, RTOL, ATOL, VIT_MISTAKES, case.wrong, expected)
    depth, heads, T = case.config["depth"], case.config["heads"], case.tokens
    weights = checked(
        out["weights"],
        f"{case}: the attention weights",
        (B, depth, heads, T, T),
        shapes={
            (B, heads, depth, T, T): "stack the layers along axis 1: (B, depth, heads, N + 1, N + 1)",
            (depth, B, heads, T, T): "stack the layers along axis 1, after the batch: torch.stack(weights, dim=1)",
            (B, heads, T, T): "return every layer's weights, stacked: (B, depth, heads, N + 1, N + 1)",
        },
    )
    assert_close(weights, want_w, f"{case}: the attention weights", RTOL, ATOL, expected=expected)


def run_vits(submission, cases: list[VitCase]) -> None:
    outs = submission.batch([submission.pending_driver("vit_forward", c.config, c.state, c.x) for c in cases])
    own_embeddings(submission, cases)
    for case, out in zip(cases, outs):
        assert_vit(case, out)


@pytest.mark.task("5.4")
def test_vit_learned_positions(submission):
    """With learned positions, are the ViT's logits head(LN(z_L^0)) and its weights (B, depth, heads, N + 1, N + 1) right, for 7×7 and 4×4 patches, depth 1 to 3?"""
    cases = [
        VitCase(vit_config(patch=7, dim=32, depth=2, heads=4), 3, 550),
        VitCase(vit_config(patch=4, dim=16, depth=1, heads=2, num_classes=5), 2, 551),
        VitCase(vit_config(patch=14, dim=24, depth=3, heads=3, mlp_ratio=4.0), 2, 552),
    ]
    run_vits(submission, cases)


@pytest.mark.task("5.4")
def test_vit_sinusoidal_positions(submission):
    """With sinusoidal positions, 3-channel images and other widths, are the ViT's logits and weights right?"""
    cases = [
        VitCase(vit_config(image_size=12, patch=4, in_channels=3, dim=24, depth=2, heads=2, positions="sinusoidal"), 3, 553),
        VitCase(vit_config(patch=7, dim=16, depth=1, heads=4, num_classes=3, positions="sinusoidal"), 2, 554),
    ]
    run_vits(submission, cases)


# -- 5.6: attention maps --------------------------------------------------------------------------------

MAP_MISTAKES = {
    "column": (
        "column 0 of the weights: what the patches give the class token",
        "the map is row 0: what the class token gives each patch, weights[..., 0, 1:]",
    ),
    "with_cls": (
        "row 0 without its last entry instead of without its first",
        "drop column 0 (the class token's weight on itself): weights[..., 0, 1:]",
    ),
    "transposed": (
        "the grid transposed",
        "patch number r · (W / p) + s is row r, column s of the grid: reshape the last axis to (H / p, W / p)",
    ),
}


def maps_as(weights: torch.Tensor, grid: int, mistake: str | None = None) -> torch.Tensor:
    """The class token's maps (..., grid, grid) from weights (..., T, T), as a known mistake takes them."""
    row = {"column": weights[..., 1:, 0], "with_cls": weights[..., 0, :-1]}.get(mistake or "", weights[..., 0, 1:])
    maps = row.reshape(*row.shape[:-1], grid, grid)
    return maps.transpose(-1, -2) if mistake == "transposed" else maps


def assert_maps(submission, case: VitCase, seed: int) -> None:
    """attention_maps of a ViT(**case.config) whose forward gives weights chosen here (random rows
    of softmaxes, seeded by `seed`): the maps are read from those, so the test rests on neither the
    student's forward (task 5.4's business) nor anything the worker says the weights were."""
    B, depth, heads, T = len(case.x), case.config["depth"], case.config["heads"], case.tokens
    weights = random_weights((B, depth, heads, T, T), seed, scale=3.0)
    got = submission.driver("maps_of_weights", case.config, weights, case.x)
    grid = case.config["image_size"] // case.config["patch"]
    what = f"attention_maps of {case} whose forward(images, need_weights=True) gives weights {tuple(weights.shape)}"
    got = checked(
        got,
        what,
        (B, depth, heads, grid, grid),
        shapes={
            (B, depth, grid, grid): "keep the heads: one map per layer and head",
            (B, heads, grid, grid): "keep the layers: one map per layer and head",
            (B, depth, heads, grid * grid): "lay the patches out on the grid: (..., H / p, W / p)",
        },
    )
    assert_close(
        got,
        maps_as(weights.double(), grid),
        what,
        RTOL,
        ATOL,
        MAP_MISTAKES,
        lambda: {m: maps_as(weights.double(), grid, m) for m in MAP_MISTAKES},
        expected="expected (row 0 of those weights, without column 0)",
    )


@pytest.mark.task("5.6")
def test_attention_maps(submission):
    """Are attention_maps the class token's weights on the patches (row 0 of each layer's and head's weights, without column 0), laid out on the grid?"""
    assert_maps(submission, VitCase(vit_config(patch=7, dim=16, depth=2, heads=2), 2, 560), 560)


# -- 5.6: rollout ----------------------------------------------------------------------------------------

ROLL_MISTAKES = {
    "no_identity": (
        "a rollout without the identity for the residual connection, R = A_L ... A_1",
        "each layer adds its input back: Â_l = (A_l + I) with its rows renormalised",
    ),
    "reversed": (
        "the layers multiplied in the wrong order, R = Â_1 Â_2 ... Â_L",
        "later layers multiply on the left: R = Â_L ... Â_2 Â_1 (R ← Â_l R for l = 1, 2, ...)",
    ),
    "not_renormalised": (
        "A_l + I without renormalising its rows",
        "divide each row of A_l + I by its sum (2 when the rows of A_l sum to 1), so that every row of R sums to 1",
    ),
    "columns_normalised": (
        "A_l + I normalised by its column sums",
        "renormalise the rows: Â_l = (A_l + I) / (A_l + I).sum(-1, keepdim=True)",
    ),
    "max_heads": ("the maximum over the heads instead of the mean", "A_l is the mean of layer l's weights over the heads"),
    "sum_heads": ("the sum over the heads instead of the mean", "A_l is the mean of layer l's weights over the heads"),
    "last_layer": ("the last layer's Â alone", "multiply every layer's Â: R = Â_L ... Â_2 Â_1"),
}


def rollout_as(weights: torch.Tensor, mistake: str) -> torch.Tensor:
    """The rollout of (..., depth, heads, T, T) as a known mistake (a key of ROLL_MISTAKES) computes it, in float64."""
    w = weights.double()
    a = {"max_heads": w.amax(-3), "sum_heads": w.sum(-3)}.get(mistake, w.mean(-3))
    eye = torch.eye(a.shape[-1], dtype=a.dtype)
    if mistake != "no_identity":
        a = a + eye
        if mistake == "columns_normalised":
            a = a / a.sum(-2, keepdim=True)
        elif mistake != "not_renormalised":
            a = a / a.sum(-1, keepdim=True)
    layers = list(a.unbind(-3))
    if mistake == "last_layer":
        return layers[-1]
    r = eye.expand_as(layers[0])
    for layer in layers:
        r = r @ layer if mistake == "reversed" else layer @ r
    return r


def rollout_tolerance(weights: torch.Tensor) -> tuple[float, float]:
    return (ROLL64, ROLL64) if weights.dtype == torch.float64 else (ROLL_RTOL, ROLL_ATOL)


def assert_rollout(got, weights: torch.Tensor, what: str, want: torch.Tensor | None = None, why: str = "") -> None:
    """`got` against model.rollout (or `want`, a known answer), naming a known mistake."""
    shape = (*weights.shape[:-4], *weights.shape[-2:])
    got = checked(
        got,
        what,
        shape,
        torch.float64 if weights.dtype == torch.float64 else None,
        {tuple(weights.shape[:-3]) + tuple(weights.shape[-2:]): "multiply the layers together: R is one (T, T) matrix"},
    )
    rtol, atol = rollout_tolerance(weights)
    want = model.rollout(weights) if want is None else want
    if first_mismatch(got, want, rtol, atol) is None:
        return
    mistakes = lambda: {m: rollout_as(weights, m) for m in ROLL_MISTAKES}  # noqa: E731
    sums = got.double().sum(-1)
    bad = first_mismatch(sums, torch.ones_like(sums), rtol, atol)
    if bad is not None:
        index, s, _ = bad
        hint = explain(follows(got, mistakes(), rtol, atol), ROLL_MISTAKES)
        raise AssertionError(f"{what}: row {where(index)} of R sums to {s:.7g}, expected 1" + (f"; {hint}" if hint else ""))
    assert_close(got, want, what, rtol, atol, ROLL_MISTAKES, mistakes, expected=f"expected{why}")


def random_weights(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float32, scale: float = 2.0) -> torch.Tensor:
    """Attention weights of `shape` (..., depth, heads, T, T): rows of softmaxes of random scores."""
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(shape, generator=g, dtype=torch.float64) * scale, dim=-1).to(dtype)


def run_rollouts(submission, vit, cases: list[tuple[torch.Tensor, str, torch.Tensor | None, str]]) -> None:
    """Each case: (weights, its description, the known answer or None for model.rollout's, why that answer)."""
    outs = submission.batch([submission.pending_call(vit, "attention_rollout", w) for w, *_ in cases])
    for (w, name, want, why), out in zip(cases, outs):
        assert_rollout(out, w, f"attention_rollout({name})", want, why)


def describe(w: torch.Tensor, name: str = "") -> str:
    return (name + " " if name else "") + f"weights {tuple(w.shape)} {dtype_name(w)}"


@pytest.mark.task("5.6")
def test_rollout_matches_the_recurrence(vit, submission):
    """Is attention_rollout R = Â_L ... Â_1, Â_l = (mean over heads + I) with rows renormalised, on random weights of 1 to 4 layers, with leading batch axes and in float64?"""
    shapes = [(2, 3, 4, 17, 17), (1, 1, 2, 5, 5), (2, 2, 4, 2, 6, 6), (3, 2, 3, 10, 10)]
    cases = [(w, describe(w), None, "") for w in (random_weights(s, 561 + i) for i, s in enumerate(shapes))]
    w = random_weights((2, 3, 2, 9, 9), 565, torch.float64)
    cases.append((w, describe(w), None, ""))
    run_rollouts(submission, vit, cases)


def one_hot_columns(depth: int, heads: int, T: int, columns: list[int]) -> torch.Tensor:
    """Weights (1, depth, heads, T, T) in which every query of layer l attends to token columns[l] only."""
    w = torch.zeros(1, depth, heads, T, T)
    for layer, c in enumerate(columns):
        w[0, layer, :, :, c] = 1.0
    return w


def to_token_zero(depth: int, T: int) -> torch.Tensor:
    """The closed form when every token attends to token 0 alone in every layer: Â = (1 e_0^T + I) / 2,
    so row 0 of R is e_0 and row i > 0 is (1 − 2^−L) e_0 + 2^−L e_i after L layers."""
    r = torch.eye(T) * 2.0**-depth
    r[:, 0] += 1 - 2.0**-depth
    r[0, 0] = 1.0
    return r[None]


def order_case(T: int) -> torch.Tensor:
    """The closed form of R = Â_1 Â_0 with every token attending to token 0 in layer 0 and to token 1
    in layer 1: (2 · 1 e_0^T + 1 e_1^T + I) / 4, so row 0 is (3/4, 1/4, 0, ...), row 1 (1/2, 1/2, 0, ...)
    and row i ≥ 2 has 1/2 at 0, 1/4 at 1 and 1/4 at i. The other order, Â_0 Â_1, gives 1/4 at 0 and 1/2 at 1."""
    r = torch.eye(T) / 4
    r[:, 0] += 0.5
    r[:, 1] += 0.25
    return r[None]


@pytest.mark.task("5.6")
def test_rollout_known_answers(vit, submission):
    """Does attention_rollout give the closed forms: the identity for identity weights; (1 − 2^−L) e_0 + 2^−L e_i in row i when every token attends to token 0 (L = 1, 2); (2·1e_0ᵀ + 1e_1ᵀ + I)/4 when layer 0 attends to token 0 and layer 1 to token 1?"""
    T = 5
    identity = torch.eye(T).expand(1, 3, 2, T, T).clone()
    cases = [
        (
            identity,
            describe(identity, "identity"),
            torch.eye(T)[None],
            " (attending to itself alone, each token keeps itself: R = I)",
        ),
        (
            one_hot_columns(1, 2, T, [0]),
            "every token attending to token 0, one layer",
            to_token_zero(1, T),
            " (Â = (1 e_0ᵀ + I) / 2: row i > 0 is (e_0 + e_i) / 2)",
        ),
        (
            one_hot_columns(2, 2, T, [0, 0]),
            "every token attending to token 0, two layers",
            to_token_zero(2, T),
            " (R = Â²: row i > 0 is 3/4 e_0 + 1/4 e_i)",
        ),
        (
            one_hot_columns(2, 3, T, [0, 1]),
            "layer 0 attending to token 0, layer 1 to token 1",
            order_case(T),
            " (R = Â_1 Â_0 = (2·1e_0ᵀ + 1e_1ᵀ + I) / 4)",
        ),
    ]
    run_rollouts(submission, vit, cases)
