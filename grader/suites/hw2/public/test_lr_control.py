"""Public tests for hw2 part 3 (lr_control.py): tasks 2.3 and 2.4."""

import math

import numpy as np
import pytest
import torch

from grader.checks import close

TARGET_ACCURACY = 0.90


@pytest.mark.task("2.3")
def test_update_ratio(lrc):
    """Is the signal log10(||w_after - w_before|| / ||w_before||) over all tensors together?"""
    g = torch.Generator().manual_seed(3)
    before = [torch.randn(4, 5, generator=g), torch.randn(7, generator=g)]
    after = [b + 0.01 * torch.randn(b.shape, generator=g) for b in before]
    delta = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(after, before)))
    norm = math.sqrt(sum(float((b**2).sum()) for b in before))
    close(lrc.update_ratio(before, after), math.log10(delta / norm), "update ratio of two tensors", tol=1e-6,
          hints=[(lambda x: math.isclose(x, delta / norm, rel_tol=1e-6), "take log10 of the ratio"),
                 (lambda x: x > math.log10(delta / norm) + 0.05, "the norms should be over all tensors together")])


def track(submission, setpoint=-2.5, lrs=(0.05, 0.01), steps=200, lr_min=1e-5, lr_max=5.0, check_error=True):
    r = submission.driver("hw2", "track_update_ratio", setpoint, list(lrs), steps, lr_min, lr_max)
    if check_error and r["error"]:
        raise AssertionError(f"training under your LRController stopped at step {len(r['lr0'])}: {r['error']}")
    return r


@pytest.mark.task("2.3")
@pytest.mark.parametrize("start", [1.0, 1e-4])
def test_controller_holds_the_signal_at_the_setpoint(submission, start):
    """From a rate far too large or far too small, does the signal settle within 0.25 of the setpoint?"""
    r = track(submission, lrs=(start, start / 5))
    signal = np.array(r["signal"])
    assert len(signal) == 200, f"history['signal'] has {len(signal)} entries after 200 steps"
    settled = signal[80:]
    close(float(np.mean(settled)), -2.5, "mean signal over steps 80-200", tol=0.1, rel=0)
    inside = float(np.mean(np.abs(settled + 2.5) <= 0.25))
    assert inside >= 0.9, f"only {inside:.0%} of steps 80-200 are within 0.25 of the setpoint -2.5"


@pytest.mark.task("2.3")
def test_every_group_is_scaled_and_bounds_hold(submission):
    """Does every param group keep its share of the rate, and does the rate never leave [lr_min, lr_max]?"""
    r = track(submission, setpoint=3.0, lrs=(0.05, 0.01), lr_max=0.4, check_error=False)  # unreachable: pins the rate
    assert max(r["lr0"] + r["lr1"]) <= 0.4 + 1e-12, f"a rate went above lr_max = 0.4 (up to {max(r['lr0'] + r['lr1']):.3g})"
    assert not r["error"], f"training under your LRController stopped: {r['error']}"
    assert r["lr0"][-1] == pytest.approx(0.4), "with the signal far below the setpoint the rate should sit at lr_max"
    r = track(submission, setpoint=-2.5, lrs=(0.05, 0.01))
    ratios = np.array(r["lr0"]) / np.array(r["lr1"])
    assert np.allclose(ratios, 5.0), "each group's rate must be lr0 * 10**u: the groups' ratio (5) changed"
    r = track(submission, setpoint=-12.0, lrs=(0.05, 0.01), lr_min=1e-4, check_error=False)
    assert min(r["lr0"] + r["lr1"]) >= 1e-4 - 1e-15, f"a rate went below lr_min = 1e-4 (down to {min(r['lr0'] + r['lr1']):.3g})"


@pytest.mark.task("2.4")
def test_controlled_training_reaches_the_target_where_fixed_does_not(submission, digits):
    """From lr = 10 and lr = 0.003, does the controlled run reach 90% held-out accuracy in 300 steps, and the fixed one not?"""
    x, labels, split = digits
    runs = [(10.0, False), (10.0, True), (0.003, False), (0.003, True)]
    results = submission.driver("hw2", "experiment", x[split == 0], labels[split == 0], x[split == 1], runs, 300)
    truth = labels[split == 1]
    for (lr, controlled), r in zip(runs, results):
        acc = float(np.mean(np.asarray(r["predictions"]) == truth))
        kind = "controlled" if controlled else "fixed"
        assert len(r["lr"]) == len(r["loss"]) == len(r["signal"]) == 300, f"{kind} run from lr={lr}: histories must have 300 entries"
        if controlled:
            assert acc >= TARGET_ACCURACY, f"controlled run from lr={lr}: held-out accuracy {acc:.3f} < {TARGET_ACCURACY}"
            assert all(1e-6 <= v <= 10.0 for v in r["lr"]), f"controlled run from lr={lr}: the rate left [1e-6, 10]"
        else:
            assert acc < TARGET_ACCURACY, f"fixed run from lr={lr}: accuracy {acc:.3f}; a bad fixed rate should not reach the target"
            assert set(r["lr"]) == {lr}, f"fixed run from lr={lr}: the rate must stay {lr}"
