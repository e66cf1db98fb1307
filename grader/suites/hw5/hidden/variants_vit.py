"""hw5 variants of vit.py for tasks 5.3 (patches and positions), 5.4 (the encoder block and the ViT) and
5.6 (attention maps and rollout), for `course audit hw5`: realistic mistakes, one each, and other
correct formulations.

The 5.4 tests judge the ViT from the student's own patch embeddings where those are not the
handout's, and the 5.6 map tests give the student's attention_maps a ViT whose forward returns
weights of the graders' choosing, so a 5.3 mistake costs 5.4 only where it breaks the ViT outright
(a patchify of the wrong shape), and 5.6 only where it breaks the ViT's construction.
Task 5.5 trains the student's ViT only when its forward is the handout's, and the course's own
otherwise, so none of these costs 5.5. Each `loses` is what the
variant was measured to lose across every task (reference elsewhere, task 5.5's seed)."""

from grader.audit import Variant

UNFOLD = "    return F.unfold(images, kernel_size=patch, stride=patch).transpose(1, 2)\n"
EVEN_ODD = "    table[:, 0::2] = torch.sin(pos * freq)\n    table[:, 1::2] = torch.cos(pos * freq)\n"
FREQ = "    freq = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)\n"
POS = "    pos = torch.arange(n, dtype=torch.float64)[:, None]\n"
TOKENS = "        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed\n"
HEAD = "        logits = self.head(self.norm(x)[:, 0])\n"
MLP_RESIDUAL = "        x = x + self.mlp(self.norm2(x))\n"
ATTN_RESIDUAL = "        x = x + attended\n"
MAPS_ROW = "    weights = attention_weights(model, images, device)[..., 0, 1:]\n"
MAPS_GRID = "    return weights.reshape(*weights.shape[:-1], model.grid, model.grid)\n"
ROLL_MEAN = "    a = weights.mean(dim=-3)\n"
ROLL_EYE = "    a = a + torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)\n"
ROLL_NORM = "    a = a / a.sum(dim=-1, keepdim=True)\n"
ROLL_LOOP = (
    "    rollout = a[..., 0, :, :]\n"
    "    for layer in range(1, a.shape[-3]):\n"
    "        rollout = a[..., layer, :, :] @ rollout\n"
    "    return rollout\n"
)

