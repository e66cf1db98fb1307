"""Drivers for hw3: the little that must run in the student's process, and nothing that judges.

The grading side runs every loop of hw3 itself (`grader.suites.hw3.loops`): it builds the student's
optimizer by calling the class in the student's module through the seam, computes every loss and
gradient, calls the optimizer's own `step()` and reads the weights back from its `param_groups`.
Two things need code beside the student's: handing gradients to the optimizer's parameters
(`set_grads`, which returns nothing) and calling `clip_grad_norm` on parameters that hold
gradients (`clip`, which returns the function's raw output). Whatever these return or do is checked
on the grading side; nothing here is a verdict."""

from __future__ import annotations

import importlib

import torch


def set_grads(optimizer, grads: list, in_place: bool = False) -> None:
    """Clear the gradients of `optimizer`'s parameters (in param_groups order) and give them these.

    `grads` has one entry per parameter: None (no gradient: p.grad stays None) or a list of tensors
    added into p.grad one after the other, as the backward passes of gradient accumulation would.
    in_place=False: optimizer.zero_grad() (p.grad set to None) first; True: zero_grad(set_to_none=
    False), so p.grad is zeroed in place and the parts are added into that same tensor."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if len(grads) != len(params):
        raise ValueError(f"{len(grads)} gradients for {len(params)} parameters")
    optimizer.zero_grad(set_to_none=not in_place)
    with torch.no_grad():
        for p, parts in zip(params, grads):
            for part in parts or ():
                part = torch.as_tensor(part).to(dtype=p.dtype)
                if p.grad is None:
                    p.grad = part.clone()
                else:
                    p.grad.add_(part)


def clip(grads: list, max_norm: float) -> dict:
    """The student's clip_grad_norm on parameters holding these gradients: what it returned, and
    the gradients after it."""
    fn = importlib.import_module("optimizers").clip_grad_norm
    params = [torch.nn.Parameter(torch.zeros_like(torch.as_tensor(g))) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.as_tensor(g).clone()
    norm = fn(params, max_norm)
    return {"norm": norm, "grads": [p.grad for p in params]}
