"""Drivers for hw3: the same small problems run with the student's optimizer in the worker and
with the reference (torch.optim, torch_optimizer, or a formula) on the grading side.

`run_with` hands back what an optimizer did, step by step (the weights after every step); every
comparison is made on the grading side."""

from __future__ import annotations

import importlib
import math

import torch

ZEROING = ("none", "zeros", "accumulate")  # how gradients are cleared between steps (see `backward`)


def build_problem(seed: int = 0):
    """A two-layer model, one parameter that never gets a gradient, and a fixed batch."""
    g = torch.Generator().manual_seed(seed)
    first = torch.nn.Parameter(torch.randn(5, 6, generator=g) * 0.5)
    bias = torch.nn.Parameter(torch.randn(5, generator=g) * 0.1)
    second = torch.nn.Parameter(torch.randn(3, 5, generator=g) * 0.5)
    unused = torch.nn.Parameter(torch.randn(4, generator=g))
    x, y = torch.randn(32, 6, generator=g), torch.randn(32, 3, generator=g)
    return [first, bias, second, unused], x, y


def loss_of(params, x, y, step: int):
    first, bias, second, _ = params
    scale = 1.0 + 0.5 * math.sin(step)  # gradients that change from step to step
    return ((torch.tanh(x @ first.T + bias) @ second.T - y * scale) ** 2).mean()


def backward(opt, params, x, y, step: int, zeroing: str) -> None:
    """Clear the gradients and compute this step's. "none": zero_grad() (p.grad set to None);
    "zeros": zero_grad(set_to_none=False) (p.grad zeroed in place); "accumulate": zeroed in place,
    then two half-batches accumulated into p.grad, as in gradient accumulation."""
    if zeroing not in ZEROING:
        raise ValueError(f"zeroing must be one of {ZEROING}")
    if zeroing == "none":
        opt.zero_grad()
        loss_of(params, x, y, step).backward()
        return
    opt.zero_grad(set_to_none=False)
    if zeroing == "zeros":
        loss_of(params, x, y, step).backward()
        return
    half = len(x) // 2
    for part in (slice(0, half), slice(half, None)):
        (loss_of(params, x[part], y[part], step) / 2).backward()


def run_with(cls, kwargs: dict, groups: list, steps: int, reload_at: int | None, seed: int = 0,
             zeroing: str = "none") -> dict:
    """`steps` steps of `cls` on the problem; at `reload_at` the optimizer is rebuilt from its
    state_dict (a save and a load in the middle of training). Returns the weights before the first
    step and after each ("path": per parameter, shape (steps + 1, *shape))."""
    params, x, y = build_problem(seed)

    def build():
        return cls([{"params": params[:2], **groups[0]}, {"params": params[2:], **groups[1]}], **kwargs)

    opt = build()
    path = [[p.detach().clone()] for p in params]
    for step in range(steps):
        if step == reload_at:
            saved = opt.state_dict()
            opt = build()
            opt.load_state_dict(saved)
        backward(opt, params, x, y, step, zeroing)
        opt.step()
        for p, trace in zip(params, path):
            trace.append(p.detach().clone())
    return {"path": [torch.stack(trace) for trace in path], "state_entries": len(opt.state)}


def run(name: str, kwargs: dict, groups: list, steps: int, reload_at: int | None, seed: int = 0,
        zeroing: str = "none") -> dict:
    """The student's optimizer class `name` on the problem."""
    cls = getattr(importlib.import_module("optimizers"), name)
    out = run_with(cls, kwargs, groups, steps, reload_at, seed, zeroing)
    out["is_optimizer"] = issubclass(cls, torch.optim.Optimizer)
    return out


def lamb_first_step(weights: list, grads: list, kwargs: dict) -> list:
    """One LAMB step from given weights and gradients (edge cases: zero weights, zero gradients)."""
    cls = importlib.import_module("optimizers").LAMB
    params = [torch.nn.Parameter(torch.tensor(w, dtype=torch.float64)) for w in weights]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
    cls(params, **kwargs).step()
    return [p.detach() for p in params]


def clip(grads: list, max_norm: float) -> dict:
    """The student's clip_grad_norm on parameters holding these gradients."""
    fn = importlib.import_module("optimizers").clip_grad_norm
    params = [torch.nn.Parameter(torch.zeros_like(torch.as_tensor(g))) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.as_tensor(g).clone()
    norm = fn(params, max_norm)
    return {"norm": float(norm), "grads": [p.grad for p in params]}


def rosenbrock(name: str, kwargs: dict, steps: int, start=(-1.5, 2.0)) -> dict:
    """The student's optimizer on f(x, y) = (1 - x)^2 + 100 (y - x^2)^2; the trajectory."""
    cls = getattr(importlib.import_module("optimizers"), name)
    xy = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    opt = cls([xy], **kwargs)
    path = [xy.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        ((1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2).backward()
        opt.step()
        path.append(xy.detach().clone())
    return {"path": torch.stack(path)}


def large_batch(x_train, y_train, x_eval, name: str, lr: float, batch: int, epochs: int, seed: int = 0) -> dict:
    """A 64-128-10 MLP on the digits with the student's optimizer; predictions for x_eval."""
    cls = getattr(importlib.import_module("optimizers"), name)
    torch.manual_seed(seed)
    x, y = torch.as_tensor(x_train, dtype=torch.float32), torch.as_tensor(y_train, dtype=torch.long)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = cls(model.parameters(), lr=lr, weight_decay=0.01) if name == "LAMB" else cls(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    with torch.no_grad():
        predictions = model(torch.as_tensor(x_eval, dtype=torch.float32)).argmax(1)
    return {"predictions": predictions, "loss": losses}


def large_batch_runs(x_train, y_train, x_eval, name: str, lr: float, batch: int, epochs: int, seeds: list) -> list:
    """`large_batch` once per seed: the predictions for x_eval of each run."""
    return [large_batch(x_train, y_train, x_eval, name, lr, batch, epochs, seed)["predictions"] for seed in seeds]
