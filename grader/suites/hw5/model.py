"""hw5's expected values, computed on the grading side with torch's own attention: a second,
independent implementation of the handout's equations that takes weights as state dicts under the
handout's names (what the drivers load into the student's modules).

Attention is torch.nn.functional.scaled_dot_product_attention; its weights are the same call with
the identity as values (so a row with every key removed is zeros, as torch returns it). Patches
are cut by reshape and permute (the handout's order), not by unfold. Nothing here imports the
solutions, so public suites may use it.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def sdpa(q, k, v, mask=None, causal=False) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, weights) of torch's scaled_dot_product_attention; mask bool (True = attend) or float."""
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-2], -1, -1)
    weights = F.scaled_dot_product_attention(q, k, eye, attn_mask=mask, is_causal=causal)
    return out, weights


def random_state(shapes: dict[str, tuple[int, ...]], seed: int, dtype=torch.float32, scale: float = 1.0) -> dict:
    """A state dict of `shapes`: LayerNorm gains near 1, biases and everything else N(0, scale^2/fan_in)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        if "norm" in name and name.endswith("weight"):
            x = 1.0 + 0.1 * x
        elif len(shape) >= 2 and not name.endswith(("pos_embed", "cls_token")):
            x = x * scale / math.sqrt(shape[-1])
        else:
            x = x * 0.1 * scale
        state[name] = x.to(dtype)
    return state


def mha_shapes(dim: int, bias: bool = True, prefix: str = "") -> dict:
    shapes: dict[str, tuple[int, ...]] = {}
    for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
        shapes[f"{prefix}{proj}.weight"] = (dim, dim)
        if bias:
            shapes[f"{prefix}{proj}.bias"] = (dim,)
    return shapes


def block_shapes(dim: int, mlp_ratio: float = 2.0, prefix: str = "") -> dict:
    hidden = round(mlp_ratio * dim)
    return {
        f"{prefix}norm1.weight": (dim,),
        f"{prefix}norm1.bias": (dim,),
        **mha_shapes(dim, True, f"{prefix}attn."),
        f"{prefix}norm2.weight": (dim,),
        f"{prefix}norm2.bias": (dim,),
        f"{prefix}mlp.0.weight": (hidden, dim),
        f"{prefix}mlp.0.bias": (hidden,),
        f"{prefix}mlp.2.weight": (dim, hidden),
        f"{prefix}mlp.2.bias": (dim,),
    }


def vit_shapes(
    image_size=28, patch=7, in_channels=1, num_classes=10, dim=64, depth=3, heads=4, mlp_ratio=2.0, positions="learned"
) -> dict:
    """The handout's parameter names and shapes of ViT(**config) (patch_embed.proj.weight as (D, p*p*C))."""
    tokens = (image_size // patch) ** 2 + 1
    shapes = {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, tokens, dim),
        "patch_embed.proj.weight": (dim, patch * patch * in_channels),
        "patch_embed.proj.bias": (dim,),
    }
    for layer in range(depth):
        shapes.update(block_shapes(dim, mlp_ratio, f"blocks.{layer}."))
    shapes.update({"norm.weight": (dim,), "norm.bias": (dim,), "head.weight": (num_classes, dim), "head.bias": (num_classes,)})
    return shapes


def vit_state(config: dict, seed: int) -> dict:
    """Random weights for ViT(**config), sinusoidal positions where the config asks for them."""
    state = random_state(vit_shapes(**config), seed)
    if config.get("positions") == "sinusoidal":
        state["pos_embed"] = sinusoids(state["pos_embed"].shape[1], state["pos_embed"].shape[2])[None]
    return state


