"""hw5 variants of attention.py (tasks 5.1 and 5.2), for `course audit hw5`: realistic mistakes, one each,
and other correct formulations.

The multi-head forward calls the student's scaled_dot_product_attention; task 5.2's forward tests accept a
module that is right given its own attention (they compose that attention with projections made on the
grading side), so a 5.1 mistake costs 5.1 there, not 5.2. Later tasks run the student's attention through
the encoder block and the ViT, and each variant's `loses` is what it was measured to lose over the whole
suite:
- 5.4 (the encoder block and the ViT against the course's own forward): every mistake that changes the
  attention's output on the inputs of those tests, masks and causal included (a bool mask read the wrong
  way, the mask after the softmax, a causal mask off by the diagonal); not the bottom-right alignment
  (L = S there), the missing max (no large scores), empty rows, load_from, the value input or the loop;
- not 5.5: its training test trains the course's ViT when the student's forward is not the handout's;
- not 5.6: its map tests give attention_maps a ViT whose forward returns weights of the graders' choosing.
"""

from grader.audit import Variant

SCORES = "    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
CAUSAL = "        allowed = torch.ones(L, S, dtype=torch.bool, device=scores.device).tril()\n"
ROW_MAX = "    m = scores.detach().amax(dim=-1, keepdim=True)\n"
ROW_MAX_FIX = "    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))\n"
SOFTMAX = (
    ROW_MAX
    + ROW_MAX_FIX
    + "    e = torch.exp(scores - m)\n"
    + "    total = e.sum(dim=-1, keepdim=True)\n"
    + "    weights = e / torch.where(total > 0, total, torch.ones_like(total))\n"
)
MASKING = (
    "    if mask is not None:\n"
    "        if mask.dtype == torch.bool:\n"
    '            scores = scores.masked_fill(~mask, float("-inf"))\n'
    "        else:\n"
    "            scores = scores + mask.to(scores.dtype)\n"
    "    if causal:\n"
    "        L, S = scores.shape[-2:]\n" + CAUSAL + '        scores = scores.masked_fill(~allowed, float("-inf"))\n'
)
SPLIT = "    return x.reshape(*x.shape[:-1], num_heads, x.shape[-1] // num_heads).transpose(-3, -2)\n"
MERGE = "    return x.transpose(-3, -2).flatten(-2)\n"
ATTEND = "        out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)\n"
RETURN = "        return self.out_proj(merge_heads(out)), (weights if need_weights else None)\n"
IN_PROJ = "            for layer, w, b in zip((self.q_proj, self.k_proj, self.v_proj), weights, biases):\n"

