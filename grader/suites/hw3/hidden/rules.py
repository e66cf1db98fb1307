"""Grading-side update rules for hw3's feedback: SGD, Adam/AdamW and LAMB written out once, each
with switches that turn it into a known mistake. (Hidden: written out, they are the answer.)

When a student's optimizer first moves differently from the reference, `grader.suites.hw3.
trajectories` runs these rules on the same problem; a mistake whose trajectory the student's
follows names what went wrong, from behaviour alone (the student's code is never read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.optim import Optimizer


@dataclass(frozen=True)
class Mistake:
    """A known wrong rule: `key` switches it on in a rule class, `says` explains it to the student."""

    key: str
    says: str


class Rule(Optimizer):
    """What every rule shares: one `mistake` switched on (or none), hyper-parameters read per group
    (or, for the mistake "defaults:<name>", from the optimizer's defaults), and a state that a
    reload may lose (the mistake "not_restored")."""

    def __init__(self, params, defaults: dict, mistake: str = ""):
        super().__init__(params, defaults)
        self.mistake = mistake

    def hp(self, group: dict, name: str):
        return self.defaults[name] if self.mistake == f"defaults:{name}" else group[name]

    def load_state_dict(self, state_dict):
        if self.mistake == "not_restored":
            state_dict = {**state_dict, "state": {}}
        super().load_state_dict(state_dict)

    def moments(self, p) -> dict:
        state = self.state[p]
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        return state


def with_grads(group: dict) -> list:
    """The group's parameters that have a gradient (the others get no update and no state)."""
    return [p for p in group["params"] if p.grad is not None]


def shared(state: str) -> list[Mistake]:
    """The mistakes every optimizer can make with its state."""
    return [
        Mistake("not_restored", f"the {state} did not survive state_dict() and load_state_dict(): keep it in self.state[p]"),
        Mistake("defaults:lr", "each param group's own lr is ignored: read hyper-parameters from the group, not the defaults"),
    ]


class SGDRule(Rule):
    """torch.optim.SGD, written out."""

    MISTAKES = [
        Mistake(
            "alias",
            "the momentum buffer shares memory with p.grad, so zero_grad(set_to_none=False) and gradient "
            "accumulation write into it: start it as a copy, b = g.clone()",
        ),
        Mistake(
            "buffer_from_zero",
            "the momentum buffer starts at 0, which damps the first step: torch starts it at the first gradient itself, b = g",
        ),
        Mistake("no_dampening", "the dampening is ignored: b <- momentum * b + (1 - dampening) * g"),
        Mistake("no_nesterov", "the Nesterov look-ahead is missing: with nesterov=True the step is g + momentum * b"),
        Mistake("nesterov_swapped", "the Nesterov step is b + momentum * g; it is g + momentum * b"),
        Mistake(
            "decay_decoupled",
            "the weight decay is applied to the weights directly; SGD's is L2: g <- g + wd * w, before the momentum",
        ),
        Mistake("defaults:momentum", "each param group's own momentum is ignored: read hyper-parameters from the group"),
        Mistake("defaults:weight_decay", "each param group's own weight_decay is ignored: read hyper-parameters from the group"),
        *shared("momentum buffer"),
    ]

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, mistake=""):
        super().__init__(
            params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov), mistake
        )

    @torch.no_grad()
    def step(self, closure=None):
        bad = self.mistake
        for group in self.param_groups:
            lr, mu, wd = self.hp(group, "lr"), self.hp(group, "momentum"), self.hp(group, "weight_decay")
            tau = 0.0 if bad == "no_dampening" else group["dampening"]
            nesterov = group["nesterov"] and bad != "no_nesterov"
            for p in with_grads(group):
                g = p.grad
                if wd != 0:
                    if bad == "decay_decoupled":
                        p.mul_(1 - lr * wd)
                    else:
                        g = g.add(p, alpha=wd)
                if mu != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = g if bad == "alias" else g.mul(1 - tau) if bad == "buffer_from_zero" else g.clone()
                        state["momentum_buffer"] = buf
                    else:
                        buf = state["momentum_buffer"].mul_(mu).add_(g, alpha=1 - tau)
                    if nesterov:
                        g = buf.add(g, alpha=mu) if bad == "nesterov_swapped" else g.add(buf, alpha=mu)
                    else:
                        g = buf
                p.add_(g, alpha=-lr)