def sinusoids(n: int, d: int) -> torch.Tensor:
    """Vaswani et al.'s table (n, d) in float64, then float32: PE(pos, 2i) = sin(pos / 10000^(2i/d)),
    PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), written entry by entry from the formula."""
    table = torch.empty(n, d, dtype=torch.float64)
    for pos in range(n):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            table[pos, 2 * i], table[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return table.float()


def patches(images: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*p*p): patches row by row, each channel, row, column (the handout's order)."""
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def linear(state: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    w = state[f"{name}.weight"]
    return F.linear(x, w.reshape(w.shape[0], -1), state.get(f"{name}.bias"))


def layer_norm(state: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"])


def mha(state: dict, prefix: str, heads: int, query, key=None, value=None, mask=None, causal=False):
    """Multi-head attention with the handout's q_proj, k_proj, v_proj, out_proj under `prefix`:
    (output (B, L, E), weights (B, h, L, S))."""
    key = query if key is None else key
    value = key if value is None else value

    def split(t):
        return t.reshape(*t.shape[:-1], heads, t.shape[-1] // heads).transpose(-3, -2)

    q, k, v = (split(linear(state, f"{prefix}{n}", t)) for n, t in (("q_proj", query), ("k_proj", key), ("v_proj", value)))
    out, weights = sdpa(q, k, v, mask, causal)
    return linear(state, f"{prefix}out_proj", out.transpose(-3, -2).flatten(-2)), weights


def block(state: dict, prefix: str, heads: int, x, mask=None, causal=False, pre_norm=True):
    """The pre-norm encoder block (pre_norm=False: the post-norm block of the original Transformer,
    LN(x + sublayer(x)), for naming that mistake): (output, weights)."""
    if pre_norm:
        h = layer_norm(state, f"{prefix}norm1", x)
        attended, weights = mha(state, f"{prefix}attn.", heads, h, mask=mask, causal=causal)
        x = x + attended
        return x + mlp(state, prefix, layer_norm(state, f"{prefix}norm2", x)), weights
    attended, weights = mha(state, f"{prefix}attn.", heads, x, mask=mask, causal=causal)
    x = layer_norm(state, f"{prefix}norm1", x + attended)
    return layer_norm(state, f"{prefix}norm2", x + mlp(state, prefix, x)), weights


def mlp(state: dict, prefix: str, x):
    return linear(state, f"{prefix}mlp.2", F.gelu(linear(state, f"{prefix}mlp.0", x)))


def depth_of(state: dict) -> int:
    return len({k.split(".")[1] for k in state if k.startswith("blocks.")})


def vit(state: dict, heads: int, images: torch.Tensor, patch: int, mistake: str | None = None):
    """The ViT's (logits (B, classes), weights (B, depth, heads, T, T)) for `state`. `mistake` names
    a known wrong forward, for naming it in feedback: "no_cls" (class token appended at the end
    instead of prepended), "pos_after" (positions added after the blocks), "post_norm", "mean_head"
    (head on the mean of the tokens)."""
    state = {k: torch.as_tensor(v) for k, v in state.items()}
    x = linear(state, "patch_embed.proj", patches(images, patch))
    cls = state["cls_token"].expand(len(x), -1, -1)
    x = torch.cat([x, cls] if mistake == "no_cls" else [cls, x], dim=1)
    if mistake != "pos_after":
        x = x + state["pos_embed"]
    weights = []
    for layer in range(depth_of(state)):
        x, w = block(state, f"blocks.{layer}.", heads, x, pre_norm=mistake != "post_norm")
        weights.append(w)
    if mistake == "pos_after":
        x = x + state["pos_embed"]
    final = layer_norm(state, "norm", x)
    token = final.mean(1) if mistake == "mean_head" else final[:, 0]
    return linear(state, "head", token), torch.stack(weights, dim=1)


@torch.no_grad()
def accuracy(state: dict, heads: int, patch: int, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """The accuracy of the ViT holding `state` on (x, y), computed here."""
    right = 0
    for xs, ys in zip(x.split(batch), y.split(batch)):
        right += int((vit(state, heads, xs, patch)[0].argmax(1) == ys).sum())
    return right / len(x)


def rollout(weights: torch.Tensor) -> torch.Tensor:
    """Abnar & Zuidema's rollout of (..., depth, heads, T, T), written layer by layer in float64."""
    a = weights.double().mean(-3)
    a = a + torch.eye(a.shape[-1], dtype=a.dtype)
    a = a / a.sum(-1, keepdim=True)
    r = torch.eye(a.shape[-1], dtype=a.dtype).expand_as(a[..., 0, :, :])
    for layer in range(a.shape[-3]):
        r = torch.matmul(a[..., layer, :, :], r)
    return r
