"""hw5, part 2: a tiny Vision Transformer on the 28x28 digits (Dosovitskiy et al. 2021, section 3.1).

An image (C, H, W) is cut into N = (H / p) (W / p) square patches of p x p pixels, each flattened
into a vector of p*p*C numbers. The patches are numbered row by row (left to right, then top to
bottom), and a patch's vector is ordered channel first, then row, then column within the patch:
entry c*p*p + i*p + j is pixel (c, i, j) of the patch, which is the order of
torch.nn.functional.unfold and of a Conv2d's weight.flatten(1). So a linear patch embedding with
weight W (D, p*p*C) is the Conv2d(C, D, kernel_size=p, stride=p) with weight W.view(D, C, p, p),
and either may hold the embedding (PatchEmbedding.proj.weight.reshape(D, -1) acts on that vector).

The model (the paper's equations 1-4), with width D, a learned class token x_class and position
embeddings E_pos of shape (N + 1, D):

    z_0 = [x_class; x_1 E; ...; x_N E] + E_pos
    z'_l = z_{l-1} + MSA(LN(z_{l-1}))                     (pre-norm: LayerNorm before each sublayer)
    z_l  = z'_l + MLP(LN(z'_l))                           (MLP: Linear D -> r D, GELU, Linear r D -> D)
    y    = head(LN(z_L^0))                                (the class token's final state)

The position embeddings are learned, or fixed sinusoids (Vaswani et al. 2017, section 3.5):

    PE(pos, 2i) = sin(pos / 10000^(2i / D)),   PE(pos, 2i + 1) = cos(pos / 10000^(2i / D)).

A ViT has no convolution's inductive biases (locality, weight sharing across positions, translation
equivariance): it must learn from data that neighbouring pixels go together, hence the ±2-pixel random
shifts in training and its appetite for data. The cost of attention grows as N^2 in the token count.

Attention maps: attention_maps gives the class token's attention weights over the patches, per
layer and head. Attention rollout (Abnar & Zuidema 2020) follows the information through the layers:
average each layer's weights over the heads, A_l; add the identity for the residual connection and
renormalise the rows, Â_l = (A_l + I) / rowsum(A_l + I); multiply, R = Â_L ... Â_2 Â_1 (the
last layer on the left). Row 0 of R says how much of the class token's final state comes from each
input token.
Training takes a `device` ("cpu", "cuda"): the model and the batches go there; results come back on the CPU.
Invalid input raises ValueError with a message saying what is wrong.
"""

from __future__ import annotations

import math
import time

import torch
from attention import MultiHeadAttention
from torch import nn
from torch.nn import functional as F


def check_images(images: torch.Tensor, patch: int) -> None:
    """ValueError unless `images` is a floating-point (B, C, H, W) tensor and `patch` a positive
    integer dividing H and W."""
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
        raise ValueError(f"patch must be a positive integer, got {patch!r}")
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError("images must be a floating-point tensor of shape (B, C, H, W)")
    if images.shape[-2] % patch or images.shape[-1] % patch:
        raise ValueError(f"patch {patch} does not divide the image size {tuple(images.shape[-2:])}")


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Task 5.3. (B, C, H, W) -> (B, N, p*p*C) with N = (H / p)(W / p), p = patch.

    Patches row by row; within a patch, channel, then row, then column (the module docstring's
    order): out[b, r * (W / p) + s, c*p*p + i*p + j] = images[b, c, r*p + i, s*p + j].
    """
    check_images(images, patch)
    # HINT: F.unfold(images, kernel_size=p, stride=p) is (B, C*p*p, N) in this order; transpose the last two axes.
    raise NotImplementedError("Task 5.3: patchify is not implemented yet")


class PatchEmbedding(nn.Module):
    """Task 5.3. Each patch's vector times E (a linear layer p*p*C -> D, with bias): (B, C, H, W) -> (B, N, D).

    `proj` holds the embedding, an nn.Linear(p*p*C, D) or, equally, an nn.Conv2d(C, D, p, stride=p);
    proj.weight.reshape(D, -1) multiplies the patch vector in the module docstring's order.
    """

    def __init__(self, patch: int, in_channels: int, dim: int):
        super().__init__()
        self.patch = patch
        self.proj = nn.Linear(patch * patch * in_channels, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("Task 5.3: forward is not implemented yet")


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    """Task 5.3. The sinusoidal position table (n, d), float32: row pos, columns 2i and 2i + 1 are

        sin(pos / 10000^(2i / d))  and  cos(pos / 10000^(2i / d)),   i = 0 .. d/2 - 1.

    Raises ValueError unless n >= 1 and d is a positive even integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(d, bool) or not isinstance(d, int) or d < 2 or d % 2:
        raise ValueError(f"d must be a positive even integer, got {d!r}")
    # HINT: compute the angles pos / 10000^(2i/d) as an outer product in float64, then fill the even and odd columns.
    raise NotImplementedError("Task 5.3: sinusoidal_positions is not implemented yet")


