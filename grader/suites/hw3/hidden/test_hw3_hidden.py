"""Hidden tests for hw3: LAMB against the paper's update written out here, other configs, state
that must not share memory with p.grad, and the large-batch run on the test split."""

import pytest
import torch

from grader.suites.hw3.public.test_experiments import assert_lamb_reaches_the_target
from grader.suites.hw3.public.test_optimizers import compare
from grader.suites.hw3.trajectories import Case


class PaperLAMB(torch.optim.Optimizer):
    """You et al. (2019), Algorithm 2, with bias correction, written out independently of any task."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, clamp=(0.0, 10.0), bias_correction=True):
        super().__init__(
            params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, clamp=clamp, bias_correction=bias_correction)
        )

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                s = self.state[p]
                if not s:
                    s["t"], s["m"], s["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                s["t"] += 1
                s["m"] = b1 * s["m"] + (1 - b1) * p.grad
                s["v"] = b2 * s["v"] + (1 - b2) * p.grad**2
                m_hat = s["m"] / (1 - b1 ** s["t"]) if group["bias_correction"] else s["m"]
                v_hat = s["v"] / (1 - b2 ** s["t"]) if group["bias_correction"] else s["v"]
                r = m_hat / (v_hat.sqrt() + group["eps"]) + group["weight_decay"] * p
                phi = p.norm().clamp(*group["clamp"])
                ratio = 1.0 if phi == 0 or r.norm() == 0 else float(phi / r.norm())
                p.sub_(group["lr"] * ratio * r)


@pytest.mark.task("3.3")
@pytest.mark.parametrize("decay,clamp", [(0.0, (0.0, 10.0)), (0.01, (0.0, 10.0)), (0.1, (0.5, 2.0))])
def test_lamb_matches_the_paper_with_bias_correction(submission, decay, clamp):
    """Does LAMB with bias correction match the paper's update over 100 steps, with phi clamped?"""
    kwargs = {"lr": 0.01, "weight_decay": decay, "eps": 1e-6, "bias_correction": True, "clamp": clamp}
    compare(
        submission,
        Case("LAMB", kwargs, [{}, {"lr": 0.03}], f"LAMB (decay {decay}, clamp {clamp})"),
        PaperLAMB,
        "the paper's LAMB",
    )


@pytest.mark.task("3.3")
def test_lamb_with_gradients_zeroed_in_place(submission):
    """With p.grad zeroed in place and accumulated over two half-batches, does LAMB still match the paper's update?"""
    kwargs = {"lr": 0.01, "weight_decay": 0.01, "eps": 1e-6, "bias_correction": True, "clamp": (0.0, 10.0)}
    case = Case(
        "LAMB",
        kwargs,
        [{}, {"lr": 0.03}],
        "LAMB (gradients zeroed in place and accumulated)",
        steps=30,
        reload_at=15,
        zeroing="accumulate",
    )
    compare(submission, case, PaperLAMB, "the paper's LAMB")


@pytest.mark.task("3.1")
def test_sgd_nesterov_with_decay_on_another_problem(submission):
    """Nesterov with weight decay, and an L2-decayed group without momentum: does SGD still match torch?"""
    case = Case(
        "SGD",
        {"lr": 0.03, "momentum": 0.8, "nesterov": True, "weight_decay": 0.02},
        [{}, {"momentum": 0.0, "nesterov": False}],
        "SGD (Nesterov + decay)",
    )
    compare(submission, case, torch.optim.SGD, "torch.optim.SGD")


@pytest.mark.task("3.1")
def test_sgd_nesterov_with_gradients_zeroed_in_place(submission):
    """Nesterov momentum with p.grad zeroed in place and accumulated: does SGD still match torch?"""
    case = Case(
        "SGD",
        {"lr": 0.03, "momentum": 0.8, "nesterov": True},
        [{}, {"lr": 0.01}],
        "SGD (Nesterov, gradients zeroed in place and accumulated)",
        steps=30,
        reload_at=15,
        zeroing="accumulate",
    )
    compare(submission, case, torch.optim.SGD, "torch.optim.SGD")


@pytest.mark.task("3.2")
def test_adam_and_adamw_differ_exactly_as_torch_says(submission):
    """With the same decay, does Adam match torch.optim.Adam and AdamW match torch.optim.AdamW (betas, eps, lr per group)?"""
    kwargs, groups = {"lr": 0.02, "weight_decay": 0.1, "betas": (0.85, 0.995), "eps": 1e-7}, [{}, {"lr": 0.01}]
    compare(submission, Case("Adam", kwargs, groups, "Adam (L2 0.1)"), torch.optim.Adam, "torch.optim.Adam")
    compare(submission, Case("AdamW", kwargs, groups, "AdamW (decoupled 0.1)"), torch.optim.AdamW, "torch.optim.AdamW")


@pytest.mark.task("3.2")
def test_reload_right_after_the_first_step(submission):
    """Saved and reloaded after one step, with p.grad zeroed in place, does AdamW continue exactly as torch's?"""
    case = Case("AdamW", {"lr": 0.01}, [{}, {}], "AdamW (reloaded after step 1)", steps=20, reload_at=1, zeroing="zeros")
    compare(submission, case, torch.optim.AdamW, "torch.optim.AdamW")


@pytest.mark.task("3.5")
@pytest.mark.uses("LAMB")
@pytest.mark.seeded
def test_lamb_large_batch_on_the_test_split(lamb_runs, digits):
    """Does LAMB at batch 1024 reach 85% on the test split (median of three seeds)?"""
    assert_lamb_reaches_the_target(lamb_runs, digits, 2)
