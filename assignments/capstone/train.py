"""Capstone, part 1 (task 6.1): train the character model (gpt.py) and measure it in bits per character.

The recipe is nanoGPT's (and hw3's): AdamW (Loshchilov & Hutter 2019) with betas (0.9, 0.95), weight
decay on the matrices only (parameters with two or more dimensions: the linear layers and both
embeddings), never on LayerNorm's gains and biases; the learning rate warmed up linearly, then
cosine-decayed; the gradients clipped to a global norm. A batch is B windows of C + 1 consecutive
characters drawn uniformly from the training ids: the first C are the inputs, the last C the targets.

Bits per character of a model on a text: -(1/n) sum_t log2 p(t_t | the characters before it), read
in gpt.py's non-overlapping windows (every character predicted once). Cross-entropy from torch is in
nats: divide by ln 2.

The same script trains on one process or many: under `torchrun --nproc_per_node N train.py ...`
(torch.distributed's launcher) each process takes its own batches and DistributedDataParallel
averages the gradients, so N processes make one step with N times the batch.

    python train.py --config cpu --out model.pt           # about 10 minutes on 2 CPU cores
    python train.py --config gpu --device cuda --out model.pt
    torchrun --nproc_per_node 2 train.py --config tiny --out tiny.pt

Every entry point takes a `device` ("cpu", "cuda"); results come back on the CPU.
Invalid input raises ValueError with a message saying what is wrong.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import click
import torch
from gpt import CONFIGS, GPT, encode, save, windows
from torch import nn
from torch.nn import functional as F
from torch.optim.optimizer import register_optimizer_step_post_hook


def lr_at(step: int, steps: int, lr: float, min_lr: float, warmup: int) -> float:
    """Task 6.1. The learning rate of step `step` (0, 1, ..., steps - 1):
    lr (step + 1) / warmup while step < warmup; then, with progress u = (step - warmup) / (steps - warmup),
    min_lr + (lr - min_lr) (1 + cos(pi u)) / 2."""
    if not 0 <= warmup < steps or not 0 <= step < steps:
        raise ValueError(f"need 0 <= warmup < steps and 0 <= step < steps, got step={step}, steps={steps}, warmup={warmup}")
    # HINT: the first step (0) already has lr / warmup; u runs from 0 at step = warmup towards 1.
    raise NotImplementedError("Task 6.1: lr_at is not implemented yet")


def get_batch(ids: torch.Tensor, batch: int, context: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Task 6.1. (x, y), each (batch, context) int64: row b is ids[s : s + context] and
    ids[s + 1 : s + context + 1] for a start s drawn uniformly from every start that fits
    (0 .. len(ids) - context - 1), with torch.randint and `generator`."""
    if ids.dim() != 1 or len(ids) <= context:
        raise ValueError(f"ids must be 1-D and longer than the context {context}, got shape {tuple(ids.shape)}")
    # HINT: torch.randint(high, (batch,), generator=generator) draws from 0 .. high - 1.
    raise NotImplementedError("Task 6.1: get_batch is not implemented yet")