class EncoderBlock(nn.Module):
    """Task 5.4. A pre-norm Transformer encoder block of width `dim`:

        x <- x + MHA(LN_1(x))         (self-attention; `mask` and `causal` as in attention.py)
        x <- x + MLP(LN_2(x))         (MLP = Linear(dim, mlp_ratio * dim), GELU, Linear(mlp_ratio * dim, dim))

    forward(x (B, T, dim), mask=None, causal=False, need_weights=False) returns x, or
    (x, the attention weights (B, heads, T, T)) when need_weights. With causal=True it is a block of
    a character-level language model (the capstone); a ViT uses it without a mask.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        hidden = round(mlp_ratio * dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False, need_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        # HINT: normalise, attend, add the input back; then normalise, MLP, add back. The residual stream x is never normalised.
        raise NotImplementedError("Task 5.4: forward is not implemented yet")


class ViT(nn.Module):
    """Task 5.4. A Vision Transformer (the module docstring's equations) for (B, C, H, W) images.

    Patches of `patch` pixels embedded to `dim` (PatchEmbedding), a learned class token prepended,
    position embeddings (N + 1, dim) added ("learned", initialised N(0, 0.02^2), or "sinusoidal",
    a fixed buffer), `depth` EncoderBlocks of `heads` heads, a final LayerNorm and a linear head on
    the class token. forward(images) -> logits (B, num_classes); forward(images, need_weights=True)
    -> (logits, weights (B, depth, heads, N + 1, N + 1)), token 0 being the class token.
    """

    def __init__(
        self,
        image_size: int = 28,
        patch: int = 7,
        in_channels: int = 1,
        num_classes: int = 10,
        dim: int = 64,
        depth: int = 3,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        positions: str = "learned",
        device: torch.device | str | None = None,
    ):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"patch {patch} does not divide the image size {image_size}")
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        self.image_size, self.patch, self.in_channels = image_size, patch, in_channels
        self.grid = image_size // patch
        tokens = self.grid**2 + 1
        self.patch_embed = PatchEmbedding(patch, in_channels, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        if positions == "learned":
            self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        else:
            self.register_buffer("pos_embed", sinusoidal_positions(tokens, dim)[None])
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.to(device)

    def forward(self, images: torch.Tensor, need_weights: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if images.dim() != 4 or tuple(images.shape[1:]) != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(
                f"images must have shape (B, {self.in_channels}, {self.image_size}, {self.image_size}), got {tuple(images.shape)}"
            )
        # HINT: torch.cat([self.cls_token.expand(B, -1, -1), patches], dim=1), then + self.pos_embed, before the blocks.
        raise NotImplementedError("Task 5.4: forward is not implemented yet")


# -- training on the digits --------------------------------------------------------------------


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Task 5.5. Every image moved by its own whole-pixel shift (dy, dx), each drawn uniformly from
    -max_shift .. max_shift, the pixels moved in from outside the image being 0:
    out[b, c, i, j] = images[b, c, i - dy_b, j - dx_b], or 0 where that lies outside.
    The shifts are drawn (on the CPU) from `generator`; max_shift = 0 returns the images unchanged.
    """
    if max_shift == 0:
        return images
    # HINT: F.pad by max_shift on every side, then take each image's H x W window at offset (max_shift - dy, max_shift - dx)
    # HINT: with advanced indexing (rows (B, H, 1) and columns (B, 1, W) of indices), no Python loop over the images.
    raise NotImplementedError("Task 5.5: random_shift is not implemented yet")


def warmup_cosine_factor(progress: float, warmup: float, final: float = 0.0) -> float:
    """Task 5.5. The learning rate as a fraction of the peak at `progress` p in [0, 1] of the budget:

        p < warmup:   p / warmup                                        (linear warmup from 0)
        afterwards:   final + (1 - final) (1 + cos(pi q)) / 2,   q = (p - warmup) / (1 - warmup)

    p is clipped to [0, 1]; warmup = 0 starts at the peak.
    """
    raise NotImplementedError("Task 5.5: warmup_cosine_factor is not implemented yet")


def train_vit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: float | None = None,
    seconds: float | None = None,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 0.05,
    warmup: float = 0.1,
    final_lr: float = 0.01,
    max_shift: int = 2,
    label_smoothing: float = 0.0,
    clip: float | None = 1.0,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict:
    """Task 5.5. Train `model` in place on images x (n, C, H, W) and labels y (n,) int64 for a budget.

    The budget is `epochs` (passes over x, fractional allowed), `seconds` of wall time, or both
    (whichever is spent first). progress p in [0, 1] is the larger of steps / (epochs * batches per
    epoch) and elapsed / seconds, and the learning rate at a step is lr * warmup_cosine_factor(p,
    warmup, final_lr); training stops when p reaches 1. So a budget in seconds stretches the whole
    schedule over it, however fast the machine (and is then not reproducible step for step).
    Each step: a batch of `batch_size` drawn without replacement from a permutation of x per epoch,
    shifted by random_shift(max_shift), cross-entropy (with label_smoothing) on the logits,
    gradients clipped to global norm `clip` (None: not clipped), one AdamW(lr, betas (0.9, 0.999),
    weight_decay) step; weight decay applies to the matrices (2-D and more weights) only, not to
    biases, LayerNorm gains, the class token and the position embeddings.
    The permutations and shifts come from a torch.Generator seeded with `seed`. The model is moved
    to `device` and trained there (x and y are moved once), then left there in eval mode.
    Returns {"loss": [per step], "lr": [per step], "steps": int, "epochs": float, "seconds": float}.
    """
    if epochs is None and seconds is None:
        raise ValueError("give a budget: epochs, seconds or both")
    if (epochs is not None and epochs <= 0) or (seconds is not None and seconds <= 0):
        raise ValueError(f"the budget must be positive, got epochs={epochs!r}, seconds={seconds!r}")
    if x.dim() != 4 or y.shape != x.shape[:1] or y.dtype != torch.int64:
        raise ValueError(f"x must be (n, C, H, W) and y (n,) int64, got {tuple(x.shape)} and {tuple(y.shape)} {y.dtype}")
    if not 0 <= warmup < 1 or batch_size < 1:
        raise ValueError(f"need 0 <= warmup < 1 and batch_size >= 1, got {warmup!r} and {batch_size!r}")
    # HINT: two AdamW parameter groups: {"params": matrices, "weight_decay": wd} and {"params": the rest, "weight_decay": 0}.
    # HINT: set group["lr"] for every group before each step; measure time with time.perf_counter().
    raise NotImplementedError("Task 5.5: train_vit is not implemented yet")


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500, device: torch.device | str | None = None) -> torch.Tensor:
    """The predicted classes (n,) int64 on the CPU, the model in eval mode on `device` (default:
    where its parameters are), x sent there in batches."""
    device = next(model.parameters()).device if device is None else device
    model.to(device).eval()
    return torch.cat([model(chunk.to(device)).argmax(1).cpu() for chunk in x.split(batch_size)])


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500, device: torch.device | str | None = None
) -> float:
    """Task 5.5. The accuracy of `model` on (x, y), a float in [0, 1] (see predict)."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of one length, got {len(x)} and {len(y)}")
    raise NotImplementedError("Task 5.5: evaluate is not implemented yet")


# -- seeing what it looks at -------------------------------------------------------------------


@torch.no_grad()
def attention_weights(model: ViT, images: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Every layer's attention weights (B, depth, heads, N + 1, N + 1), on the CPU, the model in
    eval mode on `device` (default: where its parameters are)."""
    device = next(model.parameters()).device if device is None else device
    model.to(device).eval()
    return model(images.to(device), need_weights=True)[1].cpu()