WRONG = [
    # 5.3 patchify
    Variant(
        "patches_numbered_by_column",
        "vit.py",
        UNFOLD,
        "    B, C, H, W = images.shape\n"
        "    x = images.reshape(B, C, H // patch, patch, W // patch, patch).permute(0, 4, 2, 1, 3, 5)\n"
        "    return x.reshape(B, -1, C * patch * patch)\n",
        ("5.3",),
        says="column by column",
    ),
    Variant(
        "patches_reshaped_without_permute",
        "vit.py",
        UNFOLD,
        "    B, C, H, W = images.shape\n    return images.reshape(B, (H // patch) * (W // patch), C * patch * patch)\n",
        ("5.3",),
        says="without moving the axes",
    ),
    Variant(
        "patches_channels_last",
        "vit.py",
        UNFOLD,
        "    B, C, H, W = images.shape\n"
        "    x = images.reshape(B, C, H // patch, patch, W // patch, patch).permute(0, 2, 4, 3, 5, 1)\n"
        "    return x.reshape(B, -1, C * patch * patch)\n",
        ("5.3",),
        says="channels last",
    ),
    Variant(
        "patches_unfold_not_transposed",
        "vit.py",
        UNFOLD,
        "    return F.unfold(images, kernel_size=patch, stride=patch)\n",
        ("5.3", "5.4"),
        says="transpose the last two axes",
    ),
    Variant(
        "patch_embedding_without_bias",
        "vit.py",
        "        return self.proj(patchify(images, self.patch))\n",
        "        return patchify(images, self.patch) @ self.proj.weight.T\n",
        ("5.3",),
        says="without its bias",
    ),
    # 5.3 sinusoidal_positions
    Variant(
        "sin_cos_swapped",
        "vit.py",
        EVEN_ODD,
        "    table[:, 0::2] = torch.cos(pos * freq)\n    table[:, 1::2] = torch.sin(pos * freq)\n",
        ("5.3",),
        says="sin and cos swapped",
    ),
    Variant(
        "sinusoid_exponent_i_over_d",
        "vit.py",
        FREQ,
        "    freq = 10000.0 ** (-torch.arange(0, d // 2, dtype=torch.float64) / d)\n",
        ("5.3",),
        says="the exponent i/d instead of 2i/d",
    ),
    Variant(
        "sinusoid_exponent_per_column",
        "vit.py",
        EVEN_ODD,
        "    table[:, 0::2] = torch.sin(pos * freq)\n"
        "    table[:, 1::2] = torch.cos(pos * 10000.0 ** (-torch.arange(1, d, 2, dtype=torch.float64) / d))\n",
        ("5.3",),
        says="pos / 10000^(j/d) in every column j",
    ),
    Variant(
        "sinusoid_positions_from_one",
        "vit.py",
        POS,
        "    pos = torch.arange(1, n + 1, dtype=torch.float64)[:, None]\n",
        ("5.3",),
        says="positions counted from 1",
    ),
    Variant(
        "sinusoid_halves_not_interleaved",
        "vit.py",
        EVEN_ODD,
        "    table = torch.cat([torch.sin(pos * freq), torch.cos(pos * freq)], dim=1)\n",
        ("5.3",),
        says="the sines in the first d/2 columns",
    ),
    # 5.4 EncoderBlock
    Variant(
        "block_post_norm",
        "vit.py",
        "        h = self.norm1(x)\n"
        "        attended, weights = self.attn(h, h, h, mask=mask, causal=causal, need_weights=need_weights)\n"
        "        x = x + attended\n"
        "        x = x + self.mlp(self.norm2(x))\n",
        "        attended, weights = self.attn(x, x, x, mask=mask, causal=causal, need_weights=need_weights)\n"
        "        x = self.norm1(x + attended)\n"
        "        x = self.norm2(x + self.mlp(x))\n",
        ("5.4",),
        says="post-norm",
    ),
    Variant(
        "block_relu",
        "vit.py",
        "nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)",
        "nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)",
        ("5.4",),
        says="ReLU in the MLP",
    ),
    Variant(
        "block_no_mlp_residual",
        "vit.py",
        MLP_RESIDUAL,
        "        x = self.mlp(self.norm2(x))\n",
        ("5.4",),
        says="the MLP without its residual connection",
    ),
    Variant(
        "block_residual_from_normalised",
        "vit.py",
        "        h = self.norm1(x)\n",
        "        x = h = self.norm1(x)\n",
        ("5.4",),
        says="adds the attention to LN₁(x)",
    ),
    Variant(
        "block_causal_not_passed",
        "vit.py",
        "mask=mask, causal=causal, need_weights=need_weights)",
        "mask=mask, need_weights=need_weights)",
        ("5.4",),
        says="without the causal flag",
    ),
    # 5.4 ViT
    Variant(
        "class_token_appended",
        "vit.py",
        TOKENS,
        "        x = torch.cat([x, self.cls_token.expand(len(x), -1, -1)], dim=1) + self.pos_embed\n",
        ("5.4",),
        says="the class token put after the patches",
    ),
    Variant(
        "positions_after_the_blocks",
        "vit.py",
        TOKENS,
        "        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)\n",
        ("5.4",),
        says="the position embeddings added after the blocks",
        also=(("vit.py", HEAD, "        x = x + self.pos_embed\n" + HEAD),),
    ),
    Variant(
        "head_on_token_mean",
        "vit.py",
        HEAD,
        "        logits = self.head(self.norm(x).mean(1))\n",
        ("5.4",),
        says="the head on the mean of the tokens",
    ),
    Variant(
        "head_without_final_norm",
        "vit.py",
        HEAD,
        "        logits = self.head(x[:, 0])\n",
        ("5.4",),
        says="without the final LayerNorm",
    ),
    # 5.6 attention_maps
    Variant(
        "maps_from_column_zero",
        "vit.py",
        MAPS_ROW,
        "    weights = attention_weights(model, images, device)[..., 1:, 0]\n",
        ("5.6",),
        says="what the patches give the class token",
    ),
    Variant(
        "maps_keep_the_class_token",
        "vit.py",
        MAPS_ROW,
        "    weights = attention_weights(model, images, device)[..., 0, :-1]\n",
        ("5.6",),
        says="without its last entry instead of without its first",
    ),
    Variant(
        "maps_grid_transposed",
        "vit.py",
        MAPS_GRID,
        "    return weights.reshape(*weights.shape[:-1], model.grid, model.grid).transpose(-1, -2)\n",
        ("5.6",),
        says="the grid transposed",
    ),
    # 5.6 attention_rollout
    Variant(
        "rollout_without_identity",
        "vit.py",
        ROLL_EYE,
        "",
        ("5.6",),
        says="without the identity for the residual connection",
    ),
    Variant(
        "rollout_wrong_order",
        "vit.py",
        "        rollout = a[..., layer, :, :] @ rollout\n",
        "        rollout = rollout @ a[..., layer, :, :]\n",
        ("5.6",),
        says="multiplied in the wrong order",
    ),
    Variant(
        "rollout_rows_not_renormalised",
        "vit.py",
        ROLL_NORM,
        "",
        ("5.6",),
        says="without renormalising its rows",
    ),
    Variant(
        "rollout_max_over_heads",
        "vit.py",
        ROLL_MEAN,
        "    a = weights.amax(dim=-3)\n",
        ("5.6",),
        says="the maximum over the heads",
    ),
    Variant(
        "rollout_columns_normalised",
        "vit.py",
        ROLL_NORM,
        "    a = a / a.sum(dim=-2, keepdim=True)\n",
        ("5.6",),
        says="normalised by its column sums",
    ),
]

