"""Drivers for hw5: build the student's modules, load weights the grading side chose, call the
student's code and return its raw outputs (tensors, gradients, state dicts, counts), nothing judged.

Weights cross as state dicts under the handout's names (q_proj.weight, blocks.0.norm1.weight, ...).
`load` gives each tensor the shape of the student's own parameter of that name, so a patch
embedding held by a Conv2d (D, C, p, p) or by a Linear (D, p*p*C) takes the same weights. The grading
side recomputes every expected value with its own implementation and torch's attention; student
code can replace anything here, so nothing returned is trusted.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn
from torch.overrides import TorchFunctionMode


def _tensor(x):
    return None if x is None else torch.as_tensor(x)


def state_of(model: nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def load(model: nn.Module, state: dict) -> nn.Module:
    """`state` loaded into the student's `model`, each tensor reshaped to the shape of the
    student's entry of that name (same number of entries). A name the model lacks, or lacks in
    `state`, is an error that names it."""
    own = model.state_dict()
    missing, extra = sorted(set(state) - set(own)), sorted(set(own) - set(state))
    if missing or extra:
        raise ValueError(
            "the module's parameters are not the handout's: "
            + "; ".join(p for p in (f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "") if p)
        )
    fitted = {}
    for name, value in state.items():
        value = torch.as_tensor(value)
        if value.numel() != own[name].numel():
            raise ValueError(f"{name} has shape {tuple(own[name].shape)}; the handout's is {tuple(value.shape)}")
        fitted[name] = value.reshape(own[name].shape).to(own[name].dtype)
    model.load_state_dict(fitted)
    return model


class Count(TorchFunctionMode):
    """How many torch functions and tensor methods ran (operators and nn.Linear's F.linear
    included), to tell a loop over the heads from one batched computation."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def attention(q, k, v, mask, causal: bool, upstream) -> dict:
    """The student's scaled_dot_product_attention on (q, k, v, mask, causal), and the backward pass
    of sum(output * upstream): the output, the weights and the gradients that reached q, k and v."""
    q, k, v = (torch.as_tensor(t).clone().requires_grad_(True) for t in (q, k, v))
    out, weights = importlib.import_module("attention").scaled_dot_product_attention(q, k, v, mask=_tensor(mask), causal=causal)
    grads: tuple = (None, None, None)
    if isinstance(out, torch.Tensor) and out.requires_grad:
        grads = torch.autograd.grad(out, (q, k, v), torch.as_tensor(upstream).to(out.dtype), allow_unused=True)
    return {
        "out": out.detach() if isinstance(out, torch.Tensor) else out,
        "weights": weights.detach() if isinstance(weights, torch.Tensor) else weights,
        "grads": list(grads),
    }


def heads(x, num_heads: int) -> dict:
    """The student's split_heads of x and merge_heads of that, and whether the split shares x's
    memory (a view, no copy)."""
    x = torch.as_tensor(x)
    attention_module = importlib.import_module("attention")
    split = attention_module.split_heads(x, num_heads)
    merged = attention_module.merge_heads(split) if isinstance(split, torch.Tensor) else None
    shares = isinstance(split, torch.Tensor) and split.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    return {"split": split, "merged": merged, "view": shares}


def _torch_mha(embed_dim: int, num_heads: int, bias: bool, state: dict) -> nn.MultiheadAttention:
    dtype = torch.as_tensor(state["in_proj_weight"]).dtype
    mha = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True, dtype=dtype)
    mha.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return mha


def _loaded_mha(embed_dim: int, num_heads: int, bias: bool, torch_state: dict) -> tuple[nn.Module, bool]:
    """The student's MultiHeadAttention(embed_dim, num_heads, bias) after its load_from of an
    nn.MultiheadAttention holding `torch_state`, and whether load_from returned the module."""
    mha = _torch_mha(embed_dim, num_heads, bias, torch_state)
    model = importlib.import_module("attention").MultiHeadAttention(
        embed_dim, num_heads, bias=bias, dtype=mha.in_proj_weight.dtype
    )
    return model, model.load_from(mha) is model


def loaded(embed_dim: int, num_heads: int, bias: bool, torch_state: dict) -> dict:
    """An nn.MultiheadAttention holding `torch_state`, loaded into the student's
    MultiHeadAttention(embed_dim, num_heads, bias) by its load_from: whether load_from returned the
    module, and the module's state dict afterwards."""
    model, returned_self = _loaded_mha(embed_dim, num_heads, bias, torch_state)
    return {"returned_self": returned_self, "state": state_of(model)}