class AdamRule(Rule):
    """torch.optim.Adam (decoupled=False) and torch.optim.AdamW (decoupled=True), written out."""

    MISTAKES = [
        Mistake("no_bias_correction", "m and v are not bias-corrected: m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)"),
        Mistake("no_bias_correction_m", "m is not bias-corrected: m_hat = m / (1 - beta1^t)"),
        Mistake("no_bias_correction_v", "v is not bias-corrected: v_hat = v / (1 - beta2^t)"),
        Mistake("eps_inside", "eps is inside the square root: the step divides by sqrt(v_hat) + eps, not sqrt(v_hat + eps)"),
        Mistake(
            "eps_before_correction",
            "eps is added before v's bias correction: the step divides by sqrt(v_hat) + eps, with v_hat = v / (1 - beta2^t)",
        ),
        Mistake(
            "decay_decoupled", "the weight decay is decoupled (AdamW's rule); Adam's is L2: g <- g + wd * w, through the moments"
        ),
        Mistake(
            "decay_coupled",
            "the weight decay is coupled (L2 through the moments, Adam's rule); AdamW decays the "
            "weights directly: w <- w * (1 - lr * wd)",
        ),
        Mistake("decay_without_lr", "the weight decay is not scaled by the learning rate: w <- w * (1 - lr * wd)"),
        Mistake("betas_swapped", "beta1 and beta2 are swapped: m averages with beta1, v with beta2"),
        Mistake("m_weights_swapped", "m's weights are swapped: m <- beta1 * m + (1 - beta1) * g"),
        Mistake("defaults:betas", "each param group's own betas are ignored: read hyper-parameters from the group"),
        *shared("state (step, exp_avg, exp_avg_sq)"),
    ]

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, mistake=""):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay), mistake)
        self.decoupled = decoupled

    @torch.no_grad()
    def step(self, closure=None):
        bad = self.mistake
        decoupled = {"decay_decoupled": True, "decay_coupled": False}.get(bad, self.decoupled)
        for group in self.param_groups:
            lr, wd, eps = self.hp(group, "lr"), group["weight_decay"], group["eps"]
            b1, b2 = self.hp(group, "betas")
            if bad == "betas_swapped":
                b1, b2 = b2, b1
            for p in with_grads(group):
                g, state = p.grad, self.moments(p)
                state["step"] += 1
                t = state["step"]
                if wd != 0:
                    if decoupled:
                        p.mul_(1 - (wd if bad == "decay_without_lr" else lr * wd))
                    else:
                        g = g.add(p, alpha=wd)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if bad == "m_weights_swapped":
                    m.mul_(1 - b1).add_(g, alpha=b1)
                else:
                    m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                c1 = 1.0 if bad in ("no_bias_correction", "no_bias_correction_m") else 1 - b1**t
                c2 = 1.0 if bad in ("no_bias_correction", "no_bias_correction_v") else 1 - b2**t
                if bad == "eps_inside":
                    denom = (v / c2 + eps).sqrt()
                elif bad == "eps_before_correction":
                    denom = (v.sqrt() + eps) / math.sqrt(c2)
                else:
                    denom = v.sqrt() / math.sqrt(c2) + eps
                p.addcdiv_(m, denom, value=-lr / c1)


class LAMBRule(Rule):
    """The handout's LAMB (with bias_correction=False and clamp=(0, 10), torch_optimizer.Lamb)."""

    MISTAKES = [
        Mistake(
            "global_ratio",
            "one trust ratio for the whole param group: LAMB uses one per parameter tensor, "
            "clamp(||w||) / ||r|| of that tensor alone",
        ),
        Mistake("no_decay", "the weight decay is missing: r = m_hat / (sqrt(v_hat) + eps) + wd * w"),
        Mistake("decay_outside_ratio", "the weight decay is outside the trust ratio: it is part of r, and ||r|| includes it"),
        Mistake("no_clamp", "phi = ||w|| is not clamped to [clamp[0], clamp[1]]"),
        Mistake("bias_correction_always", "the moments are bias-corrected although bias_correction=False"),
        Mistake(
            "bias_correction_never",
            "the moments are not bias-corrected although bias_correction=True: "
            "m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t)",
        ),
        Mistake("eps_inside", "eps is inside the square root: r divides by sqrt(v_hat) + eps, not sqrt(v_hat + eps)"),
        Mistake("no_ratio", "the trust ratio is missing: w <- w - lr * ratio * r with ratio = phi / ||r||"),
        *shared("state (step, exp_avg, exp_avg_sq)"),
    ]

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, clamp=(0.0, 10.0), bias_correction=True, mistake=""
    ):
        super().__init__(
            params,
            dict(
                lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, clamp=tuple(clamp), bias_correction=bias_correction
            ),
            mistake,
        )

    def direction(self, p, group) -> torch.Tensor:
        """r for p (its moments updated), the decay included unless a mistake leaves it out."""
        bad = self.mistake
        b1, b2 = group["betas"]
        state = self.moments(p)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(b1).add_(p.grad, alpha=1 - b1)
        v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
        correct = {"bias_correction_always": True, "bias_correction_never": False}.get(bad, group["bias_correction"])
        m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if correct else (m, v)
        r = m_hat / ((v_hat + group["eps"]).sqrt() if bad == "eps_inside" else v_hat.sqrt() + group["eps"])
        if group["weight_decay"] != 0 and bad not in ("no_decay", "decay_outside_ratio"):
            r = r + group["weight_decay"] * p
        return r

    @torch.no_grad()
    def step(self, closure=None):
        bad = self.mistake
        for group in self.param_groups:
            lr, (low, high) = self.hp(group, "lr"), group["clamp"]
            params = with_grads(group)
            rs = [self.direction(p, group) for p in params]
            norms = [(float(p.norm()), float(r.norm())) for p, r in zip(params, rs)]
            if bad == "global_ratio":
                whole = (math.sqrt(sum(w * w for w, _ in norms)), math.sqrt(sum(r * r for _, r in norms)))
                norms = [whole] * len(params)
            for p, r, (w_norm, r_norm) in zip(params, rs, norms):
                phi = w_norm if bad == "no_clamp" else min(max(w_norm, low), high)
                ratio = 1.0 if phi == 0 or r_norm == 0 or bad == "no_ratio" else phi / r_norm
                if bad == "decay_outside_ratio":
                    r = r * ratio + group["weight_decay"] * p
                    ratio = 1.0
                p.add_(r, alpha=-lr * ratio)


class AdamWRule(AdamRule):
    """torch.optim.AdamW, written out (its default weight decay is 1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, mistake=""):
        super().__init__(params, lr, betas, eps, weight_decay, decoupled=True, mistake=mistake)


RULES = {"SGD": SGDRule, "Adam": AdamRule, "AdamW": AdamWRule, "LAMB": LAMBRule}
