"""The capstone's character model computed on the grading side: a second, independent implementation
of the handout's GPT (gpt.py) that takes weights as a state dict under gpt.GPT's names, with torch's
own causal attention (scaled_dot_product_attention, is_causal=True). Rates, bits per character and
the checks of what a worker returns are computed here, never in the student's process. Nothing here
imports the solutions, so public suites may use it.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
START = 0
TINY = {"d_model": 32, "n_layer": 2, "n_head": 2, "context": 32, "vocab": len(VOCAB)}
CPU = {"d_model": 128, "n_layer": 4, "n_head": 4, "context": 128, "vocab": len(VOCAB)}


def ids_of(text: str) -> torch.Tensor:
    table = {c: i for i, c in enumerate(VOCAB)}
    return torch.tensor([table[c] for c in text], dtype=torch.int64)


def shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """gpt.GPT's state dict: name -> shape."""
    d, v, c = config["d_model"], config["vocab"], config["context"]
    out: dict[str, tuple[int, ...]] = {"tok.weight": (v, d), "pos.weight": (c, d)}
    for i in range(config["n_layer"]):
        b = f"blocks.{i}."
        out |= {
            b + "ln1.weight": (d,),
            b + "ln1.bias": (d,),
            b + "qkv.weight": (3 * d, d),
            b + "proj.weight": (d, d),
            b + "ln2.weight": (d,),
            b + "ln2.bias": (d,),
            b + "fc.weight": (4 * d, d),
            b + "out.weight": (d, 4 * d),
        }
    return out | {"ln.weight": (d,), "ln.bias": (d,), "head.weight": (v, d)}


def random_state(config: dict, seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Weights of a plausible trained model's scale: gains near 1, matrices N(0, scale^2 / fan_in),
    embeddings N(0, (0.3 scale)^2)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes(config).items():
        x = torch.randn(shape, generator=g)
        if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "ln.weight":
            x = 1.0 + 0.1 * x
        elif name.endswith("bias"):
            x = 0.1 * x
        elif name in ("tok.weight", "pos.weight"):
            x = 0.3 * scale * x
        else:
            x = x * scale / math.sqrt(shape[1])
        state[name] = x
    return state


def check_state(state, config: dict, what: str = "the state dict") -> dict[str, torch.Tensor]:
    """`state` as float32 tensors if it is gpt.GPT's state dict for `config` (names, shapes, finite
    values); AssertionError saying what differs otherwise."""
    if not isinstance(state, dict):
        raise AssertionError(f"{what} is a {type(state).__name__}, not a dict of tensors")
    want = shapes(config)
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        raise AssertionError(f"{what} does not have gpt.GPT's names: missing {missing[:4]}, unexpected {extra[:4]}")
    out = {}
    for name, shape in want.items():
        t = state[name]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or not t.is_floating_point():
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise AssertionError(f"{what}: {name} should be a float tensor of shape {shape}, got {got}")
        t = t.detach().float()
        if not bool(torch.isfinite(t).all()):
            raise AssertionError(f"{what}: {name} holds NaN or infinite values")
        out[name] = t
    return out


@torch.no_grad()
def logits(state: dict[str, torch.Tensor], config: dict, x: torch.Tensor) -> torch.Tensor:
    """The model's logits (B, T, vocab) on inputs x (B, T), T <= context."""
    h, d = config["n_head"], config["d_model"]
    B, T = x.shape
    z = state["tok.weight"][x] + state["pos.weight"][:T]
    for i in range(config["n_layer"]):
        b = f"blocks.{i}."
        a = F.layer_norm(z, (d,), state[b + "ln1.weight"], state[b + "ln1.bias"])
        q, k, v = (t.view(B, T, h, d // h).transpose(1, 2) for t in (a @ state[b + "qkv.weight"].T).split(d, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, d)
        z = z + y @ state[b + "proj.weight"].T
        m = F.layer_norm(z, (d,), state[b + "ln2.weight"], state[b + "ln2.bias"])
        z = z + F.gelu(m @ state[b + "fc.weight"].T) @ state[b + "out.weight"].T
    return F.layer_norm(z, (d,), state["ln.weight"], state["ln.bias"]) @ state["head.weight"].T


def windows(ids: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The handout's reading of a text as (inputs, targets), each (W, context), the text padded at
    the end with START inputs and -1 targets (ignored) to whole windows."""
    n = len(ids)
    W = -(-n // context)
    inputs = torch.full((W * context,), START, dtype=torch.int64)
    targets = torch.full((W * context,), -1, dtype=torch.int64)
    inputs[1:n] = ids[:-1]
    targets[:n] = ids
    return inputs.view(W, context), targets.view(W, context)


@torch.no_grad()
def log2_probs(state: dict[str, torch.Tensor], config: dict, ids: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """log2 p(t_i | before) (n,) float64 for each character of ids, read in the handout's windows."""
    inputs, targets = windows(ids, config["context"])
    out = []
    for i in range(0, len(inputs), batch):
        lp = logits(state, config, inputs[i : i + batch]).double().log_softmax(-1)
        t = targets[i : i + batch]
        out.append(lp.gather(-1, t.clamp(min=0)[..., None])[..., 0][t >= 0])
    return torch.cat(out) / math.log(2)


def bits_per_char(state: dict[str, torch.Tensor], config: dict, ids: torch.Tensor) -> float:
    return float(-log2_probs(state, config, ids).mean())