WRONG = [
    # 5.1 scaled_dot_product_attention
    Variant(
        "no_scaling",
        "attention.py",
        SCORES,
        "    scores = q @ k.transpose(-2, -1)\n",
        ("5.1", "5.4"),
        says="scores not scaled by 1/√d_k",
    ),
    Variant(
        "scaled_by_d_k",
        "attention.py",
        SCORES,
        "    scores = q @ k.transpose(-2, -1) / q.shape[-1]\n",
        ("5.1", "5.4"),
        says="divided by d_k instead of √d_k",
    ),
    Variant(
        "softmax_over_the_queries",
        "attention.py",
        ROW_MAX,
        "    m = scores.detach().amax(dim=-2, keepdim=True)\n",
        ("5.1", "5.4"),
        says="a softmax over the queries",
        also=(("attention.py", "    total = e.sum(dim=-1, keepdim=True)\n", "    total = e.sum(dim=-2, keepdim=True)\n"),),
    ),
    Variant(
        "mask_after_softmax",
        "attention.py",
        MASKING + SOFTMAX,
        "    keep = None\n"
        "    if mask is not None:\n"
        "        if mask.dtype == torch.bool:\n"
        "            keep = mask\n"
        "        else:\n"
        "            scores = scores + mask.to(scores.dtype)\n"
        "    if causal:\n"
        "        L, S = scores.shape[-2:]\n"
        + CAUSAL
        + "        keep = allowed if keep is None else keep & allowed\n"
        + SOFTMAX
        + "    if keep is not None:\n"
        "        weights = weights.masked_fill(~keep, 0.0)\n",
        ("5.1", "5.4"),
        says="the mask applied after the softmax",
    ),
    Variant(
        "causal_without_diagonal",
        "attention.py",
        CAUSAL,
        CAUSAL.replace(".tril()", ".tril(-1)"),
        ("5.1", "5.4"),
        says="a causal mask without its diagonal",
    ),
    Variant(
        "causal_upper_triangle",
        "attention.py",
        CAUSAL,
        CAUSAL.replace(".tril()", ".triu()"),
        ("5.1", "5.4"),
        says="a causal mask of the upper triangle",
    ),
    Variant(
        "causal_aligned_bottom_right",
        "attention.py",
        CAUSAL,
        CAUSAL.replace(".tril()", ".tril(S - L)"),
        ("5.1",),
        says="a causal mask aligned at the bottom right",
    ),
    Variant(
        "no_max_subtracted",
        "attention.py",
        ROW_MAX + ROW_MAX_FIX + "    e = torch.exp(scores - m)\n",
        "    e = torch.exp(scores)\n",
        ("5.1",),
        says="subtract each row's max score before exp",
    ),
    Variant(
        "bool_mask_inverted",
        "attention.py",
        '            scores = scores.masked_fill(~mask, float("-inf"))\n',
        '            scores = scores.masked_fill(mask, float("-inf"))\n',
        ("5.1", "5.4"),
        says="a bool mask read the wrong way round",
    ),
    Variant(
        "fully_masked_rows_nan",
        "attention.py",
        ROW_MAX_FIX,
        "",
        ("5.1",),
        says="a query whose keys are all removed gave nan",
        also=(
            (
                "attention.py",
                "    weights = e / torch.where(total > 0, total, torch.ones_like(total))\n",
                "    weights = e / total\n",
            ),
        ),
    ),
    Variant(
        "fully_masked_rows_nan_to_num",
        "attention.py",
        ROW_MAX_FIX,
        "",
        ("5.1",),
        says="nan_to_num or masked_fill after the softmax hides the nan",
        also=(
            (
                "attention.py",
                "    weights = e / torch.where(total > 0, total, torch.ones_like(total))\n",
                "    weights = torch.nan_to_num(e / total)\n",
            ),
        ),
    ),
    # 5.2 split_heads, merge_heads
    Variant(
        "split_heads_without_transpose",
        "attention.py",
        SPLIT,
        "    return x.reshape(*x.shape[:-2], num_heads, x.shape[-2], x.shape[-1] // num_heads)\n",
        ("5.2", "5.4"),
        says="without the transpose",
    ),
    Variant(
        "merge_heads_interleaved",
        "attention.py",
        MERGE,
        "    return x.permute(*range(x.dim() - 3), -2, -1, -3).flatten(-2)\n",
        ("5.2", "5.4"),
        says="the heads' features interleaved",
    ),
    Variant(
        "merge_heads_without_transpose",
        "attention.py",
        MERGE,
        "    return x.reshape(*x.shape[:-3], x.shape[-2], -1)\n",
        ("5.2", "5.4"),
        says="without transposing back",
    ),
    # 5.2 load_from
    Variant(
        "in_proj_rows_in_wrong_order",
        "attention.py",
        IN_PROJ,
        IN_PROJ.replace("(self.q_proj, self.k_proj, self.v_proj)", "(self.k_proj, self.q_proj, self.v_proj)"),
        ("5.2",),
        says="the in-projection rows were taken in the wrong q, k, v order",
    ),
    Variant(
        "in_proj_biases_not_copied",
        "attention.py",
        "                if b is not None:\n                    layer.bias.copy_(b)\n",
        "",
        ("5.2",),
        says="the biases were not copied",
    ),
    Variant(
        "out_proj_not_copied",
        "attention.py",
        "            self.out_proj.weight.copy_(mha.out_proj.weight)\n"
        "            if self.out_proj.bias is not None:\n"
        "                self.out_proj.bias.copy_(mha.out_proj.bias)\n",
        "",
        ("5.2",),
        says="out_proj was not copied",
    ),
    # 5.2 forward
    Variant(
        "out_proj_not_applied",
        "attention.py",
        RETURN,
        RETURN.replace("self.out_proj(merge_heads(out))", "merge_heads(out)"),
        ("5.2", "5.4"),
        says="the merged heads without out_proj",
    ),
    Variant(
        "values_from_the_key",
        "attention.py",
        "        v = split_heads(self.v_proj(value), self.num_heads)\n",
        "        v = split_heads(self.v_proj(key), self.num_heads)\n",
        ("5.2",),
        says="the values projected from the key input",
    ),
    Variant(
        "bool_mask_inverted_for_torch",
        "attention.py",
        ATTEND,
        "        if mask is not None and mask.dtype == torch.bool:\n            mask = ~mask\n" + ATTEND,
        ("5.2", "5.4"),
        says="nn.MultiheadAttention's attn_mask convention",
    ),
    Variant(
        "weights_averaged_over_heads",
        "attention.py",
        RETURN,
        RETURN.replace("(weights if need_weights else None)", "(weights.mean(-3) if need_weights else None)"),
        ("5.2", "5.4"),
        says="not their mean over the heads",
    ),
    Variant(
        "loop_over_heads",
        "attention.py",
        ATTEND,
        "        shape = (*q.shape[:-2], q.shape[-2], k.shape[-2])\n"
        "        parts = [\n"
        "            scaled_dot_product_attention(\n"
        "                q[..., i, :, :], k[..., i, :, :], v[..., i, :, :],\n"
        "                mask=None if mask is None else mask.expand(shape)[..., i, :, :], causal=causal,\n"
        "            )\n"
        "            for i in range(self.num_heads)\n"
        "        ]\n"
        "        out = torch.stack([p[0] for p in parts], dim=-3)\n"
        "        weights = torch.stack([p[1] for p in parts], dim=-3)\n",
        ("5.2",),
        says="no Python loop over the heads",
    ),
]

