"""hw5, part 1: attention from scratch (Vaswani et al. 2017, section 3.2).

Scaled dot-product attention of queries q (..., L, d_k) over keys k (..., S, d_k) and values
v (..., S, d_v):

    scores  = q k^T / sqrt(d_k)                       (..., L, S)
    weights = softmax(scores + mask) over the last axis (the keys): each row sums to 1
    output  = weights v                               (..., L, d_v)

The leading axes (batch, heads, ...) broadcast against each other as in torch.matmul.
Why 1/sqrt(d_k): with q and k of independent unit-variance entries, q . k is a sum of d_k terms of
variance 1, so its variance is d_k; dividing by sqrt(d_k) keeps the scores at unit variance
whatever the width, and the softmax out of its flat, vanishing-gradient ends.

Masks. `mask` broadcasts to (..., L, S) and is either
    bool:   True = query i may attend to key j, False = it may not (its weight is exactly 0);
    float:  added to the scores before the softmax: 0 keeps a key, -inf removes it
            (torch.nn.functional.scaled_dot_product_attention's convention for both kinds).
`causal=True` lets query i attend only to keys j <= i (the lower triangle, diagonal included,
aligned at the top left as torch's is_causal: query 0 sees key 0 only); it combines with `mask`
(a key must be allowed by both). A query row whose keys are all removed has no distribution to
take: its weights and its output are zeros, as torch.nn.functional.scaled_dot_product_attention
returns in this course's torch, with zero gradients.

Multi-head attention (section 3.2.2) projects the inputs, splits the width E into h heads of
E / h, attends in every head at once and merges them back:

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,   head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

as torch.nn.MultiheadAttention(E, h, batch_first=True), whose weights MultiHeadAttention.load_from
copies. The same module serves a Vision Transformer (no mask) and a character-level language model
(causal=True).
Write the attention yourself: torch.nn.functional.scaled_dot_product_attention,
torch.nn.functional.multi_head_attention_forward, torch.nn.MultiheadAttention (inside your module)
and torch.softmax / torch.nn.functional.softmax may not be used here.
Invalid input raises ValueError with a message saying what is wrong.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Size:
    """The shape of the scores, (..., L, S), or ValueError unless q (..., L, d_k), k (..., S, d_k)
    and v (..., S, d_v) are floating-point tensors of one dtype with broadcastable leading axes."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() < 2:
            raise ValueError(f"{name} must be a floating-point tensor of at least 2 dimensions (..., length, features)")
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(f"q, k and v must have one dtype, got {q.dtype}, {k.dtype} and {v.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same feature size d_k, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length S, got {k.shape[-2]} and {v.shape[-2]}")
    try:
        lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the leading axes of q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} do not broadcast"
        ) from None
    return torch.Size((*lead, q.shape[-2], k.shape[-2]))


