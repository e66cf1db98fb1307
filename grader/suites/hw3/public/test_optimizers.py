"""Public tests for hw3 (optimizers.py): tasks 3.1-3.4, against torch.optim and torch_optimizer.

The student's optimizer and the reference run through the same loop on the grading side
(`grader.suites.hw3.loops`): the student's only does its step. Every comparison uses the tolerance
of `grader.suites.hw3.trajectories` (relative 1e-3 plus absolute 2e-4, sized from the spread among
torch's own implementations)."""

import math
from dataclasses import replace

import pytest
import torch

from grader.assertions import close, first_mismatch, mapping
from grader.suites.hw3.trajectories import ATOL, RTOL, Case, Loop, Student, checked_clip, verify

OPTIMIZER_BASE = "torch.optim.optimizer.Optimizer"


def assert_optimizer(submission, name: str) -> None:
    """`name` in optimizers.py derives from torch.optim.Optimizer (from the worker's account of the
    submission's classes; the run itself shows whether it behaves like one)."""
    inspect = getattr(submission, "inspect", None)
    if inspect is None:  # an in-process stand-in for a worker (the project's own tests)
        return
    classes = mapping(inspect(), "the submission's classes").get("classes")
    mro = classes.get(f"optimizers.{name}") if isinstance(classes, dict) else None
    assert isinstance(mro, list) and OPTIMIZER_BASE in mro, f"{name} must subclass torch.optim.Optimizer"


def compare(submission, case: Case, reference, against: str, ref_kwargs=None):
    """The student's optimizer and the reference on the same problem, step by step, each driven by
    the same loop here."""
    assert_optimizer(submission, case.name)
    got = case.run_student(submission)

    def rerun():
        plain = replace(case, zeroing="none")
        return plain.run_student(submission), plain.run(reference, ref_kwargs)

    verify(case, got, case.run(reference, ref_kwargs), against, rerun)


