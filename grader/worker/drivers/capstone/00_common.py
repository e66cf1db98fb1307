"""Drivers for the capstone, in parts (joined in name order into one module): this part holds what
the others share; coder.py, squeeze.py, train.py and artifact.py drive their tasks. They build the
student's modules, load weights the grading side chose, call the student's code and return its raw
outputs (logits, bytes, state dicts), nothing judged: the grading side recomputes every rate, size
and comparison (grader/suites/capstone/model.py). Student code can replace anything here, so
nothing returned is trusted.

Weights cross as state dicts under gpt.GPT's names (tok.weight, blocks.0.qkv.weight, ...).
"""

from __future__ import annotations

import importlib

import torch
from torch import nn
from torch.nn import functional as F


def state_of(model: nn.Module) -> dict:
    return {k: v.detach().cpu().float().clone() for k, v in model.state_dict().items()}


def student_gpt(config: dict, state: dict | None = None) -> nn.Module:
    """The student's gpt.GPT for `config` (its arguments), holding `state` when given, in eval mode."""
    model = importlib.import_module("gpt").GPT(**config)
    if state is not None:
        model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return model.eval()


class CourseBlock(nn.Module):
    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.out = nn.Linear(4 * d, d, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, T, d = z.shape
        q, k, v = (t.view(B, T, self.h, d // self.h).transpose(1, 2) for t in self.qkv(self.ln1(z)).split(d, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, d)
        z = z + self.proj(y)
        return z + self.out(F.gelu(self.fc(self.ln2(z))))


class CourseGPT(nn.Module):
    """The course's own GPT, gpt.GPT's parameters under its names (torch's causal attention): what
    task 6.1's training run trains, so that it grades the training loop and not the student's gpt.py."""

    def __init__(self, d_model=128, n_layer=4, n_head=4, context=128, vocab=96, dropout=0.0) -> None:
        super().__init__()
        self.config = {"d_model": d_model, "n_layer": n_layer, "n_head": n_head, "context": context, "vocab": vocab}
        self.context = context
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(CourseBlock(d_model, n_head) for _ in range(n_layer))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        z = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            z = block(z)
        return self.head(self.ln(z))


def reading(ids: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The handout's windows of a text: (inputs, targets) (W, context), padded at the end with START
    (0) inputs and -1 targets."""
    n, W = len(ids), -(-len(ids) // context)
    inputs = torch.zeros(W * context, dtype=torch.int64)
    targets = torch.full((W * context,), -1, dtype=torch.int64)
    inputs[1:n], targets[:n] = ids[:-1], ids
    return inputs.view(W, context), targets.view(W, context)


@torch.no_grad()
def window_logits(model: nn.Module, ids: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """The student's model's logits (n, vocab) float32 for each character of ids, by its forward on
    the handout's windows (what the grading side turns into distributions and rates)."""
    inputs, targets = reading(torch.as_tensor(ids), model.context)
    out = torch.cat([model(inputs[i : i + batch]).float() for i in range(0, len(inputs), batch)])
    return out.flatten(0, 1)[targets.flatten() >= 0].contiguous()
