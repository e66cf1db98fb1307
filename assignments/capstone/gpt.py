"""Capstone, given code: a small GPT-style character model (the shape of Karpathy's nanoGPT).

Nothing here is graded on its own and nothing needs writing; train.py, coder.py and squeeze.py use it,
and the graders run your copy of it (so a change here changes what they measure).

The alphabet is fixed up front, not read from the training text: VOCAB is the newline and the 95
printable ASCII characters (32 to 126), 96 symbols, id = position in VOCAB. Every Shakespeare play
of the course is written in it; a text with any other character is refused (ValueError).

The model, with width d, L blocks, h heads and context C (Radford et al. 2019's pre-norm GPT-2):

    x_0 = E_tok[ids] + E_pos[0 .. T-1]                     (T <= C positions)
    x'  = x + Attn(LN(x))                                  (causal: position t sees positions <= t)
    x   = x' + MLP(LN(x'))                                 (Linear d -> 4d, GELU, Linear 4d -> d)
    logits = head(LN(x_L))                                 (T, 96): the next character's scores

Causal attention per head (dimension d / h): softmax(q k^T / sqrt(d / h) + M) v, where M[t, s] = 0
for s <= t and -inf for s > t.

Two ways to run it, equal up to float rounding:
- forward(ids) on a (B, T) batch of windows gives every position's logits at once (training, bpc);
- step(ids, cache) adds one character per sequence, keeping each layer's keys and values (the KV
  cache), so predicting the next character costs one position, not T (coding: coder.py).

Reading a text (bits per character, coding): the text t_0 .. t_{n-1} is read in non-overlapping
windows of C characters; window k predicts t_{kC} .. t_{kC+C-1} from the inputs
t_{kC-1} .. t_{kC+C-2}, where t_{-1} is START (the newline). So every character is predicted
exactly once, from at least one character before it and at most C.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
START = 0  # VOCAB[0], the newline: the input before a text's first character

# The configurations. "model": GPT's arguments; "train": train.train's budget and optimizer.
CONFIGS = {
    # a few seconds on one core: the graders' and CI's
    "tiny": {
        "model": {"d_model": 32, "n_layer": 2, "n_head": 2, "context": 32},
        "train": {"steps": 300, "batch": 16, "lr": 3e-3, "min_lr": 3e-4, "warmup": 30, "weight_decay": 0.1, "clip": 1.0},
    },
    # about 10 minutes on 2 CPU cores
    "cpu": {
        "model": {"d_model": 128, "n_layer": 4, "n_head": 4, "context": 128},
        "train": {"steps": 2600, "batch": 32, "lr": 2e-3, "min_lr": 2e-4, "warmup": 100, "weight_decay": 0.1, "clip": 1.0},
    },
    # about a minute on one H200, bfloat16 autocast (nanoGPT's shakespeare_char shape; past ~2,500
    # steps it overfits the corpus without dropout: set "dropout" here to train longer)
    "gpu": {
        "model": {"d_model": 384, "n_layer": 6, "n_head": 6, "context": 256},
        "train": {"steps": 2500, "batch": 64, "lr": 1e-3, "min_lr": 1e-4, "warmup": 200, "weight_decay": 0.1, "clip": 1.0},
    },
}


def encode(text: str) -> torch.Tensor:
    """The ids (n,) int64 of `text`; ValueError naming the first character not in VOCAB."""
    table = {c: i for i, c in enumerate(VOCAB)}
    try:
        return torch.tensor([table[c] for c in text], dtype=torch.int64)
    except KeyError as e:
        raise ValueError(f"character {e.args[0]!r} is not in the model's alphabet (newline and ASCII 32-126)") from None


def decode(ids) -> str:
    """The text of ids (any iterable of ints in 0 .. 95)."""
    return "".join(VOCAB[int(i)] for i in ids)


def windows(ids: torch.Tensor, context: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The module docstring's reading of a text: [(inputs (T,), targets (T,)), ...], T = context but
    for the last window, targets covering ids once, in order."""
    inputs = torch.cat([torch.tensor([START]), ids[:-1]])
    return [(inputs[i : i + context], ids[i : i + context]) for i in range(0, len(ids), context)]


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then the MLP, each added to the stream."""

    def __init__(self, d_model: int, n_head: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_head = n_head
        self.drop = nn.Dropout(dropout)
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.out = nn.Linear(4 * d_model, d_model, bias=False)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        return x.view(B, T, self.n_head, D // self.n_head).transpose(1, 2)  # (B, h, T, d / h)

    def attend(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None):
        """Attention over x (B, T, d) after the cached keys and values `past`; (output, (k, v))."""
        q, k, v = (self.heads(t) for t in self.qkv(x).chunk(3, dim=-1))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        T, S = q.shape[2], k.shape[2]  # queries are the last T of the S positions
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        causal = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)
        scores = scores.masked_fill(~causal, float("-inf"))
        y = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(x.shape)
        return self.proj(y), (k, v)

    def forward(self, x: torch.Tensor, past=None):
        a, kv = self.attend(self.ln1(x), past)
        x = x + self.drop(a)
        x = x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))
        return x, kv


class GPT(nn.Module):
    """The character model. GPT(**CONFIGS[name]["model"])."""

    def __init__(
        self, d_model: int = 128, n_layer: int = 4, n_head: int = 4, context: int = 128, vocab: int = 96, dropout: float = 0.0
    ):
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"n_head {n_head} does not divide d_model {d_model}")
        self.config = {"d_model": d_model, "n_layer": n_layer, "n_head": n_head, "context": context, "vocab": vocab}
        self.context = context
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.drop = nn.Dropout(dropout)  # in training only (nanoGPT's): on the embeddings and each sublayer's output
        self.blocks = nn.ModuleList(Block(d_model, n_head, dropout) for _ in range(n_layer))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) of the next character at every position of ids (B, T), T <= context."""
        T = ids.shape[1]
        if T > self.context:
            raise ValueError(f"{T} positions, more than the context of {self.context}")
        x = self.drop(self.tok(ids) + self.pos(torch.arange(T, device=ids.device)))
        for block in self.blocks:
            x, _ = block(x)
        return self.head(self.ln(x))

    def step(self, ids: torch.Tensor, cache: list | None = None) -> tuple[torch.Tensor, list]:
        """One more character per sequence: ids (B,) at position t = the cache's length (0 for None,
        a new sequence). Returns (logits (B, vocab) of the character at t + 1, the cache grown by one);
        t must stay below the context (start a new cache for a new window)."""
        t = 0 if cache is None else cache[0][0].shape[2]
        if t >= self.context:
            raise ValueError(f"position {t} is past the context of {self.context}: start a new cache")
        x = self.tok(ids[:, None]) + self.pos(torch.tensor([t], device=ids.device))
        grown = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            grown.append(kv)
        return self.head(self.ln(x))[:, 0], grown


def save(model: GPT, path, history: dict | None = None) -> None:
    """The float32 checkpoint: {"config": model.config, "state": state dict}, and train.train's
    history when given (what `course plot capstone` draws the training curve from)."""
    saved = {"config": model.config, "state": {k: v.detach().cpu().float() for k, v in model.state_dict().items()}}
    if history is not None:
        saved["history"] = {k: v for k, v in history.items() if k in ("loss", "lr", "valid", "seconds")}
    torch.save(saved, path)


def load(path, map_location: str = "cpu") -> GPT:
    """A GPT from save's checkpoint (tensors only: weights_only loading)."""
    saved = torch.load(path, map_location=map_location, weights_only=True)
    model = GPT(**saved["config"])
    model.load_state_dict(saved["state"])
    return model.eval()