@torch.no_grad()
def bits_per_char(model: GPT, ids: torch.Tensor, device: str = "cpu", batch: int = 64) -> float:
    """Task 6.1. The model's bits per character on the text `ids` (n,), read in gpt.windows:
    -(1/n) sum over the n characters of log2 of the probability the model gave it."""
    if ids.dim() != 1 or len(ids) == 0:
        raise ValueError("ids must be a non-empty 1-D tensor")
    # HINT: F.cross_entropy(..., reduction="sum") is in nats; stack the full windows into batches, the last (shorter) one alone.
    raise NotImplementedError("Task 6.1: bits_per_char is not implemented yet")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Task 6.1. AdamW's two groups: [{"params": the parameters with dim >= 2, "weight_decay": weight_decay},
    {"params": the others, "weight_decay": 0.0}], each in model.parameters() order."""
    raise NotImplementedError("Task 6.1: param_groups is not implemented yet")


def train(
    config: dict, ids: torch.Tensor, device: str = "cpu", seed: int = 0, valid: torch.Tensor | None = None, every: int = 0
) -> tuple[GPT, dict]:
    """Task 6.1. Train a GPT(**config["model"]) on `ids` for config["train"]["steps"] steps and
    return (the model in eval mode on the CPU, history).

    config["train"] holds steps, batch, lr, min_lr, warmup, weight_decay and clip. The model is
    built right after torch.manual_seed(seed), then moved to `device`; batches come from get_batch
    with a generator seeded with seed + rank (rank 0 without torch.distributed). Each step: set every
    group's lr to lr_at(step, ...), forward (in bfloat16 autocast on CUDA), the mean cross-entropy
    of all B x C targets, backward, clip the global gradient norm to `clip`, AdamW step (betas 0.9,
    0.95; param_groups). When torch.distributed is initialised the model is wrapped in
    DistributedDataParallel. history = {"loss": [per step, in nats], "lr": [per step], "valid":
    [(step, bits_per_char on valid), ...] every `every` steps and after the last when valid is
    given, "seconds": float}.
    """
    t = config["train"]
    if t["steps"] < 1 or t["batch"] < 1:
        raise ValueError(f"steps and batch must be positive, got {t['steps']} and {t['batch']}")
    # HINT: torch.distributed.get_rank() when torch.distributed.is_initialized(); wrap with
    # HINT: nn.parallel.DistributedDataParallel(model) and step its parameters.
    raise NotImplementedError("Task 6.1: train is not implemented yet")


def data_folder() -> Path:
    """The course's datasets/shakespeare, the nearest above this file (the course root's)."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "datasets" / "shakespeare" / "train.txt").is_file():
            return folder / "datasets" / "shakespeare"
    raise FileNotFoundError("no datasets/shakespeare/train.txt above train.py: pass --data FOLDER")


def corpus(data: Path | None = None) -> torch.Tensor:
    """The training corpus's ids: train.txt then more_plays.txt of `data` (by default the course's
    datasets/shakespeare: 33 plays, its README.md)."""
    data = data_folder() if data is None else Path(data)
    return encode((data / "train.txt").read_text() + (data / "more_plays.txt").read_text())


def main(argv: list[str] | None = None) -> None:
    """Train a configuration and save its float32 checkpoint (gpt.save); see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    p.add_argument("--out", type=Path, default=Path("model.pt"))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="override the configuration's steps (the warmup scaled alike)")
    p.add_argument("--data", type=Path, help="the folder of train.txt and more_plays.txt (default: the course's)")
    p.add_argument("--valid", type=Path, help="a text to report bits per character on while training")
    a = p.parse_args(argv)
    config = {k: dict(v) for k, v in CONFIGS[a.config].items()}
    if a.steps:  # a shorter (or longer) run: the warmup keeps its share of the steps
        t = config["train"]
        t["warmup"], t["steps"] = t["warmup"] * a.steps // t["steps"], a.steps
    distributed = "RANK" in os.environ  # started by torchrun
    if distributed:
        torch.distributed.init_process_group("nccl" if a.device.startswith("cuda") else "gloo")
        if a.device.startswith("cuda"):
            a.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    valid = encode(a.valid.read_text()) if a.valid else None
    ids, steps = corpus(a.data), config["train"]["steps"]
    rank0 = not distributed or torch.distributed.get_rank() == 0
    # a bar over the steps on standard error (rank 0's), moved by every optimizer step train() makes
    with click.progressbar(length=steps, label=f"training {a.config}", file=sys.stderr, show_pos=True, hidden=not rank0) as bar:
        hook = register_optimizer_step_post_hook(lambda *_: bar.update(1))
        try:
            model, history = train(config, ids, a.device, a.seed, valid, every=max(1, steps // 10))
        finally:
            hook.remove()
    if rank0:
        save(model, a.out, history)
        for step, bpc in history["valid"]:
            print(f"step {step}: {bpc:.3f} bits per character on {a.valid.name}")
        print(f"{a.out}: {sum(p.numel() for p in model.parameters()):,} parameters, {steps} steps in {history['seconds']:.0f} s")
    if distributed:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