CORRECT = [
    Variant(
        "patch_embedding_by_conv",
        "vit.py",
        "        self.proj = nn.Linear(patch * patch * in_channels, dim)\n",
        "        self.proj = nn.Conv2d(in_channels, dim, patch, stride=patch)\n",
        also=(
            (
                "vit.py",
                "        return self.proj(patchify(images, self.patch))\n",
                "        return self.proj(images).flatten(2).transpose(1, 2)\n",
            ),
        ),
    ),
    Variant(
        "patchify_by_reshape_and_permute",
        "vit.py",
        UNFOLD,
        "    B, C, H, W = images.shape\n"
        "    x = images.unflatten(2, (H // patch, patch)).unflatten(4, (W // patch, patch))\n"
        "    return x.permute(0, 2, 4, 1, 3, 5).flatten(3).flatten(1, 2)\n",
    ),
    Variant(
        "sinusoids_by_exp_in_float32",
        "vit.py",
        POS + FREQ + "    table = torch.empty(n, d, dtype=torch.float64)\n" + EVEN_ODD + "    return table.float()\n",
        "    pos = torch.arange(n, dtype=torch.float32)[:, None]\n"
        "    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)\n"
        "    angle = pos * freq\n"
        "    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)\n",
    ),
    Variant(
        "vit_tokens_by_pad_and_index",
        "vit.py",
        TOKENS,
        "        tokens = x.new_zeros(len(x), x.shape[1] + 1, x.shape[2])\n"
        "        tokens[:, 0] = self.cls_token[:, 0]\n"
        "        tokens[:, 1:] = x\n"
        "        x = tokens + self.pos_embed\n",
    ),
    Variant(
        "maps_by_unflatten",
        "vit.py",
        MAPS_ROW + MAPS_GRID,
        "    weights = attention_weights(model, images, device)\n"
        "    return weights[..., 0, 1:].unflatten(-1, (model.grid, model.grid))\n",
    ),
    Variant(
        "rollout_by_reduce_in_float64",
        "vit.py",
        ROLL_MEAN + ROLL_EYE + ROLL_NORM + ROLL_LOOP,
        "    import functools\n\n"
        "    a = torch.einsum('...lhij->...lij', weights.double()) / weights.shape[-3]\n"
        "    a = (a + torch.eye(a.shape[-1], dtype=a.dtype)) / 2\n"
        "    a = a / a.sum(-1, keepdim=True)\n"
        "    return functools.reduce(lambda r, layer: layer @ r, a.unbind(-3)).to(weights.dtype)\n",
    ),
]