SGD_CASES = {
    "plain": ({"lr": 0.1}, [{}, {"lr": 0.05}]),
    "momentum": ({"lr": 0.05, "momentum": 0.9}, [{}, {"momentum": 0.5}]),
    "dampening_and_decay": ({"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}, [{}, {"weight_decay": 0.0}]),
    "nesterov": ({"lr": 0.05, "momentum": 0.9, "nesterov": True}, [{}, {"lr": 0.02}]),
}


@pytest.mark.task("3.1")
@pytest.mark.parametrize("case", sorted(SGD_CASES))
def test_sgd_matches_torch(submission, case):
    """Does SGD match torch.optim.SGD parameter by parameter over 100 steps, with two param groups and a save/load?"""
    kwargs, groups = SGD_CASES[case]
    compare(submission, Case("SGD", kwargs, groups, f"SGD ({case})"), torch.optim.SGD, "torch.optim.SGD")


@pytest.mark.task("3.1")
def test_sgd_with_gradients_zeroed_in_place(submission):
    """With p.grad zeroed in place (zero_grad(set_to_none=False)) and accumulated over two half-batches, does SGD still match torch?"""
    case = Case(
        "SGD",
        {"lr": 0.05, "momentum": 0.9},
        [{}, {"momentum": 0.5}],
        "SGD (gradients zeroed in place and accumulated)",
        steps=30,
        reload_at=15,
        zeroing="accumulate",
    )
    compare(submission, case, torch.optim.SGD, "torch.optim.SGD")


ADAM_CASES = {
    "defaults": ({"lr": 0.01}, [{}, {"lr": 0.003}]),
    "l2_decay": ({"lr": 0.01, "weight_decay": 0.05}, [{}, {"betas": (0.8, 0.99)}]),
    "eps_1e-3": ({"lr": 0.02, "eps": 1e-3}, [{}, {}]),
}


@pytest.mark.task("3.2")
@pytest.mark.parametrize("case", sorted(ADAM_CASES))
def test_adam_matches_torch(submission, case):
    """Does Adam match torch.optim.Adam over 100 steps (bias correction, eps after it, L2 decay, groups, save/load)?"""
    kwargs, groups = ADAM_CASES[case]
    compare(submission, Case("Adam", kwargs, groups, f"Adam ({case})"), torch.optim.Adam, "torch.optim.Adam")


@pytest.mark.task("3.2")
@pytest.mark.parametrize("decay,eps", [(0.0, 1e-8), (0.1, 1e-3)])
def test_adamw_matches_torch(submission, decay, eps):
    """Does AdamW match torch.optim.AdamW, with the decay decoupled from the moments?"""
    case = Case(
        "AdamW",
        {"lr": 0.01, "weight_decay": decay, "eps": eps},
        [{}, {"lr": 0.005, "betas": (0.8, 0.99)}],
        f"AdamW (weight_decay={decay}, eps={eps:g})",
    )
    compare(submission, case, torch.optim.AdamW, "torch.optim.AdamW")


@pytest.mark.task("3.2")
def test_adam_with_gradients_zeroed_in_place(submission):
    """With p.grad zeroed in place and accumulated over two half-batches, does Adam (L2 decay) still match torch?"""
    case = Case(
        "Adam",
        {"lr": 0.01, "weight_decay": 0.05},
        [{}, {"lr": 0.02}],
        "Adam (gradients zeroed in place and accumulated)",
        steps=30,
        reload_at=15,
        zeroing="accumulate",
    )
    compare(submission, case, torch.optim.Adam, "torch.optim.Adam")


def torch_optimizer_lamb(groups, **kw):
    """torch_optimizer's Lamb skips bias correction and clamps ||w|| to [0, clamp_value]: with
    bias_correction=False and clamp=(0, 10) it is the handout's formula."""
    import torch_optimizer

    return torch_optimizer.Lamb(groups, debias=False, clamp_value=10.0, **kw)


@pytest.mark.task("3.3")
@pytest.mark.parametrize("decay", [0.0, 0.01])
def test_lamb_matches_torch_optimizer(submission, decay):
    """Does LAMB without bias correction match torch_optimizer.Lamb(debias=False, clamp_value=10)?"""
    kwargs = {"lr": 0.01, "weight_decay": decay, "eps": 1e-6, "bias_correction": False, "clamp": (0.0, 10.0)}
    case = Case("LAMB", kwargs, [{}, {"lr": 0.02}], f"LAMB (weight_decay={decay})")
    compare(
        submission,
        case,
        torch_optimizer_lamb,
        "torch_optimizer.Lamb",
        ref_kwargs={"lr": 0.01, "weight_decay": decay, "eps": 1e-6},
    )


@pytest.mark.task("3.3")
def test_lamb_trust_ratio_edge_cases(submission):
    """Is the trust ratio 1 when ||w|| = 0 or ||r|| = 0, and phi/||r|| per tensor otherwise?"""
    kwargs = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.0, "bias_correction": True}
    weights, grads = [[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]], [[1.0, -2.0], [0.5, 0.5], [0.0, 0.0]]
    loop = Loop(
        Student(submission, "LAMB", kwargs),
        [([torch.tensor(w, dtype=torch.float64) for w in weights], {})],
        "LAMB edge cases",
        "float64",
    )
    w = loop.step([[torch.tensor(g, dtype=torch.float64)] for g in grads])
    g = torch.tensor(grads, dtype=torch.float64)
    r = g / (g.abs() + 1e-6)  # step 1 with bias correction: m_hat = g, v_hat = g^2
    expected = [
        -0.1 * r[0],
        torch.tensor(weights[1], dtype=torch.float64) - 0.1 * (5.0 / float(r[1].norm())) * r[1],
        torch.tensor(weights[2], dtype=torch.float64),
    ]
    cases = [
        "zero weights: ||w|| = 0, so the ratio is 1 and w <- -lr * r",
        f"ratio = ||w|| / ||r|| = 5 / {float(r[1].norm()):.4f}, of this tensor alone",
        "zero gradient: r = 0, so the ratio is 1 and w must not move",
    ]
    for got_w, want, why in zip(w, expected, cases):
        assert first_mismatch(got_w, want, RTOL, ATOL) is None, f"{why}: expected {want.tolist()}, got {got_w.tolist()}"


def clip_hint(got: list, grads: list, max_norm: float, total: float) -> str:
    """What a clipped result that differs from torch's looks like it did."""

    def alike(a, b) -> bool:
        return first_mismatch(a, b, RTOL, ATOL) is None

    scale = max_norm / (total + 1e-6)
    if all(alike(a, g * scale) for a, g in zip(got, grads)):
        return f"every gradient was scaled by max_norm / norm = {scale:.4g}; scale only when that is below 1"
    if all(alike(a, g * min(1.0, max_norm / (float(g.norm()) + 1e-6))) for a, g in zip(got, grads)):
        return "each tensor was clipped by its own norm; the norm is global, over all tensors together"
    if all(alike(a, g) for a, g in zip(got, grads)):
        return f"the gradients were not scaled although the global norm {total:.4g} exceeds max_norm {max_norm:g}"
    return "scale every tensor by max_norm / (total + 1e-6) when that is below 1"


@pytest.mark.task("3.4")
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clipping_matches_torch(submission, max_norm):
    """Does clip_grad_norm return the pre-clip norm and scale like torch.nn.utils.clip_grad_norm_?"""
    g = torch.Generator().manual_seed(5)
    grads = [torch.randn(3, 4, generator=g), torch.randn(7, generator=g)]
    norm, clipped = checked_clip(submission.driver("clip", grads, max_norm), grads)
    params = [torch.nn.Parameter(torch.zeros_like(t)) for t in grads]
    for p, t in zip(params, grads):
        p.grad = t.clone()
    total = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    after = math.sqrt(sum(float(p.grad.norm()) ** 2 for p in params))
    close(
        norm,
        total,
        f"max_norm={max_norm}: the returned norm",
        tol=ATOL,
        rel=RTOL,
        hints=[
            (
                lambda x: abs(x - after) < 1e-4 * after and total > max_norm,
                "that is the norm after clipping; return the norm before",
            ),
            (
                lambda x: abs(x - sum(float(t.norm()) for t in grads)) < 1e-4,
                "that is the sum of the tensors' norms; the global norm is the square root of the sum of their squared norms",
            ),
        ],
    )
    ok = all(first_mismatch(a, p.grad, RTOL, ATOL) is None for a, p in zip(clipped, params))
    assert ok, f"max_norm={max_norm}: gradients differ from torch's: {clip_hint(clipped, grads, max_norm, total)}"


@pytest.mark.task("3.4")
def test_warmup_cosine_by_hand(opt_mod):
    """Is the schedule right at warmup start, warmup end, mid-decay and the end?"""
    f = opt_mod.warmup_cosine
    cases = [
        (0, 0.1, "warmup starts at base_lr * (step + 1) / warmup_steps, not at 0"),
        (9, 1.0, "the last warmup step (step = warmup_steps - 1) reaches base_lr"),
        (10, 1.0, "the decay starts at base_lr"),
        (55, 0.5, "halfway through the decay, (1 + cos(pi / 2)) / 2 = 0.5"),
        (100, 0.0, "at total_steps the rate reaches min_lr"),
        (150, 0.0, "after total_steps it stays at min_lr (clip the progress to [0, 1])"),
    ]
    for step, expected, why in cases:
        close(
            f(step, 1.0, 10, 100),
            expected,
            f"warmup_cosine(step={step}, base 1, warmup 10, total 100)",
            tol=1e-12,
            hints=[(lambda x: True, why)],
        )
    close(
        f(55, 1.0, 10, 100, min_lr=0.2),
        0.6,
        "warmup_cosine(step=55, base 1, warmup 10, total 100, min_lr=0.2)",
        tol=1e-12,
        hints=[(lambda x: True, "the cosine runs from base_lr down to min_lr: min_lr + (base_lr - min_lr) * 0.5")],
    )