def attention_maps(model: ViT, images: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Task 5.6. The class token's attention over the patches, (B, depth, heads, H / p, W / p).

    Entry [b, l, h, r, s] is the weight that the class token gives to patch (r, s) (the patch of
    row r, column s of the grid) in head h of layer l for image b: row 0 of the weights without
    column 0 (the class token's weight on itself), laid out on the grid of patches.
    """
    # HINT: attention_weights(...)[..., 0, 1:] is (B, depth, heads, N); reshape its last axis to the grid.
    raise NotImplementedError("Task 5.6: attention_maps is not implemented yet")


def attention_rollout(weights: torch.Tensor) -> torch.Tensor:
    """Task 5.6. Attention rollout R (..., T, T) of weights (..., depth, heads, T, T) (the module
    docstring): A_l = mean over the heads, Â_l = (A_l + I) with its rows renormalised to sum to 1,
    R = Â_{depth-1} ... Â_1 Â_0. Every row of R sums to 1; R[..., 0, :] is the class token's.
    """
    if not isinstance(weights, torch.Tensor) or weights.dim() < 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError("weights must be a tensor of shape (..., depth, heads, T, T)")
    # HINT: later layers multiply on the left: R <- Â_l @ R for l = 0, 1, ...
    raise NotImplementedError("Task 5.6: attention_rollout is not implemented yet")


def rollout_maps(model: ViT, images: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """The class token's rollout over the patches, (B, H / p, W / p): attention_rollout of every
    layer's weights, row 0 without column 0, on the grid (what the handout's figure overlays)."""
    r = attention_rollout(attention_weights(model, images, device))[:, 0, 1:]
    return r.reshape(len(r), model.grid, model.grid)