CORRECT = [
    Variant(
        "einsum",
        "attention.py",
        SCORES,
        '    scores = torch.einsum("...ld,...sd->...ls", q, k) / math.sqrt(q.shape[-1])\n',
        also=(
            (
                "attention.py",
                "    return weights @ v, weights\n",
                '    return torch.einsum("...ls,...sd->...ld", weights, v), weights\n',
            ),
        ),
    ),
    Variant(
        "queries_scaled_first_masks_by_where",
        "attention.py",
        MASKING,
        "    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)\n"
        "    if mask is not None:\n"
        "        if mask.dtype == torch.bool:\n"
        '            scores = torch.where(mask, scores, float("-inf"))\n'
        "        else:\n"
        "            scores = scores + mask\n"
        "    if causal:\n"
        "        L, S = scores.shape[-2:]\n"
        "        future = torch.ones(L, S, dtype=torch.bool, device=scores.device).triu(diagonal=1)\n"
        '        scores = scores.masked_fill(future, float("-inf"))\n',
        also=(("attention.py", SCORES, ""),),
    ),
    Variant(
        "softmax_by_logsumexp",
        "attention.py",
        SOFTMAX,
        "    empty = torch.isneginf(scores).all(dim=-1, keepdim=True)\n"
        "    z = torch.logsumexp(scores.masked_fill(empty, 0.0), dim=-1, keepdim=True)\n"
        "    weights = torch.exp(scores - z).masked_fill(empty, 0.0)\n",
    ),
    Variant(
        "heads_by_unflatten_and_movedim",
        "attention.py",
        SPLIT,
        "    return x.unflatten(-1, (num_heads, -1)).movedim(-2, -3)\n",
        also=(("attention.py", MERGE, "    return x.movedim(-3, -2).reshape(*x.shape[:-3], x.shape[-2], -1)\n"),),
    ),
    Variant(
        "load_from_by_split_and_state_dict",
        "attention.py",
        "            weights = mha.in_proj_weight.chunk(3)\n",
        "            weights = torch.split(mha.in_proj_weight, self.embed_dim)\n",
    ),
]
