"""Public tests for hw3 (optimizers.py): tasks 3.1-3.4, against torch.optim and torch_optimizer."""

import math

import pytest
import torch

from grader.suites.hw3.drivers import run_with

STEPS, RELOAD = 100, 50


def compare(submission, name, reference, kwargs, groups, what, tol=1e-6, ref_kwargs=None):
    """The student's optimizer and the reference over 100 steps, saved and reloaded at step 50."""
    got = submission.driver("hw3", "run", name, kwargs, groups, STEPS, RELOAD)
    assert got["is_optimizer"], f"{name} must subclass torch.optim.Optimizer"
    expected = run_with(reference, ref_kwargs or kwargs, groups, STEPS, RELOAD)
    names = ["first layer weight", "first layer bias", "second layer weight", "parameter without gradient"]
    for label, a, b in zip(names, got["params"], expected["params"]):
        diff = float((a - b).abs().max())
        assert diff <= tol, f"{what}: {label} differs from the reference by {diff:.3g} after {STEPS} steps (save/load at {RELOAD})"
    assert got["state_entries"] == expected["state_entries"], (
        f"{what}: optimizer state for {got['state_entries']} parameters, expected {expected['state_entries']} "
        "(keep state in self.state[p], and none for a parameter without a gradient)"
    )


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
    compare(submission, "SGD", torch.optim.SGD, kwargs, groups, f"SGD ({case})")


ADAM_CASES = {
    "defaults": ({"lr": 0.01}, [{}, {"lr": 0.003}]),
    "l2_decay": ({"lr": 0.01, "weight_decay": 0.05}, [{}, {"betas": (0.8, 0.99)}]),
    "small_eps": ({"lr": 0.02, "eps": 1e-3}, [{}, {}]),
}


@pytest.mark.task("3.2")
@pytest.mark.parametrize("case", sorted(ADAM_CASES))
def test_adam_matches_torch(submission, case):
    """Does Adam match torch.optim.Adam over 100 steps (bias correction, eps after it, L2 decay, groups, save/load)?"""
    kwargs, groups = ADAM_CASES[case]
    compare(submission, "Adam", torch.optim.Adam, kwargs, groups, f"Adam ({case})")


@pytest.mark.task("3.2")
@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_adamw_matches_torch(submission, decay):
    """Does AdamW match torch.optim.AdamW, with the decay decoupled from the moments?"""
    compare(submission, "AdamW", torch.optim.AdamW, {"lr": 0.01, "weight_decay": decay}, [{}, {"lr": 0.005}], f"AdamW (weight_decay={decay})")


@pytest.mark.task("3.3")
@pytest.mark.parametrize("decay", [0.0, 0.01])
def test_lamb_matches_torch_optimizer(submission, decay):
    """Does LAMB without bias correction match torch_optimizer.Lamb(debias=False, clamp_value=10)?

    torch_optimizer's Lamb skips bias correction by default and clamps ||w|| to [0, clamp_value];
    with bias_correction=False and clamp=(0, 10) the two updates are the same formula.
    """
    import torch_optimizer

    def reference(groups, **kw):
        return torch_optimizer.Lamb(groups, debias=False, clamp_value=10.0, **kw)

    kwargs = {"lr": 0.01, "weight_decay": decay, "eps": 1e-6, "bias_correction": False, "clamp": (0.0, 10.0)}
    compare(submission, "LAMB", reference, kwargs, [{}, {"lr": 0.02}], f"LAMB (weight_decay={decay})",
            tol=1e-5, ref_kwargs={"lr": 0.01, "weight_decay": decay, "eps": 1e-6})


@pytest.mark.task("3.3")
def test_lamb_trust_ratio_edge_cases(submission):
    """Is the trust ratio 1 when ||w|| = 0 or ||r|| = 0, and phi/||r|| per tensor otherwise?"""
    kwargs = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.0, "bias_correction": True}
    w = submission.driver("hw3", "lamb_first_step", [[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]], [[1.0, -2.0], [0.5, 0.5], [0.0, 0.0]], kwargs)
    # step 1 with bias correction: r = g / (|g| + eps), elementwise sign(g) up to eps
    r0 = torch.tensor([1.0, -2.0]) / (torch.tensor([1.0, 2.0]) + 1e-6)
    assert torch.allclose(w[0], (-0.1 * r0).double(), atol=1e-9), (
        f"zero weights: ||w|| = 0 so the ratio is 1 and w = -lr * r = {(-0.1 * r0).tolist()}, got {w[0].tolist()}"
    )
    r1 = torch.tensor([0.5, 0.5]) / (torch.tensor([0.5, 0.5]) + 1e-6)
    expected1 = torch.tensor([3.0, 4.0]) - 0.1 * (5.0 / float(r1.norm())) * r1
    assert torch.allclose(w[1], expected1.double(), atol=1e-6), (
        f"ratio ||w|| / ||r|| = 5 / {float(r1.norm()):.4f} for this tensor alone: expected {expected1.tolist()}, got {w[1].tolist()}"
    )
    assert torch.equal(w[2], torch.tensor([1.0, 1.0], dtype=torch.float64)), "zero gradient: r = 0, the ratio is 1 and w must not move"


@pytest.mark.task("3.4")
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clipping_matches_torch(submission, max_norm):
    """Does clip_grad_norm return the pre-clip norm and scale like torch.nn.utils.clip_grad_norm_?"""
    g = torch.Generator().manual_seed(5)
    grads = [torch.randn(3, 4, generator=g), torch.randn(7, generator=g)]
    got = submission.driver("hw3", "clip", grads, max_norm)
    params = [torch.nn.Parameter(torch.zeros_like(t)) for t in grads]
    for p, t in zip(params, grads):
        p.grad = t.clone()
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    assert math.isclose(got["norm"], norm, rel_tol=1e-6), f"returned norm {got['norm']:.6g}, expected the pre-clip global norm {norm:.6g}"
    for a, p in zip(got["grads"], params):
        assert torch.allclose(a, p.grad, atol=1e-7), (
            f"max_norm={max_norm}: gradients differ from torch's; scale every tensor by max_norm / (total + 1e-6) only when that is below 1"
        )


@pytest.mark.task("3.4")
def test_warmup_cosine_by_hand(opt_mod):
    """Is the schedule right at warmup start, warmup end, mid-decay and the end?"""
    f = opt_mod.warmup_cosine
    cases = [(0, 0.1), (9, 1.0), (10, 1.0), (55, 0.5), (100, 0.0), (150, 0.0)]
    for step, expected in cases:
        got = f(step, 1.0, 10, 100)
        assert math.isclose(got, expected, abs_tol=1e-12), f"warmup_cosine(step={step}, base 1, warmup 10, total 100) = {got}, expected {expected}"
    assert math.isclose(f(55, 1.0, 10, 100, min_lr=0.2), 0.6), "with min_lr = 0.2 the middle of the decay is (1 + 0.2) / 2"