def multi_head(
    embed_dim: int, num_heads: int, bias: bool, torch_state: dict, query, key, value, mask, causal: bool, upstream
) -> dict:
    """An nn.MultiheadAttention holding `torch_state`, loaded into the student's
    MultiHeadAttention(embed_dim, num_heads, bias) by its load_from; then its forward on (query,
    key, value) (key and value None for self-attention) and the backward pass of sum(output *
    upstream). Returns load_from's return value's identity, the student's state dict, the output, the
    weights, the gradients of query (and key, value when given) and how many torch calls the forward
    made."""
    model, returned_self = _loaded_mha(embed_dim, num_heads, bias, torch_state)
    inputs = [None if t is None else torch.as_tensor(t).clone().requires_grad_(True) for t in (query, key, value)]
    counter = Count()
    with counter:
        out, weights = model(inputs[0], inputs[1], inputs[2], mask=_tensor(mask), causal=causal)
    given = [t for t in inputs if t is not None]
    grads: tuple = tuple(None for _ in given)
    if isinstance(out, torch.Tensor) and out.requires_grad:
        grads = torch.autograd.grad(out, given, torch.as_tensor(upstream).to(out.dtype), allow_unused=True)
    return {
        "returned_self": returned_self,
        "state": state_of(model),
        "out": out.detach() if isinstance(out, torch.Tensor) else out,
        "weights": weights.detach() if isinstance(weights, torch.Tensor) else weights,
        "grads": list(grads),
        "calls": counter.calls,
    }


def patch_embedding(patch: int, in_channels: int, dim: int, state: dict, images) -> dict:
    """The student's PatchEmbedding(patch, in_channels, dim) holding `state` (proj.weight as (D,
    p*p*C), reshaped to the student's proj) on `images`: the embeddings and the proj's kind."""
    model = load(importlib.import_module("vit").PatchEmbedding(patch, in_channels, dim), state)
    return {"out": model(torch.as_tensor(images)).detach(), "proj": type(getattr(model, "proj", None)).__name__}


def encoder_block(dim: int, heads_: int, mlp_ratio: float, state: dict, x, mask, causal: bool) -> dict:
    """The student's EncoderBlock holding `state` on x: the output and the weights (need_weights)."""
    block = load(importlib.import_module("vit").EncoderBlock(dim, heads_, mlp_ratio), state)
    out = block(torch.as_tensor(x), mask=_tensor(mask), causal=causal, need_weights=True)
    if not (isinstance(out, tuple) and len(out) == 2):
        return {"out": out, "weights": None, "tuple": False}
    return {"out": out[0].detach(), "weights": out[1].detach(), "tuple": True}


def vit_forward(config: dict, state: dict, images) -> dict:
    """The student's ViT(**config) holding `state`, in eval mode, on `images`: the logits, and the
    logits and weights of forward(images, need_weights=True)."""
    model = load(importlib.import_module("vit").ViT(**config), state).eval()
    images = torch.as_tensor(images)
    with torch.no_grad():
        logits = model(images)
        both = model(images, need_weights=True)
    pair = isinstance(both, tuple) and len(both) == 2
    return {"logits": logits, "logits_w": both[0] if pair else both, "weights": both[1] if pair else None}


def maps(config: dict, state: dict, images, device: str = "cpu") -> torch.Tensor:
    """The student's attention_maps of the student's ViT(**config) holding `state`, on `device`."""
    vit = importlib.import_module("vit")
    return vit.attention_maps(load(vit.ViT(**config), state), torch.as_tensor(images), device)


def maps_of_weights(config: dict, weights, images) -> torch.Tensor:
    """The student's attention_maps of a ViT(**config) (the student's class) whose forward returns
    `weights` as its attention weights (and zero logits): what the maps are read from is the
    grading side's, whatever the student's forward computes."""
    vit = importlib.import_module("vit")
    given = torch.as_tensor(weights)

    def forward(self, images, need_weights=False, *args, **kwargs):
        logits = torch.zeros(len(images), config.get("num_classes", 10), device=images.device)
        return (logits, given.to(images.device)) if need_weights else logits

    given_weights = type("GivenWeights", (vit.ViT,), {"forward": forward})
    return vit.attention_maps(given_weights(**config), torch.as_tensor(images))


def shifted(images, max_shift: int, seed: int):
    """The student's random_shift of `images` with a generator seeded with `seed`."""
    return importlib.import_module("vit").random_shift(torch.as_tensor(images), max_shift, torch.Generator().manual_seed(seed))