def check_mask(mask: torch.Tensor | None, scores: torch.Size) -> None:
    """ValueError unless `mask` is None, or a bool or floating-point tensor that broadcasts to the
    scores' shape (..., L, S) without enlarging it."""
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor) or not (mask.dtype == torch.bool or mask.is_floating_point()):
        raise ValueError("mask must be a bool tensor (True = attend) or a floating-point tensor added to the scores")
    try:
        shape = torch.broadcast_shapes(mask.shape, scores)
    except RuntimeError:
        shape = None
    if shape != scores:
        raise ValueError(f"a mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape {tuple(scores)}")


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Task 5.1. Attention(q, k, v) = softmax(q k^T / sqrt(d_k) + mask) v, and the weights.

    q (..., L, d_k), k (..., S, d_k), v (..., S, d_v); `mask` and `causal` as in the module
    docstring. Returns (output (..., L, d_v), weights (..., L, S)), the leading axes broadcast.
    The softmax is the stable one: with m the largest score of a row,

        softmax(s)_j = exp(s_j - m) / sum_j' exp(s_j' - m),

    equal to exp(s_j) / sum exp(s_j') but with every exponent <= 0, so no exp overflows (exp(89)
    is already inf in float32) and the largest term is exactly 1, so the sum is never 0 for a row
    with a key left. A row with no key left (all scores -inf) gets weights 0 and output 0.
    Equals torch.nn.functional.scaled_dot_product_attention (with attn_mask=mask, is_causal=causal)
    to round-off, forward and backward.
    """
    scores_shape = check_qkv(q, k, v)
    check_mask(mask, scores_shape)
    # HINT: scores (..., L, S) = q @ k.transpose(-2, -1) / sqrt(d_k); the softmax runs over the last axis (the keys).
    # HINT: a bool mask: scores.masked_fill(~mask, -inf); a float mask: scores + mask; causal: torch.tril of ones (L, S).
    # HINT: subtract the row's max (detached: the softmax does not change), treating a row whose max is -inf as max 0;
    # HINT: divide by the row sum only where it is > 0, so an empty row is 0 and not 0/0 = nan.
    raise NotImplementedError("Task 5.1: scaled_dot_product_attention is not implemented yet")


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Task 5.2. (..., L, E) -> (..., h, L, E / h): head i holds features i*E/h to (i+1)*E/h - 1.

    A reshape of the last axis to (h, E / h) and a transpose of the length and head axes (a
    reshape straight to (..., h, L, E / h) would mix positions across heads). No copy, no loop.
    """
    if x.shape[-1] % num_heads:
        raise ValueError(f"the width {x.shape[-1]} is not divisible by {num_heads} heads")
    # HINT: x.reshape(*x.shape[:-1], h, E // h) is (..., L, h, E/h); then .transpose(-3, -2).
    raise NotImplementedError("Task 5.2: split_heads is not implemented yet")


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Task 5.2. The inverse of split_heads: (..., h, L, E / h) -> (..., L, E), the heads
    concatenated along the features in order (Concat(head_1, ..., head_h))."""
    # HINT: transpose back to (..., L, h, E/h), then flatten the last two axes.
    raise NotImplementedError("Task 5.2: merge_heads is not implemented yet")


class MultiHeadAttention(nn.Module):
    """Task 5.2. Multi-head attention of width E = embed_dim with h = num_heads heads of E / h.

    q_proj, k_proj, v_proj (E -> E) make Q W^Q, K W^K, V W^V for all heads at once; the heads are
    split by split_heads, attend in one call of scaled_dot_product_attention (the heads are a
    leading axis), are merged by merge_heads and projected by out_proj (E -> E). Inputs are batch
    first, (B, L, E) (or unbatched (L, E)), as nn.MultiheadAttention(E, h, batch_first=True).
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} must be a positive multiple of num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        kw = dict(bias=bias, device=device, dtype=dtype)
        self.q_proj = nn.Linear(embed_dim, embed_dim, **kw)
        self.k_proj = nn.Linear(embed_dim, embed_dim, **kw)
        self.v_proj = nn.Linear(embed_dim, embed_dim, **kw)
        self.out_proj = nn.Linear(embed_dim, embed_dim, **kw)

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """A new MultiHeadAttention holding copies of `mha`'s weights (see load_from)."""
        p = mha.out_proj.weight
        new = cls(mha.embed_dim, mha.num_heads, bias=mha.in_proj_bias is not None, device=p.device, dtype=p.dtype)
        return new.load_from(mha)

    def load_from(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Task 5.2. Copy `mha`'s weights into this module, in place; returns self.

        nn.MultiheadAttention packs the three input projections in one in_proj_weight (3E, E),
        rows 0..E-1 for the queries, E..2E-1 for the keys and 2E..3E-1 for the values (and
        in_proj_bias (3E,) the same way); out_proj is an nn.Linear(E, E). Afterwards
        self(q, k, v) equals mha(q, k, v) (batch_first=True) to round-off.
        Raises ValueError unless mha has this width, these heads, the same bias setting, one
        packed in-projection (kdim = vdim = embed_dim) and no bias_k / bias_v.
        """
        if not isinstance(mha, nn.MultiheadAttention):
            raise ValueError(f"expected an nn.MultiheadAttention, got {type(mha).__name__}")
        if (mha.embed_dim, mha.num_heads) != (self.embed_dim, self.num_heads):
            raise ValueError(
                f"width and heads differ: ({mha.embed_dim}, {mha.num_heads}) into ({self.embed_dim}, {self.num_heads})"
            )
        if mha.in_proj_weight is None or mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("only a packed in-projection (kdim = vdim = embed_dim) without bias_k, bias_v or zero attention")
        if (mha.in_proj_bias is not None) != (self.q_proj.bias is not None):
            raise ValueError("one module has biases and the other has not")
        # HINT: in_proj_weight.chunk(3) gives (W_q, W_k, W_v) in that order; copy under torch.no_grad() with .copy_.
        raise NotImplementedError("Task 5.2: load_from is not implemented yet")

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Task 5.2. (output (B, L, E), weights (B, h, L, S) per head, or None unless need_weights).

        query (B, L, E), key and value (B, S, E); key and value default to query (self-attention).
        `mask` broadcasts to (B, h, L, S): (L, S) for all, (B, 1, L, S) per example, (B, 1, 1, S)
        to hide padded keys; bool True = attend, or float added (the module docstring). Note that
        nn.MultiheadAttention's bool attn_mask means the opposite (True = not allowed). The
        weights are those of every head, as nn.MultiheadAttention(..., average_attn_weights=False);
        their mean over the heads is its default.
        """
        key = query if key is None else key
        value = key if value is None else value
        if query.dim() not in (2, 3) or query.shape[-1] != self.embed_dim:
            raise ValueError(f"query must have shape (B, L, {self.embed_dim}) or (L, {self.embed_dim}), got {tuple(query.shape)}")
        if key.shape != value.shape or key.shape[-1] != self.embed_dim or key.dim() != query.dim():
            raise ValueError(
                f"key and value must both have shape (B, S, {self.embed_dim}), got {tuple(key.shape)} and {tuple(value.shape)}"
            )
        # HINT: project, split_heads each of q, k, v, one scaled_dot_product_attention call, merge_heads, out_proj.
        raise NotImplementedError("Task 5.2: forward is not implemented yet")
