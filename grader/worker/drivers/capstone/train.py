"""Task 6.1's drivers: the student's train module on the course's models (CourseGPT, with weights the
grading side chose), returning raw outputs only: batches, a bits-per-character figure, the names in
each parameter group, and a training run's weights with what AdamW saw at each step (the learning
rate and weight decay of every group, its betas, the global norm of the gradients it stepped with).
The training run builds CourseGPT in place of gpt.GPT, so that it grades the loop, not gpt.py.
CourseGPT and state_of come from 00_common.py: the parts are joined into one module."""
# ruff: noqa: F821
# mypy: disable-error-code="name-defined,attr-defined"

import importlib

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook


def train_batch(ids, batch: int, context: int, seed: int, global_seed: int) -> tuple:
    """The student's get_batch(ids, batch, context, a generator seeded with `seed`), after seeding
    torch's global generator with `global_seed` (a draw must not depend on it)."""
    torch.manual_seed(global_seed)
    generator = torch.Generator().manual_seed(seed)
    return importlib.import_module("train").get_batch(torch.as_tensor(ids).long(), batch, context, generator)


def train_bits(config: dict, state: dict, ids, batch: int | None = None):
    """The student's bits_per_char of CourseGPT(**config) holding `state` on `ids`."""
    model = CourseGPT(**config)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    model.eval()
    kwargs = {} if batch is None else {"batch": batch}
    return importlib.import_module("train").bits_per_char(model, torch.as_tensor(ids).long(), **kwargs)


def train_mixed_model() -> nn.Module:
    """A model beside gpt.GPT's shape: an embedding, linear layers with biases and a LayerNorm."""
    return nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 3))


def train_groups(config: dict | None, weight_decay: float) -> list:
    """The student's param_groups of CourseGPT(**config) (or of `train_mixed_model` for None): per
    group, the names of its parameters (in its order; "?" for one not in the model), its
    weight_decay (None when the group has none) and its keys."""
    model = train_mixed_model() if config is None else CourseGPT(**config)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = importlib.import_module("train").param_groups(model, weight_decay)
    out = []
    for group in groups:
        params = group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        out.append(
            {
                "names": [names.get(id(p), "?") for p in params],
                "weight_decay": group.get("weight_decay"),
                "keys": sorted(str(k) for k in group),
            }
        )
    return out


def train_grad_norm(groups: list) -> float:
    total = 0.0
    for group in groups:
        for p in group["params"]:
            if p.grad is not None:
                total += float(p.grad.detach().double().pow(2).sum())
    return total**0.5


def train_run(config: dict, ids, valid, seed: int, every: int) -> dict:
    """The student's train(config, ids, "cpu", seed, valid, every) with CourseGPT in place of gpt.GPT
    (in gpt, and under any name train.py holds it by): the returned model's state dict, the history, and per AdamW
    step (a global pre-step hook): the optimizer's class, each group's lr, weight_decay and betas,
    the global norm of the gradients, and at the first step the names of each group's parameters."""
    train = importlib.import_module("train")
    gpt = importlib.import_module("gpt")
    built: list = []

    class Built(CourseGPT):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    steps: list = []

    def seen(optimizer, args, kwargs):
        groups = optimizer.param_groups
        step = {
            "optimizer": type(optimizer).__module__ + "." + type(optimizer).__name__,
            "lr": [float(g.get("lr", float("nan"))) for g in groups],
            "weight_decay": [float(g.get("weight_decay", float("nan"))) for g in groups],
            "betas": [[float(b) for b in g.get("betas", ())] for g in groups],
            "grad_norm": train_grad_norm(groups),
        }
        if not steps:
            names = {id(p): n for m in built for n, p in m.named_parameters()}
            step["names"] = [[names.get(id(p), "?") for p in g["params"]] for g in groups]
        steps.append(step)

    original = getattr(gpt, "GPT", None)
    saved = [(m, name, value) for m in (train, gpt) for name, value in vars(m).items() if value is original is not None]
    for m, name, _ in saved:  # gpt.GPT and whatever name train.py gave it
        setattr(m, name, Built)
    handle = register_optimizer_step_pre_hook(seen)
    try:
        valid = None if valid is None else torch.as_tensor(valid).long()
        out = train.train(config, torch.as_tensor(ids).long(), "cpu", seed, valid, every)
    finally:
        handle.remove()
        for m, name, value in saved:
            setattr(m, name, value)
    model, history = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
    return {
        "state": state_of(model) if isinstance(model, nn.Module) else None,
        "returned": type(model).__name__,
        "history": history,
        "steps": steps,
        "built": len(built),
    }
