"""hw3, part 1: optimizers as torch.optim.Optimizer subclasses: SGD with momentum, Adam, AdamW, LAMB.

Each keeps its per-parameter state in `self.state[p]` (so `state_dict()` / `load_state_dict()`
save and restore it), honours every param group's own hyper-parameters, and skips parameters
whose `.grad` is None. Updates run under `torch.no_grad()`. Write the arithmetic yourself: torch.optim's
optimizers (as base classes, wrapped or called), their functional update rules, optimizer packages such
as torch_optimizer and torch.nn.utils.clip_grad_norm_ may not be used here; torch.optim.Optimizer as the
base class is allowed.
Each class's docstring gives its update, with g the gradient, t the step count (1 on the first step),
lr the learning rate, wd the weight decay, (b1, b2) = betas and eps. `evaluate` and `moment_state`
are given module functions; `moment_state(optimizer, p)` is not a method: in a step, pass `self`.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


def evaluate(closure):
    """The loss from `closure` (run with gradients enabled, as torch.optim does), or None."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def moment_state(optimizer: Optimizer, p: torch.Tensor) -> dict:
    """`optimizer.state[p]` for Adam, AdamW and LAMB, created on first use as torch.optim keeps it:
    "step" (a float tensor, 0 before the first step), "exp_avg" m and "exp_avg_sq" v (zeros like p)."""
    state = optimizer.state[p]
    if not state:
        state["step"] = torch.tensor(0.0)
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
    return state


class SGD(Optimizer):
    """Task 3.1. SGD with momentum, dampening, Nesterov and L2 weight decay (as torch.optim.SGD).

        g <- g + wd * w
        b <- g                           on the first step (a copy of the gradient, not p.grad itself)
        b <- momentum * b + (1 - dampening) * g     afterwards
        d <- g + momentum * b  (Nesterov)   or   b  (otherwise; d = g when momentum = 0)
        w <- w - lr * d
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):
        loss = evaluate(closure)
        raise NotImplementedError("Task 3.1: step is not implemented yet")
        return loss


class Adam(Optimizer):
    """Task 3.2. Adam (Kingma & Ba 2014) with L2 weight decay, as torch.optim.Adam.

        g <- g + wd * w                  (L2: the decay goes through the moments)
        m <- b1 * m + (1 - b1) * g ;   v <- b2 * v + (1 - b2) * g^2
        m_hat = m / (1 - b1^t) ;       v_hat = v / (1 - b2^t)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)      (eps added after the bias correction)

    A loop over the parameters is fine. For speed, torch._foreach_* ops (e.g. _foreach_lerp_,
    _foreach_addcmul_, _foreach_addcdiv_) apply one operation to a whole list of tensors.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    decoupled = False  # AdamW sets this: decay the weights directly instead of through the gradient

    @torch.no_grad()
    def step(self, closure=None):
        loss = evaluate(closure)
        raise NotImplementedError("Task 3.2: step is not implemented yet")
        return loss


class AdamW(Adam):
    """Task 3.2. AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, as torch.optim.AdamW.

        w <- w * (1 - lr * wd)           first, outside the moments
        then the Adam update with the raw gradient g.
    """

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class LAMB(Optimizer):
    """Task 3.3. LAMB (You et al. 2019): Adam moments, decoupled decay, a trust ratio per tensor.

        m, v as in Adam (no weight decay in g);  m_hat, v_hat bias-corrected if `bias_correction`
        r = m_hat / (sqrt(v_hat) + eps) + wd * w            the update direction, decay inside it
        phi = clamp(||w||, clamp[0], clamp[1])
        ratio = phi / ||r||,   or 1 when phi = 0 or ||r|| = 0
        w <- w - lr * ratio * r

    One trust ratio per parameter tensor (per layer), never one for the whole model.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, clamp: tuple[float, float] = (0.0, 10.0), bias_correction: bool = True):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      clamp=tuple(clamp), bias_correction=bias_correction))

    @torch.no_grad()
    def step(self, closure=None):
        loss = evaluate(closure)
        raise NotImplementedError("Task 3.3: step is not implemented yet")
        return loss


def clip_grad_norm(parameters, max_norm: float) -> float:
    """Task 3.4. Scale all gradients together so their global L2 norm is at most max_norm.

    total = sqrt(sum over tensors of ||g||^2); if total > max_norm, every g <- g * max_norm / (total + 1e-6)
    (as torch.nn.utils.clip_grad_norm_). Returns the norm before clipping, as a float.
    """
    raise NotImplementedError("Task 3.4: clip_grad_norm is not implemented yet")


def warmup_cosine(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Task 3.4. The learning rate at `step` (0-based): linear warmup, then cosine decay.

        step < warmup:   base_lr * (step + 1) / warmup_steps
        afterwards:      min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2,
                         p = (step - warmup_steps) / (total_steps - warmup_steps), clipped to [0, 1]
    """
    raise NotImplementedError("Task 3.4: warmup_cosine is not implemented yet")