class CourseAttention(nn.Module):
    """The handout's MultiHeadAttention, the course's own (torch's attention inside)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        def split(t):
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        out = nn.functional.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)))
        return self.out_proj(out.transpose(1, 2).flatten(2))


class CourseBlock(nn.Module):
    """The handout's pre-norm EncoderBlock, the course's own."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        hidden = round(mlp_ratio * dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = CourseAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CourseViT(nn.Module):
    """The handout's ViT with learned positions, the course's own: the same parameters, created in
    the same order (so the same initial weights under a seed), for task 5.5's training test when the
    student's ViT does not compute the handout's forward."""

    def __init__(self, image_size=28, patch=7, in_channels=1, num_classes=10, dim=64, depth=3, heads=4, mlp_ratio=2.0):
        super().__init__()
        self.patch = patch
        tokens = (image_size // patch) ** 2 + 1
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Linear(patch * patch * in_channels, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.ModuleList(CourseBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, images):
        x = self.patch_embed.proj(nn.functional.unfold(images, self.patch, stride=self.patch).transpose(1, 2))
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def train(config: dict, init_seed: int, x, y, settings: dict, course_model: bool = False) -> dict:
    """The student's ViT(**config) (or, with course_model, the course's CourseViT(**config)),
    initialised under torch.manual_seed(init_seed), trained by the student's train_vit(model, x, y,
    **settings): its state dict afterwards and the history."""
    vit = importlib.import_module("vit")
    with torch.random.fork_rng():
        torch.manual_seed(init_seed)
        model = CourseViT(**config) if course_model else vit.ViT(**config)
    history = vit.train_vit(model, torch.as_tensor(x), torch.as_tensor(y), **settings)
    return {"state": state_of(model), "history": history}


def linear_classifier(state: dict) -> nn.Sequential:
    """Flatten, then Linear(784, 10) holding `state` ("1.weight", "1.bias"): a model of the
    course's own for the tests of train_vit and evaluate, so that they do not rest on the student's ViT."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return model


class Probed(nn.Module):
    """A linear classifier beside parameters that get zero gradients: a matrix, a vector, a class
    token and position embeddings. What AdamW does to them is its weight decay alone (decoupled:
    p <- p (1 - lr wd) for those that decay; unchanged for the others)."""

    def __init__(self, state: dict):
        super().__init__()
        self.net = linear_classifier(state)
        self.probe_matrix = nn.Parameter(torch.ones(4, 4))
        self.probe_vector = nn.Parameter(torch.ones(4))
        self.cls_token = nn.Parameter(torch.ones(1, 1, 4))
        self.pos_embed = nn.Parameter(torch.ones(1, 3, 4))

    def forward(self, images):
        probes = self.probe_matrix.sum() + self.probe_vector.sum() + self.cls_token.sum() + self.pos_embed.sum()
        return self.net(images) + 0.0 * probes


PROBES = ("probe_matrix", "probe_vector", "cls_token", "pos_embed")


def train_probed(state: dict, x, y, settings: dict) -> dict:
    """The student's train_vit(model, x, y, **settings) on `Probed`: the probes and the linear
    layer afterwards, and the history."""
    model = Probed(state)
    history = importlib.import_module("vit").train_vit(model, torch.as_tensor(x), torch.as_tensor(y), **settings)
    return {
        "probes": {n: getattr(model, n).detach().cpu().clone() for n in PROBES},
        "net": state_of(model.net),
        "training": model.training,
        "history": history,
    }


def evaluated(state: dict, x, y, batch_size: int | None = None) -> object:
    """The student's evaluate of `linear_classifier(state)` on (x, y)."""
    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    return importlib.import_module("vit").evaluate(linear_classifier(state), torch.as_tensor(x), torch.as_tensor(y), **kwargs)


class SmallCNN(nn.Module):
    """The convolutional baseline beside the ViT in `course plot hw5`: three 3x3 convolutions (32,
    64 and 96 channels), each with stride 2 and ReLU (28 -> 14 -> 7 -> 4 pixels), global average
    pooling and a linear head; 75,178 parameters, about as many as the ViT of task 5.5's test
    (72,074)."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 96, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(96, classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def train_cnn(init_seed: int, x, y, settings: dict) -> dict:
    """SmallCNN, initialised under torch.manual_seed(init_seed), trained by the student's train_vit:
    its state dict afterwards and the history."""
    with torch.random.fork_rng():
        torch.manual_seed(init_seed)
        model = SmallCNN()
    history = importlib.import_module("vit").train_vit(model, torch.as_tensor(x), torch.as_tensor(y), **settings)
    return {"state": state_of(model), "history": history}


def rollouts(config: dict, state: dict, images, device: str = "cpu") -> torch.Tensor:
    """rollout_maps (the student's attention_weights and attention_rollout) of the student's
    ViT(**config) holding `state`, on `device`."""
    vit = importlib.import_module("vit")
    return vit.rollout_maps(load(vit.ViT(**config), state), torch.as_tensor(images), device)
